//! The policy file: one [`Actor`] as bytes that load the same on the host and
//! on the device.
//!
//! A file is a [postcard]-encoded body followed by the CRC-32
//! (`CRC_32_ISO_HDLC`, the zlib/PNG one) of the body as 4 little-endian
//! bytes. The body holds, in order: [`MAGIC`], [`VERSION`], the policy kind,
//! `OBS`, `HID`, `ACT`, the observation clip, the observation mean, variance
//! and count, the action bounds, the parameter count and the parameters in
//! [`Params`] slice order. `docs/file-format.md` describes it byte by byte.
//!
//! Writing goes into a buffer the caller provides, sized by
//! [`max_encoded_len`]; reading checks everything once, here, so that the
//! control loop running the decoded [`Actor`] cannot fail. No input makes
//! these functions panic.
//!
//! # Checks, in order
//! The first failing check decides the error.
//!
//! 1. at least [`MIN_LEN`] bytes, else [`FileError::Truncated`];
//! 2. magic, else [`FileError::BadMagic`];
//! 3. version, else [`FileError::UnsupportedVersion`] (before the checksum,
//!    so a file from a newer writer is named as such);
//! 4. checksum, else [`FileError::Truncated`] when the file is shorter than
//!    its header says, or [`FileError::ChecksumMismatch`];
//! 5. kind, else [`FileError::BadKind`];
//! 6. dimensions (non-zero; the expected ones for [`decode_into`], the slice
//!    lengths for [`read_dyn`]), else [`FileError::DimensionMismatch`];
//! 7. the parameter count fits a `u32`, the file has exactly the length its
//!    dimensions give, every sequence has its stated length, the parameter
//!    count field is right and nothing trails: [`FileError::ParamCountMismatch`]
//!    or [`FileError::Malformed`];
//! 8. values, in file order: [`FileError::NonFiniteValue`] or
//!    [`FileError::InvalidValue`].
//!
//! Every accepted file is canonical: encoding what it decodes to gives the
//! same bytes back.
//!
//! # Example
//! ```
//! use fixpo_core::{file, Actor, PolicyKind};
//!
//! let actor = Actor::<3, 8, 1>::zero(PolicyKind::Gaussian);
//! let mut buf = [0u8; file::max_encoded_len(3, 8, 1)];
//! let n = file::encode(&actor, &mut buf)?;
//!
//! let header = file::read_header(&buf[..n])?;
//! assert_eq!((header.obs, header.hid, header.act), (3, 8, 1));
//!
//! let back: Actor<3, 8, 1> = file::decode(&buf[..n])?;
//! assert_eq!(back, actor);
//! # Ok::<(), file::FileError>(())
//! ```
//!
//! [postcard]: https://docs.rs/postcard

use core::fmt;
use core::marker::PhantomData;

use postcard::Deserializer as PostcardDe;
use postcard::de_flavors::Slice as DeSlice;
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, SerializeTuple};
use serde::{Deserialize, Serialize, Serializer};

use crate::actor::Actor;
use crate::dist::PolicyKind;
use crate::params::Params;
use crate::policy::Policy;

/// The first four bytes of every policy file.
pub const MAGIC: [u8; 4] = *b"FXPO";

/// The format version this build writes and reads.
pub const VERSION: u16 = 1;

/// Length of the trailing checksum, in bytes.
pub const CRC_LEN: usize = 4;

/// The shortest possible policy file (a 1→1×1→1 policy); anything shorter
/// is [`FileError::Truncated`].
pub const MIN_LEN: usize = max_encoded_len(1, 1, 1);

/// Result of the file functions.
pub type Result<T> = core::result::Result<T, FileError>;

