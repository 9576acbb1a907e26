//! `fixpo device` end to end under QEMU (issue 14): the qemu-mps2
//! firmware boots policy A with its store in a file-backed PSRAM and
//! serves the host link on UART0, a unix socket here.
//!
//! 1. `fixpo device status` reports A (fingerprint, source, dimensions);
//! 2. `fixpo device push B`: the device commits B and switches to it; the
//!    100-point inference report it logs after the switch matches the
//!    host's actions for B bit for bit, and its status names B's
//!    fingerprint and record;
//! 3. `fixpo device adapt --updates 20`: 20 reports stream back, each
//!    within the trust region (the update's own max KL and the device's
//!    independent check both ≤ ε_KL), written as metrics.jsonl;
//! 4. `fixpo device pull`: the file equals the store's active record as
//!    the host reads it from the PSRAM file, and `fixpo eval` and
//!    `fixpo inspect` accept it;
//! 5. corrupted, oversized, unknown and wrong-version frames each get
//!    their error reply, never a fault, and the link still works after;
//! 6. QEMU killed (SIGKILL) in the middle of a push: after a restart the
//!    device runs the last committed policy and says so;
//! 7. `fixpo device reset` reboots the device.
//!
//! Needs the firmware toolchain (as tests/tests/firmware_qemu.rs) and the
//! `fixpo` binary of this workspace (built by `cargo test --workspace`;
//! `FIXPO_BIN` overrides); set FIXPO_SKIP_FIRMWARE=1 to skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use fixpo_core::adapt::fingerprint;
use fixpo_core::norm::ObsNorm;
use fixpo_core::{Actor, file};
use fixpo_proto::transfer::push_chunk;
use fixpo_proto::{Command as Cmd, Dims, ErrorCode, FrameError, Kind, NO_ID, Reply, Source};
use fixpo_store::mock::MockFlash;
use fixpo_store::{Layout, Store};
use fixpo_tests::device::host_file_of;
use fixpo_tests::link::{Device, Raw, reply};
use fixpo_tests::qemu::{
    build_board, check_inference, check_updates, hex, log_stack, no_fault, qemu, static_ram,
    tmp_dir, trained_file,
};

const DIMS: Dims = Dims {
    obs: 3,
    hid: 32,
    act: 1,
    kind: Kind::Gaussian,
};

/// Builds the qemu-mps2 board with `args` and `policy` flashed, and copies
/// the ELF to `dir/name`: both tests build the same board (with other
/// features) into the same path, one at a time.
fn board_elf(args: &[&str], policy: &Path, dir: &Path, name: &str) -> PathBuf {
    board_elf_and_log(args, policy, dir, name).1
}

/// [`board_elf`] and the build's log.
fn board_elf_and_log(args: &[&str], policy: &Path, dir: &Path, name: &str) -> (String, PathBuf) {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let (log, elf) = build_board(args, policy);
    let copy = dir.join(name);
    std::fs::copy(&elf, &copy).expect("copy the ELF");
    (log, copy)
}

fn skip() -> bool {
    let skip = std::env::var_os("FIXPO_SKIP_FIRMWARE").is_some();
    if skip {
        eprintln!("FIXPO_SKIP_FIRMWARE set: skipping the QEMU test");
    }
    skip
}

/// fixpo-core's fingerprint of a policy file (policy and statistics).
fn fp_of(bytes: &[u8]) -> u64 {
    let a: Actor<3, 32, 1> = file::decode(bytes).expect("decode");
    fingerprint(
        &a.policy,
        &ObsNorm {
            stats: a.obs_norm,
            clip: a.obs_clip,
        },
    )
}

/// The 100 inference lines logged after the `n`-th `serve: switched`
/// line, checked bit for bit against the host's actions for `bytes`.
fn check_inference_after(log: &str, n: usize, bytes: &[u8]) {
    let host: Actor<3, 32, 1> = file::decode(bytes).expect("decode on host");
    let start = log
        .match_indices("serve: switched")
        .nth(n - 1)
        .unwrap_or_else(|| panic!("no switch #{n}:\n{log}"))
        .0;
    let mut checked = 0;
    for line in log[start..]
        .lines()
        .filter(|l| l.contains("infer ") && l.contains(" action "))
        .take(100)
    {
        let rest = &line[line.find(": obs ").expect("obs") + 6..];
        let w: Vec<&str> = rest.split_whitespace().collect();
        let obs = [0, 1, 2].map(|i| f32::from_bits(hex(w[i])));
        let (device, expect) = (hex(w[4]), host.act(&obs)[0].to_bits());
        assert_eq!(device, expect, "action bits differ at {obs:?}");
        checked += 1;
    }
    assert_eq!(
        checked, 100,
        "expected 100 inference lines after switch #{n}"
    );
}

