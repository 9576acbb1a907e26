//! The policy store and safe adaptation on the firmware under QEMU (board
//! `qemu-mps2`, its 16 MiB PSRAM backed by a host file so it survives QEMU,
//! and a SIGKILL of QEMU is a power cut):
//!
//! 1. `eps_total_and_rollback_under_qemu`: one adaptation run with the
//!    store, a cumulative bound that binds and the motor's wires swapped in
//!    mid-run. The firmware writes every round to a trace file (the
//!    rollout's raw observations and the policy it left deployed); this
//!    test recomputes, with its own f64 code (`fixpo_tests::device`),
//!    D_KL(π_factory ‖ π) ≤ ε_total and D_KL(π_old ‖ π) ≤ ε_KL at every state
//!    of every kept round. The first evaluation after the swap must roll
//!    back to the newest committed policy, and the store read back from the
//!    PSRAM file on the host (fixpo-store) holds the policy the firmware
//!    said it committed last.
//! 2. `power_cuts_under_qemu`: adaptation that writes after every round,
//!    with the emulated flash as slow as a real part, killed at 50 random
//!    points (four in five during a write, the rest at any time) and
//!    rebooted on the same PSRAM file each time. Every boot must
//!    load a committed policy: the newest one the previous runs committed,
//!    or the one whose write was cut (if its commit was programmed before
//!    the cut); never the factory policy once something was committed,
//!    never a policy that was not written.
//!
//! Needs the firmware toolchain, as tests/tests/firmware_qemu.rs; set
//! FIXPO_SKIP_FIRMWARE=1 to skip.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fixpo_core::adapt::fingerprint;
use fixpo_core::norm::ObsNorm;
use fixpo_core::rng::Pcg32;
use fixpo_core::{Actor, Params, Policy, file};
use fixpo_store::mock::MockFlash;
use fixpo_store::{Layout, Store};
use fixpo_tests::device::{ROLLOUT, max_kl, within};
use fixpo_tests::qemu::{
    build_board, defmt_print, field, no_fault, psram_backing, qemu_extra, tmp_dir, trained_file,
};
use rand_core::RngCore;

/// The firmware's `adapt::SETTINGS.update.eps_kl`.
const EPS_KL: f32 = 0.2;
/// The firmware's store layout in the PSRAM (qemu-mps2 `LAYOUT`): 4 KiB
/// sectors, word writes, 64 KiB banks, records sized for this build's
/// file with its critic.
fn layout() -> Layout {
    Layout::with_body(0, file::max_encoded_len(3, 32, 1), 64 * 1024, 4, 4096).unwrap()
}

fn skip() -> bool {
    let skip = std::env::var_os("FIXPO_SKIP_FIRMWARE").is_some();
    if skip {
        eprintln!("FIXPO_SKIP_FIRMWARE set: skipping the QEMU test");
    }
    skip
}

/// A fresh, empty PSRAM backing file for test `name`.
fn fresh_psram(name: &str) -> PathBuf {
    let p = tmp_dir().join(format!("{name}.psram"));
    let _ = std::fs::remove_file(&p);
    p
}

/// The store as the host reads it from the PSRAM file: the newest record
/// whose policy file decodes, as an actor.
fn store_on_host(psram: &Path) -> Option<(u32, Actor<3, 32, 1>)> {
    let bytes = std::fs::read(psram).unwrap();
    let mut flash = MockFlash::<4096, 4>::new(64);
    let n = flash.bytes().len();
    flash.bytes_mut().copy_from_slice(&bytes[..n]);
    let mut store = Store::open(&mut flash, layout()).unwrap();
    let mut buf = vec![0u8; file::max_encoded_len(3, 32, 1)];
    let loaded = store
        .load_active(&mut flash, &mut buf, |b| {
            file::decode::<3, 32, 1>(b).is_ok()
        })
        .unwrap()?;
    let actor = file::decode(&buf[..loaded.record.len as usize]).unwrap();
    Some((loaded.record.seq, actor))
}

