//! Reading a policy file: [`decode_into`], [`decode`], [`decode_parts`],
//! [`decode_critic`], [`decode_critic_into`], [`read_header`], [`read_dyn`]
//! and [`read_dyn_critic`].
//!
//! A [`Reader`] (`reader.rs`) decodes the body's fields in file order, each with the
//! encoding postcard gives its type (`docs/file-format.md` has the table):
//! a byte, a little-endian `f32`/`f64`, an unsigned LEB128 varint, a
//! sequence (varint length, then its elements), a tuple (its elements) or
//! an `Option` (a tag byte 0 or 1, then the value). [`parse`] checks the
//! file up to its length; [`Parsed::walk`] reads the rest, once to check it
//! and, for the decoders, once more to store it.

use super::layout::{
    Rule, check_bounds, check_count, critic_tag_at, file_len, kind_from_byte, note, param_count,
    value_param_count,
};
use super::reader::Reader;
use super::{
    CRC_LEN, Critic, CriticInfo, FileError, Header, MAGIC, MIN_LEN, OLDEST_VERSION, Result,
    VERSION, checksum,
};
use crate::actor::Actor;
use crate::dist::PolicyKind;
use crate::norm::{ObsNorm, RunningMeanStd};
use crate::params::Params;
use crate::policy::{Policy, Value};

/// Reads a policy file (either version) into `out`. A critic section is
/// checked like the rest of the file and otherwise ignored (see
/// [`decode_critic_into`]). On error `out` is left unchanged.
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
    parsed.expect_dims(O, Some(H), Some(A))?;
    let header = parsed.scan()?;
    let mut dest = Dest::<_, [f32]> {
        mean: Some(&mut out.obs_norm.mean[..]),
        var: Some(&mut out.obs_norm.var[..]),
        low: Some(&mut out.action_low[..]),
        high: Some(&mut out.action_high[..]),
        params: Some(&mut out.policy),
        value: None,
    };
    // Cannot fail: the same bytes just passed the same checks.
    parsed.walk(&mut dest)?;
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

/// Reads a policy file (either version) into separate parts, as a device
/// that trains the policy in place keeps them: the policy, its
/// normalisation (statistics and clip), the action bounds and, when the
/// file has a critic section and `critic` is given, the value network and
/// the return statistics. Returns the file's header, whose
/// [`Header::critic`] says whether the critic parts were written. On error
/// nothing is written.
///
/// # Errors
/// As [`decode_into`].
pub fn decode_parts<const O: usize, const H: usize, const A: usize>(
    bytes: &[u8],
    policy: &mut Policy<O, H, A>,
    norm: &mut ObsNorm<O>,
    low: &mut [f32; A],
    high: &mut [f32; A],
    critic: Option<(&mut Value<O, H>, &mut RunningMeanStd<1>)>,
) -> Result<Header> {
    let parsed = parse(bytes)?;
    parsed.expect_dims(O, Some(H), Some(A))?;
    let header = parsed.scan()?;
    let (value, ret) = match critic {
        Some((v, r)) => (Some(v), Some(r)),
        None => (None, None),
    };
    let mut dest = Dest {
        mean: Some(&mut norm.stats.mean[..]),
        var: Some(&mut norm.stats.var[..]),
        low: Some(&mut low[..]),
        high: Some(&mut high[..]),
        params: Some(policy),
        value,
    };
    parsed.walk(&mut dest)?;
    if let Some(p) = dest.params {
        p.kind = header.kind;
    }
    norm.clip = header.obs_clip;
    norm.stats.count = header.obs_count;
    if let (Some(c), Some(r)) = (header.critic, ret) {
        *r = c.stats();
    }
    Ok(header)
}

