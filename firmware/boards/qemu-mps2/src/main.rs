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
//! - `panic`: panic on purpose, to check that failures reach the host.
//!
//! The board-agnostic steps (decoding, inference report, adaptation, the
//! simulated plant) are the `fixpo-firmware` library's; this crate adds the
//! semihosting command line, host files and exit status.
#![no_std]
#![no_main]

mod hostio;

mod app {
    use crate::hostio;
    use cortex_m_rt::{ExceptionFrame, entry, exception};
    use defmt_semihosting as _; // global defmt logger over semihosting
    use fixpo_firmware::adapt;
    use fixpo_firmware::boot;
    use fixpo_firmware::control::{self, HID};
    use fixpo_firmware::mem::{self, FILE_LEN, ROLLOUT};
    use fixpo_firmware::plant::{SimPlant, Wires};

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

        // Boot phase: decode the policy straight into the learner, then
        // stage the deployed controller in the scratch region.
        let learner = &mut *mem.learner;
        // A host file, when asked for, replaces the region: if it cannot be
        // read, the policy is missing (no silent use of another policy).
        let bytes = match options.policy_path {
            Some(path) => host_file("host policy", path, mem.scratch.file()),
            None => boot::region_policy(),
        };
        let Ok(loaded) = boot::decode(bytes, learner) else {
            boot::sim_fallback(&wires);
            finish(&options)
        };
        let deploy = loaded.deploy;
        let actor = boot::stage(mem.scratch, learner, &deploy);

        if options.infer {
            boot::report_inference(actor);
        }
        if let Some(n) = options.bench {
            defmt::info!("bench: {=u32} control steps", n);
            let sum = control::bench(actor, n);
            defmt::info!("bench done (checksum {=f32})", sum);
        }

        let want_train = options.adapt.is_some() || options.upd.is_some();
        if want_train {
            // The simulated plant, fresh for each evaluation and each run.
            let plant = || SimPlant::new(&wires, ROLLOUT as u32);
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
                defmt::info!("update bench: {=u32} updates, config {=str}", n, name);
                let out = adapt::run(learner, mem.scratch, &mut plant(), &cfg, n);
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
                let out = adapt::run(learner, mem.scratch, &mut plant(), &cfg, n);
                let actor = boot::stage(mem.scratch, learner, &deploy);
                let after = adapt::evaluate("after", actor, &mut plant());
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