/// Why a policy file could not be read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FileError {
    /// The file ends before its header or payload does.
    Truncated,
    /// The file does not start with [`MAGIC`]: it is not a policy file.
    BadMagic,
    /// The file has a format version this build cannot read.
    UnsupportedVersion {
        /// The version in the file.
        found: u16,
    },
    /// The policy kind byte names no known [`PolicyKind`].
    BadKind {
        /// The kind byte in the file.
        found: u8,
    },
    /// The file's dimensions differ from the ones expected (or the caller's
    /// slices for [`read_dyn`] have other lengths), or one of them is zero.
    DimensionMismatch {
        /// Observation dimension in the file.
        obs: u16,
        /// Hidden layer width in the file.
        hid: u16,
        /// Action dimension in the file.
        act: u16,
    },
    /// The parameter count in the file does not match its dimensions.
    ParamCountMismatch,
    /// The checksum over the body does not match the one stored.
    ChecksumMismatch {
        /// The checksum stored at the end of the file.
        expected: u32,
        /// The checksum computed over the body as read.
        found: u32,
    },
    /// A weight, statistic, bound or the clip is NaN or infinite.
    NonFiniteValue,
    /// A value is out of its range: a negative variance or count, a lower
    /// action bound above the upper one, or an observation clip ≤ 0.
    InvalidValue,
    /// The body is not a well-formed encoding (bad varint, wrong sequence
    /// length, non-canonical encoding, trailing bytes).
    Malformed,
    /// The output buffer is shorter than [`max_encoded_len`].
    BufferTooSmall,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated => f.write_str("policy file is truncated"),
            Self::BadMagic => f.write_str("not a fixpo policy file (bad magic)"),
            Self::UnsupportedVersion { found } => write!(
                f,
                "unsupported policy file version {found} (this build reads version {VERSION})"
            ),
            Self::BadKind { found } => write!(f, "unknown policy kind {found} in policy file"),
            Self::DimensionMismatch { obs, hid, act } => write!(
                f,
                "policy file has dimensions {obs}→{hid}×{hid}→{act}, not the expected ones"
            ),
            Self::ParamCountMismatch => {
                f.write_str("policy file parameter count does not match its dimensions")
            }
            Self::ChecksumMismatch { expected, found } => write!(
                f,
                "policy file checksum mismatch (stored {expected:#010x}, computed {found:#010x})"
            ),
            Self::NonFiniteValue => f.write_str("policy file holds a NaN or infinite value"),
            Self::InvalidValue => f.write_str(
                "policy file holds an out-of-range value (negative variance or count, \
                 low bound above high bound, or clip <= 0)",
            ),
            Self::Malformed => f.write_str("policy file is malformed"),
            Self::BufferTooSmall => f.write_str("buffer too small for the policy file"),
        }
    }
}

impl core::error::Error for FileError {}

/// What a policy file says about itself, as read by [`read_header`] and
/// [`read_dyn`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// Format version (always [`VERSION`] for a file this build accepts).
    pub version: u16,
    /// Distribution family.
    pub kind: PolicyKind,
    /// Observation dimension.
    pub obs: u16,
    /// Hidden layer width.
    pub hid: u16,
    /// Action dimension.
    pub act: u16,
    /// Number of parameters (network and log-std).
    pub param_count: u32,
    /// The CRC-32 stored at the end of the file.
    pub crc: u32,
    /// Length of the body (the file without its checksum), in bytes.
    pub body_len: usize,
    /// Clip applied to normalised observations.
    pub obs_clip: f32,
    /// Number of samples behind the observation statistics.
    pub obs_count: f64,
}

/// The length of the policy file for a policy `obs → hid×hid → act`, in
/// bytes; `usize::MAX` when it would not fit a `usize`.
///
/// For this format version the length is exact: every file with these
/// dimensions has it. Use it to size the buffer for [`encode`]:
///
/// ```
/// // 3 → 32×32 → 1 (Pendulum) and 17 → 64×64 → 6 (HalfCheetah).
/// assert_eq!(fixpo_core::file::max_encoded_len(3, 32, 1), 4935);
/// assert_eq!(fixpo_core::file::max_encoded_len(17, 64, 6), 23047);
/// ```
pub const fn max_encoded_len(obs: usize, hid: usize, act: usize) -> usize {
    match file_len(obs, hid, act) {
        Some(n) => n,
        None => usize::MAX,
    }
}

