//! The [`Reader`]: a policy file's body decoded field by field, each with
//! the encoding postcard gives its type (a byte, a little-endian
//! `f32`/`f64`, an unsigned LEB128 varint, a sequence or a tuple), with no
//! serde and no allocation.

use super::layout::{Rule, Shape, note};
use super::{FileError, Result};

/// The bytes of a body not read yet. Every read takes its field off the
/// front; running out of bytes, or a varint postcard would refuse, is
/// [`FileError::Malformed`].
#[derive(Clone, Copy)]
pub(super) struct Reader<'b> {
    pub(super) rest: &'b [u8],
}

impl Reader<'_> {
    /// `N` raw bytes (a `[u8; N]`, a `u8`, or a number's bytes).
    pub(super) fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(FileError::Malformed)?;
        self.rest = rest;
        Ok(*head)
    }

    pub(super) fn u8(&mut self) -> Result<u8> {
        let [b] = self.take()?;
        Ok(b)
    }

    pub(super) fn f32(&mut self) -> Result<f32> {
        self.take().map(f32::from_le_bytes)
    }

    pub(super) fn f64(&mut self) -> Result<f64> {
        self.take().map(f64::from_le_bytes)
    }

    /// An unsigned LEB128 varint of a `bits`-bit integer, read as postcard
    /// 1.x reads it: at most ⌈bits/7⌉ bytes, the last of which may not set
    /// bits beyond `bits`. Like postcard it accepts a varint longer than
    /// needed (`0x81 0x00` for 1); the exact file length refuses those
    /// later, in [`parse`].
    pub(super) fn varint(&mut self, bits: u32) -> Result<u64> {
        let max_bytes = bits.div_ceil(7);
        let last_max = (1u8 << (bits % 7)) - 1;
        let mut out = 0u64;
        for i in 0..max_bytes {
            let byte = self.u8()?;
            out |= u64::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                if i + 1 == max_bytes && byte > last_max {
                    break;
                }
                return Ok(out);
            }
        }
        Err(FileError::Malformed)
    }

    pub(super) fn u16(&mut self) -> Result<u16> {
        u16::try_from(self.varint(u16::BITS)?).map_err(|_| FileError::Malformed)
    }

    pub(super) fn u32(&mut self) -> Result<u32> {
        u32::try_from(self.varint(u32::BITS)?).map_err(|_| FileError::Malformed)
    }

    /// A sequence's length (a `usize` varint, as wide as postcard's on this
    /// target); anything but `len` is [`FileError::Malformed`].
    pub(super) fn seq_len(&mut self, len: usize) -> Result<()> {
        let n = self.varint(usize::BITS)?;
        if usize::try_from(n) == Ok(len) {
            Ok(())
        } else {
            Err(FileError::Malformed)
        }
    }

    /// The fixed header after the preamble (fields 3–7).
    pub(super) fn shape(&mut self) -> Result<Shape> {
        Ok(Shape {
            kind: self.u8()?,
            obs: self.u16()?,
            hid: self.u16()?,
            act: self.u16()?,
            obs_clip: self.f32()?,
        })
    }

    /// `n` `f32`s (a tuple, or a sequence's elements), each checked against
    /// `rule` (the first failure is kept in `values`) and, with a
    /// destination, stored.
    pub(super) fn floats(
        &mut self,
        n: usize,
        rule: Rule,
        values: &mut Result<()>,
        mut dst: Option<&mut [f32]>,
    ) -> Result<()> {
        for i in 0..n {
            let x = self.f32()?;
            note(values, rule.check(x));
            if let Some(slot) = dst.as_deref_mut().and_then(|d| d.get_mut(i)) {
                *slot = x;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reader's varints against postcard's deserializer, on every 1-
    /// and 2-byte prefix and on runs of continuation bytes ending in
    /// boundary values: the same value or refusal, the same bytes used.
    /// (A sequence length is postcard's `usize` varint: the `u64` one on a
    /// 64-bit target, the `u32` one on a 32-bit target.)
    #[test]
    fn varints_read_as_postcard_reads_them() {
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for a in 0..=255u8 {
            inputs.push(vec![a]);
            for b in 0..=255u8 {
                inputs.push(vec![a, b, 0x55]);
            }
        }
        for len in 3..=11 {
            for first in [0x80, 0x81, 0xFF] {
                for last in [0x00, 0x01, 0x02, 0x03, 0x04, 0x0F, 0x10, 0x7F, 0x80, 0xFF] {
                    let mut v = vec![first; len - 1];
                    v.push(last);
                    inputs.push(v);
                }
            }
        }
        for bytes in &inputs {
            let ours = |bits: u32| {
                let mut r = Reader { rest: bytes };
                r.varint(bits).ok().map(|v| (v, r.rest.len()))
            };
            let used = |rest: &[u8]| rest.len();
            let pc16 = postcard::take_from_bytes::<u16>(bytes).ok();
            let pc32 = postcard::take_from_bytes::<u32>(bytes).ok();
            let pc64 = postcard::take_from_bytes::<u64>(bytes).ok();
            assert_eq!(
                ours(16),
                pc16.map(|(v, r)| (u64::from(v), used(r))),
                "{bytes:02x?}"
            );
            assert_eq!(
                ours(32),
                pc32.map(|(v, r)| (u64::from(v), used(r))),
                "{bytes:02x?}"
            );
            assert_eq!(ours(64), pc64.map(|(v, r)| (v, used(r))), "{bytes:02x?}");
        }
    }
}
