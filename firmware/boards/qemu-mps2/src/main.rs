//! fixpo firmware on QEMU's mps2-an386 (Cortex-M4F, thumbv7em-none-eabihf):
//! the board the end-to-end tests run. See firmware/README.md.
//!
//! Boot: validate the policy (flash region, or a host file) with
//! fixpo-core's decoder, straight into the learner (`adapt::load`; a
//! version-2 file's critic, the value function and return scale, comes
//! with it, else V starts from scratch); on a typed error, log it and fall
//! back to the zero action. Then, per the semihosting command line
//! (`scripts/firmware.sh run -- WORD...`):
//! - `policy=PATH`: read the policy from a host file instead of the flashed
//!   region (no rebuild needed);
//! - `infer`: print the action for 100 fixed observations (f32 bits);
//! - `adapt=N`: evaluate, run N episodes each followed by a FixPO update,
//!   evaluate again;
//! - `head`: adapt only the output layers and log-std;
//! - `bench=N`: run N control steps (for instruction counting);
//! - `upd=N` with `updcfg=e1|e2|nofix|full`: N updates on one rollout (for
//!   instruction counting);
//! - `panic`: panic on purpose, to check that failures reach the host;
//! - `store`: keep policies in the policy store (`fixpo-store`) in the
//!   PSRAM (file-backed under QEMU: see `psram.rs`): the given policy
//!   becomes its factory record, boot loads the newest committed one, and
//!   adaptation runs under the device's safety preset (`adapt::SAFETY`:
//!   ε_total, evaluations, rollback, writes), which these words change:
//!   `eps_total=X|off`, `eval_every=N`, `margin=X`, `persist_every=N`,
//!   `min_gain=X`; `flash_delay=N` sets the emulated program time (cycles
//!   per word); `swap_after_s=S` swaps the motor's wires after S seconds of
//!   simulated time (a plant change, to force a rollback); `trace=PATH`
//!   writes every round to the host file PATH (`u32` update, `u8` kept,
//!   the rollout's raw observations and the deployed policy's parameters,
//!   f32 little-endian) for the host's own check of the bounds;
//! - `serve`: after boot (and `infer`), run the policy on the simulated
//!   plant and serve the host link on UART0 (`fixpo device`,
//!   docs/device.md; `qemu-run.sh`'s `FIXPO_QEMU_SERIAL` connects it):
//!   push, pull, adapt with streamed reports, reset (a reboot). With
//!   `infer`, every newly running policy logs the 100-point inference
//!   report again.
//!
//! The board-agnostic steps (decoding, inference report, adaptation, the
//! simulated plant) are the `fixpo-firmware` library's; this crate adds the
//! semihosting command line, host files and exit status.
#![no_std]
#![no_main]

mod hostio;
mod psram;
mod uart;

mod app {
    use crate::hostio;
    use crate::psram::Psram;
    use crate::uart::{self, Uart0};
    use cortex_m_rt::{ExceptionFrame, entry, exception};
    use defmt_semihosting as _; // global defmt logger over semihosting
    use fixpo_core::{Params, Policy};
    use fixpo_firmware::adapt;
    use fixpo_firmware::boot;
    use fixpo_firmware::control::{self, HID};
    use fixpo_firmware::link::{Identity, Link};
    use fixpo_firmware::mem::{self, FILE_LEN, ROLLOUT};
    use fixpo_firmware::persist::{self, Persist};
    use fixpo_firmware::plant::{SimPlant, Wires};
    use fixpo_firmware::serve::{self, Exit, Hooks};
    use fixpo_store::Layout;

