//! fixpo firmware for Cortex-M4F (thumbv7em-none-eabihf); runs under QEMU's
//! mps2-an386 for tests. See README.md.
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
//! - `panic`: panic on purpose, to check that failures reach the host.
//!
//! On the host this crate builds as a stub, so `cargo test` and `cargo
//! clippy` work at the workspace root.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
mod adapt;
#[cfg(target_os = "none")]
mod control;
#[cfg(target_os = "none")]
mod hostio;
#[cfg(target_os = "none")]
mod mem;
#[cfg(target_os = "none")]
mod plant;
#[cfg(target_os = "none")]
mod policy;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "fixpo-firmware runs on a Cortex-M4F: build it with \
         `cargo build --target thumbv7em-none-eabihf` or scripts/firmware.sh"
    );
    std::process::exit(2);
}

#[cfg(target_os = "none")]
mod app {
    use crate::adapt;
    use crate::control::{self, ActionSource, HID, OBS};
    use crate::mem::{self, FILE_LEN, ROLLOUT};
    use crate::plant::{SimPlant, Wires};
    use crate::{hostio, policy};
    use cortex_m_rt::{ExceptionFrame, entry, exception};
    use defmt_semihosting as _; // global defmt logger over semihosting
    use fixpo_core::adapt::{Loaded, load};
    use fixpo_core::env::Env;
    use fixpo_core::file::FileError;
    use fixpo_core::rng::{Pcg32, uniform_range};

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
        let mut o = Options::default();
        for word in cmdline.split_ascii_whitespace() {
            if let Some(p) = word.strip_prefix("policy=") {
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
        o
    }

    fn log_policy(source: &str, bytes: &[u8]) {
        let head = &bytes[..bytes.len().min(16)];
        defmt::info!(
            "policy from {=str}: {=usize} bytes, first {=usize}: {=[u8]:02x}",
            source,
            bytes.len(),
            head.len(),
            head
        );
    }

    /// Reads a host file into `buf` (see the `host-policy` feature).
    #[cfg(feature = "host-policy")]
    fn host_file<'b>(what: &str, path: &str, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        match hostio::read_file(path, buf) {
            Ok(len) => {
                log_policy(what, &buf[..len]);
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

    /// The policy as loaded, or why there is none.
    enum Boot {
        Ok(Loaded<OBS, { control::ACT }>),
        Missing,
        Rejected(FileError),
    }

    /// The 100 observations of the bit-exactness check: angles over the
    /// circle, speeds beyond the plant's limit (to reach the observation and
    /// action clips), a few huge values and a NaN (safe action).
    fn infer_obs(k: u32, rng: &mut Pcg32) -> [f32; OBS] {
        let th = uniform_range(rng, -core::f32::consts::PI, core::f32::consts::PI);
        let thdot = uniform_range(rng, -12.0, 12.0);
        match k {
            97 => [1.0, 0.0, 1.0e6],
            98 => [-1.0e6, 3.0e5, -7.5],
            99 => [f32::NAN, 0.0, 0.0],
            _ => [libm::cosf(th), libm::sinf(th), thdot],
        }
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
        let mem = mem::take();
        let wires = Wires::new();

        let mut cmdline_buf = [0u8; 256];
        let options = match hostio::cmdline(&mut cmdline_buf) {
            Some(line) => {
                defmt::debug!("cmdline: {=str}", line);
                parse(line)
            }
            None => Options::default(),
        };

        let (start, size) = policy::region_bounds();
        defmt::info!(
            "policy region at {=usize:#010x}, {=usize} bytes; built with {=usize} bytes",
            start,
            size,
            policy::POLICY_LEN
        );

        // Boot phase: decode the policy straight into the learner, then
        // stage the deployed controller in the scratch region.
        let learner = &mut *mem.learner;
        let mut bytes: Option<&[u8]> = None;
        // A host file, when asked for, replaces the region: if it cannot be
        // read, the policy is missing (no silent use of another policy).
        if let Some(path) = options.policy_path {
            bytes = host_file("host policy", path, mem.scratch.file());
        } else {
            match policy::read() {
                policy::Region::Policy(b) => {
                    log_policy("flash region", b);
                    bytes = Some(b);
                }
                policy::Region::Empty => defmt::info!("policy region empty"),
                policy::Region::Invalid { magic, len } => defmt::warn!(
                    "policy region invalid: magic {=[u8]:02x}, length {=u32}",
                    magic,
                    len
                ),
            }
        }
        let boot = match bytes {
            None => Boot::Missing,
            Some(b) => match load(b, learner, &adapt::SETTINGS) {
                Ok(l) => Boot::Ok(l),
                Err(e) => Boot::Rejected(e),
            },
        };
        let loaded = match boot {
            Boot::Ok(l) => {
                defmt::info!("policy ok: obs clip {=f32}", l.deploy.norm.clip);
                if l.critic {
                    defmt::info!("critic ok: value function and return scale from the policy file");
                } else {
                    defmt::warn!(
                        "no critic in the policy file: value function starts from scratch"
                    );
                }
                l
            }
            Boot::Missing => {
                defmt::error!("policy error: missing");
                fallback(&wires);
                finish(&options)
            }
            Boot::Rejected(e) => {
                defmt::error!("policy error: {}", e);
                fallback(&wires);
                finish(&options)
            }
        };
        let actor = mem.scratch.controller();
        loaded.deploy.stage(&learner.trainer.policy, actor);

        if options.infer {
            let mut rng = Pcg32::new(0x1AFE, 0);
            for k in 0..100 {
                let obs = infer_obs(k, &mut rng);
                let mut a = [0.0f32; control::ACT];
                ActionSource::act(actor, &obs, &mut a);
                defmt::info!(
                    "infer {=u32}: obs {=u32:08x} {=u32:08x} {=u32:08x} action {=u32:08x}",
                    k,
                    obs[0].to_bits(),
                    obs[1].to_bits(),
                    obs[2].to_bits(),
                    a[0].to_bits()
                );
            }
        }
        if let Some(n) = options.bench {
            defmt::info!("bench: {=u32} control steps", n);
            let sum = control::bench(actor, n);
            defmt::info!("bench done (checksum {=f32})", sum);
        }

        let want_train = options.adapt.is_some() || options.upd.is_some();
        if want_train {
            let before = match options.adapt {
                Some(_) => adapt::evaluate("before", actor, &wires),
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
                defmt::info!("update bench: {=u32} updates, config {=str}", n, name);
                let out = adapt::run(learner, mem.scratch, &wires, &cfg, n);
                defmt::info!("update bench done: {=u32} updates", out.updates);
            }
            if let Some(n) = options.adapt {
                let cfg = adapt::SETTINGS.update;
                defmt::info!(
                    "adapt: {=u32} episodes of {=usize} steps, scope {}, eps_kl {=f32}",
                    n,
                    ROLLOUT,
                    learner.trainer.scope,
                    cfg.eps_kl
                );
                let out = adapt::run(learner, mem.scratch, &wires, &cfg, n);
                let actor = mem.scratch.controller();
                loaded.deploy.stage(&learner.trainer.policy, actor);
                let after = adapt::evaluate("after", actor, &wires);
                defmt::info!(
                    "adapt done: {=u32} updates, {=u32} trust-region violations, mean return before {=f32} after {=f32}",
                    out.updates,
                    out.violations,
                    before,
                    after
                );
            }
        }
        finish(&options)
    }

    /// No valid policy: the controller keeps running on the zero action.
    fn fallback(wires: &Wires) {
        let mut source = control::ZeroAction;
        let mut plant = SimPlant::new(wires, 20);
        let mut rng = Pcg32::new(0x5AFE, 0);
        let mut obs = plant.reset(&mut rng);
        let mut action = [0.0f32; control::ACT];
        let mut ret = 0.0;
        for _ in 0..20 {
            source.act(&obs, &mut action);
            let step = plant.step(&action);
            ret += step.reward;
            obs = step.obs;
        }
        defmt::warn!(
            "safe fallback: zero action {=f32}, 20 control steps run (return {=f32})",
            action[0],
            ret
        );
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
        defmt::error!("unexpected interrupt {=i16}", irqn);
        hostio::exit(false)
    }
}
