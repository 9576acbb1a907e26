//! The typed errors: geometry checks, oversize bodies, factory
//! provisioning rules.

mod common;

use common::{Rng, body, valid};
use fixpo_store::mock::MockFlash;
use fixpo_store::{GeometryError, Layout, Store, StoreError};

type Flash = MockFlash<256, 4>;

fn open(layout: Layout) -> Result<Store<Flash>, StoreError<fixpo_store::mock::MockError>> {
    Store::open(&mut Flash::new(8), layout)
}

#[test]
fn layouts_that_do_not_fit_are_refused() {
    let good = Layout::with_body(0, 200, 512, 4, 256).unwrap();
    assert!(open(good).is_ok());
    let cases = [
        (Layout { base: 4, ..good }, GeometryError::Misaligned),
        (
            Layout {
                bank_len: 300,
                ..good
            },
            GeometryError::Misaligned,
        ),
        (
            Layout {
                record_len: 222,
                ..good
            },
            GeometryError::Misaligned,
        ),
        (
            Layout {
                record_len: 20,
                ..good
            },
            GeometryError::RecordTooShort,
        ),
        (
            Layout {
                record_len: 260,
                ..good
            },
            GeometryError::RecordDoesNotFit,
        ),
        (
            Layout {
                base: 256 * 4,
                ..good
            },
            GeometryError::OutOfRange,
        ),
        (
            Layout {
                bank_len: u32::MAX - 255,
                ..good
            },
            GeometryError::OutOfRange,
        ),
    ];
    for (layout, want) in cases {
        assert_eq!(
            open(layout).err(),
            Some(StoreError::Geometry(want)),
            "{layout:?}"
        );
    }
    // A write size the store cannot buffer.
    let big = Layout::with_body(0, 200, 1024, 512, 1024).unwrap();
    let r = Store::open(&mut MockFlash::<1024, 512>::new(4), big);
    assert_eq!(
        r.err(),
        Some(StoreError::Geometry(GeometryError::UnsupportedFlash))
    );
}

#[test]
fn oversize_bodies_and_factory_rules() {
    let mut rng = Rng(4);
    let layout = Layout::with_body(0, 200, 512, 4, 256).unwrap();
    let mut flash = Flash::new(5);
    let mut store = Store::open(&mut flash, layout).unwrap();
    let mut buf = [0u8; 200];
    assert_eq!(
        store.write(&mut flash, &[0; 201]).err(),
        Some(StoreError::TooLarge { len: 201, max: 200 })
    );
    assert_eq!(
        store.restore_factory(&mut flash, &mut buf, valid).err(),
        Some(StoreError::NoFactory)
    );
    let first = body(&mut rng, 90);
    store.write_factory(&mut flash, &first).unwrap();
    assert_eq!(
        store.write_factory(&mut flash, &body(&mut rng, 90)).err(),
        Some(StoreError::FactoryExists)
    );
    let second = body(&mut rng, 60);
    store.replace_factory(&mut flash, &second).unwrap();
    let f = store
        .load_factory(&mut flash, &mut buf, valid)
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..f.len as usize], &second[..]);
    // A factory record the caller's validation rejects is not restored.
    assert_eq!(
        store.restore_factory(&mut flash, &mut buf, |_| false).err(),
        Some(StoreError::NoFactory)
    );
    let c = store.restore_factory(&mut flash, &mut buf, valid).unwrap();
    assert_eq!((c.seq, c.location.bank, c.location.index), (0, 0, 0));
    let status = store.status();
    assert_eq!(status.newest.map(|n| n.seq), Some(0));
    assert_eq!(status.next_seq, 1);
    assert_eq!(status.slots_left, 1);
}

#[test]
fn the_factory_body_is_found_in_place_and_only_when_intact() {
    let mut rng = Rng(9);
    let layout = Layout::with_body(0, 200, 512, 4, 256).unwrap();
    let mut flash = Flash::new(5);
    let mut store = Store::open(&mut flash, layout).unwrap();
    assert_eq!(store.factory_body(&mut flash).unwrap(), None);
    let factory = body(&mut rng, 123);
    store.write_factory(&mut flash, &factory).unwrap();
    let (off, len) = store.factory_body(&mut flash).unwrap().unwrap();
    let (off, len) = (off as usize, len as usize);
    assert_eq!(&flash.bytes()[off..off + len], &factory[..]);
    // One flipped bit of the body: its CRC fails, nothing is pointed at.
    flash.bytes_mut()[off + 7] ^= 0x04;
    assert_eq!(store.factory_body(&mut flash).unwrap(), None);
}
