//! A fault-injecting NOR flash for host tests (feature `mock`).
//!
//! [`MockFlash`] behaves as NOR flash does: erase sets whole sectors to
//! `0xFF`, programming only clears bits (`old & new`), and both refuse
//! misaligned or out-of-range requests. It counts operations and bytes,
//! and can be armed to **cut the power** part-way through an operation:
//! every byte an erase or program changes is one *effect*; after the
//! armed number of effects the operation stops half done (see
//! [`CutMode`]) and every later call fails with [`MockError::PowerCut`]
//! until [`MockFlash::reboot`].

use alloc::vec;
use alloc::vec::Vec;

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Why the mock refused an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MockError {
    /// The power was cut (during this operation or an earlier one).
    PowerCut,
    /// The offset or length is not a multiple of the write or erase size.
    NotAligned,
    /// The range goes beyond the device.
    OutOfBounds,
}

impl NorFlashError for MockError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Self::PowerCut => NorFlashErrorKind::Other,
            Self::NotAligned => NorFlashErrorKind::NotAligned,
            Self::OutOfBounds => NorFlashErrorKind::OutOfBounds,
        }
    }
}

/// How the operation hit by a cut is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CutMode {
    /// The first bytes of the operation are done, the rest untouched.
    Prefix,
    /// As `Prefix`, and the next byte is half done: a random subset of the
    /// bits it was to change (cleared by a program, set by an erase).
    TornByte,
    /// A random subset of the operation's bytes is done, each of them
    /// fully or in part (erase or program order not guaranteed).
    Scatter,
}

/// When and how to cut the power.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Cut {
    /// Effects (bytes changed by erases and programs) still allowed; the
    /// cut falls on the erase or program that would exceed them, or on
    /// the first read once they are spent. `0` cuts the next operation
    /// before it changes anything (`Prefix`).
    pub after: u64,
    /// How the interrupted operation is left.
    pub mode: CutMode,
    /// Seed of the random choices of `TornByte` and `Scatter`.
    pub seed: u64,
}

/// Operation and byte counts since [`MockFlash::new`] (a reboot keeps them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    /// Successful and failed read calls.
    pub reads: u64,
    /// Erase and program calls that changed or were to change flash.
    pub operations: u64,
    /// Sectors erased (completely).
    pub sectors_erased: u64,
    /// Program calls.
    pub programs: u64,
    /// Bytes programmed.
    pub bytes_programmed: u64,
    /// Bytes programmed over a byte that was not erased (`0xFF`): NOR
    /// flash allows it (only clearing bits) but a careful writer never
    /// does it.
    pub overwrites: u64,
    /// Effects: bytes erased plus bytes programmed (what [`Cut::after`]
    /// counts).
    pub effects: u64,
}

/// A RAM-backed NOR flash of `ERASE`-byte sectors and `WRITE`-byte write
/// units (`READ_SIZE` 1), with power-cut injection.
#[derive(Debug, Clone)]
pub struct MockFlash<const ERASE: usize, const WRITE: usize> {
    mem: Vec<u8>,
    stats: Stats,
    cut: Option<Cut>,
    /// Erases and programs left before a cut armed by operation index.
    cut_at_op: Option<(u64, CutMode)>,
    dead: bool,
    rng: u64,
}

impl<const ERASE: usize, const WRITE: usize> MockFlash<ERASE, WRITE> {
    /// An erased device of `sectors` sectors.
    pub fn new(sectors: usize) -> Self {
        Self {
            mem: vec![0xFF; sectors * ERASE],
            stats: Stats::default(),
            cut: None,
            cut_at_op: None,
            dead: false,
            rng: 0,
        }
    }