/// Reads the critic section of a policy file into `out`: `Ok(true)` when
/// the file has one, `Ok(false)` (and `out` unchanged) when it has none
/// (every version-1 file, and version-2 files written without a critic).
/// The whole file is checked, as by [`read_header`]. On error `out` is
/// left unchanged.
///
/// # Errors
/// As [`decode_into`]; [`FileError::DimensionMismatch`] when the file's
/// OBS or HID differ from `O` and `H` (its ACT may be anything).
pub fn decode_critic_into<const O: usize, const H: usize>(
    bytes: &[u8],
    out: &mut Critic<O, H>,
) -> Result<bool> {
    let parsed = parse(bytes)?;
    parsed.expect_dims(O, Some(H), None)?;
    let header = parsed.scan()?;
    let Some(info) = header.critic else {
        return Ok(false);
    };
    let mut dest = Dest::<[f32], _>::values(&mut out.value);
    parsed.walk(&mut dest)?;
    out.ret = info.stats();
    Ok(true)
}

/// Reads the critic section of a policy file: `None` when it has none.
///
/// # Errors
/// As [`decode_critic_into`].
pub fn decode_critic<const O: usize, const H: usize>(bytes: &[u8]) -> Result<Option<Critic<O, H>>> {
    let mut out = Critic::ZERO;
    Ok(decode_critic_into(bytes, &mut out)?.then_some(out))
}

/// Checks a whole policy file (checksum, header and every value, the
/// critic section included) without knowing its dimensions, and returns
/// its header.
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
    let header = parsed.scan()?;
    let mut dest = Dest::<_, [f32]> {
        mean: Some(obs_mean),
        var: Some(obs_var),
        low: Some(low),
        high: Some(high),
        params: Some(params),
        value: None,
    };
    dest.check_lens(&parsed)?;
    parsed.walk(&mut dest)?;
    Ok(header)
}

/// Reads the value network of a policy file of any dimensions into
/// `value`, of length [`CriticInfo::param_count`] (in [`Params`] slice
/// order of [`Value`]`<obs, hid>`), or of length 0 when the file has no
/// critic. Returns the header (its [`Header::critic`] has the return
/// statistics). On error `value` is left unchanged.
///
/// # Errors
/// As [`read_header`]; [`FileError::DimensionMismatch`] (with the file's
/// dimensions) when `value` has another length.
pub fn read_dyn_critic(bytes: &[u8], value: &mut [f32]) -> Result<Header> {
    let parsed = parse(bytes)?;
    let header = parsed.scan()?;
    let want = header.critic.map_or(0, |c| c.param_count as usize);
    if value.len() != want {
        return Err(parsed.dims_error());
    }
    if header.critic.is_some() {
        parsed.walk(&mut Dest::<[f32], _>::values(value))?;
    }
    Ok(header)
}

impl CriticInfo {
    /// The return statistics as the reward scaler holds them.
    fn stats(&self) -> RunningMeanStd<1> {
        RunningMeanStd {
            mean: [self.ret_mean],
            var: [self.ret_var],
            count: self.ret_count,
        }
    }
}

/// Where the second pass writes; `None` parts are read and not stored.
struct Dest<'d, P: ?Sized, V: ?Sized> {
    mean: Option<&'d mut [f32]>,
    var: Option<&'d mut [f32]>,
    low: Option<&'d mut [f32]>,
    high: Option<&'d mut [f32]>,
    params: Option<&'d mut P>,
    /// The critic's value network (written only if the file has one).
    value: Option<&'d mut V>,
}

impl<'d, P: ParamSlices + ?Sized, V: ParamSlices + ?Sized> Dest<'d, P, V> {
    /// Only the value network.
    fn values(value: &'d mut V) -> Self {
        Self {
            mean: None,
            var: None,
            low: None,
            high: None,
            params: None,
            value: Some(value),
        }
    }