/// The CRC-32 (`CRC_32_ISO_HDLC`) of a file body, as stored in its last
/// [`CRC_LEN`] bytes (little-endian).
pub fn checksum(body: &[u8]) -> u32 {
    CRC32.checksum(body)
}

/// Writes `actor` as a policy file into `buf`; returns the number of bytes
/// written, [`max_encoded_len`]`(O, H, A)`.
///
/// # Errors
/// - [`FileError::BufferTooSmall`] when `buf` is shorter than
///   [`max_encoded_len`]`(O, H, A)`;
/// - [`FileError::NonFiniteValue`] or [`FileError::InvalidValue`] when the
///   actor holds a value [`decode`] would refuse, so a file that was written
///   always loads. `buf` may then have been partly written.
///
/// Dimensions of zero, above `u16::MAX`, or with more than `u32::MAX`
/// parameters are refused at compile time.
pub fn encode<const O: usize, const H: usize, const A: usize>(
    actor: &Actor<O, H, A>,
    buf: &mut [u8],
) -> Result<usize> {
    const {
        assert!(O >= 1 && O <= u16::MAX as usize, "OBS must be in 1..=65535");
        assert!(H >= 1 && H <= u16::MAX as usize, "HID must be in 1..=65535");
        assert!(A >= 1 && A <= u16::MAX as usize, "ACT must be in 1..=65535");
        assert!(
            matches!(param_count(O, H, A), Some(n) if n == Policy::<O, H, A>::PARAMS),
            "the file's parameter count must equal Policy::PARAMS"
        );
        assert!(Policy::<O, H, A>::PARAMS <= u32::MAX as usize);
    }
    check_actor(actor)?;
    let len = max_encoded_len(O, H, A);
    if buf.len() < len {
        return Err(FileError::BufferTooSmall);
    }
    let (body, crc) = buf[..len].split_at_mut(len - CRC_LEN);
    let mut ser = postcard::Serializer {
        output: postcard::ser_flavors::Slice::new(body),
    };
    write_body(actor, &mut ser).map_err(|_| FileError::BufferTooSmall)?;
    let written = postcard::ser_flavors::Flavor::finalize(ser.output)
        .map_err(|_| FileError::Malformed)?
        .len();
    if written != len - CRC_LEN {
        // Unreachable while `file_len` matches the encoding below.
        return Err(FileError::Malformed);
    }
    crc.copy_from_slice(&checksum(body).to_le_bytes());
    Ok(len)
}

/// Reads a policy file into `out`. On error `out` is left unchanged.
///
/// Everything is checked in a first pass that writes nothing; a second pass
/// over the same bytes then writes into `out` directly, so no second
/// [`Actor`] is needed on the stack.
///
/// # Errors
/// Any [`FileError`] except [`FileError::BufferTooSmall`]; see the
/// [module docs](self) for the order of the checks. A valid file of another
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
// Layout

static CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Kind byte values.
const KIND_GAUSSIAN: u8 = 0;
const KIND_CATEGORICAL: u8 = 1;

fn kind_byte(kind: PolicyKind) -> u8 {
    match kind {
        PolicyKind::Gaussian => KIND_GAUSSIAN,
        PolicyKind::Categorical => KIND_CATEGORICAL,
    }
}

fn kind_from_byte(b: u8) -> Option<PolicyKind> {
    match b {
        KIND_GAUSSIAN => Some(PolicyKind::Gaussian),
        KIND_CATEGORICAL => Some(PolicyKind::Categorical),
        _ => None,
    }
}

/// The start of every body: what a reader of any version checks first.
#[derive(Serialize, Deserialize)]
struct Preamble {
    magic: [u8; 4],
    version: u16,
}

