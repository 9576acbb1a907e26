//! Arbitrary byte streams: the decoder never panics, holds at most
//! `MAX_ENCODED` bytes, and resynchronises at the next `0x00` — every
//! valid frame after a delimiter decodes, whatever came before.

mod common;

use common::{COMMANDS, Gen, frame, request};
use fixpo_proto::{
    CHUNK, Command, Decoder, Feed, FrameError, MAX_ENCODED, MAX_MESSAGE, Request, parse_request,
};

/// Feeds `stream` in random pieces; returns what came out, messages as
/// their postcard bytes.
fn run(g: &mut Gen, dec: &mut Decoder, stream: &[u8]) -> Vec<Result<Vec<u8>, FrameError>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < stream.len() {
        let n = 1 + g.below(300) as usize;
        let mut piece = &stream[pos..stream.len().min(pos + n)];
        pos += piece.len();
        loop {
            match dec.feed::<Request>(piece) {
                Feed::Consumed => break,
                Feed::Frame { result, remaining } => {
                    out.push(result.map(|m| common::payload(&m)));
                    piece = remaining;
                }
            }
        }
        assert!(dec.pending() <= MAX_ENCODED);
    }
    out
}

/// Garbage of a random shape: uniform bytes, bytes with rare zeros, or a
/// long run without zeros (longer than the decoder's buffer).
fn garbage(g: &mut Gen) -> Vec<u8> {
    match g.below(3) {
        0 => {
            let n = g.below(600) as usize;
            g.bytes(n)
        }
        1 => (0..g.below(600))
            .map(|_| if g.below(64) == 0 { 0 } else { g.u64() as u8 })
            .collect(),
        _ => (0..MAX_ENCODED as u64 + g.below(1000))
            .map(|_| (g.u64() as u8).max(1))
            .collect(),
    }
}

#[test]
fn random_streams_never_panic() {
    let mut g = Gen::new(0x57_0001);
    let mut dec = Decoder::new();
    let mut frames = 0;
    for _ in 0..2_000 {
        let junk = garbage(&mut g);
        frames += run(&mut g, &mut dec, &junk).len();
    }
    // The same bytes as responses, straight through `feed_raw`.
    let mut dec = Decoder::new();
    for _ in 0..500 {
        let junk = garbage(&mut g);
        let mut rest = &junk[..];
        while let Feed::Frame { remaining, .. } = dec.feed_raw(rest) {
            rest = remaining;
        }
    }
    assert!(frames > 0);
}

#[test]
fn resynchronises_after_garbage() {
    let mut g = Gen::new(0x57_0002);
    let mut dec = Decoder::new();
    let (mut sent, mut too_long) = (0, 0);
    for round in 0..1_000 {
        let data = g.chunk();
        let tag = g.below(u64::from(COMMANDS)) as u32;
        let msg = request(&mut g, tag, &data);
        let mut stream = garbage(&mut g);
        let overlong = stream.len() > MAX_ENCODED && !stream.contains(&0);
        stream.push(0);
        stream.extend(frame(&msg));
        let out = run(&mut g, &mut dec, &stream);
        let (last, before) = out.split_last().expect("the frame");
        assert_eq!(last, &Ok(common::payload(&msg)), "round {round}");
        assert!(
            before.iter().all(|r| r.is_err()),
            "round {round}: garbage decoded"
        );
        if overlong {
            assert_eq!(before, [Err(FrameError::TooLong)], "round {round}");
            too_long += 1;
        }
        sent += 1;
        assert_eq!(dec.pending(), 0);
    }
    println!("{sent} frames after garbage, {too_long} after an overlong run");
    assert!(too_long > 0);
}

#[test]
fn byte_at_a_time_equals_whole_buffer() {
    let mut g = Gen::new(0x57_0003);
    let mut stream = Vec::new();
    let mut want = Vec::new();
    for _ in 0..200 {
        let data = g.chunk();
        let tag = g.below(u64::from(COMMANDS)) as u32;
        let msg = request(&mut g, tag, &data);
        stream.extend(frame(&msg));
        want.push(Ok(common::payload(&msg)));
        if g.below(3) == 0 {
            stream.extend(garbage(&mut g));
            stream.push(0);
        }
    }
    let mut dec = Decoder::new();
    let mut one = Vec::new();
    for b in &stream {
        if let Feed::Frame { result, remaining } = dec.feed::<Request>(std::slice::from_ref(b)) {
            assert!(remaining.is_empty());
            one.push(result.map(|m| common::payload(&m)));
        }
    }
    let whole = run(&mut Gen::new(9), &mut Decoder::new(), &stream);
    assert_eq!(one, whole);
    let ok: Vec<_> = whole.into_iter().filter(|r| r.is_ok()).collect();
    assert_eq!(ok, want);
}

/// The longest message without zero bytes fills the decoder's buffer
/// exactly and still decodes; one byte more is too long.
#[test]
fn the_longest_frame_fits_exactly() {
    let data = [0x55u8; CHUNK];
    let msg = Request {
        version: u16::MAX,
        id: u16::MAX,
        command: Command::PushChunk {
            offset: u32::MAX,
            data: &data,
        },
    };
    assert_eq!(common::payload(&msg).len(), MAX_MESSAGE);
    let mut f = frame(&msg);
    let n = f.len() - 1;
    println!("longest frame {} B before its delimiter", n);
    assert_eq!(n, MAX_ENCODED);
    let mut dec = Decoder::new();
    match dec.feed_raw(&f) {
        Feed::Frame { result, .. } => {
            // Not this version: the frame reads, the request is refused.
            assert!(result.is_ok());
            assert!(parse_request(result.unwrap()).is_err());
        }
        Feed::Consumed => panic!("no frame"),
    }
    // Pad the frame before its delimiter up to one byte over the buffer.
    f.pop();
    f.resize(MAX_ENCODED + 1, 0x01);
    f.push(0);
    assert!(matches!(
        dec.feed_raw(&f),
        Feed::Frame {
            result: Err(FrameError::TooLong),
            ..
        }
    ));
}
