//! Reading a policy file: [`decode_into`], [`decode`], [`read_header`] and
//! [`read_dyn`].
//!
//! A [`Reader`] decodes the body's fields in file order, each with the
//! encoding postcard gives its type (`docs/file-format.md` has the table):
//! a byte, a little-endian `f32`/`f64`, an unsigned LEB128 varint, a
//! sequence (varint length, then its elements) or a tuple (its elements).
//! [`parse`] checks the file up to its length; [`Parsed::walk`] reads the
//! rest, once to check it and, for the decoders, once more to store it.

use super::layout::{
    Rule, Shape, check_bounds, check_count, file_len, kind_from_byte, note, param_count,
};
use super::{CRC_LEN, FileError, Header, MAGIC, MIN_LEN, Result, VERSION, checksum};
use crate::actor::Actor;
use crate::dist::PolicyKind;
use crate::params::Params;
use crate::policy::Policy;

/// Reads a policy file into `out`. On error `out` is left unchanged.
///
/// Everything is checked in a first pass that writes nothing; a second pass
/// over the same bytes then writes into `out` directly, so no second
/// [`Actor`] is needed on the stack.
///
/// # Errors
/// Any [`FileError`] except [`FileError::BufferTooSmall`]; see the
/// [module docs](super) for the order of the checks. A valid file of another
/// shape gives [`FileError::DimensionMismatch`] with the file's dimensions.
pub fn decode_into<const O: usize, const H: usize, const A: usize>(
    bytes: &[u8],
    out: &mut Actor<O, H, A>,
) -> Result<()> {
    let parsed = parse(bytes)?;
    let h = parsed.header;
    if (usize::from(h.obs), usize::from(h.hid), usize::from(h.act)) != (O, H, A) {
        return Err(dims_error(&h));
    }
    let header = parsed.scan()?;
    let dest = Dest {
        mean: &mut out.obs_norm.mean,
        var: &mut out.obs_norm.var,
        low: &mut out.action_low,
        high: &mut out.action_high,
        params: &mut out.policy,
    };
    // Cannot fail: the same bytes just passed the same checks.
    parsed.walk(Some(dest))?;
    out.policy.kind = header.kind;
    out.obs_clip = header.obs_clip;
    out.obs_norm.count = header.obs_count;
    Ok(())
}

/// Reads a policy file into a new [`Actor`].
///
/// # Errors
/// As [`decode_into`].
pub fn decode<const O: usize, const H: usize, const A: usize>(
    bytes: &[u8],
) -> Result<Actor<O, H, A>> {
    let mut out = Actor::zero(PolicyKind::Gaussian);
    decode_into(bytes, &mut out)?;
    Ok(out)
}

/// Checks a whole policy file (checksum, header and every value) without
/// knowing its dimensions, and returns its header.
///
/// `Ok` means [`decode`] with the header's dimensions succeeds.
///
/// # Errors
/// Any [`FileError`] except [`FileError::BufferTooSmall`].
pub fn read_header(bytes: &[u8]) -> Result<Header> {
    parse(bytes)?.scan()
}

/// Reads a policy file of any dimensions into caller slices: `obs_mean` and
/// `obs_var` of length `obs`, `low` and `high` of length `act`, `params` of
/// length `param_count` (in [`Params`] slice order of
/// [`Policy`]`<obs, hid, act>`). Call [`read_header`] first to learn the
/// lengths. On error the slices are left unchanged.
///
/// # Errors
/// As [`read_header`]; [`FileError::DimensionMismatch`] (with the file's
/// dimensions) when a slice has another length.
pub fn read_dyn(
    bytes: &[u8],
    obs_mean: &mut [f32],
    obs_var: &mut [f32],
    low: &mut [f32],
    high: &mut [f32],
    params: &mut [f32],
) -> Result<Header> {
    let parsed = parse(bytes)?;
    let h = parsed.header;
    let (obs, act) = (usize::from(h.obs), usize::from(h.act));
    if obs_mean.len() != obs
        || obs_var.len() != obs
        || low.len() != act
        || high.len() != act
        || params.len() != parsed.params
    {
        return Err(dims_error(&h));
    }
    let header = parsed.scan()?;
    parsed.walk(Some(Dest {
        mean: obs_mean,
        var: obs_var,
        low,
        high,
        params,
    }))?;
    Ok(header)
}

// ---------------------------------------------------------------------------
// The reader

