//! The firmware under QEMU, end to end: train a Pendulum policy on the host
//! with fixpo-host's training loop, export it with its critic as the host
//! does (`Learner::policy_file`, a version-2 file), build the firmware with
//! the file in its flash region, boot it on QEMU's mps2-an386 (Cortex-M4F,
//! board `qemu-mps2`), decode its defmt output and check:
//!
//! 1. bit-exact inference: 100 observations, action bits equal fixpo-core's
//!    on the host for the same file;
//! 2. safe adaptation on the mismatched plant, through fixpo-core's
//!    adaptation round with the file's critic: the mean deterministic
//!    return over 5 fixed episodes after on-device FixPO updates beats the
//!    flashed policy's by [`MARGIN`], and every update's max KL, recomputed
//!    on the device independently of the trainer, is ≤ ε_KL;
//! 3. bad policy files fed through semihosting each give their typed error
//!    and the zero-action fallback, with no panic or fault; a version-1
//!    file (no critic) still loads and adapts;
//! 4. the stack high-water mark plus the image's static RAM fits 64 KiB.
//!
//! And the STM32 build (board `stm32f4`, feature `qemu`: the STM32F405
//! image without clock init, simulated plant, defmt on USART1) on QEMU's
//! netduinoplus2: the same version-2 file with its critic, the same 100
//! action bits as the host, 2 adaptation rounds inside the trust region,
//! static RAM + stack within the chip's 128 KiB.
//!
//! Needs the firmware toolchain (`scripts/setup-firmware-toolchain.sh`):
//! the thumbv7em-none-eabihf target, qemu-system-arm, defmt-print, llvm-size.
//! Set FIXPO_SKIP_FIRMWARE=1 to skip it on a machine without them.

use std::path::Path;

use fixpo_core::PolicyKind;
use fixpo_core::actor::Actor;
use fixpo_core::file;
use fixpo_tests::qemu::{
    build_board, check_inference, check_updates, field, log_stack, no_fault, qemu, qemu_board,
    static_ram, trained_file,
};

/// On-device episodes, each followed by one FixPO update.
const ADAPT_UPDATES: u32 = 60;
/// Required improvement of the mean return over the 5 evaluation episodes
/// (180 steps each). The evaluation is deterministic (fixed initial states,
/// deterministic policy), so the margin only has to separate a real
/// improvement from a drift: 100 is ~12% of the flashed policy's return on
/// this plant and far above what a no-op update gives. The gain depends on
/// the flashed policy: for host seeds 1–5 the 60 updates gained 76, 219,
/// 172, 67 and 170 (measured 2026-12-02, with the critic as a second
/// file); [`SEED`] gains 312 with the critic in the version-2 file
/// (fixpo-core's adaptation round; other seeds not re-measured).
const MARGIN: f32 = 100.0;

/// Writes `actor` without a critic.
fn write_file<const H: usize>(path: &Path, actor: &Actor<3, H, 1>) -> Vec<u8> {
    let mut buf = vec![0u8; file::max_encoded_len(3, H, 1)];
    let n = file::encode(actor, &mut buf).expect("encode");
    buf.truncate(n);
    std::fs::write(path, &buf).expect("write policy file");
    buf
}