/// Status through the raw client: (source, fingerprint).
fn status(raw: &mut Raw, id: u16) -> (Source, u64) {
    match reply(&raw.request(id, Cmd::Status)) {
        Reply::Status(s) => (s.source, s.fingerprint),
        other => panic!("status: {other:?}"),
    }
}

/// Pushes `file` through the raw client up to `upto` bytes (all: and
/// commits); returns the committed record.
fn raw_push(raw: &mut Raw, file: &[u8], upto: usize, first_id: u16) -> Option<u32> {
    let mut id = first_id;
    let begin = Cmd::PushBegin {
        len: file.len() as u32,
        crc: fixpo_proto::crc32(file),
        dims: DIMS,
    };
    assert_eq!(reply(&raw.request(id, begin)), Reply::Ack { next: 0 });
    let mut next = 0u32;
    while (next as usize) < upto {
        let Some(cmd) = push_chunk(file, next) else {
            break;
        };
        id += 1;
        match reply(&raw.request(id, cmd)) {
            Reply::Ack { next: n } => next = n,
            other => panic!("chunk at {next}: {other:?}"),
        }
    }
    if upto < file.len() {
        return None;
    }
    match reply(&raw.request(id + 1, Cmd::PushCommit)) {
        Reply::Committed { seq } => Some(seq),
        other => panic!("commit: {other:?}"),
    }
}

/// The workspace's `fixpo` binary (`FIXPO_BIN`, else next to this test's
/// directory: `cargo test --workspace` builds it there).
fn fixpo_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("FIXPO_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .join("fixpo");
    assert!(
        bin.exists(),
        "no {} (build it: cargo build -p fixpo-host --bin fixpo, or set FIXPO_BIN)",
        bin.display()
    );
    bin
}

