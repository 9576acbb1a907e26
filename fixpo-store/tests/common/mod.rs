//! Helpers shared by the store's host tests: a seeded RNG, self-checking
//! bodies (standing in for a policy file and its decoder), the oracle.
#![allow(dead_code)]

use fixpo_store::mock::{Cut, CutMode, MockError, MockFlash};
use fixpo_store::{Layout, Loaded, NorFlash, Store, StoreError};

/// SplitMix64: small, seeded, good enough to pick cut points.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    pub fn mode(&mut self) -> CutMode {
        [CutMode::Prefix, CutMode::TornByte, CutMode::Scatter][self.range(0, 2)]
    }
}

/// FNV-1a, independent of the store's CRC-32.
fn fnv(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811C_9DC5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A random body of `len ≥ 8` bytes whose last 4 bytes are the FNV-1a of
/// the rest: the stand-in for a policy file's own checksum.
pub fn body(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut b: Vec<u8> = (0..len - 4).map(|_| rng.next() as u8).collect();
    let h = fnv(&b);
    b.extend_from_slice(&h.to_le_bytes());
    b
}

/// The stand-in for the policy file's decoder.
pub fn valid(b: &[u8]) -> bool {
    b.len() >= 8 && fnv(&b[..b.len() - 4]).to_le_bytes() == b[b.len() - 4..]
}

/// The active body and what `load_active` said about it.
pub type Active = Option<(Vec<u8>, Loaded)>;

/// Opens the store after a reboot and loads the active record.
pub fn boot<F: NorFlash>(
    flash: &mut F,
    layout: Layout,
) -> Result<(Store<F>, Active), StoreError<F::Error>> {
    let mut store = Store::open(flash, layout)?;
    let mut buf = vec![0u8; store.layout().1.max_body];
    let loaded = store.load_active(flash, &mut buf, valid)?;
    let out = loaded.map(|l| (buf[..l.record.len as usize].to_vec(), l));
    Ok((store, out))
}

/// What a boot after a cut yielded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Old,
    New,
}

/// Checks a boot after a cut: the active body is exactly `old` or `new`,
/// and something is active once something was committed.
pub fn judge(active: Option<&[u8]>, old: Option<&[u8]>, new: &[u8]) -> Result<Outcome, String> {
    match (active, old) {
        (Some(a), _) if a == new => Ok(Outcome::New),
        (Some(a), Some(o)) if a == o => Ok(Outcome::Old),
        (None, None) => Ok(Outcome::Old),
        (Some(a), _) => Err(format!("garbage active body of {} bytes", a.len())),
        (None, Some(_)) => Err("nothing active after a commit".into()),
    }
}

/// Arms a cut on `flash`.
pub fn arm<const E: usize, const W: usize>(
    flash: &mut MockFlash<E, W>,
    after: u64,
    mode: CutMode,
    seed: u64,
) {
    flash.arm(Cut { after, mode, seed });
}

/// The error a cut produces.
pub fn is_cut<T: std::fmt::Debug>(r: &Result<T, StoreError<MockError>>) -> bool {
    matches!(r, Err(StoreError::Flash(MockError::PowerCut)))
}