    /// The device's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.mem
    }

    /// The device's bytes, to damage them on purpose.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.mem
    }

    /// The counts so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Arms a power cut (replacing any armed one).
    pub fn arm(&mut self, cut: Cut) {
        self.cut = Some(cut);
        self.cut_at_op = None;
        self.rng = cut.seed ^ 0x9E37_79B9_7F4A_7C15;
    }

    /// Arms a power cut on the erase or program `ops` operations from now
    /// (`0`: the next one), before it changes any byte (`Prefix`), with
    /// its first byte half done (`TornByte`) or with a random subset of
    /// its bytes done (`Scatter`). Replaces any armed cut.
    pub fn arm_at_operation(&mut self, ops: u64, mode: CutMode, seed: u64) {
        self.cut = None;
        self.cut_at_op = Some((ops, mode));
        self.rng = seed ^ 0x9E37_79B9_7F4A_7C15;
    }

    /// Disarms a cut that has not fired.
    pub fn disarm(&mut self) {
        self.cut = None;
        self.cut_at_op = None;
    }

    /// Whether a cut fired and the device waits for [`MockFlash::reboot`].
    pub fn is_down(&self) -> bool {
        self.dead
    }

    /// Restores power: operations work again, the contents stay as the
    /// cut left them, no cut is armed.
    pub fn reboot(&mut self) {
        self.dead = false;
        self.cut = None;
        self.cut_at_op = None;
    }

    fn next_random(&mut self) -> u64 {
        // SplitMix64.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn check(&self, from: usize, len: usize, align: usize) -> Result<(), MockError> {
        if self.dead {
            return Err(MockError::PowerCut);
        }
        if from % align != 0 || len % align != 0 {
            return Err(MockError::NotAligned);
        }
        match from.checked_add(len) {
            Some(end) if end <= self.mem.len() => Ok(()),
            _ => Err(MockError::OutOfBounds),
        }
    }

    /// Applies `change(i, old, partial) -> new` to byte `i` of the `len`
    /// bytes at `from` as far as the armed cut allows; `Err(PowerCut)` if
    /// it fired.
    /// `partial` is `None` for the full effect, `Some(random)` for a
    /// partial one.
    fn apply(
        &mut self,
        from: usize,
        len: usize,
        change: impl Fn(usize, u8, Option<u8>) -> u8,
    ) -> Result<(), MockError> {
        self.stats.operations += 1;
        match self.cut_at_op {
            Some((0, mode)) => {
                self.cut_at_op = None;
                self.cut = Some(Cut {
                    after: 0,
                    mode,
                    seed: 0,
                });
            }
            Some((n, mode)) => self.cut_at_op = Some((n - 1, mode)),
            None => {}
        }
        let allowed = match self.cut {
            Some(c) if c.after < len as u64 => Some((c.after as usize, c.mode)),
            _ => None,
        };
        let Some((done, mode)) = allowed else {
            for (i, b) in self.mem[from..from + len].iter_mut().enumerate() {
                *b = change(i, *b, None);
            }
            self.stats.effects += len as u64;
            if let Some(c) = &mut self.cut {
                c.after -= len as u64;
            }
            return Ok(());
        };
        match mode {
            CutMode::Prefix | CutMode::TornByte => {
                for i in 0..done {
                    self.mem[from + i] = change(i, self.mem[from + i], None);
                }
                if mode == CutMode::TornByte {
                    let r = self.next_random() as u8;
                    self.mem[from + done] = change(done, self.mem[from + done], Some(r));
                }
            }
            CutMode::Scatter => {
                for i in 0..len {
                    let r = self.next_random();
                    let old = self.mem[from + i];
                    self.mem[from + i] = match r % 4 {
                        0 | 1 => old,
                        2 => change(i, old, None),
                        _ => change(i, old, Some((r >> 8) as u8)),
                    };
                }
            }
        }
        self.stats.effects += done as u64;
        self.cut = None;
        self.dead = true;
        Err(MockError::PowerCut)
    }
}

impl<const ERASE: usize, const WRITE: usize> ErrorType for MockFlash<ERASE, WRITE> {
    type Error = MockError;
}