/// The rest of the fixed header (version 1).
#[derive(Serialize, Deserialize)]
struct Shape {
    kind: u8,
    obs: u16,
    hid: u16,
    act: u16,
    obs_clip: f32,
}

/// Bytes of a postcard varint holding `v`.
const fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// `Policy::<obs, hid, act>::PARAMS`, or `None` on overflow.
const fn param_count(obs: usize, hid: usize, act: usize) -> Option<usize> {
    // obs·hid + hid + hid·hid + hid + hid·act + act (network) + act (log-std)
    let Some(w1) = obs.checked_mul(hid) else {
        return None;
    };
    let Some(w2) = hid.checked_mul(hid) else {
        return None;
    };
    let Some(w3) = hid.checked_mul(act) else {
        return None;
    };
    let mut n = w1;
    let parts = [hid, w2, hid, w3, act, act];
    let mut i = 0;
    while i < parts.len() {
        n = match n.checked_add(parts[i]) {
            Some(v) => v,
            None => return None,
        };
        i += 1;
    }
    Some(n)
}

/// Exact file length (body and checksum), or `None` on overflow.
const fn file_len(obs: usize, hid: usize, act: usize) -> Option<usize> {
    let Some(params) = param_count(obs, hid, act) else {
        return None;
    };
    let Some(param_bytes) = params.checked_mul(4) else {
        return None;
    };
    let Some(obs_bytes) = obs.checked_mul(8) else {
        return None;
    };
    let Some(act_bytes) = act.checked_mul(8) else {
        return None;
    };
    let fixed = 4 // magic
        + varint_len(VERSION as usize)
        + 1 // kind
        + varint_len(obs)
        + varint_len(hid)
        + varint_len(act)
        + 4 // obs_clip
        + 2 * varint_len(obs) // mean and var sequence lengths
        + 8 // obs count
        + 2 * varint_len(act) // low and high sequence lengths
        + varint_len(params)
        + CRC_LEN;
    let parts = [obs_bytes, act_bytes, param_bytes];
    let mut n = fixed;
    let mut i = 0;
    while i < parts.len() {
        n = match n.checked_add(parts[i]) {
            Some(v) => v,
            None => return None,
        };
        i += 1;
    }
    Some(n)
}

// ---------------------------------------------------------------------------
// Values

/// What a number in the file must satisfy.
#[derive(Clone, Copy)]
enum Rule {
    /// Finite.
    Finite,
    /// Finite and ≥ 0 (variances).
    NonNegative,
    /// Finite and > 0 (the observation clip).
    Positive,
}

impl Rule {
    fn check(self, x: f32) -> Result<()> {
        if !x.is_finite() {
            return Err(FileError::NonFiniteValue);
        }
        let ok = match self {
            Rule::Finite => true,
            Rule::NonNegative => x >= 0.0,
            Rule::Positive => x > 0.0,
        };
        if ok {
            Ok(())
        } else {
            Err(FileError::InvalidValue)
        }
    }

    fn check_all(self, xs: &[f32]) -> Result<()> {
        xs.iter().try_for_each(|&x| self.check(x))
    }
}

fn check_count(c: f64) -> Result<()> {
    if !c.is_finite() {
        Err(FileError::NonFiniteValue)
    } else if c < 0.0 {
        Err(FileError::InvalidValue)
    } else {
        Ok(())
    }
}

fn check_bounds(low: f32, high: f32) -> Result<()> {
    Rule::Finite.check(low)?;
    Rule::Finite.check(high)?;
    // `f32::clamp` in the control loop panics unless low ≤ high.
    if low <= high {
        Ok(())
    } else {
        Err(FileError::InvalidValue)
    }
}