/// `fixpo device ARGS --port SOCKET`.
fn device_cli(socket: &Path, args: &[&str]) -> Output {
    let out = Command::new(fixpo_bin())
        .arg("device")
        .args(args)
        .arg("--port")
        .arg(socket)
        .output()
        .expect("run fixpo");
    eprintln!(
        "$ fixpo device {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `fixpo device status --json`: (source, record, fingerprint).
fn cli_status(socket: &Path) -> (String, Option<u64>, u64) {
    let out = device_cli(socket, &["status", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let s = &v["status"];
    (
        s["source"].as_str().expect("source").to_string(),
        s["record"].as_u64(),
        u64::from_str_radix(s["fingerprint"].as_str().expect("fingerprint"), 16).unwrap(),
    )
}

/// The store's active record as the host reads it from the PSRAM file
/// (fixpo-store over a copy of the bytes): (sequence, file bytes).
fn store_on_host(psram: &Path) -> Option<(u32, Vec<u8>)> {
    let bytes = std::fs::read(psram).unwrap();
    let mut flash = MockFlash::<4096, 4>::new(64);
    let n = flash.bytes().len();
    flash.bytes_mut().copy_from_slice(&bytes[..n]);
    let layout = Layout::with_body(0, file::max_encoded_len(3, 32, 1), 64 * 1024, 4, 4096).unwrap();
    let mut store = Store::open(&mut flash, layout).unwrap();
    let mut buf = vec![0u8; file::max_encoded_len(3, 32, 1)];
    let loaded = store
        .load_active(&mut flash, &mut buf, |b| {
            file::decode::<3, 32, 1>(b).is_ok()
        })
        .unwrap()?;
    let len = loaded.record.len as usize;
    Some((loaded.record.seq, buf[..len].to_vec()))
}

/// Exactly one line on stderr, containing `what`.
fn one_line_error(out: &Output, code: i32, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(err.contains(what), "`{what}` not in: {err}");
}

#[test]
fn device_link_under_qemu() {
    if skip() {
        return;
    }
    let (a_path, a) = trained_file();
    let b = fixpo_tests::device::host_file(fixpo_tests::qemu::SEED + 1);
    let dir = tmp_dir().join("device");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let b_path = dir.join("b.fxp");
    std::fs::write(&b_path, &b).unwrap();
    let elf = board_elf(&[], a_path, &dir, "fixpo-qemu-mps2.elf");
    let psram = dir.join("psram");
    let socket = dir.join("link.sock");
    let args: Vec<String> = vec![
        format!("policy={}", a_path.display()),
        "store".into(),
        "serve".into(),
        "infer".into(),
    ];

    let mut dev = Device::boot(&elf, &args, &psram, &socket);
    dev.wait_for("serve: link up", 1, Duration::from_secs(60));

    // (1) What it runs: A, the factory record.
    assert_eq!(cli_status(&socket), ("factory".into(), None, fp_of(a)));

    // A wrong shape is refused before anything is sent (exit 6).
    let p64 = dir.join("p64.fxp");
    std::fs::write(&p64, policy64(3)).unwrap();
    one_line_error(
        &device_cli(&socket, &["push", p64.to_str().unwrap()]),
        6,
        "dimension",
    );

    // (2) Push B: committed, running, bit-exact.
    let t0 = Instant::now();
    let out = device_cli(&socket, &["push", b_path.to_str().unwrap()]);
    assert!(out.status.success());
    eprintln!("push of {} B took {:?} under QEMU", b.len(), t0.elapsed());
    // The boot's report and the switch's.
    let log = dev.wait_for("infer 99:", 2, Duration::from_secs(30));
    check_inference_after(&log, 1, &b);
    let (src, seq_b, fp) = cli_status(&socket);
    assert_eq!((src.as_str(), fp), ("record", fp_of(&b)));
    assert_eq!(
        store_on_host(&psram).map(|(s, f)| (u64::from(s), f)),
        Some((seq_b.unwrap(), b.clone()))
    );

    // (3) Adapt: 20 reports, each inside the trust region.
    let run = dir.join("adapt");
    let out = device_cli(
        &socket,
        &["adapt", "--updates", "20", "--out", run.to_str().unwrap()],
    );
    assert!(out.status.success());
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).expect("metrics line"))
        .collect();
    assert_eq!(lines.len(), 20, "{metrics}");
    let mut kept = 0;
    for (k, l) in lines.iter().enumerate() {
        assert_eq!(l["update"].as_u64(), Some(k as u64));
        let eps = l["eps_kl"].as_f64().unwrap();
        let (own, check) = (
            l["max_kl"].as_f64().unwrap(),
            l["check_max_kl"].as_f64().unwrap(),
        );
        assert!(
            own <= eps && check <= eps,
            "update {k} outside the trust region: {l}"
        );
        if let (Some(d), Some(e)) = (l["drift_kl"].as_f64(), l["eps_total"].as_f64()) {
            assert!(
                !l["kept"].as_bool().unwrap() || d <= e,
                "update {k} drifted: {l}"
            );
        }
        kept += usize::from(l["kept"].as_bool().unwrap());
    }
    assert!(kept > 0, "no update kept:\n{metrics}");
    let log = dev.log();
    assert_eq!(log.matches("trust region check FAILED").count(), 0);

    // (4) Pull: what the store holds, readable by eval and inspect.
    let pulled_path = dir.join("pulled.fxp");
    let out = device_cli(&socket, &["pull", "--out", pulled_path.to_str().unwrap()]);
    assert!(out.status.success());
    let pulled = std::fs::read(&pulled_path).unwrap();
    let (seq_now, held) = store_on_host(&psram).expect("a record");
    assert_eq!(
        pulled, held,
        "pulled file differs from the store's active record"
    );
    let (src, record, running_fp) = cli_status(&socket);
    assert_eq!((src.as_str(), record), ("record", Some(u64::from(seq_now))));
    // The device runs the stored record unless an update was kept after
    // the last commit or rollback (kept updates live in RAM until the
    // next new best is committed): only then may the fingerprints differ.
    let mut in_sync = true;
    for l in &lines {
        if l["kept"].as_bool() == Some(true) {
            in_sync = false;
        }
        if l["rolled_back"].as_bool() == Some(true) || !l["committed"].is_null() {
            in_sync = true;
        }
    }
    if in_sync {
        assert_eq!(
            running_fp,
            fp_of(&pulled),
            "running policy is not the stored one"
        );
    }
    for cmd in [
        vec!["inspect", pulled_path.to_str().unwrap()],
        vec![
            "eval",
            pulled_path.to_str().unwrap(),
            "--env",
            "pendulum",
            "--episodes",
            "2",
        ],
    ] {
        let out = Command::new(fixpo_bin()).args(&cmd).output().unwrap();
        assert!(
            out.status.success(),
            "fixpo {cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // (5) Frames the host would never send.
    let mut raw = Raw::connect(&socket);
    let mut bad = Raw::frame(2, Cmd::Hello);
    let n = bad.len();
    bad[n / 2] ^= 0x40;
    match reply(&raw.exchange(&bad)) {
        Reply::Error(ErrorCode::Frame(FrameError::BadCrc | FrameError::BadCobs)) => {}
        other => panic!("corrupted frame: {other:?}"),
    }
    let mut long = vec![0x55u8; 1000];
    long.push(0);
    let p = raw.exchange(&long);
    assert_eq!(fixpo_proto::parse_response(&p).unwrap().id, NO_ID);
    assert_eq!(
        reply(&p),
        Reply::Error(ErrorCode::Frame(FrameError::TooLong))
    );
    // A valid frame of an unknown command, and one of another version.
    let unknown = fixpo_tests::link::frame_of_payload(&[1, 3, 99]);
    assert_eq!(
        reply(&raw.exchange(&unknown)),
        Reply::Error(ErrorCode::UnknownRequest)
    );
    let v2 = fixpo_tests::link::frame_of_payload(&[2, 4, 0]);
    let p = raw.exchange(&v2);
    assert_eq!(reply(&p), Reply::Error(ErrorCode::Version { device: 1 }));
    // Out of order: a chunk without a push, a commit without a push.
    let chunk = Cmd::PushChunk {
        offset: 0,
        data: &[1, 2, 3],
    };
    assert_eq!(
        reply(&raw.request(5, chunk)),
        Reply::Error(ErrorCode::NoTransfer)
    );
    // A push whose bytes do not match the announced CRC.
    let begin = Cmd::PushBegin {
        len: 4,
        crc: 0,
        dims: DIMS,
    };
    assert_eq!(reply(&raw.request(6, begin)), Reply::Ack { next: 0 });
    let chunk = Cmd::PushChunk {
        offset: 0,
        data: &[1, 2, 3, 4],
    };
    assert_eq!(reply(&raw.request(7, chunk)), Reply::Ack { next: 4 });
    match reply(&raw.request(8, Cmd::PushCommit)) {
        Reply::Error(ErrorCode::BadCrc { expected: 0, .. }) => {}
        other => panic!("bad CRC push: {other:?}"),
    }
    // Intact bytes that are no policy file.
    let junk = [7u8; 300];
    let begin = Cmd::PushBegin {
        len: 300,
        crc: fixpo_proto::crc32(&junk),
        dims: DIMS,
    };
    assert_eq!(reply(&raw.request(9, begin)), Reply::Ack { next: 0 });
    assert_eq!(
        reply(&raw.request(
            10,
            Cmd::PushChunk {
                offset: 0,
                data: &junk[..256]
            }
        )),
        Reply::Ack { next: 256 }
    );
    assert_eq!(
        reply(&raw.request(
            11,
            Cmd::PushChunk {
                offset: 256,
                data: &junk[256..]
            }
        )),
        Reply::Ack { next: 300 }
    );
    assert_eq!(
        reply(&raw.request(12, Cmd::PushCommit)),
        Reply::Error(ErrorCode::InvalidPolicy)
    );
    // The device's own shape check, and a commit before the last byte.
    let wrong = Cmd::PushBegin {
        len: 100,
        crc: 0,
        dims: Dims { obs: 4, ..DIMS },
    };
    assert_eq!(
        reply(&raw.request(13, wrong)),
        Reply::Error(ErrorCode::DimensionMismatch { device: DIMS })
    );
    let begin = Cmd::PushBegin {
        len: 300,
        crc: fixpo_proto::crc32(&junk),
        dims: DIMS,
    };
    assert_eq!(reply(&raw.request(14, begin)), Reply::Ack { next: 0 });
    assert_eq!(
        reply(&raw.request(
            15,
            Cmd::PushChunk {
                offset: 0,
                data: &junk[..256]
            }
        )),
        Reply::Ack { next: 256 }
    );
    assert_eq!(
        reply(&raw.request(16, Cmd::PushCommit)),
        Reply::Error(ErrorCode::Truncated {
            received: 256,
            expected: 300
        })
    );
    assert_eq!(reply(&raw.request(17, Cmd::PushAbort)), Reply::Done);
    assert_eq!(status(&mut raw, 18), (Source::Record(seq_now), running_fp));

    // During an adaptation: status answers, a push is busy, stop ends it.
    let settings = fixpo_proto::AdaptSettings {
        updates: 50,
        eps_kl: None,
        eps_total: fixpo_proto::Bound::Off,
    };
    assert_eq!(reply(&raw.request(30, Cmd::Adapt(settings))), Reply::Done);
    match reply(&raw.request(31, Cmd::Status)) {
        Reply::Status(st) => assert!(
            matches!(st.mode, fixpo_proto::Mode::Adapting { of: 50, .. }),
            "{st:?}"
        ),
        other => panic!("status while adapting: {other:?}"),
    }
    let begin = Cmd::PushBegin {
        len: 300,
        crc: 0,
        dims: DIMS,
    };
    assert_eq!(
        reply(&raw.request(32, begin)),
        Reply::Error(ErrorCode::Busy)
    );
    assert_eq!(reply(&raw.request(33, Cmd::Stop)), Reply::Done);
    let finished = loop {
        let p = raw
            .next_payload(Duration::from_secs(60))
            .expect("the adaptation's Finished");
        let r = fixpo_proto::parse_response(&p).unwrap();
        assert_eq!(r.id, 30);
        match r.reply {
            Reply::Report(_) => {}
            Reply::Finished(f) => break f,
            other => panic!("during the adaptation: {other:?}"),
        }
    };
    assert_eq!(finished.end, fixpo_proto::End::Stopped);
    assert!(
        finished.updates < 50 && finished.commits == 0,
        "{finished:?}"
    );

    // (6) Killed in the middle of a push of A: the last commit stays.
    assert!(raw_push(&mut raw, a, a.len() / 2, 100).is_none());
    drop(raw);
    let log = dev.kill();
    no_fault(&log);
    assert!(log.contains("link: push of"), "{log}");
    let dev = Device::boot(&elf, &args, &psram, &socket);
    dev.wait_for("serve: link up", 1, Duration::from_secs(60));
    // After the reboot the device runs what the store holds.
    let (src, record, fp) = cli_status(&socket);
    assert_eq!(
        (src.as_str(), record, fp),
        ("record", Some(u64::from(seq_now)), fp_of(&pulled))
    );
    let again = dir.join("again.fxp");
    assert!(
        device_cli(&socket, &["pull", "--out", again.to_str().unwrap()])
            .status
            .success()
    );
    assert_eq!(std::fs::read(&again).unwrap(), pulled);

    // (7) Reset to the factory policy: a reboot that runs A again.
    assert!(
        device_cli(&socket, &["reset", "--factory"])
            .status
            .success()
    );
    let log = dev.wait_for("serve: link up", 2, Duration::from_secs(60));
    // The serving run's deepest stack (logged as it returned for the
    // reboot), for the docs: the link's buffers are on it.
    if let Some(l) = log.lines().find(|l| l.contains("serve: Reset; stack")) {
        eprintln!("{l}");
    }
    let (src, _, fp) = cli_status(&socket);
    assert_eq!((src.as_str(), fp), ("record", fp_of(a)));
    let mut dev = dev;
    no_fault(&dev.kill());
}

/// A random 3→64×64→1 policy file without a critic (17 992 bytes).
fn policy64(seed: u64) -> Vec<u8> {
    let mut a = Actor::<3, 64, 1>::zero(fixpo_core::PolicyKind::Gaussian);
    a.policy
        .init(&mut fixpo_core::rng::Pcg32::new(seed, 7), -0.5);
    a.obs_norm.var = [1.0; 3];
    a.obs_clip = 10.0;
    a.action_low = [-2.0];
    a.action_high = [2.0];
    let mut buf = vec![0u8; file::encoded_len(3, 64, 1, false)];
    let n = file::encode(&a, &mut buf).expect("encode");
    buf.truncate(n);
    buf
}

/// The push-time figure of issue 14: a 3→64×64→1 policy (≈ 17 KB) pushed
/// to the `hid64` build of the firmware. QEMU does not pace its UART, so
/// the wall time measures the device's handling (flash programming, the
/// commit's checks) and the host's; the time on a real 115 200-baud link
/// is computed from the frames' bytes.
#[test]
fn push_64x64_under_qemu() {
    if skip() {
        return;
    }
    let dir = tmp_dir().join("device64");
    std::fs::create_dir_all(&dir).unwrap();
    let a = policy64(1);
    let b = policy64(2);
    assert_eq!(b.len(), file::encoded_len(3, 64, 1, false));
    let a_path = dir.join("a64.fxp");
    std::fs::write(&a_path, &a).unwrap();
    let elf64 = board_elf(
        &["--features", "hid64"],
        &a_path,
        &dir,
        "fixpo-qemu-mps2-hid64.elf",
    );
    let psram = dir.join("psram");
    let _ = std::fs::remove_file(&psram);
    let socket = dir.join("link.sock");
    let args: Vec<String> = vec![
        format!("policy={}", a_path.display()),
        "store".into(),
        "serve".into(),
    ];
    let mut dev = Device::boot(&elf64, &args, &psram, &socket);
    dev.wait_for("serve: link up", 1, Duration::from_secs(60));
    let mut raw = Raw::connect(&socket);
    let dims64 = Dims { hid: 64, ..DIMS };
    let t0 = Instant::now();
    let begin = Cmd::PushBegin {
        len: b.len() as u32,
        crc: fixpo_proto::crc32(&b),
        dims: dims64,
    };
    assert_eq!(reply(&raw.request(1, begin)), Reply::Ack { next: 0 });
    let (mut next, mut id, mut wire) = (0u32, 1u16, 0usize);
    while let Some(cmd) = push_chunk(&b, next) {
        id += 1;
        wire += Raw::frame(id, cmd).len();
        match reply(&raw.request(id, cmd)) {
            Reply::Ack { next: n } => next = n,
            other => panic!("chunk at {next}: {other:?}"),
        }
    }
    let seq = match reply(&raw.request(id + 1, Cmd::PushCommit)) {
        Reply::Committed { seq } => seq,
        other => panic!("commit: {other:?}"),
    };
    let took = t0.elapsed();
    let log = dev.wait_for("serve: switched", 1, Duration::from_secs(30));
    assert_eq!(seq, 0);
    assert!(log.contains(&format!("fingerprint {:016x}", {
        let a: Actor<3, 64, 1> = file::decode(&b).unwrap();
        fingerprint(
            &a.policy,
            &ObsNorm {
                stats: a.obs_norm,
                clip: a.obs_clip,
            },
        )
    })));
    let real = wire as f64 * 10.0 / 115_200.0;
    eprintln!(
        "push of {} B (64x64, no critic): {:.2} s under QEMU; {wire} B of request frames = {real:.2} s at 115200 baud (10 bits per byte, acks not counted)",
        b.len(),
        took.as_secs_f64()
    );
    no_fault(&dev.kill());
}

/// 64×64 full fine-tuning in 128 KiB of RAM (issue 15): a 3→64×64→1 policy
/// trained on the host with its critic, flashed into the `hid64` build
/// (fixpo-core's `Lean` layout: 16-bit Adam moments, the update's π_old
/// and gradient buffer lent from the scratch region that holds the host
/// file at boot), answers the 100 observations bit for bit as the host
/// does, adapts every parameter of both networks inside the trust region
/// (each update checked on the device by fixpo-check), and its static RAM
/// plus the stack's high-water mark is at most 128 KiB.
#[test]
fn full_64x64_fine_tuning_fits_128_kib() {
    if skip() {
        return;
    }
    const UPDATES: u32 = 3;
    let dir = tmp_dir().join("lean64");
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = host_file_of::<64>(3);
    let path = dir.join("p64.fxp");
    std::fs::write(&path, &bytes).unwrap();
    let (build_log, elf) = board_elf_and_log(
        &["--features", "hid64"],
        &path,
        &dir,
        "fixpo-qemu-mps2-lean64.elf",
    );
    let (code, log) = qemu(&elf, &["infer".into(), format!("adapt={UPDATES}")]);
    assert_eq!(code, 0, "{log}");
    no_fault(&log);
    assert!(log.contains("critic ok"), "{log}");
    assert!(log.contains("scope All"), "{log}");
    check_inference::<64>(&log, &bytes);
    assert_eq!(check_updates(&log), UPDATES, "{log}");
    assert!(log.contains(" 0 trust-region violations"), "{log}");
    let (statics, stack) = (static_ram(&build_log), log_stack(&log));
    eprintln!(
        "64x64 full fine-tuning: static {statics} B + stack {stack} B = {} B of 131072",
        statics + stack
    );
    assert!(statics + stack <= 128 * 1024);
}
