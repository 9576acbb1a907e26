//! The store: boot scan, newest-valid selection, append-or-erase writes.

use core::marker::PhantomData;

use embedded_storage::nor_flash::{ErrorType, NorFlash};

use crate::error::StoreError;
use crate::header::{Header, RECORD_MAGIC};
use crate::io;
use crate::layout::{Geometry, Layout};

/// Result of a store operation on flash type `F`.
pub type Result<T, F> = core::result::Result<T, StoreError<<F as ErrorType>::Error>>;

/// Whether sequence number `a` is newer than `b` (serial-number
/// arithmetic: newer means at most 2³¹ − 1 ahead, wrapping).
pub const fn is_newer(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// A record slot: bank 0 or 1, and the slot's index inside the bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Location {
    /// Bank 0 or 1.
    pub bank: u8,
    /// Slot index inside the bank, `0..records_per_bank`.
    pub index: u32,
}

/// A record whose header is valid (its body is not checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RecordInfo {
    /// Where it is.
    pub location: Location,
    /// Its sequence number.
    pub seq: u32,
    /// Bytes of its body.
    pub len: u32,
}

/// What [`Store::write`] committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Committed {
    /// The record's sequence number.
    pub seq: u32,
    /// Where it is.
    pub location: Location,
    /// Whether the write erased a bank first.
    pub erased: bool,
}

/// A record being written in pieces ([`Store::begin`]): its slot is
/// chosen (and erased if needed); nothing is committed.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Pending {
    at: Location,
    len: u32,
    written: u32,
    erased: bool,
}

impl Pending {
    /// Bytes of the body announced at [`Store::begin`].
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the announced body is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes programmed so far.
    pub fn written(&self) -> u32 {
        self.written
    }

    /// The slot it goes to.
    pub fn location(&self) -> Location {
        self.at
    }
}

/// What [`Store::load_active`] loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Loaded {
    /// The record loaded into the caller's buffer.
    pub record: RecordInfo,
    /// Newer records passed over because their body CRC or the caller's
    /// validation failed (`0`: the newest record was loaded).
    pub skipped: u32,
}

/// The state of a record slot, for diagnostics ([`Store::for_each_slot`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SlotState {
    /// Every byte erased: a write may use it.
    Blank,
    /// A valid header.
    Record {
        /// Sequence number.
        seq: u32,
        /// Body length.
        len: u32,
        /// Whether the body matches the header's CRC.
        body_ok: bool,
    },
    /// Programmed but without a valid header (a write cut short, or
    /// damage); writes skip it until its bank is erased.
    Torn,
}

/// A summary of the store, from what it learnt at [`Store::open`] and
/// since (no flash access).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Status {
    /// The record with a valid header and the newest sequence number.
    pub newest: Option<RecordInfo>,
    /// The record [`Store::load_active`] last loaded or [`Store::write`]
    /// last committed.
    pub active: Option<Location>,
    /// The sequence number the next write will use.
    pub next_seq: u32,
    /// Slots after the last one written in its bank: writes left before
    /// the next bank erase (fewer if some are torn).
    pub slots_left: u32,
    /// The checked geometry.
    pub geometry: Geometry,
}

/// A power-cut-safe store of one opaque body (a policy file), over the
/// flash range of a [`Layout`]. See the crate docs for the protocol.
///
/// The store keeps only a few words in RAM; every method takes the flash
/// device, so the caller keeps ownership of it between operations.
pub struct Store<F> {
    pub(crate) layout: Layout,
    pub(crate) geo: Geometry,
    newest: Option<RecordInfo>,
    active: Option<Location>,
    /// The last slot a write started programming (or the newest record).
    cursor: Option<Location>,
    next_seq: u32,
    flash: PhantomData<fn(&mut F)>,
}

// By hand: the derives would ask `F` (the flash driver) to be `Clone`
// and `Debug` although the store holds none of it.
impl<F> Clone for Store<F> {
    fn clone(&self) -> Self {
        Store { ..*self }
    }
}

impl<F> core::fmt::Debug for Store<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Store")
            .field("layout", &self.layout)
            .field("newest", &self.newest)
            .field("active", &self.active)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

