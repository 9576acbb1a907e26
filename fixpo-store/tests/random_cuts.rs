//! Acceptance 2: random power cuts (random byte offsets, cut modes, body
//! sizes and contents, seeded) over long runs of writes with bank
//! wrap-arounds and sequence numbers crossing `u32::MAX`; every reboot
//! yields the old or the new committed body.

mod common;

use common::{Outcome, Rng, arm, body, boot, is_cut, judge, valid};
use fixpo_store::mock::MockFlash;
use fixpo_store::{Layout, Store};

#[derive(Debug, Default)]
struct Tally {
    cuts: u32,
    old: u32,
    new: u32,
    completed: u32,
    restores: u32,
    wrapped: bool,
}

/// Writes (and now and then restores the factory record) with a cut armed
/// at a random point of each operation until `cuts` cuts have fired.
fn run<const E: usize, const W: usize>(
    sectors: usize,
    layout: Layout,
    seed: u64,
    cuts: u32,
) -> Tally {
    let mut rng = Rng(seed);
    let mut flash = MockFlash::<E, W>::new(sectors);
    let mut store = Store::open(&mut flash, layout).unwrap();
    assert!(store.start_sequence_at(u32::MAX - 40));
    let max = store.layout().1.max_body;
    let factory = body(&mut rng, max.min(300));
    store.write_factory(&mut flash, &factory).unwrap();
    let span = (layout.bank_len + layout.record_len) as usize;
    let mut committed: Option<Vec<u8>> = None;
    let mut last_seq: Option<u32> = None;
    let mut t = Tally::default();
    let mut buf = vec![0u8; max];
    while t.cuts < cuts {
        let restore = rng.range(0, 11) == 0;
        let new = if restore {
            factory.clone()
        } else {
            let len = rng.range(8, max);
            body(&mut rng, len)
        };
        let (after, mode) = (rng.range(0, span) as u64, rng.mode());
        arm(&mut flash, after, mode, rng.next());
        let result = if restore {
            store.restore_factory(&mut flash, &mut buf, valid)
        } else {
            store.write(&mut flash, &new)
        };
        match result {
            Ok(c) => {
                flash.disarm();
                t.completed += 1;
                t.restores += u32::from(restore);
                t.wrapped |= last_seq.is_some_and(|s| c.seq < s);
                last_seq = Some(c.seq);
                committed = Some(new);
                continue;
            }
            Err(_) => assert!(is_cut(&result), "{result:?}"),
        }
        t.cuts += 1;
        flash.reboot();
        let (reopened, active) = boot(&mut flash, layout).unwrap();
        store = reopened;
        // Before the first commit the store is empty again: same start.
        store.start_sequence_at(u32::MAX - 40);
        let active = active.map(|(b, _)| b);
        match judge(active.as_deref(), committed.as_deref(), &new) {
            Ok(Outcome::Old) if active.as_deref() == Some(&new[..]) => t.new += 1,
            Ok(Outcome::Old) => t.old += 1,
            Ok(Outcome::New) => {
                t.new += 1;
                committed = Some(new);
            }
            Err(e) => panic!("cut {} ({mode:?} after {after}): {e}", t.cuts),
        }
        // Half of the time, check the next write right away (the other
        // half, the next operation is cut again).
        if rng.range(0, 1) == 0 {
            let len = rng.range(8, max);
            let next = body(&mut rng, len);
            let c = store.write(&mut flash, &next).unwrap();
            let (reopened, active) = boot(&mut flash, layout).unwrap();
            store = reopened;
            assert_eq!(
                active.map(|(b, _)| b),
                Some(next.clone()),
                "write after cut {}",
                t.cuts
            );
            t.wrapped |= last_seq.is_some_and(|s| c.seq < s);
            last_seq = Some(c.seq);
            committed = Some(next);
        }
    }
    // The factory record survived everything.
    assert_eq!(
        store
            .load_factory(&mut flash, &mut buf, valid)
            .unwrap()
            .map(|f| f.len as usize),
        Some(factory.len())
    );
    assert_eq!(&buf[..factory.len()], &factory[..]);
    assert_eq!(flash.stats().overwrites, 0);
    t
}

fn report(name: &str, t: &Tally) {
    println!(
        "random cuts [{name}]: {} cuts, reboots yielding the old body {}, the new body {}, other 0; {} uncut operations ({} factory restores); sequence wrapped: {}",
        t.cuts, t.old, t.new, t.completed, t.restores, t.wrapped
    );
    assert_eq!(t.old + t.new, t.cuts);
    assert!(t.wrapped, "the run never crossed u32::MAX");
}

#[test]
fn ten_thousand_cuts_small_sectors_word_writes() {
    // 256-byte sectors, 4-byte words, banks of 3 sectors, bodies ≤ 200.
    let layout = Layout::with_body(0, 200, 768, 4, 256).unwrap();
    let t = run::<256, 4>(7, layout, 1, 10_000);
    report("256 B sectors, 4 B words, 3 slots/bank", &t);
}

#[test]
fn ten_thousand_cuts_byte_writes() {
    // 1 KiB sectors, byte writes, banks of 2 sectors, bodies ≤ 600.
    let layout = Layout::with_body(0, 600, 2048, 1, 1024).unwrap();
    let t = run::<1024, 1>(5, layout, 2, 10_000);
    report("1 KiB sectors, 1 B writes, 3 slots/bank", &t);
}

#[test]
fn ten_thousand_cuts_page_writes() {
    // 4 KiB sectors, 256-byte pages (a QSPI flash), one sector per bank.
    let layout = Layout::with_body(0, 1000, 4096, 256, 4096).unwrap();
    let t = run::<4096, 256>(3, layout, 3, 10_000);
    report("4 KiB sectors, 256 B pages, 3 slots/bank", &t);
}