/// The bytes of a body not read yet. Every read takes its field off the
/// front; running out of bytes, or a varint postcard would refuse, is
/// [`FileError::Malformed`].
#[derive(Clone, Copy)]
struct Reader<'b> {
    rest: &'b [u8],
}

impl Reader<'_> {
    /// `N` raw bytes (a `[u8; N]`, a `u8`, or a number's bytes).
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(FileError::Malformed)?;
        self.rest = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8> {
        let [b] = self.take()?;
        Ok(b)
    }

    fn f32(&mut self) -> Result<f32> {
        self.take().map(f32::from_le_bytes)
    }

    fn f64(&mut self) -> Result<f64> {
        self.take().map(f64::from_le_bytes)
    }

    /// An unsigned LEB128 varint of a `bits`-bit integer, read as postcard
    /// 1.x reads it: at most ⌈bits/7⌉ bytes, the last of which may not set
    /// bits beyond `bits`. Like postcard it accepts a varint longer than
    /// needed (`0x81 0x00` for 1); the exact file length refuses those
    /// later, in [`parse`].
    fn varint(&mut self, bits: u32) -> Result<u64> {
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

    fn u16(&mut self) -> Result<u16> {
        u16::try_from(self.varint(u16::BITS)?).map_err(|_| FileError::Malformed)
    }

    fn u32(&mut self) -> Result<u32> {
        u32::try_from(self.varint(u32::BITS)?).map_err(|_| FileError::Malformed)
    }

    /// A sequence's length (a `usize` varint, as wide as postcard's on this
    /// target); anything but `len` is [`FileError::Malformed`].
    fn seq_len(&mut self, len: usize) -> Result<()> {
        let n = self.varint(usize::BITS)?;
        if usize::try_from(n) == Ok(len) {
            Ok(())
        } else {
            Err(FileError::Malformed)
        }
    }

    /// The fixed header after the preamble (fields 3–7).
    fn shape(&mut self) -> Result<Shape> {
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
    fn floats(
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

/// Where the second pass writes.
struct Dest<'d, P: ?Sized> {
    mean: &'d mut [f32],
    var: &'d mut [f32],
    low: &'d mut [f32],
    high: &'d mut [f32],
    params: &'d mut P,
}

/// Parameter storage seen as consecutive slices.
trait ParamSlices {
    fn slice_count(&self) -> usize;
    fn slice_mut(&mut self, k: usize) -> &mut [f32];
    fn total_len(&mut self) -> usize {
        (0..self.slice_count())
            .map(|k| self.slice_mut(k).len())
            .sum()
    }
}

impl<const O: usize, const H: usize, const A: usize> ParamSlices for Policy<O, H, A> {
    fn slice_count(&self) -> usize {
        Self::SLICES
    }
    fn slice_mut(&mut self, k: usize) -> &mut [f32] {
        Params::slice_mut(self, k)
    }
}

impl ParamSlices for [f32] {
    fn slice_count(&self) -> usize {
        1
    }
    fn slice_mut(&mut self, _k: usize) -> &mut [f32] {
        self
    }
}

/// A file whose checksum and fixed header have been checked.
struct Parsed<'b> {
    /// The header; `param_count` is the one the dimensions give, and
    /// `obs_count` is filled in by [`Parsed::scan`].
    header: Header,
    /// The parameter count the dimensions give.
    params: usize,
    /// The body after the fixed header (at the observation mean).
    rest: &'b [u8],
}

fn dims_error(h: &Header) -> FileError {
    FileError::DimensionMismatch {
        obs: h.obs,
        hid: h.hid,
        act: h.act,
    }
}

/// Checks 1–7 of the module docs (`file/mod.rs`), up to the body length.
fn parse(bytes: &[u8]) -> Result<Parsed<'_>> {
    if bytes.len() < MIN_LEN {
        return Err(FileError::Truncated);
    }
    let (body, stored) = bytes
        .split_last_chunk::<CRC_LEN>()
        .ok_or(FileError::Truncated)?;
    let stored = u32::from_le_bytes(*stored);

    let mut cur = Reader { rest: body };
    // The preamble: every version starts with it.
    let (magic, version) = (cur.take::<4>()?, cur.u16()?);
    if magic != MAGIC {
        return Err(FileError::BadMagic);
    }
    if version != VERSION {
        return Err(FileError::UnsupportedVersion { found: version });
    }
    let shape = cur.shape();

    let computed = checksum(body);
    if computed != stored {
        // A file cut short has no trustworthy checksum; say what happened.
        if let Ok(s) = &shape {
            let want = file_len(s.obs.into(), s.hid.into(), s.act.into());
            if want.is_none_or(|n| n > bytes.len()) {
                return Err(FileError::Truncated);
            }
        }
        return Err(FileError::ChecksumMismatch {
            expected: stored,
            found: computed,
        });
    }
    let shape = shape?;
    let kind = kind_from_byte(shape.kind).ok_or(FileError::BadKind { found: shape.kind })?;
    let mut header = Header {
        version,
        kind,
        obs: shape.obs,
        hid: shape.hid,
        act: shape.act,
        param_count: 0,
        crc: stored,
        body_len: body.len(),
        obs_clip: shape.obs_clip,
        obs_count: 0.0,
    };
    if shape.obs == 0 || shape.hid == 0 || shape.act == 0 {
        return Err(dims_error(&header));
    }
    let (obs, hid, act) = (shape.obs.into(), shape.hid.into(), shape.act.into());
    let params = param_count(obs, hid, act).ok_or(FileError::ParamCountMismatch)?;
    header.param_count = u32::try_from(params).map_err(|_| FileError::ParamCountMismatch)?;
    // Varints longer than needed decode fine in postcard but would make the
    // file non-canonical; the exact length rules them out.
    if file_len(obs, hid, act) != Some(bytes.len()) {
        return Err(FileError::Malformed);
    }
    Ok(Parsed {
        header,
        params,
        rest: cur.rest,
    })
}

