//! Acceptance 4: erases per write over long runs match the documented
//! records-per-bank figure, for policy files of the real sizes on the
//! STM32F446 and RP2350 geometries; prints the wear table of
//! `docs/store.md`.

mod common;

use common::{Rng, body};
use fixpo_core::file::max_encoded_len;
use fixpo_store::mock::MockFlash;
use fixpo_store::{Layout, Store};

/// Writes `n` full-size bodies and returns (sectors erased by the
/// writes, records per bank).
fn erases_for<const E: usize, const W: usize>(file: usize, bank_len: u32, n: usize) -> (u64, u32) {
    let layout = Layout::with_body(0, file, bank_len, W, E).unwrap();
    let sectors = (layout.len().unwrap() as usize).div_ceil(E);
    let mut flash = MockFlash::<E, W>::new(sectors);
    let mut store = Store::open(&mut flash, layout).unwrap();
    let mut rng = Rng(file as u64);
    store
        .write_factory(&mut flash, &body(&mut rng, file))
        .unwrap();
    let before = flash.stats().sectors_erased;
    for _ in 0..n {
        store.write(&mut flash, &body(&mut rng, file)).unwrap();
    }
    assert_eq!(flash.stats().overwrites, 0);
    let per_bank = store.layout().1.records_per_bank;
    (flash.stats().sectors_erased - before, per_bank)
}

/// Records per bank from first principles: a 20-byte header rounded up to
/// the write unit, the body, the sum rounded up to the write unit.
fn slots(file: usize, w: usize, bank_len: usize) -> usize {
    let header = 20usize.div_ceil(w) * w;
    bank_len / ((header + file).div_ceil(w) * w)
}

fn check<const E: usize, const W: usize>(board: &str, hid: usize, bank_len: u32, cycles: u64) {
    let file = max_encoded_len(3, hid, 1);
    let per_bank = slots(file, W, bank_len as usize);
    let n = 4 * per_bank + 1;
    let (erased, got) = erases_for::<E, W>(file, bank_len, n);
    assert_eq!(got as usize, per_bank);
    // The first bank starts erased; after that one bank erase per
    // `per_bank` writes.
    let bank_erases = ((n - 1) / per_bank) as u64;
    let sectors_per_bank = u64::from(bank_len) / E as u64;
    assert_eq!(erased, bank_erases * sectors_per_bank, "{board} {hid}");
    let life = cycles * 2 * per_bank as u64;
    println!(
        "wear [{board}, 3->{hid}x{hid}->1 + critic, {file} B file, {} KiB banks, write {W} B]: {per_bank} writes per bank erase; {n} writes erased {bank_erases} banks; {cycles} cycles -> {life} writes ({:.1} years at one write a minute, {:.0} at one an hour)",
        bank_len / 1024,
        life as f64 / (60.0 * 24.0 * 365.0),
        life as f64 / (24.0 * 365.0),
    );
}

#[test]
fn stm32f446_one_128k_sector_per_bank() {
    check::<{ 128 * 1024 }, 4>("STM32F446", 32, 128 * 1024, 10_000);
    check::<{ 128 * 1024 }, 4>("STM32F446", 64, 128 * 1024, 10_000);
}

#[test]
fn rp2350_4k_sectors() {
    check::<4096, 256>("RP2350", 32, 64 * 1024, 100_000);
    check::<4096, 256>("RP2350", 64, 256 * 1024, 100_000);
    check::<4096, 256>("RP2350", 32, 256 * 1024, 100_000);
}