fn fp(actor: &Actor<3, 32, 1>) -> u64 {
    fingerprint(
        &actor.policy,
        &ObsNorm {
            stats: actor.obs_norm,
            clip: actor.obs_clip,
        },
    )
}

/// One round of the firmware's trace file.
struct Round {
    update: u32,
    kept: bool,
    states: Vec<[f32; 3]>,
    policy: Policy<3, 32, 1>,
}

fn read_trace(path: &Path, kind: fixpo_core::PolicyKind) -> Vec<Round> {
    let bytes = std::fs::read(path).unwrap();
    let mut at = 0;
    let mut take = |n: usize| {
        let s = &bytes[at..at + n];
        at += n;
        s
    };
    let f32s = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let record = 5 + 12 * ROLLOUT + 4 * Policy::<3, 32, 1>::LEN;
    assert_eq!(bytes.len() % record, 0, "trace of whole records");
    (0..bytes.len() / record)
        .map(|_| {
            let update = u32::from_le_bytes(take(4).try_into().unwrap());
            let kept = take(1)[0] == 1;
            let obs = f32s(take(12 * ROLLOUT));
            let states = obs.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
            let params = f32s(take(4 * Policy::<3, 32, 1>::LEN));
            let mut policy = Policy::<3, 32, 1>::zero(kind);
            let mut i = 0;
            for k in 0..Policy::<3, 32, 1>::SLICES {
                for x in policy.slice_mut(k) {
                    *x = params[i];
                    i += 1;
                }
            }
            Round {
                update,
                kept,
                states,
                policy,
            }
        })
        .collect()
}

