//! The factory record: the policy that was flashed, kept in its own erase
//! sector(s) so it can always be restored.

use embedded_storage::nor_flash::NorFlash;

use crate::error::StoreError;
use crate::header::FACTORY_MAGIC;
use crate::io;
use crate::store::{Committed, Result, Store};

/// What [`Store::load_factory`] loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Factory {
    /// Bytes of the factory body, loaded into `buf[..len]`.
    pub len: u32,
}

impl<F: NorFlash> Store<F> {
    /// Loads the factory record into `buf[..len]` if its header CRC, body
    /// CRC and `validate(body)` pass; `None` otherwise.
    ///
    /// # Errors
    /// [`StoreError::BufferTooSmall`] or a flash read error.
    pub fn load_factory(
        &self,
        flash: &mut F,
        buf: &mut [u8],
        validate: impl FnOnce(&[u8]) -> bool,
    ) -> Result<Option<Factory>, F> {
        let base = self.layout.base;
        let Some(h) = io::read_header(flash, &self.geo, base, FACTORY_MAGIC)? else {
            return Ok(None);
        };
        let ok =
            io::load_body(flash, &self.geo, base, &h, buf)? && validate(&buf[..h.len as usize]);
        Ok(ok.then_some(Factory { len: h.len }))
    }

    /// Whether the factory area holds a record with valid header and body
    /// CRCs (no buffer needed).
    ///
    /// # Errors
    /// A flash read error.
    pub fn has_factory(&self, flash: &mut F) -> Result<bool, F> {
        let base = self.layout.base;
        match io::read_header(flash, &self.geo, base, FACTORY_MAGIC)? {
            Some(h) => io::body_ok(flash, &self.geo, base, &h),
            None => Ok(false),
        }
    }

    /// Where the factory body lies in the flash, `(offset, len)`, if the
    /// factory area holds a record with valid header and body CRCs: for a
    /// device whose flash is memory-mapped, to read the factory policy in
    /// place (no buffer). The caller still runs the body's own checks.
    ///
    /// # Errors
    /// A flash read error.
    pub fn factory_body(&self, flash: &mut F) -> Result<Option<(u32, u32)>, F> {
        let base = self.layout.base;
        match io::read_header(flash, &self.geo, base, FACTORY_MAGIC)? {
            Some(h) if io::body_ok(flash, &self.geo, base, &h)? => {
                Ok(Some((base + self.geo.header_len, h.len)))
            }
            _ => Ok(None),
        }
    }

    /// Provisions the factory record: erases the factory area, programs
    /// `body`, then the header, each read back.
    ///
    /// # Errors
    /// [`StoreError::FactoryExists`] if a valid factory record is there
    /// (nothing written; see [`Store::replace_factory`]),
    /// [`StoreError::TooLarge`], [`StoreError::VerifyFailed`] or a flash
    /// error.
    pub fn write_factory(&mut self, flash: &mut F, body: &[u8]) -> Result<(), F> {
        if self.has_factory(flash)? {
            return Err(StoreError::FactoryExists);
        }
        self.replace_factory(flash, body)
    }

    /// Overwrites the factory record, valid or not. Not power-cut safe:
    /// a cut between the erase and the header leaves no factory record
    /// (the banks are untouched). Meant for provisioning.
    ///
    /// # Errors
    /// As [`Store::write_factory`], without `FactoryExists`.
    pub fn replace_factory(&mut self, flash: &mut F, body: &[u8]) -> Result<(), F> {
        if body.len() > self.geo.max_body {
            return Err(StoreError::TooLarge {
                len: body.len(),
                max: self.geo.max_body,
            });
        }
        let base = self.layout.base;
        flash
            .erase(base, base + self.layout.factory_len)
            .map_err(StoreError::Flash)?;
        if !io::is_blank(flash, &self.geo, base, self.layout.record_len as usize)? {
            return Err(StoreError::VerifyFailed { offset: base });
        }
        io::program_record(flash, &self.geo, base, FACTORY_MAGIC, 0, body, || {})
    }

    /// Commits a copy of the factory record as the newest record (through
    /// [`Store::write`], so as power-cut safe), after checking it with
    /// `validate`; `buf` holds the copy on the way.
    ///
    /// # Errors
    /// [`StoreError::NoFactory`] if no factory record passes, or any error
    /// of [`Store::load_factory`] and [`Store::write`].
    pub fn restore_factory(
        &mut self,
        flash: &mut F,
        buf: &mut [u8],
        validate: impl FnOnce(&[u8]) -> bool,
    ) -> Result<Committed, F> {
        let Some(f) = self.load_factory(flash, buf, validate)? else {
            return Err(StoreError::NoFactory);
        };
        self.write(flash, &buf[..f.len as usize])
    }
}