    /// Every part given has the length the file gives it.
    fn check_lens(&mut self, parsed: &Parsed<'_>) -> Result<()> {
        let h = &parsed.header;
        let (obs, act) = (usize::from(h.obs), usize::from(h.act));
        let fits = |s: &Option<&mut [f32]>, n: usize| s.as_ref().is_none_or(|s| s.len() == n);
        let ok = fits(&self.mean, obs)
            && fits(&self.var, obs)
            && fits(&self.low, act)
            && fits(&self.high, act)
            && self
                .params
                .as_deref_mut()
                .is_none_or(|p| p.total_len() == parsed.params)
            && (!parsed.critic
                || self
                    .value
                    .as_deref_mut()
                    .is_none_or(|v| v.total_len() == parsed.value_params));
        if ok { Ok(()) } else { Err(parsed.dims_error()) }
    }
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

impl<const O: usize, const H: usize> ParamSlices for Value<O, H> {
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

/// `n` parameters read into `dst`'s slices in order (or only checked).
fn read_params<P: ParamSlices + ?Sized>(
    cur: &mut Reader<'_>,
    n: usize,
    values: &mut Result<()>,
    dst: Option<&mut P>,
) -> Result<()> {
    match dst {
        None => cur.floats(n, Rule::Finite, values, None),
        Some(d) => {
            for k in 0..d.slice_count() {
                let s = d.slice_mut(k);
                cur.floats(s.len(), Rule::Finite, values, Some(s))?;
            }
            Ok(())
        }
    }
}

/// A file whose checksum and fixed header have been checked.
struct Parsed<'b> {
    /// The header; `param_count` is the one the dimensions give, and
    /// `obs_count` and `critic` are filled in by [`Parsed::scan`].
    header: Header,
    /// The parameter count the dimensions give.
    params: usize,
    /// Whether the file's length is the one with a critic section.
    critic: bool,
    /// The value network's parameter count the dimensions give.
    value_params: usize,
    /// The body after the fixed header (at the observation mean).
    rest: &'b [u8],
}

/// What the walk reads besides the arrays.
struct Walked {
    obs_count: f64,
    critic: Option<CriticInfo>,
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
    if !(OLDEST_VERSION..=VERSION).contains(&version) {
        return Err(FileError::UnsupportedVersion { found: version });
    }
    let shape = cur.shape();