#[test]
fn eps_total_and_rollback_under_qemu() {
    if skip() {
        return;
    }
    const EPS_TOTAL: f32 = 0.5;
    const UPDATES: u32 = 30;
    let (policy_path, good) = trained_file();
    let factory: Actor<3, 32, 1> = file::decode(good).unwrap();
    let (_, elf) = build_board(&[], policy_path);
    let psram = fresh_psram("eps_total");
    let trace = tmp_dir().join("eps_total.trace");
    // Simulated time: a round is 9 s, an evaluation 45 s; with one every
    // 2 rounds and two at the start (90 s), round 20 runs from 720 s to
    // 729 s: the swap lands in its rollout, so the evaluation after round
    // 21 is the first on the swapped plant. The margin is above the
    // evaluation's swings between updates on this plant (under 100 here)
    // and far below what the swap costs (hundreds).
    let args: Vec<String> = [
        format!("policy={}", policy_path.display()),
        "store".into(),
        format!("adapt={UPDATES}"),
        format!("eps_total={EPS_TOTAL}"),
        "eval_every=2".into(),
        "persist_every=1".into(),
        "margin=250".into(),
        "swap_after_s=725".into(),
        format!("trace={}", trace.display()),
    ]
    .into();
    let (code, log) = qemu_extra("qemu-mps2", &elf, &args, &psram_backing(&psram).join(" "));
    assert_eq!(code, 0, "run failed:\n{log}");
    no_fault(&log);
    assert!(log.contains("store: factory record provisioned"), "{log}");

    // The host's own check of every kept round, from the trace.
    let rounds = read_trace(&trace, factory.policy.kind);
    assert_eq!(rounds.len(), UPDATES as usize);
    let norm = ObsNorm {
        stats: factory.obs_norm,
        clip: factory.obs_clip,
    };
    // Rounds after which the firmware rolled back (from the log's order).
    let mut rolled_after = BTreeSet::new();
    let mut last_update = None;
    for line in log.lines() {
        if line.contains("update ") && line.contains(" max_kl ") {
            last_update = Some(
                field(line, "update")
                    .trim_end_matches(':')
                    .parse::<u32>()
                    .unwrap(),
            );
        } else if line.contains("rollback: restored") {
            rolled_after.insert(last_update.unwrap());
        }
    }
    let drift_lines: Vec<&str> = log.lines().filter(|l| l.contains("drift_kl ")).collect();
    assert_eq!(drift_lines.len(), UPDATES as usize, "{log}");
    let (mut kept, mut bound, mut worst) = (0, 0, 0.0f64);
    let mut prev = factory.policy;
    for (r, line) in rounds.iter().zip(&drift_lines) {
        let drift = max_kl((&factory.policy, &norm), (&r.policy, &norm), &r.states);
        let logged: f64 = field(line, "drift_kl").parse().unwrap();
        let t: f32 = field(line, "total_t").parse().unwrap();
        if r.kept {
            kept += 1;
            assert!(
                within(drift, EPS_TOTAL),
                "round {}: drift {drift}",
                r.update
            );
            // The device's f64 check, logged as f32, agrees.
            assert!((drift - logged).abs() <= 1e-6 * drift.max(1e-3), "{line}");
            let after_rollback = r.update > 0 && rolled_after.contains(&(r.update - 1));
            if !after_rollback {
                let step = max_kl((&prev, &norm), (&r.policy, &norm), &r.states);
                assert!(within(step, EPS_KL), "round {}: step {step}", r.update);
            }
        } else {
            assert_eq!(t, 0.0, "{line}");
        }
        if t < 1.0 {
            bound += 1;
        }
        worst = worst.max(if r.kept { drift } else { 0.0 });
        prev = r.policy;
    }
    eprintln!(
        "{UPDATES} rounds: {kept} kept, {bound} halved or refused by eps_total {EPS_TOTAL}; \
         worst drift {worst:.4}; rollbacks after rounds {rolled_after:?}"
    );
    assert!(bound > 0, "the cumulative bound never bound:\n{log}");

    // The wire swap is followed, at the next evaluation, by a rollback.
    let swap = log
        .find("motor wires swapped")
        .unwrap_or_else(|| panic!("no swap:\n{log}"));
    let next_eval = swap + log[swap..].find("eval check mean return").unwrap();
    let after_eval = &log[next_eval..];
    let rollback = after_eval.find("rollback: restored").unwrap_or(usize::MAX);
    let next_update = after_eval.find(" max_kl ").unwrap_or(usize::MAX);
    assert!(
        rollback < next_update,
        "no rollback at the first evaluation after the swap:\n{log}"
    );

    // The host reads the store back: the newest record is the policy the
    // firmware committed last.
    let last_write = log
        .lines()
        .rfind(|l| l.contains("store: writing seq"))
        .unwrap_or_else(|| panic!("nothing written:\n{log}"));
    let committed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("store: committed seq"))
        .collect();
    let seq: u32 = field(last_write, "seq").parse().unwrap();
    assert_eq!(field(committed.last().unwrap(), "seq"), seq.to_string());
    let (stored_seq, stored) = store_on_host(&psram).expect("a committed record");
    assert_eq!(stored_seq, seq);
    assert_eq!(
        format!("{:016x}", fp(&stored)),
        field(last_write, "fingerprint")
    );
}

/// What one killed run logged.
#[derive(Debug, Default)]
struct RunLog {
    /// `store: active …`: `Some(seq)` for a committed record, `None` for
    /// the factory record; and the fingerprint.
    boot: Option<(Option<u32>, String)>,
    /// `store: writing seq S fingerprint F`, in order.
    writing: Vec<(u32, String)>,
    /// `store: committed seq S`, in order.
    committed: Vec<u32>,
}

fn parse_run(log: &str) -> RunLog {
    let mut r = RunLog::default();
    for line in log.lines() {
        if let Some(at) = line.find("store: active ") {
            let rest = &line[at + "store: active ".len()..];
            let src = rest.split_whitespace().next().unwrap();
            let seq = src
                .strip_prefix("Active(")
                .map(|s| s.trim_end_matches(')').parse().unwrap());
            if r.boot.is_none() {
                r.boot = Some((seq, field(line, "fingerprint").to_string()));
            }
        } else if line.contains("store: writing seq") {
            r.writing.push((
                field(line, "seq").parse().unwrap(),
                field(line, "fingerprint").to_string(),
            ));
        } else if line.contains("store: committed seq") {
            r.committed.push(field(line, "seq").parse().unwrap());
        }
    }
    r
}

