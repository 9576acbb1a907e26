//! fixpo firmware on QEMU's mps2-an386 (Cortex-M4F, thumbv7em-none-eabihf):
//! the board the end-to-end tests run. See firmware/README.md.
//!
//! Boot: validate the policy (flash region, or a host file) with
//! fixpo-core's decoder; on a typed error, log it and fall back to the zero
//! action. Then, per the semihosting command line
//! (`scripts/firmware.sh run -- WORD...`):
//! - `policy=PATH`: read the policy from a host file instead of the flashed
//!   region (no rebuild needed);
//! - `critic=PATH`: a value function for adaptation, as a policy file of the
//!   same shape whose mean network is V and whose log-std is ln σ_R, the
//!   return scale V was trained with (without it V starts from scratch);
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
    use fixpo_firmware::adapt::{self, Deploy};
    use fixpo_firmware::boot::{self, Loaded};
    use fixpo_firmware::control::{self, HID};
    use fixpo_firmware::mem::{self, FILE_LEN, ROLLOUT};
    use fixpo_firmware::plant::{SimPlant, Wires};

    /// Options from the semihosting command line.
    #[derive(Default)]
    struct Options<'a> {
        policy_path: Option<&'a str>,
        critic_path: Option<&'a str>,
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
            } else if let Some(p) = word.strip_prefix("critic=") {
                o.critic_path = Some(p);
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

        // Boot phase: decode the policy into the scratch actor.
        let boot = mem.scratch.boot();
        // A host file, when asked for, replaces the region: if it cannot be
        // read, the policy is missing (no silent use of another policy).
        let bytes = match options.policy_path {
            Some(path) => host_file("host policy", path, &mut boot.file),
            None => boot::region_policy(),
        };
        let deploy = match boot::decode(bytes, &mut boot.actor) {
            Loaded::Ok => Deploy::of(&boot.actor),
            Loaded::Missing | Loaded::Rejected(_) => {
                boot::sim_fallback(&wires);
                finish(&options)
            }
        };

        if options.infer {
            boot::report_inference(&mut boot.actor);
        }
        if let Some(n) = options.bench {
            defmt::info!("bench: {=u32} control steps", n);
            let sum = control::bench(&mut boot.actor, n);
            defmt::info!("bench done (checksum {=f32})", sum);
        }

        let want_train = options.adapt.is_some() || options.upd.is_some();
        if want_train {
            let before = match options.adapt {
                Some(_) => adapt::evaluate(
                    "before",
                    &boot.actor,
                    &mut SimPlant::new(&wires, ROLLOUT as u32),
                ),
                None => 0.0,
            };
            // The network moves into the trainer; boot data is dead now.
            let learner = &mut *mem.learner;
            learner.trainer.policy = boot.actor.policy;
            learner.trainer.beta = 1.0;
            adapt::set_scope(&mut learner.trainer, options.head);
            let mut critic = None;
            if let Some(path) = options.critic_path {
                let boot = mem.scratch.boot();
                if let Some(b) = host_file("critic", path, &mut boot.file) {
                    match fixpo_core::file::decode_into::<{ control::OBS }, HID, { control::ACT }>(
                        b,
                        &mut boot.actor,
                    ) {
                        Ok(()) => {
                            defmt::info!("critic ok");
                            critic = Some((
                                &boot.actor.policy.net,
                                boot.actor.policy.log_std[0],
                                boot.actor.obs_norm.count,
                            ));
                        }
                        Err(e) => defmt::error!("critic error: {}", e),
                    }
                }
            }
            if critic.is_none() {
                defmt::warn!("no critic: value function starts from scratch");
            }
            let scaler = adapt::init_value(&mut learner.trainer, critic);

            if let Some(n) = options.upd {
                let name = options.updcfg.unwrap_or("full");
                let Some(cfg) = adapt::bench_config(name) else {
                    defmt::error!("unknown updcfg {=str}", name);
                    hostio::exit(false)
                };
                defmt::info!("update bench: {=u32} updates, config {=str}", n, name);
                let out = adapt::run(
                    learner,
                    mem.scratch,
                    &deploy,
                    scaler,
                    &mut SimPlant::new(&wires, ROLLOUT as u32),
                    &cfg,
                    n,
                );
                defmt::info!("update bench done: {=u32} updates", out.updates);
            }
            if let Some(n) = options.adapt {
                let cfg = adapt::config();
                defmt::info!(
                    "adapt: {=u32} episodes of {=usize} steps, scope {}, eps_kl {=f32}",
                    n,
                    ROLLOUT,
                    learner.trainer.scope,
                    cfg.eps_kl
                );
                let out = adapt::run(
                    learner,
                    mem.scratch,
                    &deploy,
                    scaler,
                    &mut SimPlant::new(&wires, ROLLOUT as u32),
                    &cfg,
                    n,
                );
                let boot = mem.scratch.boot();
                deploy.stage(&learner.trainer.policy, &mut boot.actor);
                let after = adapt::evaluate(
                    "after",
                    &boot.actor,
                    &mut SimPlant::new(&wires, ROLLOUT as u32),
                );
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