    let computed = checksum(body);
    if computed != stored {
        // A file cut short has no trustworthy checksum; say what happened.
        if let Ok(s) = &shape {
            let (o, h, a) = (s.obs.into(), s.hid.into(), s.act.into());
            // Version 2: a critic tag of 1, if the bytes reach it, asks for
            // the critic section too.
            let tagged =
                version >= 2 && critic_tag_at(o, h, a).and_then(|at| bytes.get(at)) == Some(&1);
            let want = file_len(version, o, h, a, tagged);
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
    let mut parsed = Parsed {
        header: Header {
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
            critic: None,
        },
        params: 0,
        critic: false,
        value_params: 0,
        rest: &[],
    };
    if shape.obs == 0 || shape.hid == 0 || shape.act == 0 {
        return Err(parsed.dims_error());
    }
    let (obs, hid, act) = (shape.obs.into(), shape.hid.into(), shape.act.into());
    let params = param_count(obs, hid, act).ok_or(FileError::ParamCountMismatch)?;
    parsed.header.param_count = u32::try_from(params).map_err(|_| FileError::ParamCountMismatch)?;
    parsed.params = params;
    // Varints longer than needed decode fine in postcard but would make the
    // file non-canonical; the exact length rules them out. A version-2
    // file has one of two lengths, without and with the critic section.
    let len = Some(bytes.len());
    parsed.critic = if file_len(version, obs, hid, act, false) == len {
        false
    } else if version >= 2 && file_len(version, obs, hid, act, true) == len {
        true
    } else {
        return Err(FileError::Malformed);
    };
    if parsed.critic {
        // The length formula above already multiplied this count by 4.
        parsed.value_params = value_param_count(obs, hid).ok_or(FileError::Malformed)?;
    }
    parsed.rest = cur.rest;
    Ok(parsed)
}

impl Parsed<'_> {
    fn dims_error(&self) -> FileError {
        FileError::DimensionMismatch {
            obs: self.header.obs,
            hid: self.header.hid,
            act: self.header.act,
        }
    }

    /// The file's dimensions are `obs`, and `hid` and `act` where given.
    fn expect_dims(&self, obs: usize, hid: Option<usize>, act: Option<usize>) -> Result<()> {
        let h = &self.header;
        let same = |n: u16, want: Option<usize>| want.is_none_or(|w| usize::from(n) == w);
        if same(h.obs, Some(obs)) && same(h.hid, hid) && same(h.act, act) {
            Ok(())
        } else {
            Err(self.dims_error())
        }
    }

    /// First pass: checks structure and values, writes nothing; returns the
    /// complete header.
    fn scan(&self) -> Result<Header> {
        let walked = self.walk(&mut Dest::<[f32], [f32]> {
            mean: None,
            var: None,
            low: None,
            high: None,
            params: None,
            value: None,
        })?;
        Ok(Header {
            obs_count: walked.obs_count,
            critic: walked.critic,
            ..self.header
        })
    }

    /// Reads the body after the fixed header, storing what `dst` asks for.
    /// Structural errors return at once; value errors are reported after
    /// the whole body has been read.
    fn walk<P: ParamSlices + ?Sized, V: ParamSlices + ?Sized>(
        &self,
        dst: &mut Dest<'_, P, V>,
    ) -> Result<Walked> {
        dst.check_lens(self)?;
        let obs = usize::from(self.header.obs);
        let act = usize::from(self.header.act);
        let mut values = Rule::Positive.check(self.header.obs_clip);
        let mut cur = Reader { rest: self.rest };

        cur.seq_len(obs)?;
        cur.floats(obs, Rule::Finite, &mut values, dst.mean.as_deref_mut())?;
        cur.seq_len(obs)?;
        cur.floats(obs, Rule::NonNegative, &mut values, dst.var.as_deref_mut())?;
        let obs_count = cur.f64()?;
        note(&mut values, check_count(obs_count));

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
            if let Some(dl) = dst.low.as_deref_mut().and_then(|d| d.get_mut(i)) {
                *dl = l;
            }
            if let Some(dh) = dst.high.as_deref_mut().and_then(|d| d.get_mut(i)) {
                *dh = h;
            }
        }

        let stated = cur.u32()?;
        if usize::try_from(stated).ok() != Some(self.params) {
            return Err(FileError::ParamCountMismatch);
        }
        read_params(
            &mut cur,
            self.params,
            &mut values,
            dst.params.as_deref_mut(),
        )?;

        let mut critic = None;
        if self.header.version >= 2 {
            // Field 15: postcard's `Option` tag, which must agree with the
            // length `parse` found.
            match (cur.u8()?, self.critic) {
                (0, false) => {}
                (1, true) => critic = Some(self.critic_section(&mut cur, &mut values, dst)?),
                _ => return Err(FileError::Malformed),
            }
        }
        if !cur.rest.is_empty() {
            return Err(FileError::Malformed);
        }
        values.map(|()| Walked { obs_count, critic })
    }

    /// Fields 16–20: the return statistics and the value network.
    fn critic_section<P: ParamSlices + ?Sized, V: ParamSlices + ?Sized>(
        &self,
        cur: &mut Reader<'_>,
        values: &mut Result<()>,
        dst: &mut Dest<'_, P, V>,
    ) -> Result<CriticInfo> {
        let ret_mean = cur.f32()?;
        note(values, Rule::Finite.check(ret_mean));
        let ret_var = cur.f32()?;
        note(values, Rule::NonNegative.check(ret_var));
        let ret_count = cur.f64()?;
        note(values, check_count(ret_count));
        let stated = cur.u32()?;
        if usize::try_from(stated).ok() != Some(self.value_params) {
            return Err(FileError::ParamCountMismatch);
        }
        read_params(cur, self.value_params, values, dst.value.as_deref_mut())?;
        Ok(CriticInfo {
            param_count: stated,
            ret_mean,
            ret_var,
            ret_count,
        })
    }
}