/// When a run is cut.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// At this time after QEMU starts.
    At(Duration),
    /// This long after the firmware logs the start of its `nth` write
    /// (from 1): most such cuts land inside the write.
    InWrite { nth: usize, after: Duration },
    /// Never: the run must end by itself, successfully.
    Never,
}

/// Boots the firmware on the PSRAM file, its defmt output decoded as it
/// comes, kills QEMU with SIGKILL at `cut`, and returns what it logged.
fn run_cut(elf: &Path, args: &[String], psram: &Path, cut: Cut) -> String {
    let mut sh = String::from("enable=on,target=native,arg=fixpo");
    for a in args {
        sh.push_str(&format!(",arg={}", a.replace(',', ",,")));
    }
    let mut qemu = Command::new("qemu-system-arm")
        .args(["-machine", "mps2-an386", "-cpu", "cortex-m4", "-nographic"])
        .args([
            "-monitor",
            "none",
            "-serial",
            "none",
            "-semihosting-config",
            &sh,
        ])
        .arg("-kernel")
        .arg(elf)
        .args(psram_backing(psram))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-arm");
    let mut decoder = Command::new(defmt_print())
        .arg("-e")
        .arg(elf)
        .stdin(qemu.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("defmt-print");
    let pid = qemu.id().to_string();
    // SIGKILL: QEMU stops at whatever instruction it is on.
    let kill = move || {
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
    };
    // A run that hangs is killed after 60 s (and its log shows why).
    let limit = match cut {
        Cut::At(d) => d,
        _ => Duration::from_secs(60),
    };
    let timer = kill.clone();
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        timer();
    });
    let mut log = String::new();
    let mut writes = 0;
    for line in BufReader::new(decoder.stdout.take().unwrap()).lines() {
        let Ok(line) = line else { break };
        if line.contains("store: writing seq") {
            writes += 1;
            if let Cut::InWrite { nth, after } = cut {
                if writes == nth {
                    std::thread::sleep(after);
                    kill();
                }
            }
        }
        log.push_str(&line);
        log.push('\n');
    }
    let status = qemu.wait().unwrap();
    let _ = decoder.wait();
    if let Cut::Never = cut {
        assert!(status.success(), "firmware failed:\n{log}");
    }
    log
}