#[test]
fn firmware_under_qemu() {
    if std::env::var_os("FIXPO_SKIP_FIRMWARE").is_some() {
        eprintln!("FIXPO_SKIP_FIRMWARE set: skipping the QEMU test");
        return;
    }
    let (policy_path, good) = trained_file();
    let dir = policy_path.parent().expect("tmp dir").to_path_buf();

    // Build with the policy in the flash region.
    let (build_log, elf) = build_board(&[], policy_path);

    // (1) Bit-exact inference from the flashed file.
    let (code, log) = qemu(&elf, &["infer".to_string()]);
    assert_eq!(code, 0, "infer run failed:\n{log}");
    no_fault(&log);
    assert!(log.contains("policy ok"), "{log}");
    check_inference::<32>(&log, good);

    // (2) Adaptation on the mismatched plant, with the file's critic.
    let t1 = std::time::Instant::now();
    let (code, log) = qemu(&elf, &[format!("adapt={ADAPT_UPDATES}")]);
    eprintln!("adaptation run: {:?}", t1.elapsed());
    assert_eq!(code, 0, "adapt run failed:\n{log}");
    no_fault(&log);
    assert!(log.contains("critic ok"), "{log}");
    let updates = check_updates(&log);
    assert_eq!(updates, ADAPT_UPDATES, "every update must succeed:\n{log}");
    let done = log
        .lines()
        .find(|l| l.contains("adapt done"))
        .unwrap_or_else(|| panic!("no summary:\n{log}"));
    eprintln!("{}", done.trim());
    assert!(done.contains(" 0 trust-region violations"), "{done}");
    let before: f32 = field(done, "before").parse().unwrap();
    let after: f32 = field(done, "after").parse().unwrap();
    assert!(
        after >= before + MARGIN,
        "adaptation did not help enough: before {before}, after {after}, margin {MARGIN}"
    );

    // (3) Bad files through semihosting: typed error, zero action, exit 0.
    let mut bad_magic = good.clone();
    bad_magic[0] ^= 0xFF;
    let mut bad_crc = good.clone();
    let mid = bad_crc.len() / 2;
    bad_crc[mid] ^= 0x01;
    let truncated = good[..good.len() / 2].to_vec();
    // A valid file of another shape (smaller, so it fits the read buffer).
    let wide = dir.join("narrow.fxp");
    write_file(&wide, &Actor::<3, 16, 1>::zero(PolicyKind::Gaussian));
    let cases: [(&str, Option<Vec<u8>>, &str); 5] = [
        ("bad_magic", Some(bad_magic), "policy error: BadMagic"),
        ("bad_crc", Some(bad_crc), "policy error: ChecksumMismatch"),
        ("truncated", Some(truncated), "policy error: Truncated"),
        (
            "wide",
            None,
            "policy error: DimensionMismatch { obs: 3, hid: 16, act: 1 }",
        ),
        ("missing", None, "policy error: missing"),
    ];
    for (name, bytes, expect) in cases {
        let path = match name {
            "wide" => wide.clone(),
            "missing" => dir.join("does-not-exist.fxp"),
            _ => {
                let p = dir.join(format!("{name}.fxp"));
                std::fs::write(&p, bytes.unwrap()).unwrap();
                p
            }
        };
        let (code, log) = qemu(
            &elf,
            &[format!("policy={}", path.display()), "adapt=1".into()],
        );
        assert_eq!(code, 0, "{name}: firmware failed:\n{log}");
        no_fault(&log);
        assert!(log.contains(expect), "{name}: expected `{expect}`:\n{log}");
        assert!(
            log.contains("safe fallback: zero action 0"),
            "{name}: no fallback:\n{log}"
        );
        assert!(
            !log.contains("update 0"),
            "{name}: adapted without a policy"
        );
    }

    // (3b) A version-1 file (no critic section) from the host still loads
    // and adapts, with a value function from scratch. It is the same actor's
    // version-2 file without a critic, relabelled as the version-1 writer
    // wrote it: version byte 1, no critic tag, its own checksum.
    let host: Actor<3, 32, 1> = file::decode(good).unwrap();
    let mut v1 = write_file(&dir.join("v2-no-critic.fxp"), &host);
    v1[4] = 1;
    v1.truncate(v1.len() - 5);
    let crc = file::checksum(&v1);
    v1.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(file::read_header(&v1).unwrap().version, 1);
    let v1_path = dir.join("v1.fxp");
    std::fs::write(&v1_path, &v1).unwrap();
    let (code, log) = qemu(
        &elf,
        &[format!("policy={}", v1_path.display()), "adapt=1".into()],
    );
    assert_eq!(code, 0, "v1: firmware failed:\n{log}");
    no_fault(&log);
    assert!(log.contains("policy ok"), "{log}");
    assert!(log.contains("no critic in the policy file"), "{log}");
    assert!(log.contains("update 0: "), "{log}");
    assert!(log.contains(" 0 trust-region violations"), "{log}");

    // (4) RAM: static (.data + .bss) + stack high-water mark ≤ 64 KiB.
    let stack: usize = log_stack(&log_of_last_adapt(&elf));
    let statics = static_ram(&build_log);
    eprintln!(
        "RAM: static {statics} B + stack {stack} B = {} B",
        statics + stack
    );
    assert!(statics + stack <= 64 * 1024);
}

/// A short adaptation run, for the stack high-water mark.
fn log_of_last_adapt(elf: &Path) -> String {
    let (code, log) = qemu(elf, &["infer".into(), "adapt=2".into()]);
    assert_eq!(code, 0, "{log}");
    log
}

/// The stm32f4 board's `qemu` build (STM32F405 map, no clock init,
/// simulated plant, defmt on USART1) on QEMU's netduinoplus2.
#[test]
fn stm32f4_build_under_netduinoplus2() {
    if std::env::var_os("FIXPO_SKIP_FIRMWARE").is_some() {
        eprintln!("FIXPO_SKIP_FIRMWARE set: skipping the QEMU test");
        return;
    }
    let (policy_path, good) = trained_file();
    let (build_log, elf) = build_board(&["--board", "stm32f4", "--features", "qemu"], policy_path);
    let (code, log) = qemu_board("stm32f4", &elf, &[]);
    assert_eq!(code, 0, "netduinoplus2 run failed:\n{log}");
    no_fault(&log);
    assert!(log.contains("policy ok"), "{log}");
    assert!(log.contains("critic ok"), "{log}");
    check_inference::<32>(&log, good);
    // Its 2 adaptation rounds stay inside the trust region.
    assert_eq!(check_updates(&log), 2, "{log}");
    let done = log
        .lines()
        .find(|l| l.contains("adapt done"))
        .unwrap_or_else(|| panic!("no summary:\n{log}"));
    assert!(done.contains(" 0 trust-region violations"), "{done}");
    // RAM: the STM32F405/F446's 128 KiB SRAM.
    let (stack, statics) = (log_stack(&log), static_ram(&build_log));
    eprintln!(
        "stm32f4 RAM: static {statics} B + stack {stack} B = {} B",
        statics + stack
    );
    assert!(statics + stack <= 128 * 1024);
}
