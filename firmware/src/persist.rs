//! What the device learns, kept across resets and power cuts: the boot
//! through the policy store (`fixpo-store`, docs/store.md) and the writes
//! of accepted policies. Board-independent: a board hands over its flash
//! as a [`Flash`] (a `NorFlash` whose contents can also be read in place)
//! and a [`Layout`].
//!
//! At boot:
//! 1. [`open`]: the store is opened (headers only);
//! 2. [`Persist::provision`]: if it has no factory record, the policy the
//!    firmware was given (the flashed policy region, or a host file under
//!    QEMU) becomes the factory record once fixpo-core's decoder accepts
//!    it;
//! 3. [`Persist::load`]: the newest committed record whose policy file
//!    decodes is loaded into the learner; else the factory record; else
//!    the board decodes the given policy itself (`boot::decode`).
//!
//! During adaptation (`adapt::run`): [`Persist::factory`] is the factory
//! policy the cumulative bound checks against, read in place;
//! [`Persist::commit`] writes an accepted policy; a rollback is
//! [`Persist::load`] again.
//!
//! Every load goes through `fixpo_core::adapt::load`, the file's own CRC
//! and decoder, before a record is trusted (the store's CRCs only say the
//! bytes are the ones written).

use fixpo_core::adapt::{self, Loaded, fingerprint};
use fixpo_core::learn::Learner;
use fixpo_store::{Layout, NorFlash, Store};

use crate::adapt::SETTINGS;
use crate::control::{ACT, HID, OBS, TrainLayout};

/// A board's flash for the store: erase, program and read through
/// `NorFlash`, and read in place (memory-mapped) so the cumulative bound
/// can check against the factory policy without a RAM copy of it.
pub trait Flash: NorFlash<Error: defmt::Format> {
    /// The bytes `[offset, offset + len)` of the device, in place; `None`
    /// when out of range.
    fn mapped(&self, offset: u32, len: u32) -> Option<&[u8]>;
}

/// The store and the flash it lives in.
pub struct Persist<F> {
    /// The board's flash.
    pub flash: F,
    /// The store over it.
    pub store: Store<F>,
}

/// Where the deployed policy came from at boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum Source {
    /// The newest committed record of the store, with its sequence number.
    Active(u32),
    /// The store's factory record (nothing adapted was committed yet).
    Factory,
    /// The policy the firmware was given, not through the store.
    Given,
}

/// Loads `bytes` into `learner` if fixpo-core accepts them; keeps the
/// result in `out` (a store's `validate` closure).
fn accept(
    learner: &mut Learner<OBS, HID, ACT, TrainLayout>,
    out: &mut Option<Loaded<OBS, ACT>>,
    bytes: &[u8],
) -> bool {
    match adapt::load(bytes, learner, &SETTINGS) {
        Ok(l) => {
            *out = Some(l);
            true
        }
        Err(e) => {
            defmt::warn!("store: a record failed the policy decoder ({}), skipped", e);
            false
        }
    }
}

/// Opens the store over `flash` (headers only); `None` (logged) if the
/// layout does not fit the device or the flash cannot be read: the board
/// then runs without persistence.
pub fn open<F: Flash>(mut flash: F, layout: Layout) -> Option<Persist<F>> {
    match Store::open(&mut flash, layout) {
        Ok(store) => {
            let st = store.status();
            defmt::info!(
                "store: open, newest seq {}, {=u32} free slot(s) in the bank",
                st.newest.map(|n| n.seq),
                st.slots_left
            );
            Some(Persist { flash, store })
        }
        Err(e) => {
            defmt::error!("store: cannot open ({}); running without it", e);
            None
        }
    }
}