impl Parsed<'_> {
    /// First pass: checks structure and values, writes nothing; returns the
    /// complete header.
    fn scan(&self) -> Result<Header> {
        let count = self.walk::<[f32]>(None)?;
        Ok(Header {
            obs_count: count,
            ..self.header
        })
    }

    /// Reads the body after the fixed header; with `dst`, stores the arrays.
    /// Returns the observation count. Structural errors return at once;
    /// value errors are reported after the whole body has been read.
    fn walk<P: ParamSlices + ?Sized>(&self, mut dst: Option<Dest<'_, P>>) -> Result<f64> {
        let obs = usize::from(self.header.obs);
        let act = usize::from(self.header.act);
        if let Some(d) = dst.as_mut() {
            if d.mean.len() != obs
                || d.var.len() != obs
                || d.low.len() != act
                || d.high.len() != act
                || d.params.total_len() != self.params
            {
                return Err(dims_error(&self.header));
            }
        }
        let mut values = Rule::Positive.check(self.header.obs_clip);
        let mut cur = Reader { rest: self.rest };

        cur.seq_len(obs)?;
        let mean = dst.as_mut().map(|d| &mut *d.mean);
        cur.floats(obs, Rule::Finite, &mut values, mean)?;
        cur.seq_len(obs)?;
        let var = dst.as_mut().map(|d| &mut *d.var);
        cur.floats(obs, Rule::NonNegative, &mut values, var)?;
        let count = cur.f64()?;
        note(&mut values, check_count(count));

        cur.seq_len(act)?;
        let mut low = cur;
        cur.floats(act, Rule::Finite, &mut values, None)?;
        cur.seq_len(act)?;
        let mut high = cur;
        cur.floats(act, Rule::Finite, &mut values, None)?;
        // Both sequences again, in lock step: low ≤ high, and the copy.
        for i in 0..act {
            let (l, h) = (low.f32()?, high.f32()?);
            note(&mut values, check_bounds(l, h));
            if let Some(d) = dst.as_mut() {
                if let (Some(dl), Some(dh)) = (d.low.get_mut(i), d.high.get_mut(i)) {
                    (*dl, *dh) = (l, h);
                }
            }
        }

        let stated = cur.u32()?;
        if usize::try_from(stated).ok() != Some(self.params) {
            return Err(FileError::ParamCountMismatch);
        }
        match dst {
            None => cur.floats(self.params, Rule::Finite, &mut values, None)?,
            Some(d) => {
                for k in 0..d.params.slice_count() {
                    let s = d.params.slice_mut(k);
                    cur.floats(s.len(), Rule::Finite, &mut values, Some(s))?;
                }
            }
        }
        if !cur.rest.is_empty() {
            return Err(FileError::Malformed);
        }
        values.map(|()| count)
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
