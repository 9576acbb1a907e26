//! The firmware under QEMU, as several tests drive it: the host policy
//! they flash, board builds through scripts/firmware.sh, QEMU runs through
//! each board's qemu-run.sh, and reading the decoded defmt log.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use fixpo_core::actor::Actor;
use fixpo_core::file;

/// Seed of the host run.
pub const SEED: u64 = 2;

/// The host's training loop ([`fixpo_host::Learner`]) on Pendulum, seed
/// [`SEED`]; the policy file it exports (with the critic).
pub fn train() -> Vec<u8> {
    let bytes = crate::device::host_file(SEED);
    assert!(file::read_header(&bytes).unwrap().critic.is_some());
    bytes
}

/// The exported policy file (version 2, with the critic) and its bytes,
/// trained once for both tests.
pub fn trained_file() -> &'static (PathBuf, Vec<u8>) {
    static FILE: OnceLock<(PathBuf, Vec<u8>)> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = tmp_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let t0 = std::time::Instant::now();
        let good = train();
        let policy_path = dir.join("policy.fxp");
        std::fs::write(&policy_path, &good).expect("write policy file");
        eprintln!(
            "trained {} steps in {:?}",
            crate::device::TRAIN_STEPS,
            t0.elapsed()
        );
        (policy_path, good)
    })
}

/// `scripts/firmware.sh build ARGS --policy POLICY`; returns the build log
/// and the ELF's path (the script's `elf: PATH` line).
pub fn build_board(args: &[&str], policy: &Path) -> (String, PathBuf) {
    let build = Command::new(repo().join("scripts/firmware.sh"))
        .arg("build")
        .args(args)
        .arg("--policy")
        .arg(policy)
        .output()
        .expect("run scripts/firmware.sh build");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&build.stdout),
        String::from_utf8_lossy(&build.stderr)
    );
    assert!(build.status.success(), "firmware build failed:\n{log}");
    eprintln!("{log}");
    let elf = log
        .lines()
        .find_map(|l| l.strip_prefix("elf: "))
        .map(|p| PathBuf::from(p.trim()))
        .unwrap_or_else(|| panic!("no `elf:` line:\n{log}"));
    (log, elf)
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Boots the qemu-mps2 ELF with these semihosting words; returns (exit
/// code, decoded defmt text).
pub fn qemu(elf: &Path, args: &[String]) -> (i32, String) {
    qemu_board("qemu-mps2", elf, args)
}

/// Boots `elf` with board `board`'s QEMU runner.
pub fn qemu_board(board: &str, elf: &Path, args: &[String]) -> (i32, String) {
    qemu_extra(board, elf, args, "")
}

/// The QEMU options that back mps2-an386's 16 MiB PSRAM (0x2100_0000,
/// the policy store's flash: firmware/boards/qemu-mps2/src/psram.rs) with
/// `file`, shared, so what the firmware writes survives QEMU and a SIGKILL
/// of QEMU is a power cut.
pub fn psram_backing(file: &Path) -> Vec<String> {
    vec![
        "-machine".into(),
        "memory-backend=psram".into(),
        "-object".into(),
        format!(
            "memory-backend-file,id=psram,size=16M,mem-path={},share=on",
            file.display()
        ),
    ]
}

/// [`qemu_board`] with extra QEMU options (`FIXPO_QEMU_EXTRA`; no spaces
/// inside one option).
pub fn qemu_extra(board: &str, elf: &Path, args: &[String], extra: &str) -> (i32, String) {
    let out = Command::new(repo().join(format!("firmware/boards/{board}/qemu-run.sh")))
        .arg(elf)
        .args(args)
        .env("FIXPO_QEMU_EXTRA", extra)
        // Generous: the on-device f64 check (software double) lengthens
        // every update, and CI machines are shared; a hang still fails.
        .env("FIXPO_QEMU_TIMEOUT", "300")
        .output()
        .expect("run firmware/qemu-run.sh");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), format!("{text}{err}"))
}

pub fn no_fault(log: &str) {
    for bad in ["panicked", "HardFault", "unexpected interrupt"] {
        assert!(!log.contains(bad), "firmware reported {bad}:\n{log}");
    }
}

/// The value after `key ` in `line`, up to the next space.
pub fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let at = line
        .find(&format!("{key} "))
        .unwrap_or_else(|| panic!("no `{key}` in `{line}`"));
    line[at + key.len() + 1..]
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches(',')
}

pub fn hex(s: &str) -> u32 {
    u32::from_str_radix(s, 16).unwrap_or_else(|_| panic!("not hex: {s}"))
}

/// `target/tmp/firmware_qemu` (Cargo's directory for integration tests'
/// files), created.
pub fn tmp_dir() -> PathBuf {
    let dir = repo().join("target/tmp/firmware_qemu");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The defmt decoder the QEMU runners use (on PATH, or in cargo's bin).
pub fn defmt_print() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let in_cargo = home.map(|h| h.join("bin/defmt-print"));
    match in_cargo {
        Some(p) if p.exists() => p,
        _ => PathBuf::from("defmt-print"),
    }
}

/// Checks the 100 `infer k: obs X Y Z action A` lines of `log` against
/// fixpo-core's action on the host for the same file, bit for bit.
pub fn check_inference<const H: usize>(log: &str, file_bytes: &[u8]) {
    let host: Actor<3, H, 1> = file::decode(file_bytes).expect("decode on host");
    let mut checked = 0;
    for line in log
        .lines()
        .filter(|l| l.contains("infer ") && l.contains(" action "))
    {
        let rest = &line[line.find(": obs ").expect("obs") + 6..];
        let words: Vec<&str> = rest.split_whitespace().collect();
        let obs = [
            f32::from_bits(hex(words[0])),
            f32::from_bits(hex(words[1])),
            f32::from_bits(hex(words[2])),
        ];
        let device = hex(words[4]);
        let expect = host.act(&obs)[0].to_bits();
        assert_eq!(
            device, expect,
            "action bits differ at obs {obs:?}: device {device:08x}, host {expect:08x}"
        );
        checked += 1;
    }
    assert_eq!(checked, 100, "expected 100 inference lines:\n{log}");
}

/// Checks every `update k: … max_kl …` line of `log` (the report and the
/// independent recomputation both ≤ ε_KL, π_old fingerprint matched);
/// returns how many there were.
pub fn check_updates(log: &str) -> u32 {
    let mut updates = 0;
    for line in log.lines().filter(|l| l.contains("max_kl ")) {
        let max_kl: f32 = field(line, "max_kl").parse().unwrap();
        let eps: f32 = field(line, "eps_kl").parse().unwrap();
        let indep: f32 = field(line, "indep_max_kl").parse().unwrap();
        assert_eq!(field(line, "fingerprint_ok"), "true", "{line}");
        assert!(indep <= eps, "trust region violated: {line}");
        assert!(max_kl <= eps, "trust region violated (report): {line}");
        eprintln!("{}", line.trim());
        updates += 1;
    }
    updates
}

/// The `stack high-water mark N bytes` of a run's log.
pub fn log_stack(log: &str) -> usize {
    let line = log
        .lines()
        .find(|l| l.contains("stack high-water mark"))
        .unwrap_or_else(|| panic!("no stack report:\n{log}"));
    field(line, "mark").parse().unwrap()
}

/// `RAM:   N B static` from scripts/firmware.sh's size summary.
pub fn static_ram(build_log: &str) -> usize {
    let line = build_log
        .lines()
        .find(|l| l.starts_with("RAM:"))
        .unwrap_or_else(|| panic!("no RAM line:\n{build_log}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
