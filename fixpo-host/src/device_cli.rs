//! `fixpo device …`: the command line over [`fixpo_host::device`].

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use fixpo_host::device::{
    Client, ClientOptions, DeviceError, Event, PolicyFile, UpdateLine, dims_text, report_text,
    which_name,
};
use fixpo_proto::{AdaptSettings, Bound, DeviceInfo, End, Finished, Mode, Source, Status, Which};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Shown by `fixpo device --help`.
const LONG_ABOUT: &str = "\
Talk to a controller running the fixpo firmware over a serial port or a unix socket \
(QEMU's `-serial unix:PATH,server=on,wait=off`, tests): push a policy file, pull the \
adapted or the factory policy back, start and watch on-device adaptation, reset.

Workflow: fixpo train --out RUN → fixpo device push RUN/policy.fxp → fixpo device adapt \
--updates N --out ADAPT → fixpo device pull --out adapted.fxp → fixpo eval / inspect \
adapted.fxp; fixpo plot ADAPT draws the adaptation. See docs/device.md.

Every request waits --timeout ms for its answer and is resent (same id) up to --retries \
times; a garbled frame is resent at once. During an adaptation the device can be silent \
for seconds while an update computes: adapt and monitor wait --report-timeout s for a \
report before asking Status.";

/// Shown after `fixpo device --help`.
const EXIT_CODES: &str = "\
Exit codes:
    0    success
    1    other error (bad option value, output file not writable, ...)
    2    usage error (unknown option, missing argument)
    3    no device: the port cannot be opened or connected to
    4    timeout: no answer after every retry
    5    wrong protocol version (host and firmware differ)
    6    dimension mismatch between the policy file and the firmware
    7    policy file too large for the device's store (or no store)
    8    device busy (adaptation or transfer in progress)
    9    device refused the request (other reason, printed)
    10   policy file unreadable or invalid
    11   pulled file corrupt (CRC or decoder); nothing written
    12   unexpected answer from the device (protocol violation)
    13   I/O error or connection lost
    14   the adaptation failed on the device
    130  interrupted (Ctrl-C); a push is aborted, the old policy stays";

/// `fixpo device` and its options, shared by every subcommand.
#[derive(Args)]
#[command(long_about = LONG_ABOUT, after_long_help = EXIT_CODES)]
pub struct DeviceArgs {
    /// Serial port (e.g. /dev/ttyACM0) or unix socket of the device.
    #[arg(long, env = "FIXPO_PORT", global = true, value_name = "PATH")]
    port: Option<PathBuf>,
    /// Baud rate of a serial port (8N1).
    #[arg(long, default_value_t = 115_200, global = true)]
    baud: u32,
    /// Time to wait for the answer to one request, in milliseconds.
    #[arg(long, default_value_t = 2000, global = true, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Resends of an unanswered request before giving up.
    #[arg(long, default_value_t = 5, global = true)]
    retries: u32,
    #[command(subcommand)]
    cmd: DeviceCmd,
}

#[derive(Subcommand)]
enum DeviceCmd {
    /// List the serial ports of this machine.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show who the device is (firmware, policy shape, store) and what it
    /// is doing (control, adapting, receiving).
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Push a policy file: it is checked against the device's shape and
    /// store size before anything is sent, then sent in chunks and
    /// committed; the device runs it from then on.
    Push {
        /// The policy file (e.g. a run's policy.fxp).
        policy: PathBuf,
    },
    /// Pull the device's active policy (or its factory policy) into a
    /// file, written atomically after the CRC and the decoder accept it.
    Pull {
        /// The factory policy instead of the active one.
        #[arg(long)]
        factory: bool,
        /// Output file.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Adapt on the device: start N updates and stream one report per
    /// update until the device finishes (Ctrl-C asks it to stop).
    Adapt {
        /// Updates to run.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        updates: u32,
        /// ε_KL, the per-update trust region (default: the device's).
        #[arg(long, value_parser = positive)]
        eps_kl: Option<f32>,
        /// ε_total, the bound on the drift from the factory policy: a
        /// number, or `off` (default: the device's).
        #[arg(long, value_parser = bound, value_name = "Y|off")]
        eps_total: Option<Bound>,
        /// Directory for metrics.jsonl (one JSON object per update, for
        /// `fixpo plot DIR`) and device.json.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seconds without a report before asking the device's status.
        #[arg(long, default_value_t = 60, value_name = "S",
              value_parser = clap::value_parser!(u64).range(1..))]
        report_timeout: u64,
    },
    /// Watch an adaptation (started by `adapt` elsewhere or at boot):
    /// print every report until it finishes or Ctrl-C.
    Monitor {
        /// Directory for metrics.jsonl, as for `adapt`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seconds without a report before asking the device's status.
        #[arg(long, default_value_t = 60, value_name = "S",
              value_parser = clap::value_parser!(u64).range(1..))]
        report_timeout: u64,
    },
    /// Reboot the device; with --factory, restore its factory policy first.
    Reset {
        /// Commit a copy of the factory policy before rebooting.
        #[arg(long)]
        factory: bool,
    },
}