impl<F: NorFlash> Store<F> {
    /// Checks `layout` against the device and scans the bank headers (not
    /// the bodies) for the newest record.
    ///
    /// # Errors
    /// [`StoreError::Geometry`] if the layout does not fit, or a flash
    /// read error.
    pub fn open(flash: &mut F, layout: Layout) -> Result<Self, F> {
        let geo = layout.check::<F>(flash.capacity())?;
        let mut store = Store {
            layout,
            geo,
            newest: None,
            active: None,
            cursor: None,
            next_seq: 0,
            flash: PhantomData,
        };
        let mut newest: Option<RecordInfo> = None;
        store.for_each_header(flash, |r| {
            // Equal numbers cannot come from this store; the later slot
            // wins so the choice is still deterministic.
            if newest.is_none_or(|n| !is_newer(n.seq, r.seq)) {
                newest = Some(r);
            }
        })?;
        store.newest = newest;
        store.cursor = newest.map(|n| n.location);
        store.next_seq = newest.map_or(0, |n| n.seq.wrapping_add(1));
        Ok(store)
    }

    /// Sets the first sequence number of a store that holds no record (a
    /// test starts near `u32::MAX` to cross the wrap). Returns `false`,
    /// changing nothing, if a record exists.
    pub fn start_sequence_at(&mut self, seq: u32) -> bool {
        if self.newest.is_some() || self.cursor.is_some() {
            return false;
        }
        self.next_seq = seq;
        true
    }

    /// The layout and its checked geometry.
    pub fn layout(&self) -> (Layout, Geometry) {
        (self.layout, self.geo)
    }

    /// A summary, without flash access.
    pub fn status(&self) -> Status {
        Status {
            newest: self.newest,
            active: self.active,
            next_seq: self.next_seq,
            slots_left: self.cursor.map_or(self.geo.records_per_bank, |c| {
                self.geo.records_per_bank - 1 - c.index
            }),
            geometry: self.geo,
        }
    }

    pub(crate) fn slot_offset(&self, at: Location) -> u32 {
        self.layout.bank_start(at.bank) + at.index * self.layout.record_len
    }

    fn locations(&self) -> impl Iterator<Item = Location> + use<F> {
        let n = self.geo.records_per_bank;
        (0..2u8).flat_map(move |bank| (0..n).map(move |index| Location { bank, index }))
    }

    fn header_at(&self, flash: &mut F, at: Location) -> Result<Option<Header>, F> {
        io::read_header(flash, &self.geo, self.slot_offset(at), RECORD_MAGIC)
    }

    fn for_each_header(&self, flash: &mut F, mut f: impl FnMut(RecordInfo)) -> Result<(), F> {
        for location in self.locations() {
            if let Some(h) = self.header_at(flash, location)? {
                f(RecordInfo {
                    location,
                    seq: h.seq,
                    len: h.len,
                });
            }
        }
        Ok(())
    }

    /// Loads the newest record whose header CRC, body CRC and
    /// `validate(body)` all pass into `buf[..len]`, trying older records
    /// (by sequence number, newest first) when a newer one fails; `None`
    /// if no record passes. The loaded record becomes the *active* one,
    /// whose bank the next write will not erase.
    ///
    /// `validate` should run the policy file's own checks (its CRC and
    /// decoder, its dimensions): a record is only trusted once it passes.
    ///
    /// # Errors
    /// [`StoreError::BufferTooSmall`] if a candidate record is longer than
    /// `buf` (size `buf` with [`Geometry::max_body`]), or a flash read
    /// error.
    pub fn load_active(
        &mut self,
        flash: &mut F,
        buf: &mut [u8],
        mut validate: impl FnMut(&[u8]) -> bool,
    ) -> Result<Option<Loaded>, F> {
        self.active = None;
        let Some(newest) = self.newest else {
            return Ok(None);
        };
        // Candidates in order of (age behind the newest, later slot first):
        // a total order even over arbitrary numbers, each visited once, so
        // the loop ends after at most one pass per slot.
        let key = |r: &RecordInfo| {
            let pos = u32::from(r.location.bank) * self.geo.records_per_bank + r.location.index;
            (newest.seq.wrapping_sub(r.seq), u32::MAX - pos)
        };
        let mut last = None;
        for (skipped, _) in (0u32..).zip(self.locations()) {
            let mut next: Option<RecordInfo> = None;
            self.for_each_header(flash, |r| {
                let k = key(&r);
                if last.is_none_or(|l| k > l) && next.is_none_or(|n| k < key(&n)) {
                    next = Some(r);
                }
            })?;
            let Some(record) = next else { break };
            last = Some(key(&record));
            let header = self.header_at(flash, record.location)?;
            let offset = self.slot_offset(record.location);
            if let Some(h) = header {
                let len = h.len as usize;
                if io::load_body(flash, &self.geo, offset, &h, buf)? && validate(&buf[..len]) {
                    self.active = Some(record.location);
                    return Ok(Some(Loaded { record, skipped }));
                }
            }
        }
        Ok(None)
    }