/// The value checks of [`walk`](Parsed::walk), in the same order, on an
/// actor about to be written.
fn check_actor<const O: usize, const H: usize, const A: usize>(a: &Actor<O, H, A>) -> Result<()> {
    Rule::Positive.check(a.obs_clip)?;
    Rule::Finite.check_all(&a.obs_norm.mean)?;
    Rule::NonNegative.check_all(&a.obs_norm.var)?;
    check_count(a.obs_norm.count)?;
    Rule::Finite.check_all(&a.action_low)?;
    Rule::Finite.check_all(&a.action_high)?;
    for (&l, &h) in a.action_low.iter().zip(&a.action_high) {
        check_bounds(l, h)?;
    }
    (0..Policy::<O, H, A>::SLICES).try_for_each(|k| Rule::Finite.check_all(a.policy.slice(k)))
}

/// Keeps the first value error seen.
fn note(first: &mut Result<()>, verdict: Result<()>) {
    if first.is_ok() {
        *first = verdict;
    }
}

// ---------------------------------------------------------------------------
// Writing

/// A slice of `f32` written as a postcard sequence (length, then elements).
struct SeqOut<'a>(&'a [f32]);

impl Serialize for SeqOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for x in self.0 {
            seq.serialize_element(x)?;
        }
        seq.end()
    }
}

/// All parameters, in slice order, as one postcard tuple (no length).
struct ParamsOut<'a, P>(&'a P);

impl<P: Params> Serialize for ParamsOut<'_, P> {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(P::LEN)?;
        for k in 0..P::SLICES {
            for x in self.0.slice(k) {
                t.serialize_element(x)?;
            }
        }
        t.end()
    }
}

fn write_body<const O: usize, const H: usize, const A: usize, F: postcard::ser_flavors::Flavor>(
    a: &Actor<O, H, A>,
    ser: &mut postcard::Serializer<F>,
) -> postcard::Result<()> {
    // Dimensions fit a u16 (checked at compile time in `encode`).
    let dim = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
    Preamble {
        magic: MAGIC,
        version: VERSION,
    }
    .serialize(&mut *ser)?;
    Shape {
        kind: kind_byte(a.policy.kind),
        obs: dim(O),
        hid: dim(H),
        act: dim(A),
        obs_clip: a.obs_clip,
    }
    .serialize(&mut *ser)?;
    SeqOut(&a.obs_norm.mean).serialize(&mut *ser)?;
    SeqOut(&a.obs_norm.var).serialize(&mut *ser)?;
    a.obs_norm.count.serialize(&mut *ser)?;
    SeqOut(&a.action_low).serialize(&mut *ser)?;
    SeqOut(&a.action_high).serialize(&mut *ser)?;
    u32::try_from(Policy::<O, H, A>::PARAMS)
        .unwrap_or(u32::MAX)
        .serialize(&mut *ser)?;
    ParamsOut(&a.policy).serialize(&mut *ser)
}

// ---------------------------------------------------------------------------
// Reading

/// Reads consecutive postcard values from a byte slice.
struct Cursor<'b>(&'b [u8]);

impl<'b> Cursor<'b> {
    fn seed<S: DeserializeSeed<'b>>(&mut self, seed: S) -> Result<S::Value> {
        let mut de = PostcardDe::from_bytes(self.0);
        let v = seed
            .deserialize(&mut de)
            .map_err(|_| FileError::Malformed)?;
        self.0 = de.finalize().map_err(|_| FileError::Malformed)?;
        Ok(v)
    }

    fn read<T: Deserialize<'b>>(&mut self) -> Result<T> {
        self.seed(PhantomData::<T>)
    }
}

/// Reads exactly `len` `f32`s, framed as a sequence (with its length) or as
/// a tuple (without), checks each against `rule` and, with a destination,
/// stores them. The value is the first rule violation, if any; a wrong
/// length is a decoding error.
struct Floats<'d> {
    len: usize,
    framed: bool,
    rule: Rule,
    dst: Option<&'d mut [f32]>,
}

impl<'d> Floats<'d> {
    fn seq(len: usize, rule: Rule, dst: Option<&'d mut [f32]>) -> Self {
        let len = dst.as_ref().map_or(len, |d| d.len());
        Self {
            len,
            framed: true,
            rule,
            dst,
        }
    }

