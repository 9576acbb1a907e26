//! Any single-byte corruption, deletion or truncation of a frame is
//! detected: the decoder reports an error and never yields a message
//! (neither a different one nor, by luck, the same one), and the frame
//! after the damage decodes.

mod common;

use common::{COMMANDS, Gen, REPLIES, frame, request, response};
use fixpo_proto::{Decoder, Feed, FrameError, parse_request, parse_response};

/// Frames per variant.
const SAMPLES: u32 = 10;

/// Which end reads the frames: the device (requests) or the host
/// (responses).
#[derive(Clone, Copy)]
enum Side {
    Device,
    Host,
}

/// Everything the decoder yields for `stream` through `side`'s path
/// (`feed_raw`, then `parse_request` or `parse_response`; a refusal
/// counts as `BadPostcard`), messages as their postcard bytes
/// (deterministic, so equal bytes = equal message).
fn decode_all(side: Side, stream: &[u8]) -> Vec<Result<Vec<u8>, FrameError>> {
    let mut dec = Decoder::new();
    let mut rest = stream;
    let mut out = Vec::new();
    loop {
        match dec.feed_raw(rest) {
            Feed::Consumed => return out,
            Feed::Frame { result, remaining } => {
                out.push(result.and_then(|p| {
                    match side {
                        Side::Device => parse_request(p)
                            .map(|m| common::payload(&m))
                            .map_err(|_| FrameError::BadPostcard),
                        Side::Host => parse_response(p)
                            .map(|m| common::payload(&m))
                            .map_err(|_| FrameError::BadPostcard),
                    }
                }));
                rest = remaining;
            }
        }
    }
}

/// A frame and the postcard bytes of its message.
struct Case {
    frame: Vec<u8>,
    payload: Vec<u8>,
}

fn request_cases(g: &mut Gen) -> Vec<Case> {
    let mut v = Vec::new();
    for tag in 0..COMMANDS {
        for _ in 0..SAMPLES {
            let data = g.chunk();
            let m = request(g, tag, &data);
            v.push(Case {
                frame: frame(&m),
                payload: common::payload(&m),
            });
        }
    }
    v
}

fn response_cases(g: &mut Gen) -> Vec<Case> {
    let mut v = Vec::new();
    for tag in 0..REPLIES {
        for _ in 0..SAMPLES {
            let data = g.chunk();
            let m = response(g, tag, &data);
            v.push(Case {
                frame: frame(&m),
                payload: common::payload(&m),
            });
        }
    }
    v
}

/// Every byte of every frame (delimiter excluded) replaced by each of the
/// 255 other values: all errors. A byte turned into `0x00` splits the
/// frame in two; both halves must be errors. Returns the error counts by
/// kind, then the number of corrupted frames.
fn every_substitution(side: Side, cases: &[Case]) -> ([u64; 5], u64) {
    let mut counts = [0u64; 5];
    let mut frames = 0;
    for (i, c) in cases.iter().enumerate() {
        assert_eq!(decode_all(side, &c.frame), vec![Ok(c.payload.clone())]);
        let body = c.frame.len() - 1;
        for pos in 0..body {
            for v in 0..=255u8 {
                if v == c.frame[pos] {
                    continue;
                }
                let mut bad = c.frame.clone();
                bad[pos] = v;
                frames += 1;
                for r in decode_all(side, &bad) {
                    match r {
                        Ok(m) => panic!(
                            "case {i}: byte {pos} set to {v:#04x} decoded as a message (same: {})",
                            m == c.payload
                        ),
                        Err(e) => counts[kind(e)] += 1,
                    }
                }
            }
        }
    }
    (counts, frames)
}

fn kind(e: FrameError) -> usize {
    match e {
        FrameError::TooLong => 0,
        FrameError::BadCobs => 1,
        FrameError::TooShort => 2,
        FrameError::BadCrc => 3,
        _ => 4,
    }
}

#[test]
fn every_single_byte_substitution_is_detected() {
    let mut g = Gen::new(0xC0_2201);
    let (req, n_req) = every_substitution(Side::Device, &request_cases(&mut g));
    let (resp, n_resp) = every_substitution(Side::Host, &response_cases(&mut g));
    println!(
        "{} corrupted frames, all refused; errors by kind [too long, COBS, too short, CRC, postcard]:",
        n_req + n_resp
    );
    println!("  requests  {req:?}\n  responses {resp:?}");
    // A substitution inside the data must reach the CRC check.
    assert!(req[3] > 0 && resp[3] > 0);
}

/// Truncation: the frame cut after `k` bytes and then its delimiter (the
/// sender restarted), or followed straight by the next frames (bytes
/// lost): the damaged frame is an error, the one after the merge decodes.
fn every_truncation(side: Side, cases: &[Case]) {
    for (i, c) in cases.iter().enumerate() {
        let next = &cases[(i + 1) % cases.len()];
        let after = &cases[(i + 2) % cases.len()];
        let body = c.frame.len() - 1;
        for k in 1..body {
            let mut cut = c.frame[..k].to_vec();
            cut.push(0);
            let got = decode_all(side, &cut);
            assert!(matches!(got[..], [Err(_)]), "case {i} cut at {k}: {got:?}");
            // Bytes lost: the cut frame runs into the next frame, which is
            // lost with it; the frame after decodes.
            let mut merged = c.frame[..k].to_vec();
            merged.extend(&next.frame);
            merged.extend(&after.frame);
            let got = decode_all(side, &merged);
            assert_eq!(got.len(), 2, "case {i} cut at {k}");
            assert!(got[0].is_err(), "case {i} cut at {k}: merged frame decoded");
            assert_eq!(got[1], Ok(after.payload.clone()), "case {i} cut at {k}");
        }
        // One byte dropped anywhere (a UART overrun).
        for pos in 0..body {
            let mut dropped = c.frame.clone();
            dropped.remove(pos);
            let got = decode_all(side, &dropped);
            assert!(
                got.iter().all(|r| r.is_err()),
                "case {i} byte {pos} dropped: {got:?}"
            );
        }
    }
}

#[test]
fn every_truncation_and_deletion_is_detected() {
    let mut g = Gen::new(0xC0_2202);
    every_truncation(Side::Device, &request_cases(&mut g));
    every_truncation(Side::Host, &response_cases(&mut g));
}