    /// Commits `body` as the newest record: into the next blank slot after
    /// the last one written in its bank, or, when that bank is full, into
    /// slot 0 of the other bank after erasing it. The bank holding the
    /// active record (or, before any load, the newest one) is never
    /// erased, so a power cut at any point leaves the previous record
    /// loadable. The body is programmed and read back, then the header is
    /// programmed (the commit) and read back.
    ///
    /// # Errors
    /// [`StoreError::TooLarge`] (nothing written), [`StoreError::VerifyFailed`]
    /// (the slot is left torn; the next write skips it), or a flash error.
    pub fn write(&mut self, flash: &mut F, body: &[u8]) -> Result<Committed, F> {
        if body.len() > self.geo.max_body {
            return Err(StoreError::TooLarge {
                len: body.len(),
                max: self.geo.max_body,
            });
        }
        let (target, erased) = self.claim_slot(flash)?;
        let seq = self.next_seq;
        let offset = self.slot_offset(target);
        let next_seq = &mut self.next_seq;
        io::program_record(flash, &self.geo, offset, RECORD_MAGIC, seq, body, || {
            *next_seq = seq.wrapping_add(1)
        })?;
        let record = RecordInfo {
            location: target,
            seq,
            len: body.len() as u32,
        };
        self.newest = Some(record);
        self.active = Some(target);
        Ok(Committed {
            seq,
            location: target,
            erased,
        })
    }

    /// The slot the next record goes to, made the cursor: the next blank
    /// slot after the cursor in its bank, else slot 0 of the other bank
    /// after erasing it (`true`).
    fn claim_slot(&mut self, flash: &mut F) -> Result<(Location, bool), F> {
        let (bank, from) = match self.cursor {
            Some(c) => (c.bank, c.index + 1),
            None => (0, 0),
        };
        let mut target = None;
        for index in from..self.geo.records_per_bank {
            let at = Location { bank, index };
            if io::is_blank(
                flash,
                &self.geo,
                self.slot_offset(at),
                self.layout.record_len as usize,
            )? {
                target = Some(at);
                break;
            }
        }
        let erased = target.is_none();
        let target = match target {
            Some(at) => at,
            None => self.erase_other_bank(flash, bank)?,
        };
        self.cursor = Some(target);
        Ok((target, erased))
    }

    /// Starts a record of `len` bytes written in pieces (a policy pushed
    /// over a serial link, docs/protocol.md): picks and, if needed, erases
    /// its slot exactly as [`Store::write`] does, and programs nothing.
    /// Feed it with [`Store::write_chunk`], check it in place with
    /// [`Store::pending_body`], then [`Store::commit`]. A pending record
    /// that is never committed (abandoned, or cut by a power failure) is a
    /// torn slot that later writes skip; the active record is untouched.
    ///
    /// # Errors
    /// [`StoreError::TooLarge`] (nothing done), or a flash error from the
    /// slot search or the erase.
    pub fn begin(&mut self, flash: &mut F, len: usize) -> Result<Pending, F> {
        if len > self.geo.max_body {
            return Err(StoreError::TooLarge {
                len,
                max: self.geo.max_body,
            });
        }
        let (at, erased) = self.claim_slot(flash)?;
        Ok(Pending {
            at,
            len: len as u32,
            written: 0,
            erased,
        })
    }

    /// Programs `bytes` as the next piece of the pending record's body
    /// (from [`Pending::written`]) and reads them back. Every piece but
    /// the last must be a whole number of the flash's write units (the
    /// protocol's 256-byte chunks are, on every board); the last one is
    /// padded with `0xFF`.
    ///
    /// # Errors
    /// [`StoreError::Stale`] if another write claimed a slot since
    /// `begin`; [`StoreError::TooLarge`] past the announced length;
    /// [`StoreError::Misaligned`] after a piece that was not whole write
    /// units; [`StoreError::VerifyFailed`] or a flash error (the record
    /// cannot be committed then: begin again).
    pub fn write_chunk(&mut self, flash: &mut F, p: &mut Pending, bytes: &[u8]) -> Result<(), F> {
        if self.cursor != Some(p.at) {
            return Err(StoreError::Stale);
        }
        let end = p.written as usize + bytes.len();
        if end > p.len as usize {
            return Err(StoreError::TooLarge {
                len: end,
                max: p.len as usize,
            });
        }
        if p.written % self.geo.write_size != 0 {
            return Err(StoreError::Misaligned { offset: p.written });
        }
        let offset = self.slot_offset(p.at) + self.geo.header_len + p.written;
        io::program_verified(flash, &self.geo, offset, bytes, self.slot_offset(p.at))?;
        p.written = end as u32;
        Ok(())
    }