impl<const ERASE: usize, const WRITE: usize> ReadNorFlash for MockFlash<ERASE, WRITE> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), MockError> {
        self.stats.reads += 1;
        let from = offset as usize;
        self.check(from, bytes.len(), 1)?;
        if self.cut.is_some_and(|c| c.after == 0) {
            // The armed effects are spent: the power is gone before this
            // read (e.g. the read-back after the commit).
            self.cut = None;
            self.dead = true;
            return Err(MockError::PowerCut);
        }
        bytes.copy_from_slice(&self.mem[from..from + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.mem.len()
    }
}

impl<const ERASE: usize, const WRITE: usize> NorFlash for MockFlash<ERASE, WRITE> {
    const WRITE_SIZE: usize = WRITE;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), MockError> {
        let (from, to) = (from as usize, to as usize);
        if to < from {
            return Err(MockError::OutOfBounds);
        }
        self.check(from, to - from, ERASE)?;
        // A half-erased bit pattern: some of the cleared bits set.
        self.apply(from, to - from, |_, old, partial| match partial {
            None => 0xFF,
            Some(r) => old | r,
        })?;
        self.stats.sectors_erased += ((to - from) / ERASE) as u64;
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), MockError> {
        let from = offset as usize;
        self.check(from, bytes.len(), WRITE)?;
        self.stats.programs += 1;
        self.stats.overwrites += self.mem[from..from + bytes.len()]
            .iter()
            .filter(|&&b| b != 0xFF)
            .count() as u64;
        // Programming clears the bits that are 0 in `bytes`; a half-done
        // byte clears only some of them.
        self.apply(from, bytes.len(), |i, old, partial| match partial {
            None => old & bytes[i],
            Some(r) => old & (bytes[i] | r),
        })?;
        self.stats.bytes_programmed += bytes.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Flash = MockFlash<8, 2>;

    #[test]
    fn nor_semantics_alignment_and_bounds() {
        let mut f = Flash::new(2);
        assert_eq!(f.capacity(), 16);
        f.write(2, &[0x0F, 0xF0]).unwrap();
        f.write(2, &[0x3C, 0xFF]).unwrap();
        assert_eq!(&f.bytes()[2..4], &[0x0C, 0xF0]);
        assert_eq!(f.stats().overwrites, 2);
        assert_eq!(f.write(1, &[0, 0]), Err(MockError::NotAligned));
        assert_eq!(f.write(2, &[0]), Err(MockError::NotAligned));
        assert_eq!(f.write(16, &[0, 0]), Err(MockError::OutOfBounds));
        assert_eq!(f.erase(4, 8), Err(MockError::NotAligned));
        assert_eq!(f.erase(8, 24), Err(MockError::OutOfBounds));
        f.erase(0, 8).unwrap();
        assert!(f.bytes().iter().all(|&b| b == 0xFF));
        assert_eq!(f.stats().sectors_erased, 1);
    }

    #[test]
    fn cuts_leave_a_prefix_a_torn_byte_or_a_subset_and_then_refuse() {
        for after in 0..4u64 {
            let mut f = Flash::new(1);
            f.arm(Cut {
                after,
                mode: CutMode::Prefix,
                seed: 1,
            });
            assert_eq!(f.write(0, &[0; 4]), Err(MockError::PowerCut));
            let zeros = f.bytes().iter().take_while(|&&b| b == 0).count();
            assert_eq!(zeros as u64, after);
            assert!(f.bytes()[zeros..].iter().all(|&b| b == 0xFF));
            assert_eq!(f.read(0, &mut [0; 1]), Err(MockError::PowerCut));
            assert_eq!(f.erase(0, 8), Err(MockError::PowerCut));
            f.reboot();
            f.erase(0, 8).unwrap();
        }
        // A torn byte: some, not necessarily all, of its bits cleared.
        let mut torn_seen = false;
        for seed in 0..32 {
            let mut f = Flash::new(1);
            f.arm(Cut {
                after: 1,
                mode: CutMode::TornByte,
                seed,
            });
            assert!(f.write(0, &[0x00, 0x00]).is_err());
            assert_eq!(f.bytes()[0], 0);
            assert!(f.bytes()[2..].iter().all(|&b| b == 0xFF));
            torn_seen |= f.bytes()[1] != 0 && f.bytes()[1] != 0xFF;
        }
        assert!(torn_seen);
        // An erase cut with Scatter: some bytes erased, some not.
        let mut f = Flash::new(1);
        f.write(0, &[0; 8]).unwrap();
        f.arm(Cut {
            after: 0,
            mode: CutMode::Scatter,
            seed: 3,
        });
        assert!(f.erase(0, 8).is_err());
        assert!(f.bytes().iter().any(|&b| b != 0xFF) && f.bytes().iter().any(|&b| b != 0));
        // Spent effects cut the next read (e.g. a read-back).
        let mut f = Flash::new(1);
        f.arm(Cut {
            after: 2,
            mode: CutMode::Prefix,
            seed: 0,
        });
        f.write(0, &[1, 2]).unwrap();
        assert_eq!(f.read(0, &mut [0; 2]), Err(MockError::PowerCut));
        assert_eq!(f.stats().effects, 2);
    }
}
