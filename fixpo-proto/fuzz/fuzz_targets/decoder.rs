//! Feeds arbitrary bytes to the device-side decoder, in pieces whose
//! sizes the input chooses: no input may panic, the decoder never holds
//! more than `MAX_ENCODED` bytes, every accepted frame's request
//! re-encodes to a frame that decodes to the same request, and a valid
//! frame after a final delimiter always decodes (resynchronisation).
//!
//! Run with `cargo +nightly fuzz run decoder` from `fixpo-proto/`.
#![no_main]

use fixpo_proto::{Command, Decoder, Feed, MAX_ENCODED, MAX_FRAME, Request, encode, parse_request};
use libfuzzer_sys::fuzz_target;

/// The device's path: frames, then `parse_request`; an accepted request
/// must survive a re-encode.
fn feed_all(dec: &mut Decoder, bytes: &[u8]) -> usize {
    let mut accepted = 0;
    let mut rest = bytes;
    while let Feed::Frame { result, remaining } = dec.feed_raw(rest) {
        if let Ok(payload) = result {
            if let Ok(req) = parse_request(payload) {
                let mut buf = [0u8; MAX_FRAME];
                let frame = encode(&req, &mut buf).expect("an accepted request re-encodes");
                let mut again = Decoder::new();
                match again.feed::<Request>(frame) {
                    Feed::Frame { result, .. } => assert_eq!(result, Ok(req)),
                    Feed::Consumed => panic!("re-encoded frame has no delimiter"),
                }
                accepted += 1;
            }
        }
        rest = remaining;
        assert!(dec.pending() <= MAX_ENCODED);
    }
    assert!(dec.pending() <= MAX_ENCODED);
    accepted
}

fuzz_target!(|data: &[u8]| {
    let mut dec = Decoder::new();
    // The first byte picks the piece size (a UART driver hands over
    // anything from one byte to a DMA block).
    let (step, bytes) = match data.split_first() {
        Some((s, rest)) => (usize::from(*s).max(1), rest),
        None => (1, data),
    };
    for piece in bytes.chunks(step) {
        feed_all(&mut dec, piece);
    }
    // After a delimiter, a valid frame decodes whatever came before.
    let mut buf = [0u8; MAX_FRAME];
    let frame = encode(&Request::new(1, Command::Status), &mut buf).expect("fits");
    let mut tail = vec![0u8];
    tail.extend_from_slice(frame);
    assert_eq!(feed_all(&mut dec, &tail), 1);
});
