//! fixpo firmware for Cortex-M4F (thumbv7em-none-eabihf); runs under QEMU's
//! mps2-an386 for tests. See README.md.
//!
//! Phase 1: boot, report the policy region, exit. Semihosting command-line
//! words (`scripts/firmware.sh run -- WORD...`):
//! - `policy=PATH`: read the policy from a host file instead of the flashed
//!   region (no rebuild needed);
//! - `bench=N`: run N control steps (for instruction counting);
//! - `panic`: panic on purpose, to check that failures reach the host.
//!
//! On the host this crate builds as a stub, so `cargo test` and `cargo
//! clippy` work at the workspace root.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
mod control;
#[cfg(target_os = "none")]
mod hostio;
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
    use crate::{control, hostio, policy};
    use cortex_m_rt::{ExceptionFrame, entry, exception};
    use defmt_semihosting as _; // global defmt logger over semihosting

    /// Options from the semihosting command line.
    #[derive(Default)]
    struct Options<'a> {
        policy_path: Option<&'a str>,
        bench: Option<u32>,
        panic: bool,
    }

    fn parse(cmdline: &str) -> Options<'_> {
        let mut o = Options::default();
        for word in cmdline.split_ascii_whitespace() {
            if let Some(p) = word.strip_prefix("policy=") {
                o.policy_path = Some(p);
            } else if let Some(n) = word.strip_prefix("bench=") {
                match n.parse() {
                    Ok(n) => o.bench = Some(n),
                    Err(_) => defmt::warn!("ignoring bad bench count {=str}", n),
                }
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

    /// Reads a policy file from the host (see the `host-policy` feature).
    #[cfg(feature = "host-policy")]
    fn host_policy(path: &str) -> Option<&'static [u8]> {
        /// Largest policy file accepted from the host: the flash region's size.
        const HOST_POLICY_MAX: usize = 64 * 1024;
        static mut HOST_POLICY: [u8; HOST_POLICY_MAX] = [0; HOST_POLICY_MAX];
        // SAFETY: called at most once, from `main` (which never returns), so
        // this is the only reference to the buffer ever made.
        let buf: &'static mut [u8; HOST_POLICY_MAX] =
            unsafe { &mut *core::ptr::addr_of_mut!(HOST_POLICY) };
        match hostio::read_file(path, buf) {
            Ok(len) => {
                log_policy("host file", &buf[..len]);
                Some(&buf[..len])
            }
            Err(e) => {
                defmt::error!("cannot read host policy {=str}: {}", path, e);
                None
            }
        }
    }

    #[cfg(not(feature = "host-policy"))]
    fn host_policy(path: &str) -> Option<&'static [u8]> {
        defmt::warn!("built without host-policy: ignoring policy={=str}", path);
        None
    }

    #[entry]
    fn main() -> ! {
        defmt::info!("fixpo firmware up");

        let mut cmdline_buf = [0u8; 512];
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

        let mut bytes: Option<&[u8]> = None;
        if let Some(path) = options.policy_path {
            bytes = host_policy(path);
        }
        if bytes.is_none() {
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

        // HOOK(fixpo-core): decode `bytes` into a policy; until then every
        // source falls back to the safe zero action.
        let mut actor = control::ZeroAction;
        match bytes {
            Some(_) => defmt::info!("policy decoding not implemented yet: using zero action"),
            None => defmt::info!("no policy: using zero action"),
        }
        let mut action = [0.0f32; control::ACT];
        control::ActionSource::act(&mut actor, &[1.0, 0.0, 0.0], &mut action);
        defmt::info!("action at upright rest: {}", action);

        if let Some(n) = options.bench {
            defmt::info!("bench: {=u32} control steps", n);
            let sum = control::bench(&mut actor, n);
            defmt::info!("bench done (checksum {=f32})", sum);
        }

        if options.panic {
            panic!("panic requested on the command line");
        }

        defmt::info!("fixpo firmware done");
        hostio::exit(true)
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        defmt::error!("{}", defmt::Display2Format(info));
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