    fn tuple(len: usize, rule: Rule, dst: Option<&'d mut [f32]>) -> Self {
        Self {
            framed: false,
            ..Self::seq(len, rule, dst)
        }
    }
}

impl<'de> DeserializeSeed<'de> for Floats<'_> {
    type Value = Result<()>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        d: D,
    ) -> core::result::Result<Self::Value, D::Error> {
        if self.framed {
            d.deserialize_seq(self)
        } else {
            d.deserialize_tuple(self.len, self)
        }
    }
}

impl<'de> Visitor<'de> for Floats<'_> {
    type Value = Result<()>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a sequence of {} f32", self.len)
    }

    fn visit_seq<S: SeqAccess<'de>>(
        mut self,
        mut seq: S,
    ) -> core::result::Result<Self::Value, S::Error> {
        let mut verdict = Ok(());
        for i in 0..self.len {
            let Some(x) = seq.next_element::<f32>()? else {
                return Err(de::Error::invalid_length(i, &self));
            };
            note(&mut verdict, self.rule.check(x));
            if let Some(slot) = self.dst.as_deref_mut().and_then(|d| d.get_mut(i)) {
                *slot = x;
            }
        }
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(self.len + 1, &self));
        }
        Ok(verdict)
    }
}

/// Walks the `low` sequence and, in lock step, the `high` sequence read by
/// a second deserializer, checking `low[i] ≤ high[i]` without storage.
struct Bounds<'h, 'de, 'd> {
    len: usize,
    high: &'h mut PostcardDe<'de, DeSlice<'de>>,
    dst: Option<(&'d mut [f32], &'d mut [f32])>,
}

impl<'de> DeserializeSeed<'de> for Bounds<'_, 'de, '_> {
    type Value = Result<()>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        d: D,
    ) -> core::result::Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Bounds<'_, 'de, '_> {
    type Value = Result<()>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} lower action bounds", self.len)
    }

    fn visit_seq<S: SeqAccess<'de>>(
        self,
        mut low: S,
    ) -> core::result::Result<Self::Value, S::Error> {
        let pair = HighBounds {
            len: self.len,
            low: &mut low,
            dst: self.dst,
        };
        pair.deserialize(&mut *self.high).map_err(de::Error::custom)
    }
}

/// The inner half of [`Bounds`]: visits `high` while pulling from `low`.
struct HighBounds<'l, 'd, L> {
    len: usize,
    low: &'l mut L,
    dst: Option<(&'d mut [f32], &'d mut [f32])>,
}