    /// Options from the semihosting command line.
    #[derive(Default)]
    struct Options<'a> {
        policy_path: Option<&'a str>,
        bench: Option<u32>,
        infer: bool,
        adapt: Option<u32>,
        head: bool,
        upd: Option<u32>,
        updcfg: Option<&'a str>,
        panic: bool,
        store: bool,
        serve: bool,
        safety: Option<adapt::Safety>,
        flash_delay: u32,
        swap_after_s: Option<u32>,
        trace: Option<&'a str>,
    }

    /// A decimal such as `-30`, `0.25` or `1e9` read without core's float
    /// parser (its tables cost 13 KB of flash).
    fn decimal(s: &str) -> Option<f32> {
        let (s, exp) = match s.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i32>().ok()?),
            None => (s, 0),
        };
        let (neg, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let mut x = 0.0f64;
        let mut scale = 0i32;
        for (digits, is_frac) in [(int, false), (frac, true)] {
            for c in digits.bytes() {
                let d = c.checked_sub(b'0').filter(|d| *d <= 9)?;
                x = x * 10.0 + f64::from(d);
                scale -= i32::from(is_frac);
            }
        }
        let x = x * libm::pow(10.0, f64::from(exp + scale));
        Some(if neg { -x } else { x } as f32)
    }

    fn number(word: &str, n: &str) -> Option<f32> {
        let x = decimal(n);
        if x.is_none() {
            defmt::warn!("ignoring bad number in {=str}", word);
        }
        x
    }

    /// A safety word (`eps_total=`, `eval_every=`, …) applied to `s`;
    /// false if `word` is not one.
    fn safety_word(word: &str, s: &mut adapt::Safety) -> bool {
        let Some((key, v)) = word.split_once('=') else {
            return false;
        };
        match key {
            "eps_total" if v == "off" => s.eps_total = None,
            "eps_total" => s.eps_total = number(word, v).or(s.eps_total),
            "eval_every" => s.eval_every = count(word, v).unwrap_or(s.eval_every),
            "margin" => s.margin = number(word, v).unwrap_or(s.margin),
            "persist_every" => s.persist_every = count(word, v).unwrap_or(s.persist_every),
            "min_gain" => s.min_gain = number(word, v).unwrap_or(s.min_gain),
            _ => return false,
        }
        true
    }

    fn count(word: &str, n: &str) -> Option<u32> {
        match n.parse() {
            Ok(n) => Some(n),
            Err(_) => {
                defmt::warn!("ignoring bad count in {=str}", word);
                None
            }
        }
    }

    fn parse(cmdline: &str) -> Options<'_> {
        let mut o = Options {
            flash_delay: DEFAULT_FLASH_DELAY,
            ..Options::default()
        };
        let mut safety = adapt::SAFETY;
        for word in cmdline.split_ascii_whitespace() {
            if safety_word(word, &mut safety) {
                o.safety = Some(safety);
            } else if let Some(n) = word.strip_prefix("flash_delay=") {
                o.flash_delay = count(word, n).unwrap_or(o.flash_delay);
            } else if let Some(n) = word.strip_prefix("swap_after_s=") {
                o.swap_after_s = count(word, n);
            } else if let Some(p) = word.strip_prefix("trace=") {
                o.trace = Some(p);
            } else if word == "store" {
                o.store = true;
            } else if word == "serve" {
                o.serve = true;
            } else if let Some(p) = word.strip_prefix("policy=") {
                o.policy_path = Some(p);
            } else if let Some(n) = word.strip_prefix("bench=") {
                o.bench = count(word, n);
            } else if let Some(n) = word.strip_prefix("adapt=") {
                o.adapt = count(word, n);
            } else if let Some(n) = word.strip_prefix("upd=") {
                o.upd = count(word, n);
            } else if let Some(c) = word.strip_prefix("updcfg=") {
                o.updcfg = Some(c);
            } else if word == "infer" {
                o.infer = true;
            } else if word == "head" {
                o.head = true;
            } else if word == "panic" {
                o.panic = true;
            } else if word != "fixpo" {
                defmt::warn!("ignoring unknown argument {=str}", word);
            }
        }
        if o.safety.is_some() && !o.store {
            defmt::warn!("safety words need `store`; ignored");
        }
        o
    }

    /// Emulated NOR program time, cycles per 32-bit word (a real part takes
    /// 10–100 µs): long enough that a power cut lands inside a write often.
    const DEFAULT_FLASH_DELAY: u32 = 2_000;

    /// The store's layout in the PSRAM: 4 KiB sectors, word writes, banks
    /// of 64 KiB (6 records of this build's file each).
    const LAYOUT: Option<Layout> = Layout::with_body(0, FILE_LEN, 64 * 1024, 4, 4096);

    /// The policy the firmware was given: a host file (`policy=PATH`, read
    /// into the scratch region) or the flashed region.
    fn given<'s>(options: &Options, scratch: &'s mut mem::Scratch) -> Option<&'s [u8]> {
        match options.policy_path {
            Some(path) => host_file("host policy", path, scratch.file()),
            None => boot::region_policy(),
        }
    }

    /// Reads a host file into `buf` (see the `host-policy` feature).
    #[cfg(feature = "host-policy")]
    fn host_file<'b>(what: &str, path: &str, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        match hostio::read_file(path, buf) {
            Ok(len) => {
                boot::log_policy(what, &buf[..len]);
                Some(&buf[..len])
            }
            Err(e) => {
                defmt::error!("cannot read {=str} {=str}: {}", what, path, e);
                None
            }
        }
    }

    #[cfg(not(feature = "host-policy"))]
    fn host_file<'b>(what: &str, path: &str, _buf: &'b mut [u8]) -> Option<&'b [u8]> {
        defmt::warn!(
            "built without host-policy: ignoring {=str} {=str}",
            what,
            path
        );
        None
    }

    #[entry]
    fn main() -> ! {
        mem::paint_stack();
        defmt::info!(
            "fixpo firmware up: policy 3->{=usize}x{=usize}->1, rollout {=usize}, file {=usize} B",
            HID,
            HID,
            ROLLOUT,
            FILE_LEN
        );
        let mut mem = mem::take();
        let wires = Wires::new();

        let mut cmdline_buf = [0u8; 256];
        let options = match hostio::cmdline(&mut cmdline_buf) {
            Some(line) => {
                defmt::debug!("cmdline: {=str}", line);
                parse(line)
            }
            None => Options::default(),
        };

        // Boot phase: decode the policy straight into the learner, then
        // stage the deployed controller in the scratch region.
        let learner = &mut *mem.learner;
        // A host file, when asked for, replaces the region: if it cannot be
        // read, the policy is missing (no silent use of another policy).
        let mut persist: Option<Persist<Psram>> = None;
        let mut from_store = None;
        if options.store {
            persist = LAYOUT.and_then(|l| persist::open(Psram::take(options.flash_delay), l));
            if let Some(p) = persist.as_mut() {
                p.provision(|| given(&options, mem.scratch), learner);
                from_store = p.load(learner, mem.scratch.file());
            }
        }
        let source = from_store
            .as_ref()
            .map_or(persist::Source::Given, |(s, _)| *s);
        let loaded = match from_store {
            Some((_, loaded)) => Ok(loaded),
            None => boot::decode(given(&options, mem.scratch), learner),
        };
        let Ok(loaded) = loaded else {
            boot::sim_fallback(&wires);
            finish(&options)
        };
        let mut deploy = loaded.deploy;
        let actor = boot::stage(mem.scratch, learner, &deploy);

        if options.infer {
            boot::report_inference(actor);
        }
        if let Some(n) = options.bench {
            defmt::info!("bench: {=u32} control steps", n);
            let sum = control::bench(actor, n);
            defmt::info!("bench done (checksum {=f32})", sum);
        }

        if options.serve {
            serve_link(
                &options,
                &wires,
                &mut mem,
                &mut deploy,
                source,
                persist.as_mut(),
            )
        }

        let want_train = options.adapt.is_some() || options.upd.is_some();
        if want_train {
            // The simulated plant, fresh for each evaluation and each run.
            let plant = || {
                let mut p = SimPlant::new(&wires, ROLLOUT as u32);
                if let Some(s) = options.swap_after_s {
                    p.swap_wires_at(u64::from(s) * 1_000_000_000);
                }
                p
            };
            let before = match options.adapt {
                Some(_) => adapt::evaluate("before", actor, &mut plant()),
                None => 0.0,
            };
            // The staged controller is dead now: the scratch region holds
            // the rollout.
            adapt::set_scope(&mut learner.trainer, options.head);
            if let Some(n) = options.upd {
                let name = options.updcfg.unwrap_or("full");
                let Some(cfg) = adapt::bench_config(name) else {
                    defmt::error!("unknown updcfg {=str}", name);
                    hostio::exit(false)
                };
                defmt::info!(
                    "update bench: {=u32} updates, config {=str}, batch {=usize}, minibatch {=usize}",
                    n,
                    name,
                    ROLLOUT,
                    cfg.minibatch
                );
                let out = adapt::run(
                    learner,
                    mem.scratch,
                    &mut plant(),
                    &cfg,
                    n,
                    &mut deploy,
                    adapt::Guards::none(&mut |_, _, _, _| {}, &mut |_| true),
                );
                defmt::info!("update bench done: {=u32} updates", out.updates);
            }
            if let Some(n) = options.adapt {
                let cfg = adapt::SETTINGS.update;
                let safety = match persist {
                    Some(_) => options.safety.unwrap_or(adapt::SAFETY),
                    None => adapt::PLAIN,
                };
                defmt::info!(
                    "adapt: {=u32} episodes of {=usize} steps, scope {}, eps_kl {=f32}, {}",
                    n,
                    ROLLOUT,
                    learner.trainer.scope_in_force(),
                    cfg.eps_kl,
                    safety
                );
                let mut plant = plant();
                let mut trace = options.trace.and_then(|path| {
                    hostio::TraceFile::create(path)
                        .inspect_err(|e| defmt::error!("cannot create trace {=str}: {}", path, e))
                        .ok()
                });
                let out = adapt::run(
                    learner,
                    mem.scratch,
                    &mut plant,
                    &cfg,
                    n,
                    &mut deploy,
                    adapt::Guards {
                        safety,
                        persist: persist.as_mut(),
                        trace: &mut |u, r, rollout, policy| {
                            if let Some(t) = trace.as_mut() {
                                if let Err(e) = write_trace(t, u, r.kept, rollout, policy) {
                                    defmt::error!("trace write failed: {}", e);
                                }
                            }
                        },
                        report: &mut |_| true,
                    },
                );
                let actor = boot::stage(mem.scratch, learner, &deploy);
                // After a wire swap, "after" is measured on the swapped plant.
                let after = adapt::evaluate("after", actor, &mut plant);
                boot::log_outcome(&out, before, after);
            }
        }
        finish(&options)
    }

    /// The `serve` word: the host link on UART0 until a reset (a reboot).
    /// Not inlined, so the link's buffers are on the stack only in this
    /// mode (the other runs keep the 64 KiB RAM budget).
    #[inline(never)]
    fn serve_link(
        options: &Options,
        wires: &Wires,
        mem: &mut mem::Memory,
        deploy: &mut fixpo_core::adapt::Deploy<3, 1>,
        source: persist::Source,
        persist: Option<&mut Persist<Psram>>,
    ) -> ! {
        let mut plant = SimPlant::new(wires, ROLLOUT as u32);
        let mut link = Link::new(
            Uart0::take(),
            Identity {
                device_id: *b"qemu-mps2-an386\0",
                eps_kl: adapt::SETTINGS.update.eps_kl,
                eps_total: adapt::SAFETY.eps_total,
            },
        );
        let exit = serve::serve(
            mem,
            deploy,
            source,
            &mut plant,
            &mut link,
            persist,
            Hooks {
                uptime_ms: &|| (wires.elapsed_ns() / 1_000_000) as u32,
                switched: &mut |actor| {
                    if options.infer {
                        boot::report_inference(actor);
                    }
                },
                ticks: None,
            },
        );
        defmt::info!(
            "serve: {}; stack high-water mark {=usize} bytes",
            exit,
            mem::stack_high_water()
        );
        if exit == Exit::Reset {
            cortex_m::peripheral::SCB::sys_reset();
        }
        finish(options)
    }

    /// One round's record of the `trace=PATH` file.
    fn write_trace(
        t: &mut hostio::TraceFile,
        u: u32,
        kept: bool,
        rollout: &mem::Rollout,
        policy: &Policy<3, HID, 1>,
    ) -> Result<(), hostio::HostIoError> {
        t.write(&u.to_le_bytes())?;
        t.write(&[u8::from(kept)])?;
        for tr in &rollout.batch {
            t.write_f32s(&tr.obs)?;
        }
        for k in 0..Policy::<3, HID, 1>::SLICES {
            t.write_f32s(policy.slice(k))?;
        }
        Ok(())
    }

    /// Reports the stack and RAM use and ends the run.
    fn finish(options: &Options) -> ! {
        if options.panic {
            panic!("panic requested on the command line");
        }
        defmt::info!(
            "stack high-water mark {=usize} bytes (window {=usize})",
            mem::stack_high_water(),
            mem::STACK_WINDOW
        );
        defmt::info!("fixpo firmware done");
        hostio::exit(true)
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        // Static messages only: formatting arguments would pull core::fmt's
        // float printing (~20 KB of flash) into the image.
        let msg = info.message().as_str().unwrap_or("(formatted message)");
        match info.location() {
            Some(l) => defmt::error!("panicked at {=str}:{=u32}: {=str}", l.file(), l.line(), msg),
            None => defmt::error!("panicked: {=str}", msg),
        }
        hostio::exit(false)
    }

    #[exception]
    unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
        defmt::error!(
            "HardFault at pc={=u32:#010x} lr={=u32:#010x}",
            frame.pc(),
            frame.lr()
        );
        hostio::exit(false)
    }

    #[exception]
    unsafe fn DefaultHandler(irqn: i16) {
        if irqn == uart::RX_IRQ {
            uart::on_rx_interrupt();
            return;
        }
        defmt::error!("unexpected interrupt {=i16}", irqn);
        hostio::exit(false)
    }
}
