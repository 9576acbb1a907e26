//! Chunked flash access: every read is a whole number of write units
//! (hence of read units) inside one record slot, every program is aligned
//! and padded with `0xFF`, so no call can fail an alignment check.

use embedded_storage::nor_flash::NorFlash;

use crate::error::StoreError;
use crate::header::{CRC, Header};
use crate::layout::{Geometry, HEADER_FIELDS, MAX_WRITE_SIZE};

type Result<T, F> =
    core::result::Result<T, StoreError<<F as embedded_storage::nor_flash::ErrorType>::Error>>;

/// Reads `len` bytes from `offset` in pieces, rounding the last piece up
/// to the write size (it stays inside the slot: slots are whole write
/// units), and hands each piece (trimmed to `len`) to `f`, which returns
/// `false` to stop early.
pub(crate) fn read_chunks<F: NorFlash>(
    flash: &mut F,
    geo: &Geometry,
    offset: u32,
    len: usize,
    mut f: impl FnMut(usize, &[u8]) -> bool,
) -> Result<bool, F> {
    let w = geo.write_size as usize;
    let step = MAX_WRITE_SIZE / w * w;
    let mut buf = [0u8; MAX_WRITE_SIZE];
    let mut pos = 0;
    while pos < len {
        let want = (len - pos).min(step);
        let padded = want.div_ceil(w) * w;
        flash
            .read(offset + pos as u32, &mut buf[..padded])
            .map_err(StoreError::Flash)?;
        if !f(pos, &buf[..want]) {
            return Ok(false);
        }
        pos += want;
    }
    Ok(true)
}

/// Whether `len` bytes from `offset` are all erased (`0xFF`).
pub(crate) fn is_blank<F: NorFlash>(
    flash: &mut F,
    geo: &Geometry,
    offset: u32,
    len: usize,
) -> Result<bool, F> {
    read_chunks(flash, geo, offset, len, |_, c| c.iter().all(|&b| b == 0xFF))
}

/// The header at `offset` if it is valid for `magic`.
pub(crate) fn read_header<F: NorFlash>(
    flash: &mut F,
    geo: &Geometry,
    offset: u32,
    magic: u32,
) -> Result<Option<Header>, F> {
    let mut bytes = [0u8; HEADER_FIELDS];
    read_chunks(flash, geo, offset, HEADER_FIELDS, |pos, c| {
        bytes[pos..pos + c.len()].copy_from_slice(c);
        true
    })?;
    Ok(Header::decode(&bytes, magic, geo.max_body))
}

/// Whether the body after the header at `offset` matches the header's CRC.
pub(crate) fn body_ok<F: NorFlash>(
    flash: &mut F,
    geo: &Geometry,
    offset: u32,
    h: &Header,
) -> Result<bool, F> {
    let mut d = CRC.digest();
    read_chunks(
        flash,
        geo,
        offset + geo.header_len,
        h.len as usize,
        |_, c| {
            d.update(c);
            true
        },
    )?;
    Ok(d.finalize() == h.body_crc)
}

/// Reads the body after the header at `offset` into `buf` and checks its
/// CRC; `Ok(false)` on a mismatch. `buf` must hold `h.len` bytes.
pub(crate) fn load_body<F: NorFlash>(
    flash: &mut F,
    geo: &Geometry,
    offset: u32,
    h: &Header,
    buf: &mut [u8],
) -> Result<bool, F> {
    let len = h.len as usize;
    let Some(out) = buf.get_mut(..len) else {
        return Err(StoreError::BufferTooSmall {
            len: buf.len(),
            needed: len,
        });
    };
    read_chunks(flash, geo, offset + geo.header_len, len, |pos, c| {
        out[pos..pos + c.len()].copy_from_slice(c);
        true
    })?;
    Ok(CRC.checksum(out) == h.body_crc)
}

/// Programs `bytes` at `offset` (write-aligned), padding the last write
/// unit with `0xFF`, then reads it back; `slot` names the slot in a
/// [`StoreError::VerifyFailed`].
pub(crate) fn program_verified<F: NorFlash>(
    flash: &mut F,
    geo: &Geometry,
    offset: u32,
    bytes: &[u8],
    slot: u32,
) -> Result<(), F> {
    let w = geo.write_size as usize;
    let whole = bytes.len() / w * w;
    if whole > 0 {
        flash
            .write(offset, &bytes[..whole])
            .map_err(StoreError::Flash)?;
    }
    if whole < bytes.len() {
        let mut tail = [0xFFu8; MAX_WRITE_SIZE];
        tail[..bytes.len() - whole].copy_from_slice(&bytes[whole..]);
        flash
            .write(offset + whole as u32, &tail[..w])
            .map_err(StoreError::Flash)?;
    }
    let same = read_chunks(flash, geo, offset, bytes.len(), |pos, c| {
        c == &bytes[pos..pos + c.len()]
    })?;
    if same {
        Ok(())
    } else {
        Err(StoreError::VerifyFailed { offset: slot })
    }
}

/// Programs a record into the blank slot at `offset`: the body, read back,
/// then the header (the commit), read back. `on_commit` runs just before
/// the header is programmed (the sequence number is spent from then on).
pub(crate) fn program_record<F: NorFlash>(
    flash: &mut F,
    geo: &Geometry,
    offset: u32,
    magic: u32,
    seq: u32,
    body: &[u8],
    on_commit: impl FnOnce(),
) -> Result<(), F> {
    program_verified(flash, geo, offset + geo.header_len, body, offset)?;
    let header = Header {
        seq,
        len: body.len() as u32,
        body_crc: CRC.checksum(body),
    }
    .encode(magic);
    on_commit();
    program_verified(flash, geo, offset, &header, offset)
}

/// Commits a body of `len` bytes already programmed in the slot at
/// `offset`: its CRC is computed from the flash, then the header is
/// programmed and read back. `on_commit` runs just before the header.
pub(crate) fn commit_header<F: NorFlash>(
    flash: &mut F,
    geo: &Geometry,
    offset: u32,
    magic: u32,
    seq: u32,
    len: u32,
    on_commit: impl FnOnce(),
) -> Result<(), F> {
    let mut d = CRC.digest();
    read_chunks(flash, geo, offset + geo.header_len, len as usize, |_, c| {
        d.update(c);
        true
    })?;
    let header = Header {
        seq,
        len,
        body_crc: d.finalize(),
    }
    .encode(magic);
    on_commit();
    program_verified(flash, geo, offset, &header, offset)
}