#[test]
fn power_cuts_under_qemu() {
    if skip() {
        return;
    }
    const KILLS: u32 = 50;
    let (policy_path, good) = trained_file();
    let factory: Actor<3, 32, 1> = file::decode(good).unwrap();
    let factory_fp = format!("{:016x}", fp(&factory));
    let (_, elf) = build_board(&[], policy_path);
    let psram = fresh_psram("power_cuts");
    // A write after every round (any return within a huge margin is
    // persisted), emulated flash as slow as a real part's programming.
    let args = |updates: u32| -> Vec<String> {
        vec![
            format!("policy={}", policy_path.display()),
            "store".into(),
            format!("adapt={updates}"),
            "eval_every=1".into(),
            "persist_every=1".into(),
            "min_gain=-1e9".into(),
            "margin=1e9".into(),
            // No cumulative bound: a round it refuses would not be written.
            "eps_total=off".into(),
            "flash_delay=60000".into(),
        ]
    };
    // First boot, not killed: provisions the factory record (not power-cut
    // safe, by design: docs/store.md) and commits one policy.
    let first = run_cut(&elf, &args(1), &psram, Cut::Never);
    no_fault(&first);
    let first_run = parse_run(&first);
    assert_eq!(first_run.boot, Some((None, factory_fp.clone())), "{first}");
    // Every committed (sequence, fingerprint), in order, and the write a
    // kill cut short (logged `writing`, not `committed`), if any.
    let mut history: Vec<(u32, String)> = Vec::new();
    let mut pending: Option<(u32, String)> = None;
    absorb(&first_run, &mut history, &mut pending);
    assert_eq!(history.len(), 1, "{first}");

    let mut rng = Pcg32::new(0xC07C, 0);
    let (mut mid_write, mut new_loaded, mut boots) = (0, 0, 0);
    for k in 0..KILLS {
        // Four cuts in five during a write (its first or second, up to
        // 0.25 s after it starts; a write takes 0.15-0.25 s here), one at
        // any time of the first 2.5 s.
        let ms = |r: u32, max: u32| Duration::from_millis(u64::from(r % max));
        let (r1, r2) = (rng.next_u32(), rng.next_u32());
        let cut = if k % 5 == 4 {
            Cut::At(ms(r1, 2500))
        } else {
            Cut::InWrite {
                nth: 1 + (r2 % 2) as usize,
                after: ms(r1, 250),
            }
        };
        let t = std::time::Instant::now();
        let log = run_cut(&elf, &args(1000), &psram, cut);
        eprintln!("cut {k}: {cut:?}, {:?}", t.elapsed());
        no_fault(&log);
        let run = parse_run(&log);
        match &run.boot {
            Some((seq, f)) => {
                boots += 1;
                let last = history.last().unwrap();
                let found = (*seq, f);
                if found == (Some(last.0), &last.1) {
                    // The newest committed policy.
                } else if pending.as_ref().is_some_and(|p| found == (Some(p.0), &p.1)) {
                    // The cut write had programmed its commit: it counts.
                    new_loaded += 1;
                    history.extend(pending.clone());
                } else {
                    panic!(
                        "kill {k}: boot loaded {seq:?} {f}; committed last {last:?}, cut {pending:?}\n{log}"
                    );
                }
            }
            // Killed before the boot reached the store: nothing written.
            None => assert!(run.writing.is_empty(), "{log}"),
        }
        absorb(&run, &mut history, &mut pending);
        mid_write += u32::from(
            run.writing
                .last()
                .is_some_and(|w| !run.committed.contains(&w.0)),
        );
    }
    // A last boot, not killed, after the last cut.
    let last_log = run_cut(&elf, &args(1), &psram, Cut::Never);
    no_fault(&last_log);
    let last_run = parse_run(&last_log);
    let (seq, f) = last_run.boot.clone().expect("boot");
    let newest = history.last().unwrap();
    let ok = (seq, &f) == (Some(newest.0), &newest.1)
        || pending
            .as_ref()
            .is_some_and(|p| (seq, &f) == (Some(p.0), &p.1));
    assert!(
        ok,
        "last boot {seq:?} {f}; committed {newest:?}, cut {pending:?}"
    );
    absorb(&last_run, &mut history, &mut pending);
    let (stored_seq, stored) = store_on_host(&psram).expect("a record");
    let newest = history.last().unwrap();
    assert_eq!(
        (stored_seq, format!("{:016x}", fp(&stored))),
        (newest.0, newest.1.clone())
    );
    eprintln!(
        "{KILLS} SIGKILLs: {boots} boots checked, {mid_write} cuts inside a write \
         ({new_loaded} of them after the commit: the new policy loaded), \
         {} policies committed in all; every boot loaded the newest committed policy",
        history.len()
    );
    assert!(boots >= 45, "too few boots reached the store: {boots}");
    assert!(mid_write >= 20, "too few cuts inside a write: {mid_write}");
}

/// Adds `run`'s committed writes to `history`; its last write, if not
/// committed, becomes the cut one. A run that booted resolved the previous
/// cut write (its boot check ran); one killed before booting did not.
fn absorb(run: &RunLog, history: &mut Vec<(u32, String)>, pending: &mut Option<(u32, String)>) {
    if run.boot.is_some() {
        *pending = None;
    }
    for w in &run.writing {
        if run.committed.contains(&w.0) {
            history.push(w.clone());
            *pending = None;
        } else {
            *pending = Some(w.clone());
        }
    }
}