impl<'de, L: SeqAccess<'de>> DeserializeSeed<'de> for HighBounds<'_, '_, L> {
    type Value = Result<()>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        d: D,
    ) -> core::result::Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, L: SeqAccess<'de>> Visitor<'de> for HighBounds<'_, '_, L> {
    type Value = Result<()>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} upper action bounds", self.len)
    }

    fn visit_seq<S: SeqAccess<'de>>(
        mut self,
        mut high: S,
    ) -> core::result::Result<Self::Value, S::Error> {
        let mut verdict = Ok(());
        for i in 0..self.len {
            let l = self.low.next_element::<f32>().map_err(de::Error::custom)?;
            let h = high.next_element::<f32>()?;
            let (Some(l), Some(h)) = (l, h) else {
                return Err(de::Error::invalid_length(i, &self));
            };
            note(&mut verdict, check_bounds(l, h));
            if let Some((dl, dh)) = self.dst.as_mut() {
                if let (Some(sl), Some(sh)) = (dl.get_mut(i), dh.get_mut(i)) {
                    (*sl, *sh) = (l, h);
                }
            }
        }
        Ok(verdict)
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

/// Checks 1–7 of the module docs up to the body length.
fn parse(bytes: &[u8]) -> Result<Parsed<'_>> {
    if bytes.len() < MIN_LEN {
        return Err(FileError::Truncated);
    }
    let (body, stored) = bytes.split_at(bytes.len() - CRC_LEN);
    let stored = <[u8; CRC_LEN]>::try_from(stored).map_err(|_| FileError::Truncated)?;
    let stored = u32::from_le_bytes(stored);

    let mut cur = Cursor(body);
    let pre: Preamble = cur.read()?;
    if pre.magic != MAGIC {
        return Err(FileError::BadMagic);
    }
    if pre.version != VERSION {
        return Err(FileError::UnsupportedVersion { found: pre.version });
    }
    let shape = cur.read::<Shape>();

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
        version: pre.version,
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
        rest: cur.0,
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
        let mut cur = Cursor(self.rest);

        let mean = dst.as_mut().map(|d| &mut *d.mean);
        note(&mut values, cur.seed(Floats::seq(obs, Rule::Finite, mean))?);
        let var = dst.as_mut().map(|d| &mut *d.var);
        note(
            &mut values,
            cur.seed(Floats::seq(obs, Rule::NonNegative, var))?,
        );
        let count: f64 = cur.read()?;
        note(&mut values, check_count(count));

        let low_at = cur.0;
        note(&mut values, cur.seed(Floats::seq(act, Rule::Finite, None))?);
        let high_at = cur.0;
        note(&mut values, cur.seed(Floats::seq(act, Rule::Finite, None))?);
        let mut high_de = PostcardDe::from_bytes(high_at);
        let bounds = Bounds {
            len: act,
            high: &mut high_de,
            dst: dst.as_mut().map(|d| (&mut *d.low, &mut *d.high)),
        };
        note(&mut values, Cursor(low_at).seed(bounds)?);

        let stated: u32 = cur.read()?;
        if usize::try_from(stated).ok() != Some(self.params) {
            return Err(FileError::ParamCountMismatch);
        }
        match dst {
            None => note(
                &mut values,
                cur.seed(Floats::tuple(self.params, Rule::Finite, None))?,
            ),
            Some(d) => {
                for k in 0..d.params.slice_count() {
                    let s = d.params.slice_mut(k);
                    note(
                        &mut values,
                        cur.seed(Floats::tuple(s.len(), Rule::Finite, Some(s)))?,
                    );
                }
            }
        }
        if !cur.0.is_empty() {
            return Err(FileError::Malformed);
        }
        values.map(|()| count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_hand_count() {
        // 3→32×32→1: 1218 parameters; header 13, mean/var 2·13, count 8,
        // bounds 2·5, param count 2, params 4872, crc 4.
        assert_eq!(param_count(3, 32, 1), Some(1218));
        assert_eq!(max_encoded_len(3, 32, 1), 13 + 26 + 8 + 10 + 2 + 4872 + 4);
        assert_eq!(MIN_LEN, 13 + 10 + 8 + 10 + 1 + 28 + 4);
        assert_eq!(max_encoded_len(usize::MAX, 2, 2), usize::MAX);
        // 17→64×64→6: 5708 parameters.
        assert_eq!(
            max_encoded_len(17, 64, 6),
            13 + 138 + 8 + 50 + 2 + 4 * 5708 + 4
        );
    }

    #[test]
    fn varint_lengths() {
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
        assert_eq!(varint_len(16383), 2);
        assert_eq!(varint_len(16384), 3);
    }

    #[test]
    fn error_display_is_one_line() {
        let all = [
            FileError::Truncated,
            FileError::BadMagic,
            FileError::UnsupportedVersion { found: 7 },
            FileError::BadKind { found: 9 },
            FileError::DimensionMismatch {
                obs: 1,
                hid: 2,
                act: 3,
            },
            FileError::ParamCountMismatch,
            FileError::ChecksumMismatch {
                expected: 1,
                found: 2,
            },
            FileError::NonFiniteValue,
            FileError::InvalidValue,
            FileError::Malformed,
            FileError::BufferTooSmall,
        ];
        for e in all {
            let s = std::format!("{e}");
            assert!(!s.is_empty() && !s.contains('\n'), "{s}");
        }
    }
}
