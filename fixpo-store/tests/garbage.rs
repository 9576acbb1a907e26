//! Acceptance 3: arbitrary flash content never panics and never yields a
//! body that fails its CRC or the caller's validation; damage to the
//! newest record falls back to the previous one; the bank holding the
//! active record is never erased.

mod common;

use common::{Rng, body, boot, valid};
use fixpo_store::mock::MockFlash;
use fixpo_store::{Layout, Location, SlotState, Store};

type Flash = MockFlash<256, 4>;
const MAX: usize = 200;

fn layout() -> Layout {
    Layout::with_body(0, MAX as u32 as usize, 768, 4, 256).unwrap()
}

/// A device with a factory record and `n` committed records; returns the
/// bodies with their slots, oldest first.
fn filled(rng: &mut Rng, n: usize) -> (Flash, Vec<(Location, Vec<u8>)>) {
    let mut flash = Flash::new(7);
    let mut store = Store::open(&mut flash, layout()).unwrap();
    store.write_factory(&mut flash, &body(rng, 120)).unwrap();
    let mut live = Vec::new();
    for _ in 0..n {
        let len = rng.range(8, MAX);
        let b = body(rng, len);
        let c = store.write(&mut flash, &b).unwrap();
        if c.erased {
            live.retain(|(l, _): &(Location, Vec<u8>)| l.bank != c.location.bank);
        }
        live.push((c.location, b));
    }
    (flash, live)
}

fn slot_range(at: Location, len: usize) -> std::ops::Range<usize> {
    let l = layout();
    let start = (l.bank_start(at.bank) + at.index * l.record_len) as usize;
    start..start + 20 + len
}

#[test]
fn random_bytes_never_panic_or_yield_garbage_and_writes_recover() {
    let mut rng = Rng(5);
    for trial in 0..300 {
        let mut flash = Flash::new(7);
        // Pure noise, or noise with a few real headers copied around.
        for b in flash.bytes_mut() {
            *b = rng.next() as u8;
        }
        let (mut store, active) = boot(&mut flash, layout()).unwrap();
        if let Some((b, _)) = &active {
            assert!(valid(b), "trial {trial}");
        }
        assert!(active.is_none(), "trial {trial}: noise accepted");
        let mut buf = [0u8; MAX];
        assert_eq!(
            store.load_factory(&mut flash, &mut buf, valid).unwrap(),
            None
        );
        let mut slots = 0;
        store.for_each_slot(&mut flash, |_, _| slots += 1).unwrap();
        assert_eq!(slots, 6);
        // A write on noise erases a bank and commits.
        let b = body(&mut rng, 77);
        let c = store.write(&mut flash, &b).unwrap();
        assert!(c.erased);
        let (_, active) = boot(&mut flash, layout()).unwrap();
        assert_eq!(active.map(|(a, _)| a), Some(b));
    }
}

#[test]
fn bit_flips_fall_back_to_the_newest_undamaged_record() {
    let mut rng = Rng(6);
    let (mut fallbacks, mut nothing) = (0, 0);
    for trial in 0..2000 {
        let n = rng.range(1, 9);
        let (mut flash, live) = filled(&mut rng, n);
        let flips: Vec<usize> = (0..rng.range(1, 6))
            .map(|_| rng.range(256, 7 * 256 - 1))
            .collect();
        for &at in &flips {
            flash.bytes_mut()[at] ^= 1 << rng.range(0, 7);
        }
        // The oracle: the newest live record none of whose bytes flipped.
        let expect = live
            .iter()
            .rev()
            .position(|(at, b)| !flips.iter().any(|f| slot_range(*at, b.len()).contains(f)));
        let (_, active) = boot(&mut flash, layout()).unwrap();
        match (expect, active) {
            (Some(back), Some((b, l))) => {
                assert_eq!(b, live[live.len() - 1 - back].1, "trial {trial}");
                // Skipped: the newer records whose header survived (a
                // damaged header makes a slot no candidate at all).
                let skipped = live[live.len() - back..]
                    .iter()
                    .filter(|(at, _)| !flips.iter().any(|f| slot_range(*at, 0).contains(f)))
                    .count();
                assert_eq!(l.skipped as usize, skipped, "trial {trial}");
                fallbacks += usize::from(back > 0);
            }
            (None, None) => nothing += 1,
            (e, a) => panic!("trial {trial}: expected {e:?}, got {:?}", a.map(|(_, l)| l)),
        }
    }
    println!(
        "bit flips: 2000 damaged devices, {fallbacks} fell back to an older record, {nothing} had none left"
    );
    assert!(fallbacks > 100);
}

