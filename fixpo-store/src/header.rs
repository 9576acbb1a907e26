//! The record header: five little-endian `u32` fields, the magic last.
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | sequence number |
//! | 4..8 | body length |
//! | 8..12 | CRC-32 (ISO-HDLC) of the body |
//! | 12..16 | CRC-32 of magic ‖ sequence ‖ length ‖ body CRC |
//! | 16..20 | magic |
//!
//! The magic comes last because flash programs a write in address order:
//! if power fails part-way, the magic's bytes (none of them `0xFF`) are
//! the ones left unprogrammed or half-programmed, so the header does not
//! match; if the programming order inside a write is not guaranteed (a
//! QSPI page program), the header CRC still rejects a torn header (a
//! random 32-bit match is the only way through).

use crate::layout::HEADER_FIELDS;

/// Magic of a bank record (bytes `FXS1`).
pub(crate) const RECORD_MAGIC: u32 = u32::from_le_bytes(*b"FXS1");
/// Magic of the factory record (bytes `FXF1`).
pub(crate) const FACTORY_MAGIC: u32 = u32::from_le_bytes(*b"FXF1");

pub(crate) const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// A header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub seq: u32,
    pub len: u32,
    pub body_crc: u32,
}

fn header_crc(magic: u32, h: &Header) -> u32 {
    let mut d = CRC.digest();
    d.update(&magic.to_le_bytes());
    d.update(&h.seq.to_le_bytes());
    d.update(&h.len.to_le_bytes());
    d.update(&h.body_crc.to_le_bytes());
    d.finalize()
}

impl Header {
    /// The header's bytes as programmed.
    pub fn encode(&self, magic: u32) -> [u8; HEADER_FIELDS] {
        let mut out = [0u8; HEADER_FIELDS];
        let words = [
            self.seq,
            self.len,
            self.body_crc,
            header_crc(magic, self),
            magic,
        ];
        for (chunk, w) in out.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// The header in `bytes` if its magic and CRC match and its length is
    /// at most `max_body`.
    pub fn decode(bytes: &[u8], magic: u32, max_body: usize) -> Option<Header> {
        let word = |i: usize| -> Option<u32> {
            let b = bytes.get(4 * i..4 * i + 4)?;
            Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let h = Header {
            seq: word(0)?,
            len: word(1)?,
            body_crc: word(2)?,
        };
        let ok =
            word(4)? == magic && word(3)? == header_crc(magic, &h) && (h.len as usize) <= max_body;
        ok.then_some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_torn_prefix_fails() {
        let h = Header {
            seq: 0xFFFF_FFFE,
            len: 300,
            body_crc: 0x1234_5678,
        };
        let bytes = h.encode(RECORD_MAGIC);
        assert_eq!(Header::decode(&bytes, RECORD_MAGIC, 300), Some(h));
        assert_eq!(Header::decode(&bytes, FACTORY_MAGIC, 300), None);
        assert_eq!(Header::decode(&bytes, RECORD_MAGIC, 299), None);
        // A prefix programmed over erased flash, with the next byte
        // half-programmed in every possible way.
        for cut in 0..HEADER_FIELDS {
            for partial in 0..=255u8 {
                let mut torn = [0xFFu8; HEADER_FIELDS];
                torn[..cut].copy_from_slice(&bytes[..cut]);
                torn[cut] = bytes[cut] | partial;
                if torn == bytes {
                    continue;
                }
                assert_eq!(
                    Header::decode(&torn, RECORD_MAGIC, 300),
                    None,
                    "{cut} {partial}"
                );
            }
        }
    }
}
