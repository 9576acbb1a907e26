//! Acceptance 1: a power cut at every byte effect (hence at every
//! operation boundary) of a provisioning, writes across two bank erases, a
//! factory restore and more writes; after each, a reboot yields the old
//! or the complete new body, and the next write succeeds and is active.

mod common;

use common::{Outcome, Rng, arm, body, boot, is_cut, judge, valid};
use fixpo_store::mock::{CutMode, MockFlash};
use fixpo_store::{Layout, Store};

type Flash = MockFlash<256, 4>;

/// Factory sector, then two banks of 3 sectors (3 slots of 220 bytes),
/// starting one sector into the device.
fn layout() -> Layout {
    Layout::with_body(256, 200, 768, 4, 256).unwrap()
}

fn device() -> Flash {
    Flash::new(9)
}

#[derive(Clone)]
enum Op {
    Factory(Vec<u8>),
    Write(Vec<u8>),
    Restore,
}

fn scenario() -> Vec<Op> {
    let mut rng = Rng(13);
    let mut ops = vec![Op::Factory(body(&mut rng, 150))];
    for i in 0..7 {
        ops.push(Op::Write(body(&mut rng, 8 + i * 27)));
    }
    ops.push(Op::Restore);
    for len in [200, 9, 64] {
        ops.push(Op::Write(body(&mut rng, len)));
    }
    ops
}

/// Runs `ops` (with whatever cut is armed) and returns the body committed
/// before the interrupted op, the body the interrupted op meant to commit,
/// and the factory body, or `None` if no cut fired.
#[allow(clippy::type_complexity)]
fn run(
    flash: &mut Flash,
    ops: &[Op],
    cut: Option<(u64, CutMode)>,
) -> Option<(Option<Vec<u8>>, Vec<u8>, Option<Vec<u8>>)> {
    let (mut store, active) = boot(flash, layout()).unwrap();
    assert!(active.is_none());
    if let Some((after, mode)) = cut {
        arm(flash, after, mode, after ^ 0xC0FFEE);
    }
    let mut committed: Option<Vec<u8>> = None;
    let mut factory: Option<Vec<u8>> = None;
    let mut buf = vec![0u8; 200];
    for op in ops {
        let (result, new) = match op {
            Op::Factory(b) => (store.write_factory(flash, b).map(|_| ()), b.clone()),
            Op::Write(b) => (store.write(flash, b).map(|_| ()), b.clone()),
            Op::Restore => (
                store.restore_factory(flash, &mut buf, valid).map(|_| ()),
                factory.clone().unwrap(),
            ),
        };
        if result.is_err() {
            assert!(is_cut(&result) && flash.is_down(), "{result:?}");
            return Some((committed, new, factory));
        }
        match op {
            Op::Factory(_) => factory = Some(new),
            _ => committed = Some(new),
        }
    }
    None
}

#[test]
fn every_byte_offset_and_operation_boundary() {
    let ops = scenario();
    let mut clean = device();
    assert!(run(&mut clean, &ops, None).is_none());
    let total = clean.stats().effects;
    let (mut old, mut new) = (0u32, 0u32);
    let mut cuts = 0u32;
    for mode in [CutMode::Prefix, CutMode::TornByte, CutMode::Scatter] {
        for after in 0..=total {
            let mut flash = device();
            let (before, target, factory) = run(&mut flash, &ops, Some((after, mode)))
                .unwrap_or_else(|| panic!("no cut at {after} of {total}"));
            cuts += 1;
            flash.reboot();
            let (mut store, active) = boot(&mut flash, layout()).unwrap();
            let active = active.map(|(b, _)| b);
            let what = format!("{mode:?} cut after {after} of {total} effects");
            match judge(active.as_deref(), before.as_deref(), &target) {
                Ok(Outcome::Old) => old += 1,
                Ok(Outcome::New) => new += 1,
                Err(e) => panic!("{what}: {e}"),
            }
            // The factory record is either absent (cut while provisioning)
            // or intact.
            let mut buf = vec![0u8; 200];
            match store.load_factory(&mut flash, &mut buf, valid).unwrap() {
                Some(f) => {
                    let f = &buf[..f.len as usize];
                    assert!(
                        factory.as_deref() == Some(f) || (factory.is_none() && f == target),
                        "{what}"
                    );
                }
                None => assert!(factory.is_none(), "{what}: factory lost"),
            }
            // The next write succeeds and is then the active record.
            let next = body(&mut Rng(after), 100);
            store.write(&mut flash, &next).unwrap();
            let (_, active) = boot(&mut flash, layout()).unwrap();
            assert_eq!(active.map(|(b, _)| b), Some(next), "{what}");
        }
    }
    assert_eq!(u64::from(cuts), 3 * (total + 1));
    println!(
        "every cut: {} effect offsets x 3 modes = {cuts} cuts; reboots yielding the old body {old}, the new body {new}, other 0",
        total + 1
    );
}

#[test]
fn every_operation_index() {
    let ops = scenario();
    let mut clean = device();
    assert!(run(&mut clean, &ops, None).is_none());
    // Erases and programs after the first boot (which only reads).
    let total = clean.stats().operations;
    let mut cuts = 0;
    for mode in [CutMode::Prefix, CutMode::TornByte, CutMode::Scatter] {
        for k in 0..total {
            let mut flash = device();
            boot(&mut flash, layout()).unwrap();
            flash.arm_at_operation(k, mode, k);
            // `run` boots again (reads only) before its first operation.
            let (before, target, _) =
                run(&mut flash, &ops, None).unwrap_or_else(|| panic!("no cut at op {k}"));
            flash.reboot();
            let (mut store, active) = boot(&mut flash, layout()).unwrap();
            let active = active.map(|(b, _)| b);
            if let Err(e) = judge(active.as_deref(), before.as_deref(), &target) {
                panic!("{mode:?} cut at operation {k} of {total}: {e}");
            }
            let next = body(&mut Rng(k), 90);
            store.write(&mut flash, &next).unwrap();
            let (_, active) = boot(&mut flash, layout()).unwrap();
            assert_eq!(active.map(|(b, _)| b), Some(next));
            cuts += 1;
        }
    }
    println!(
        "every operation: {total} erases and programs x 3 modes = {cuts} cuts, all old or new"
    );
}

#[test]
fn the_store_never_programs_over_programmed_bytes() {
    let mut flash = device();
    assert!(run(&mut flash, &scenario(), None).is_none());
    let s = flash.stats();
    assert_eq!(s.overwrites, 0);
    // Factory sector once, a bank of 3 sectors at writes 4 and 7 of 11.
    assert_eq!(s.sectors_erased, 1 + 3 + 3 + 3);
    let store: Store<Flash> = Store::open(&mut flash, layout()).unwrap();
    assert_eq!(store.layout().1.records_per_bank, 3);
}
