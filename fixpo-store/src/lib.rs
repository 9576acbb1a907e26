//! # fixpo-store
//!
//! A power-cut-safe store for one opaque body — a fixpo policy file — on
//! NOR flash, over `embedded-storage`'s [`NorFlash`] trait. `no_std`, no
//! allocator, no panics on any flash content. The full description (wear
//! figures per board, what survives what) is `docs/store.md`.
//!
//! ## Layout
//! `[base, base + len)` of the device holds, in order, a **factory area**
//! (whole erase sectors, one record: the policy that was flashed) and two
//! **banks** (whole erase sectors each) of fixed-size record slots:
//! slot `k` of a bank starts at `bank_start + k * record_len`. A record is
//! a 20-byte header (sequence number, body length, body CRC-32, header
//! CRC-32, magic — the magic last) padded to the write size, then the body.
//!
//! ## Commit protocol
//! [`Store::write`] picks the first fully erased slot after the last slot
//! written; when its bank is full, it erases the *other* bank (never the
//! one holding the active record) and uses its slot 0. It programs the
//! body and reads it back, then programs the header — the commit — and
//! reads it back. A cut before the header is complete leaves a slot
//! without a valid header: the previous record stays the newest, and the
//! next write skips the torn slot.
//!
//! ## Boot
//! [`Store::open`] reads the headers (not the bodies) of both banks and
//! remembers the newest sequence number (serial arithmetic, [`is_newer`],
//! so the numbers may wrap). [`Store::load_active`] loads the newest
//! record whose header CRC, body CRC and the caller's `validate` (the
//! policy file's own CRC and decoder) pass, falling back to older records
//! and saying how many it skipped.
//!
//! ## Why not `sequential-storage`
//! `sequential-storage` (a well kept map/queue over `NorFlash`) needs each
//! item to fit in one page: a 3→32×32→1 policy file with its critic is
//! about 10 KB, more than an RP2350 4 KiB sector; and its on-flash format
//! has changed between major versions, while a policy written in the field
//! must stay readable by later firmware. This format is one fixed header
//! and a raw body, documented in `docs/store.md`.
//!
//! ## Example
//! ```
//! use fixpo_store::{Layout, Store, mock::MockFlash};
//!
//! // 1 KiB sectors, 4-byte write units; bodies up to 600 bytes.
//! let mut flash = MockFlash::<1024, 4>::new(8);
//! let layout = Layout::with_body(0, 600, 2048, 4, 1024).unwrap();
//! let mut store = Store::open(&mut flash, layout)?;
//! store.write_factory(&mut flash, b"factory policy")?;
//! store.write(&mut flash, b"adapted policy")?;
//!
//! // After a reset: open again, load the newest valid record.
//! let mut store = Store::open(&mut flash, layout)?;
//! let mut buf = [0u8; 600];
//! let loaded = store.load_active(&mut flash, &mut buf, |body| !body.is_empty())?.unwrap();
//! assert_eq!(&buf[..loaded.record.len as usize], b"adapted policy");
//! assert_eq!(loaded.skipped, 0);
//! # Ok::<(), fixpo_store::StoreError<fixpo_store::mock::MockError>>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "mock")]
extern crate alloc;

mod error;
mod factory;
mod header;
mod io;
mod layout;
#[cfg(feature = "mock")]
pub mod mock;
mod store;

pub use embedded_storage::nor_flash::NorFlash;
pub use error::StoreError;
pub use factory::Factory;
pub use layout::{
    Geometry, GeometryError, HEADER_FIELDS, Layout, MAX_WRITE_SIZE, header_len, record_len,
};
pub use store::{
    Committed, Loaded, Location, Pending, RecordInfo, Result, SlotState, Status, Store, is_newer,
};