    /// Flash offset and length of the pending record's body, for checking
    /// it in place (a policy file's own CRC and decoder) before
    /// [`Store::commit`].
    pub fn pending_body(&self, p: &Pending) -> (u32, u32) {
        (
            self.slot_offset(p.at) + self.geo.header_len,
            p.written.min(p.len),
        )
    }

    /// Commits the pending record: its body CRC is computed from what the
    /// flash holds, then the header is programmed and read back, as by
    /// [`Store::write`]. From then on it is the newest and active record.
    ///
    /// # Errors
    /// [`StoreError::Incomplete`] before every byte was written,
    /// [`StoreError::Stale`] if another write claimed a slot since
    /// `begin`, [`StoreError::VerifyFailed`] or a flash error (a power cut
    /// here leaves either the previous record or this one active).
    pub fn commit(&mut self, flash: &mut F, p: Pending) -> Result<Committed, F> {
        if self.cursor != Some(p.at) {
            return Err(StoreError::Stale);
        }
        if p.written != p.len {
            return Err(StoreError::Incomplete {
                written: p.written,
                len: p.len,
            });
        }
        let offset = self.slot_offset(p.at);
        let seq = self.next_seq;
        let next_seq = &mut self.next_seq;
        io::commit_header(flash, &self.geo, offset, RECORD_MAGIC, seq, p.len, || {
            *next_seq = seq.wrapping_add(1)
        })?;
        let record = RecordInfo {
            location: p.at,
            seq,
            len: p.len,
        };
        self.newest = Some(record);
        self.active = Some(p.at);
        Ok(Committed {
            seq,
            location: p.at,
            erased: p.erased,
        })
    }

    /// The active record (the one [`Store::load_active`] loaded or the
    /// last commit) and its body's flash offset, for reading it in place
    /// (a pull served in chunks); `None` when there is none or its header
    /// no longer reads valid. The body CRC is not checked here.
    ///
    /// # Errors
    /// A flash read error.
    pub fn active_body(&self, flash: &mut F) -> Result<Option<(RecordInfo, u32)>, F> {
        let Some(at) = self.active else {
            return Ok(None);
        };
        Ok(self.header_at(flash, at)?.map(|h| {
            (
                RecordInfo {
                    location: at,
                    seq: h.seq,
                    len: h.len,
                },
                self.slot_offset(at) + self.geo.header_len,
            )
        }))
    }

    /// Erases the bank that does not hold the active record (without one:
    /// the newest record; without any record: the bank other than `full`)
    /// and returns its slot 0.
    fn erase_other_bank(&mut self, flash: &mut F, full: u8) -> Result<Location, F> {
        let keep = self
            .active
            .or(self.newest.map(|n| n.location))
            .map_or(full, |a| a.bank);
        let at = Location {
            bank: 1 - keep.min(1),
            index: 0,
        };
        let start = self.layout.bank_start(at.bank);
        // The cursor stays in the full bank until the erase succeeds, so a
        // failed erase is simply retried by the next write.
        flash
            .erase(start, start + self.layout.bank_len)
            .map_err(StoreError::Flash)?;
        if !io::is_blank(flash, &self.geo, start, self.layout.bank_len as usize)? {
            return Err(StoreError::VerifyFailed { offset: start });
        }
        Ok(at)
    }

    /// Calls `f` with every slot of both banks and its state, reading the
    /// whole flash range (diagnostics and tests; boot never needs it).
    ///
    /// # Errors
    /// A flash read error.
    pub fn for_each_slot(
        &self,
        flash: &mut F,
        mut f: impl FnMut(Location, SlotState),
    ) -> Result<(), F> {
        for at in self.locations() {
            let offset = self.slot_offset(at);
            let state = match self.header_at(flash, at)? {
                Some(h) => SlotState::Record {
                    seq: h.seq,
                    len: h.len,
                    body_ok: io::body_ok(flash, &self.geo, offset, &h)?,
                },
                None if io::is_blank(
                    flash,
                    &self.geo,
                    offset,
                    self.layout.record_len as usize,
                )? =>
                {
                    SlotState::Blank
                }
                None => SlotState::Torn,
            };
            f(at, state);
        }
        Ok(())
    }
}
