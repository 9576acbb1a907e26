//! The policy region: a fixed flash area holding the policy file.
//!
//! Layout at `__policy_region_start` (see memory.x): u32 magic `"FXPR"`,
//! u32 length (little-endian), then that many bytes of the policy file
//! (fixpo-core's format, which carries its own CRC). The build places the
//! file named by `FIXPO_POLICY` there (without one it places nothing, and
//! the region reads as erased); a flasher may later rewrite the region in
//! place, so it is read back through the linker symbols rather than through
//! the static the compiler knows.

include!(concat!(env!("OUT_DIR"), "/policy_len.rs"));

/// Marks a written region.
pub const MAGIC: [u8; 4] = *b"FXPR";
const HEADER: usize = 8;

#[cfg(fixpo_policy_built)]
#[repr(C, align(4))]
struct Image<const N: usize> {
    magic: [u8; 4],
    len: u32,
    bytes: [u8; N],
}

#[cfg(fixpo_policy_built)]
#[unsafe(link_section = ".policy")]
#[used]
static IMAGE: Image<POLICY_LEN> = Image {
    magic: MAGIC,
    len: POLICY_LEN as u32,
    bytes: *include_bytes!(concat!(env!("OUT_DIR"), "/policy.bin")),
};

unsafe extern "C" {
    static __policy_region_start: u8;
    static __policy_region_end: u8;
}

/// What the policy region holds.
#[derive(Debug, Clone, Copy, defmt::Format)]
pub enum Region {
    /// No policy: length 0 (built without `FIXPO_POLICY`) or erased.
    Empty,
    /// The header is not ours or claims more bytes than the region has.
    Invalid {
        /// First word found.
        magic: [u8; 4],
        /// Length found.
        len: u32,
    },
    /// A policy file of this many bytes (not yet validated by its decoder).
    Policy(&'static [u8]),
}

/// Address and size of the whole region.
pub fn region_bounds() -> (usize, usize) {
    // Only the symbols' addresses are taken, never their values.
    let start = core::ptr::addr_of!(__policy_region_start) as usize;
    let end = core::ptr::addr_of!(__policy_region_end) as usize;
    (start, end - start)
}

/// Reads the region's header and returns what it holds.
pub fn read() -> Region {
    let (start, size) = region_bounds();
    // SAFETY: memory.x reserves [start, start + size) for this region; it is
    // mapped, 4-byte aligned and never written while we run; `IMAGE` (kept
    // by `#[used]` and KEEP), a flasher, or nothing (erased) initialises it.
    // The slice comes from the
    // linker symbol, not from `IMAGE`, so the compiler cannot assume this
    // build's bytes are what a flasher left there.
    let region: &'static [u8] = unsafe { core::slice::from_raw_parts(start as *const u8, size) };
    let magic = [region[0], region[1], region[2], region[3]];
    let len = u32::from_le_bytes([region[4], region[5], region[6], region[7]]);
    let erased = magic == [0xFF; 4] || magic == [0; 4];
    if erased || (magic == MAGIC && len == 0) {
        Region::Empty
    } else if magic != MAGIC || len as usize > size - HEADER {
        Region::Invalid { magic, len }
    } else {
        Region::Policy(&region[HEADER..HEADER + len as usize])
    }
}