impl<F: Flash> Persist<F> {
    /// Makes `given()` (the policy the firmware was given: its flashed
    /// region, or a host file under QEMU) the factory record if the store
    /// has none and fixpo-core accepts it; `given` is called only then (on
    /// the F446 the region shares a sector with a bank, so it is read only
    /// before anything was written). The check loads it into `learner`;
    /// [`Persist::load`] loads what the store then holds.
    pub fn provision<'g>(
        &mut self,
        given: impl FnOnce() -> Option<&'g [u8]>,
        learner: &mut Learner<OBS, HID, ACT, TrainLayout>,
    ) {
        match self.store.has_factory(&mut self.flash) {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => {
                defmt::error!("store: factory area unreadable ({})", e);
                return;
            }
        }
        let Some(bytes) = given() else {
            defmt::warn!("store: no factory record and no policy to provision it from");
            return;
        };
        if adapt::load(bytes, learner, &SETTINGS).is_err() {
            defmt::error!("store: the given policy does not decode; no factory record written");
            return;
        }
        match self.store.write_factory(&mut self.flash, bytes) {
            Ok(()) => defmt::info!(
                "store: factory record provisioned ({=usize} bytes)",
                bytes.len()
            ),
            Err(e) => defmt::error!("store: cannot provision the factory record ({})", e),
        }
    }

    /// Loads the newest committed record whose policy file decodes into
    /// `learner`, else the factory record (at boot, and for a rollback);
    /// `buf` carries it to the decoder. Returns where it came from and its
    /// deployment settings, or `None` with the learner unchanged. Logs
    /// `store: active … fingerprint F`.
    pub fn load(
        &mut self,
        learner: &mut Learner<OBS, HID, ACT, TrainLayout>,
        buf: &mut [u8],
    ) -> Option<(Source, Loaded<OBS, ACT>)> {
        let mut loaded = None;
        let r = self
            .store
            .load_active(&mut self.flash, buf, |b| accept(learner, &mut loaded, b));
        let found = match (r, loaded) {
            (Ok(Some(a)), Some(l)) => {
                if a.skipped > 0 {
                    defmt::warn!("store: {=u32} newer record(s) skipped", a.skipped);
                }
                Some((Source::Active(a.record.seq), l))
            }
            (r, _) => {
                if let Err(e) = r {
                    defmt::error!("store: records unreadable ({})", e);
                }
                self.load_factory(learner, buf)
            }
        };
        match found {
            Some((source, _)) => {
                let t = &learner.trainer;
                defmt::info!(
                    "store: active {} fingerprint {=u64:016x}",
                    source,
                    fingerprint(&t.policy, &t.norm)
                );
            }
            None => defmt::warn!("store: nothing loadable"),
        }
        found
    }

    fn load_factory(
        &mut self,
        learner: &mut Learner<OBS, HID, ACT, TrainLayout>,
        buf: &mut [u8],
    ) -> Option<(Source, Loaded<OBS, ACT>)> {
        let mut loaded = None;
        let r = self
            .store
            .load_factory(&mut self.flash, buf, |b| accept(learner, &mut loaded, b));
        match (r, loaded) {
            (Ok(Some(_)), Some(l)) => Some((Source::Factory, l)),
            (Err(e), _) => {
                defmt::error!("store: factory record unreadable ({})", e);
                None
            }
            _ => None,
        }
    }

    /// The factory policy file, read in place: for the cumulative bound.
    /// `None` without a valid factory record.
    pub fn factory(&mut self) -> Option<&[u8]> {
        match self.store.factory_body(&mut self.flash) {
            Ok(Some((offset, len))) => self.flash.mapped(offset, len),
            Ok(None) => None,
            Err(e) => {
                defmt::error!("store: factory area unreadable ({})", e);
                None
            }
        }
    }

    /// Commits `bytes` (a policy file the learner just wrote) as the
    /// newest record; logs `store: writing seq S fingerprint F` before and
    /// `store: committed seq S` after (a power cut between the two leaves
    /// either the previous record or this one active). Returns the
    /// record's sequence number, `None` (logged) if the write failed.
    pub fn commit(&mut self, bytes: &[u8], fp: u64) -> Option<u32> {
        let seq = self.store.status().next_seq;
        defmt::info!("store: writing seq {=u32} fingerprint {=u64:016x}", seq, fp);
        match self.store.write(&mut self.flash, bytes) {
            Ok(c) => {
                defmt::info!(
                    "store: committed seq {=u32} (bank {=u8} slot {=u32}{=str})",
                    c.seq,
                    c.location.bank,
                    c.location.index,
                    if c.erased { ", other bank erased" } else { "" }
                );
                Some(c.seq)
            }
            Err(e) => {
                defmt::error!("store: write failed ({}); the previous record stays", e);
                None
            }
        }
    }
}

/// No flash: for a build without a store (QEMU's netduinoplus2 emulates no
/// flash interface). Every operation fails; `Option<&mut Persist<NoFlash>>`
/// is always `None` in practice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoFlash;

/// [`NoFlash`]'s only error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
pub struct NoFlashError;

impl embedded_storage::nor_flash::NorFlashError for NoFlashError {
    fn kind(&self) -> embedded_storage::nor_flash::NorFlashErrorKind {
        embedded_storage::nor_flash::NorFlashErrorKind::Other
    }
}

impl embedded_storage::nor_flash::ErrorType for NoFlash {
    type Error = NoFlashError;
}

impl embedded_storage::nor_flash::ReadNorFlash for NoFlash {
    const READ_SIZE: usize = 1;
    fn read(&mut self, _: u32, _: &mut [u8]) -> Result<(), NoFlashError> {
        Err(NoFlashError)
    }
    fn capacity(&self) -> usize {
        0
    }
}

impl NorFlash for NoFlash {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = 1;
    fn erase(&mut self, _: u32, _: u32) -> Result<(), NoFlashError> {
        Err(NoFlashError)
    }
    fn write(&mut self, _: u32, _: &[u8]) -> Result<(), NoFlashError> {
        Err(NoFlashError)
    }
}

impl Flash for NoFlash {
    fn mapped(&self, _: u32, _: u32) -> Option<&[u8]> {
        None
    }
}