fn positive(s: &str) -> std::result::Result<f32, String> {
    s.parse::<f32>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| format!("`{s}` is not a number > 0"))
}

fn bound(s: &str) -> std::result::Result<Bound, String> {
    if s.eq_ignore_ascii_case("off") {
        Ok(Bound::Off)
    } else {
        positive(s).map(Bound::At)
    }
}

/// Prints to stdout, ignoring a closed pipe.
fn say(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}");
}

/// Ctrl-C sets the flag; a second one while it is still set quits at once.
fn interrupt_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    ctrlc::set_handler(move || {
        if f.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    })
    .context("cannot install the Ctrl-C handler")?;
    Ok(flag)
}

/// Runs `fixpo device …`.
pub fn run(args: DeviceArgs) -> Result<ExitCode> {
    if let DeviceCmd::List { json } = args.cmd {
        return list(json);
    }
    let Some(port) = args.port.clone() else {
        bail!("no device port given: pass --port PATH or set FIXPO_PORT (see `fixpo device list`)");
    };
    let report_timeout = match args.cmd {
        DeviceCmd::Adapt { report_timeout, .. } | DeviceCmd::Monitor { report_timeout, .. } => {
            report_timeout
        }
        _ => 60,
    };
    let opts = ClientOptions {
        timeout: Duration::from_millis(args.timeout),
        retries: args.retries,
        report_timeout: Duration::from_secs(report_timeout),
    };
    // Check local inputs before touching the device.
    let file = match &args.cmd {
        DeviceCmd::Push { policy } => Some(PolicyFile::read(policy)?),
        _ => None,
    };
    if let DeviceCmd::Adapt { out: Some(dir), .. } | DeviceCmd::Monitor { out: Some(dir), .. } =
        &args.cmd
    {
        check_out_dir(dir)?;
    }
    let flag = interrupt_flag()?;
    let mut dev = Client::connect(&port, args.baud, opts, Some(flag.clone()))?;
    match args.cmd {
        DeviceCmd::List { .. } => unreachable!("handled above"),
        DeviceCmd::Status { json } => status(&mut dev, json),
        DeviceCmd::Push { .. } => match file {
            Some(f) => push(&mut dev, &f),
            None => bail!("no policy file"),
        },
        DeviceCmd::Pull { factory, out } => pull(&mut dev, factory, &out),
        DeviceCmd::Adapt {
            updates,
            eps_kl,
            eps_total,
            out,
            ..
        } => {
            let settings = AdaptSettings {
                updates,
                eps_kl,
                eps_total: eps_total.unwrap_or(Bound::Default),
            };
            adapt(&mut dev, settings, out.as_deref(), &flag)
        }
        DeviceCmd::Monitor { out, .. } => monitor(&mut dev, out.as_deref()),
        DeviceCmd::Reset { factory } => {
            dev.reset(factory)?;
            say(&format!(
                "device on {} is rebooting{}",
                port.display(),
                if factory {
                    " with its factory policy"
                } else {
                    ""
                }
            ));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn list(json: bool) -> Result<ExitCode> {
    let ports = serialport::available_ports().context("cannot list the serial ports")?;
    let describe = |t: &serialport::SerialPortType| match t {
        serialport::SerialPortType::UsbPort(u) => format!(
            "USB {:04x}:{:04x}{}{}{}",
            u.vid,
            u.pid,
            u.manufacturer
                .as_deref()
                .map_or_else(String::new, |m| format!(" {m}")),
            u.product
                .as_deref()
                .map_or_else(String::new, |p| format!(" {p}")),
            u.serial_number
                .as_deref()
                .map_or_else(String::new, |s| format!(" (serial {s})"))
        ),
        serialport::SerialPortType::PciPort => "PCI".into(),
        serialport::SerialPortType::BluetoothPort => "Bluetooth".into(),
        serialport::SerialPortType::Unknown => "unknown".into(),
    };
    if json {
        let v: Vec<_> = ports
            .iter()
            .map(|p| serde_json::json!({"port": p.port_name, "type": describe(&p.port_type)}))
            .collect();
        say(&serde_json::to_string_pretty(&v)?);
    } else if ports.is_empty() {
        say("no serial ports found (a QEMU device is a unix socket: pass its path to --port)");
    } else {
        for p in &ports {
            say(&format!("{:<24} {}", p.port_name, describe(&p.port_type)));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An `f32` as the JSON number it prints as (`0.02`, not
/// `0.019999999552965164`).
fn num(v: f32) -> serde_json::Value {
    v.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The chip id without its zero padding (at least 8 bytes shown).
fn device_id(info: &DeviceInfo) -> String {
    let used = info
        .device_id
        .iter()
        .rposition(|&b| b != 0)
        .map_or(8, |i| (i + 1).max(8));
    hex(&info.device_id[..used])
}

fn mode_text(m: &Mode) -> String {
    match m {
        Mode::Control => "control (running its policy)".into(),
        Mode::Adapting { done, of } => format!("adapting, {done} of {of} updates done"),
        Mode::Receiving { received, len } => {
            format!("receiving a push, {received} of {len} bytes")
        }
    }
}

fn source_text(s: &Source) -> String {
    match s {
        Source::Record(seq) => format!("store record #{seq}"),
        Source::Factory => "the factory record".into(),
        Source::Given => "the policy built into the firmware".into(),
    }
}

fn uptime(ms: u32) -> String {
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h} h {m:02} min {s:02} s")
    } else if m > 0 {
        format!("{m} min {s:02} s")
    } else {
        format!("{}.{:01} s", s, ms % 1000 / 100)
    }
}

fn kind_name(k: fixpo_proto::Kind) -> &'static str {
    match k {
        fixpo_proto::Kind::Gaussian => "gaussian",
        fixpo_proto::Kind::Categorical => "categorical",
    }
}

fn info_json(info: &DeviceInfo) -> serde_json::Value {
    serde_json::json!({
        "protocol": info.protocol,
        "device_id": device_id(info),
        "firmware": format!("{}.{}.{}", info.firmware.major, info.firmware.minor, info.firmware.patch),
        "obs": info.dims.obs,
        "hid": info.dims.hid,
        "act": info.dims.act,
        "kind": kind_name(info.dims.kind),
        "active_seq": info.active_seq,
        "factory_seq": info.factory_seq,
        "eps_kl": num(info.eps_kl),
        "eps_total": info.eps_total.map(num),
        "max_file": info.max_file,
    })
}

fn status(dev: &mut Client, json: bool) -> Result<ExitCode> {
    let info = *dev.info();
    let st: Status = dev.status()?;
    if json {
        let (mode, done, of, received, len) = match st.mode {
            Mode::Control => ("control", None, None, None, None),
            Mode::Adapting { done, of } => ("adapting", Some(done), Some(of), None, None),
            Mode::Receiving { received, len } => {
                ("receiving", None, None, Some(received), Some(len))
            }
        };
        let (source, record) = match st.source {
            Source::Record(seq) => ("record", Some(seq)),
            Source::Factory => ("factory", None),
            Source::Given => ("given", None),
        };
        let v = serde_json::json!({
            "port": dev.port().display().to_string(),
            "device": info_json(&info),
            "status": {
                "mode": mode,
                "done": done,
                "of": of,
                "received": received,
                "len": len,
                "source": source,
                "record": record,
                "fingerprint": format!("{:016x}", st.fingerprint),
                "factory_seq": st.factory_seq,
                "updates": st.updates,
                "uptime_ms": st.uptime_ms,
            }
        });
        say(&serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let store = match (info.max_file, info.factory_seq) {
        (0, _) => "no store (push and pull of the active policy unavailable)".to_owned(),
        (max, Some(f)) => format!("slots of up to {max} bytes, factory record #{f}"),
        (max, None) => format!("slots of up to {max} bytes, no factory record"),
    };
    say(&format!(
        "device      {} on {}",
        device_id(&info),
        dev.port().display()
    ));
    say(&format!(
        "firmware    {}.{}.{}, protocol {}",
        info.firmware.major, info.firmware.minor, info.firmware.patch, info.protocol
    ));
    say(&format!("policy      {}", dims_text(&info.dims)));
    say(&format!("store       {store}"));
    say(&format!(
        "running     {} (fingerprint {:016x})",
        source_text(&st.source),
        st.fingerprint
    ));
    say(&format!("mode        {}", mode_text(&st.mode)));
    say(&format!(
        "defaults    eps_kl {}, eps_total {}",
        info.eps_kl,
        info.eps_total
            .map_or_else(|| "off".to_owned(), |v| v.to_string())
    ));
    say(&format!(
        "since boot  {} updates, up {}",
        st.updates,
        uptime(st.uptime_ms)
    ));
    Ok(ExitCode::SUCCESS)
}

fn bar(len: u64, template: &str) -> Option<ProgressBar> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stdout());
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Some(bar)
}

fn rate(bytes: u32, elapsed: Duration) -> String {
    let r = f64::from(bytes) / elapsed.as_secs_f64().max(1e-9);
    if r >= 1e3 {
        format!("{:.1} kB/s", r / 1e3)
    } else {
        format!("{r:.0} B/s")
    }
}

fn push(dev: &mut Client, file: &PolicyFile) -> Result<ExitCode> {
    let len = file.bytes.len() as u64;
    let bar = bar(
        len,
        "{bar:30.cyan/blue} {bytes}/{total_bytes}  {bytes_per_sec}  ETA {eta}",
    );
    let result = dev.push(file, |sent, _| {
        if let Some(b) = &bar {
            b.set_position(u64::from(sent));
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let p = result?;
    say(&format!(
        "pushed `{}` ({} bytes, {}): committed as record #{} in {:.3} s ({}{})",
        file.path.display(),
        p.len,
        dims_text(&file.dims),
        p.seq,
        p.elapsed.as_secs_f64(),
        rate(p.len, p.elapsed),
        match p.resends {
            0 => String::new(),
            1 => ", 1 request resent".into(),
            n => format!(", {n} requests resent"),
        }
    ));
    Ok(ExitCode::SUCCESS)
}

fn pull(dev: &mut Client, factory: bool, out: &Path) -> Result<ExitCode> {
    let which = if factory {
        Which::Factory
    } else {
        Which::Active
    };
    let bar = LazyBar::new(bar(
        0,
        "{bar:30.cyan/blue} {bytes}/{total_bytes}  {bytes_per_sec}",
    ));
    let p = dev.pull(which, |got, len| bar.set(got, len));
    bar.finish();
    let p = p?;
    fixpo_host::io::write_atomic(out, &p.bytes).map_err(|e| match e {
        fixpo_host::HostError::Io { source, .. } => {
            DeviceError::io(format!("cannot write `{}`", out.display()), source)
        }
        other => DeviceError::io(
            format!("cannot write `{}`", out.display()),
            std::io::Error::other(other.to_string()),
        ),
    })?;
    let len = u32::try_from(p.bytes.len()).unwrap_or(u32::MAX);
    say(&format!(
        "pulled the {} policy ({}, {} bytes, crc32 {:08x}) into `{}` in {:.3} s ({})",
        which_name(p.which),
        p.seq.map_or_else(
            || "not from the store".to_owned(),
            |s| format!("record #{s}")
        ),
        len,
        fixpo_proto::crc32(&p.bytes),
        out.display(),
        p.elapsed.as_secs_f64(),
        rate(len, p.elapsed)
    ));
    Ok(ExitCode::SUCCESS)
}

/// A progress bar whose length is learnt from the first callback.
struct LazyBar(Option<ProgressBar>);

impl LazyBar {
    fn new(bar: Option<ProgressBar>) -> Self {
        Self(bar)
    }

    fn set(&self, pos: u32, len: u32) {
        if let Some(b) = &self.0 {
            b.set_length(u64::from(len));
            b.set_position(u64::from(pos));
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// Refuses an output directory that already holds metrics.
fn check_out_dir(dir: &Path) -> Result<()> {
    let m = dir.join(fixpo_host::io::METRICS_FILE);
    if m.exists() {
        bail!(
            "`{}` already exists: choose another --out directory (metrics are never overwritten)",
            m.display()
        );
    }
    fixpo_host::io::prepare_dir(dir)?;
    Ok(())
}

/// Where reports go: the terminal (bar or lines) and `metrics.jsonl`.
struct Sink {
    metrics: Option<(PathBuf, std::fs::File)>,
    bar: Option<ProgressBar>,
    of: Option<u32>,
    start: Instant,
    received: u32,
}

impl Sink {
    fn new(out: Option<&Path>, of: Option<u32>) -> Result<Self> {
        let metrics = match out {
            Some(dir) => {
                let path = dir.join(fixpo_host::io::METRICS_FILE);
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .with_context(|| format!("cannot create `{}`", path.display()))?;
                Some((path, f))
            }
            None => None,
        };
        let bar = of.and_then(|n| {
            bar(
                u64::from(n),
                "{bar:30.cyan/blue} {pos}/{len} updates  {msg}  ETA {eta}",
            )
        });
        Ok(Self {
            metrics,
            bar,
            of,
            start: Instant::now(),
            received: 0,
        })
    }

    fn report(&mut self, r: &fixpo_proto::UpdateReport) -> Result<()> {
        self.received += 1;
        if let Some((path, f)) = &mut self.metrics {
            let line = UpdateLine::new(r, self.start.elapsed().as_secs_f64()).to_json();
            writeln!(f, "{line}")
                .and_then(|()| f.flush())
                .with_context(|| format!("cannot write `{}`", path.display()))?;
        }
        match &self.bar {
            Some(b) => {
                b.set_position(u64::from(r.update) + 1);
                b.set_message(format!(
                    "return {:.2}  max KL {:.4}/{}  {}",
                    r.ret,
                    r.max_kl,
                    r.eps_kl,
                    if r.kept { "kept" } else { "refused" }
                ));
            }
            None => say(&report_text(r, self.of)),
        }
        Ok(())
    }

    fn note(&self, s: &str) {
        match &self.bar {
            Some(b) => b.println(s),
            None => say(s),
        }
    }

    fn finish(&mut self, f: &Finished) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        let end = match f.end {
            End::Completed => "completed",
            End::Stopped => "stopped",
            End::Failed => "failed",
        };
        let lost = f.updates.saturating_sub(self.received);
        say(&format!(
            "adaptation {end}: {} updates, {} kept, {} rollbacks, {} commits in {:.1} s{}{}",
            f.updates,
            f.kept,
            f.rollbacks,
            f.commits,
            self.start.elapsed().as_secs_f64(),
            if lost > 0 {
                format!("; {lost} reports lost on the link")
            } else {
                String::new()
            },
            match &self.metrics {
                Some((p, _)) => format!("; metrics in `{}`", p.display()),
                None => String::new(),
            }
        ));
    }
}

fn write_device_json(dir: &Path, dev: &Client, settings: Option<&AdaptSettings>) -> Result<()> {
    let settings = settings.map(|s| {
        serde_json::json!({
            "updates": s.updates,
            "eps_kl": s.eps_kl.map(num),
            "eps_total": match s.eps_total {
                Bound::Default => serde_json::json!("default"),
                Bound::Off => serde_json::json!("off"),
                Bound::At(v) => num(v),
            },
        })
    });
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let v = serde_json::json!({
        "port": dev.port().display().to_string(),
        "device": info_json(dev.info()),
        "settings": settings,
        "started_unix_s": started,
    });
    fixpo_host::io::write_atomic(
        &dir.join("device.json"),
        serde_json::to_string_pretty(&v)?.as_bytes(),
    )?;
    Ok(())
}

fn adapt(
    dev: &mut Client,
    settings: AdaptSettings,
    out: Option<&Path>,
    flag: &Arc<AtomicBool>,
) -> Result<ExitCode> {
    let info = *dev.info();
    let eps_kl = settings.eps_kl.map_or_else(
        || format!("{} (device default)", info.eps_kl),
        |v| v.to_string(),
    );
    let eps_total = match settings.eps_total {
        Bound::Default => format!(
            "{} (device default)",
            info.eps_total
                .map_or_else(|| "off".to_owned(), |v| v.to_string())
        ),
        Bound::Off => "off".into(),
        Bound::At(v) => v.to_string(),
    };
    let id = dev.start_adapt(settings)?;
    // Files only once the device took the request (its reports wait in
    // the socket or the client's queue meanwhile).
    if let Some(dir) = out {
        write_device_json(dir, dev, Some(&settings))?;
    }
    let mut sink = Sink::new(out, Some(settings.updates))?;
    sink.note(&format!(
        "adapting on {}: {} updates, eps_kl {eps_kl}, eps_total {eps_total} (Ctrl-C stops after the update in progress)",
        dev.port().display(),
        settings.updates
    ));
    let mut stopped_by_us = false;
    loop {
        match dev.next_event(Some(id)) {
            Ok((_, Event::Report(r))) => sink.report(&r)?,
            Ok((_, Event::Finished(f))) => {
                sink.finish(&f);
                if f.end == End::Failed {
                    return Err(DeviceError::AdaptFailed {
                        updates: f.updates,
                        kept: f.kept,
                    }
                    .into());
                }
                return Ok(if stopped_by_us {
                    ExitCode::from(fixpo_host::device::exit::INTERRUPTED)
                } else {
                    ExitCode::SUCCESS
                });
            }
            Err(DeviceError::Interrupted { .. }) if !stopped_by_us => {
                stopped_by_us = true;
                flag.store(false, Ordering::SeqCst);
                sink.note("stopping the adaptation after the update in progress (Ctrl-C again to quit at once)");
                dev.stop()?;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn monitor(dev: &mut Client, out: Option<&Path>) -> Result<ExitCode> {
    let st = dev.status()?;
    if let Some(dir) = out {
        write_device_json(dir, dev, None)?;
    }
    let of = match st.mode {
        Mode::Adapting { of, .. } => Some(of),
        _ => None,
    };
    let mut sink = Sink::new(out, None)?;
    sink.of = of;
    sink.note(&match st.mode {
        Mode::Adapting { done, of } => format!(
            "watching the adaptation on {} ({done} of {of} updates done; Ctrl-C stops watching, not the device)",
            dev.port().display()
        ),
        _ => format!(
            "the device on {} is not adapting; waiting for reports (Ctrl-C to stop watching)",
            dev.port().display()
        ),
    });
    loop {
        match dev.next_event(None) {
            Ok((_, Event::Report(r))) => sink.report(&r)?,
            Ok((_, Event::Finished(f))) => {
                sink.finish(&f);
                return Ok(ExitCode::SUCCESS);
            }
            Err(DeviceError::Interrupted { .. }) => {
                sink.note(&format!("stopped watching after {} reports", sink.received));
                return Ok(ExitCode::SUCCESS);
            }
            Err(e) => return Err(e.into()),
        }
    }
}