#[test]
fn validation_rejecting_the_newest_falls_back_and_rejecting_all_yields_none() {
    let mut rng = Rng(7);
    let (mut flash, live) = filled(&mut rng, 5);
    let newest = live.last().unwrap().1.clone();
    let mut store = Store::open(&mut flash, layout()).unwrap();
    let mut buf = [0u8; MAX];
    let l = store
        .load_active(&mut flash, &mut buf, |b| valid(b) && b != &newest[..])
        .unwrap()
        .unwrap();
    assert_eq!(l.skipped, 1);
    assert_eq!(&buf[..l.record.len as usize], &live[live.len() - 2].1[..]);
    assert_eq!(
        store.load_active(&mut flash, &mut buf, |_| false).unwrap(),
        None
    );
    // A buffer shorter than the candidate is an error, not a truncation.
    let mut short = [0u8; 4];
    assert!(store.load_active(&mut flash, &mut short, valid).is_err());
}

#[test]
fn the_bank_of_the_active_record_is_never_erased() {
    let mut rng = Rng(8);
    // Bank 0 full (3 records), bank 1 full (3 newer records).
    let (mut flash, live) = filled(&mut rng, 6);
    assert!(live.iter().take(3).all(|(l, _)| l.bank == 0));
    // Damage every body of bank 1: the active record is in bank 0.
    for (at, b) in &live[3..] {
        let r = slot_range(*at, b.len());
        flash.bytes_mut()[r.end - 1] ^= 0x10;
    }
    let (mut store, active) = boot(&mut flash, layout()).unwrap();
    let (b, l) = active.unwrap();
    assert_eq!((b, l.skipped), (live[2].1.clone(), 3));
    // Bank 1 (newest, full) must be the one erased, not bank 0.
    let fresh = body(&mut rng, 50);
    let c = store.write(&mut flash, &fresh).unwrap();
    assert_eq!((c.location.bank, c.location.index, c.erased), (1, 0, true));
    let mut states = Vec::new();
    store
        .for_each_slot(&mut flash, |at, s| states.push((at, s)))
        .unwrap();
    let valid_in_bank0 = states
        .iter()
        .filter(|(at, s)| at.bank == 0 && matches!(s, SlotState::Record { body_ok: true, .. }))
        .count();
    assert_eq!(valid_in_bank0, 3);
}

#[test]
fn torn_slots_are_skipped_by_the_next_write() {
    let mut rng = Rng(9);
    let (mut flash, live) = filled(&mut rng, 1);
    // Garbage in slot 1 of bank 0 (a cut body without a header).
    let r = slot_range(Location { bank: 0, index: 1 }, 100);
    flash.bytes_mut()[r.start + 20..r.end].fill(0x00);
    let (mut store, _) = boot(&mut flash, layout()).unwrap();
    let b = body(&mut rng, 60);
    let c = store.write(&mut flash, &b).unwrap();
    assert_eq!((c.location.bank, c.location.index), (0, 2));
    assert_eq!(flash.stats().overwrites, 0);
    let (_, active) = boot(&mut flash, layout()).unwrap();
    assert_eq!(active.map(|(a, _)| a), Some(b));
    assert_eq!(live.len(), 1);
}
