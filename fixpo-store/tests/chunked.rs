//! Records written in pieces (`begin`, `write_chunk`, `commit`): the
//! same flash image as one `write`, power cuts at every byte effect of a
//! chunked push, abandoned and stale records, misuse refused.

mod common;

use common::{Outcome, Rng, arm, body, boot, is_cut, judge, valid};
use fixpo_store::mock::{CutMode, MockFlash};
use fixpo_store::{Layout, Store, StoreError};

type Flash = MockFlash<256, 4>;

/// 256-byte sectors, 4-byte writes, banks of 3 records of up to 300 bytes.
fn layout() -> Layout {
    Layout::with_body(0, 300, 1024, 4, 256).unwrap()
}

/// Writes `b` through the chunked API in pieces of `piece` bytes.
fn push(
    store: &mut Store<Flash>,
    flash: &mut Flash,
    b: &[u8],
    piece: usize,
) -> Result<fixpo_store::Committed, StoreError<fixpo_store::mock::MockError>> {
    let mut p = store.begin(flash, b.len())?;
    for c in b.chunks(piece) {
        store.write_chunk(flash, &mut p, c)?;
    }
    store.commit(flash, p)
}

#[test]
fn pieces_leave_the_same_flash_as_one_write() {
    let mut rng = Rng(7);
    for piece in [4, 8, 64, 256] {
        let (mut a, mut b) = (Flash::new(16), Flash::new(16));
        let mut sa = Store::open(&mut a, layout()).unwrap();
        let mut sb = Store::open(&mut b, layout()).unwrap();
        // Eight records: crosses two bank erases.
        for _ in 0..8 {
            let len = rng.range(8, 300);
            let x = body(&mut rng, len);
            let ca = sa.write(&mut a, &x).unwrap();
            let cb = push(&mut sb, &mut b, &x, piece).unwrap();
            assert_eq!(ca, cb);
            assert_eq!(a.bytes(), b.bytes(), "piece {piece}");
            let (info, offset) = sb.active_body(&mut b).unwrap().unwrap();
            assert_eq!(info.seq, cb.seq);
            let at = offset as usize;
            assert_eq!(&b.bytes()[at..at + x.len()], &x[..]);
        }
    }
}

#[test]
fn a_cut_anywhere_in_a_chunked_push_boots_old_or_new() {
    let mut rng = Rng(11);
    let (mut old_n, mut new_n) = (0, 0);
    // Pushes after 0..=4 committed records: the last ones erase a bank.
    for history in 0..=4 {
        let mut seedling = Flash::new(16);
        let mut s = Store::open(&mut seedling, layout()).unwrap();
        let mut committed = None;
        for _ in 0..history {
            let x = body(&mut rng, 200);
            s.write(&mut seedling, &x).unwrap();
            committed = Some(x);
        }
        let new = body(&mut rng, 290);
        for mode in [CutMode::Prefix, CutMode::TornByte, CutMode::Scatter] {
            let mut after = 0u64;
            loop {
                let mut flash = seedling.clone();
                let (mut store, _) = boot(&mut flash, layout()).unwrap();
                arm(&mut flash, after, mode, rng.next());
                let r = push(&mut store, &mut flash, &new, 256);
                if r.is_ok() {
                    break;
                }
                assert!(is_cut(&r), "{r:?}");
                flash.reboot();
                let (mut store, active) = boot(&mut flash, layout()).unwrap();
                let active = active.map(|(b, _)| b);
                match judge(active.as_deref(), committed.as_deref(), &new) {
                    Ok(Outcome::New) => new_n += 1,
                    Ok(Outcome::Old) => old_n += 1,
                    Err(e) => panic!("history {history}, {mode:?}, cut after {after}: {e}"),
                }
                // The store goes on: the next push commits.
                let next = body(&mut rng, 100);
                push(&mut store, &mut flash, &next, 256).unwrap();
                let (_, again) = boot(&mut flash, layout()).unwrap();
                assert_eq!(again.unwrap().0, next);
                after += 1;
            }
        }
    }
    // Most cuts fall in the body (old policy), the last ones on or after
    // the header's magic (new).
    eprintln!(
        "chunked push: {} cuts, {old_n} booted the old record, {new_n} the new",
        old_n + new_n
    );
    assert!(old_n > 1000 && new_n > 0, "old {old_n} new {new_n}");
}

#[test]
fn an_abandoned_record_is_skipped_and_the_active_one_stays() {
    let mut rng = Rng(3);
    let mut flash = Flash::new(16);
    let mut store = Store::open(&mut flash, layout()).unwrap();
    let a = body(&mut rng, 250);
    store.write(&mut flash, &a).unwrap();
    let mut p = store.begin(&mut flash, 250).unwrap();
    store
        .write_chunk(&mut flash, &mut p, &body(&mut rng, 128))
        .unwrap();
    let _abandoned = p;
    let (mut store, active) = boot(&mut flash, layout()).unwrap();
    assert_eq!(active.unwrap().0, a);
    // Later writes skip the torn slot and keep working across erases.
    for _ in 0..7 {
        let x = body(&mut rng, 250);
        push(&mut store, &mut flash, &x, 64).unwrap();
        assert_eq!(boot(&mut flash, layout()).unwrap().1.unwrap().0, x);
    }
}

#[test]
fn misuse_is_refused_with_typed_errors() {
    let mut rng = Rng(5);
    let mut flash = Flash::new(16);
    let mut store = Store::open(&mut flash, layout()).unwrap();
    let max = store.layout().1.max_body;
    assert!(matches!(
        store.begin(&mut flash, max + 1),
        Err(StoreError::TooLarge { .. })
    ));
    // Past the announced length.
    let mut p = store.begin(&mut flash, 10).unwrap();
    assert!(matches!(
        store.write_chunk(&mut flash, &mut p, &[1; 11]),
        Err(StoreError::TooLarge { len: 11, max: 10 })
    ));
    // A piece after a partial write unit.
    store.write_chunk(&mut flash, &mut p, &[1; 3]).unwrap();
    assert_eq!(
        store.write_chunk(&mut flash, &mut p, &[1; 3]),
        Err(StoreError::Misaligned { offset: 3 })
    );
    // Commit before the end.
    assert_eq!(
        store.commit(&mut flash, p),
        Err(StoreError::Incomplete {
            written: 3,
            len: 10
        })
    );
    // Another write takes the slot: the pending record is stale.
    let mut p = store.begin(&mut flash, 20).unwrap();
    let x = body(&mut rng, 40);
    store.write(&mut flash, &x).unwrap();
    assert_eq!(
        store.write_chunk(&mut flash, &mut p, &[1; 8]),
        Err(StoreError::Stale)
    );
    assert_eq!(store.commit(&mut flash, p), Err(StoreError::Stale));
    assert_eq!(boot(&mut flash, layout()).unwrap().1.unwrap().0, x);
    // A body that fails the caller's validation is never loaded, even
    // when committed: the store's CRCs only say the bytes are the ones
    // written.
    let mut bad = body(&mut rng, 40);
    bad[0] ^= 1;
    push(&mut store, &mut flash, &bad, 8).unwrap();
    let (_, active) = boot(&mut flash, layout()).unwrap();
    let (got, loaded) = active.unwrap();
    assert!(valid(&got) && got == x && loaded.skipped == 1);
}
