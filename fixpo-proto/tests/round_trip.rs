//! Every message variant survives framing and decoding with random
//! contents; the size constants are the real maxima; framing errors on
//! the sending side; version and unknown-request refusals.

mod common;

use common::{COMMANDS, Gen, REPLIES, frame, request, response};
use fixpo_proto::{
    CHUNK, Command, Decoder, Dims, EncodeError, ErrorCode, Feed, FrameError, Kind, MAX_ENCODED,
    MAX_FRAME, MAX_MESSAGE, NO_ID, Reply, Request, Response, ResponseError, VERSION, Which, crc32,
    encode, parse_request, parse_response,
};

/// Cases per variant.
const CASES: u32 = 300;

/// Decodes one whole frame as a request through the device's path
/// (`feed_raw` + `parse_request`), checks it is `want`, and that the
/// typed path (`feed::<Request>`) agrees.
fn device_reads(bytes: &[u8], want: &Request<'_>, what: &str) {
    let mut dec = Decoder::new();
    let Feed::Frame { result, remaining } = dec.feed_raw(bytes) else {
        panic!("{what}: no frame");
    };
    assert!(remaining.is_empty(), "{what}");
    let req = parse_request(result.expect("frame")).expect("request");
    assert_eq!(&req, want, "{what}");
    let mut dec = Decoder::new();
    match dec.feed::<Request>(bytes) {
        Feed::Frame { result, .. } => assert_eq!(result.as_ref(), Ok(want), "{what}"),
        Feed::Consumed => panic!("{what}: typed path found no frame"),
    }
}

/// Bytes of the postcard encoding of `msg`.
fn payload_len<T: serde::Serialize>(msg: &T) -> usize {
    let mut buf = [0u8; 1024];
    postcard::to_slice(msg, &mut buf).expect("fits").len()
}

#[test]
fn every_request_round_trips() {
    let mut g = Gen::new(0x5EED_0001);
    for tag in 0..COMMANDS {
        for case in 0..CASES {
            let data = g.chunk();
            let req = request(&mut g, tag, &data);
            let bytes = frame(&req);
            assert!(bytes.len() <= MAX_FRAME, "tag {tag} case {case}");
            assert_eq!(bytes.iter().filter(|&&b| b == 0).count(), 1);
            device_reads(&bytes, &req, &format!("tag {tag} case {case}"));
        }
    }
}

#[test]
fn every_response_round_trips() {
    let mut g = Gen::new(0x5EED_0002);
    for tag in 0..REPLIES {
        for case in 0..CASES {
            let data = g.chunk();
            let resp = response(&mut g, tag, &data);
            let bytes = frame(&resp);
            assert!(bytes.len() <= MAX_FRAME);
            let mut dec = Decoder::new();
            let Feed::Frame { result, remaining } = dec.feed_raw(&bytes) else {
                panic!("no frame");
            };
            assert!(remaining.is_empty());
            let got = parse_response(result.unwrap());
            assert_eq!(got, Ok(resp), "tag {tag} case {case}");
        }
    }
}

/// The largest value of every variant: version, ids and offsets at their
/// longest varints, full chunks, every option present.
#[test]
fn max_message_is_the_largest_encoding() {
    let full = [0xAAu8; CHUNK];
    let mut g = Gen::new(1);
    let mut largest = 0;
    for tag in 0..COMMANDS {
        let mut req = request(&mut g, tag, &full);
        req.version = u16::MAX;
        req.id = u16::MAX;
        req.command = match req.command {
            Command::PushChunk { data, .. } => Command::PushChunk {
                offset: u32::MAX,
                data,
            },
            Command::PushBegin { .. } => Command::PushBegin {
                len: u32::MAX,
                crc: u32::MAX,
                dims: Dims {
                    obs: u16::MAX,
                    hid: u16::MAX,
                    act: u16::MAX,
                    kind: Kind::Categorical,
                },
            },
            Command::PullChunk { .. } => Command::PullChunk {
                which: Which::Factory,
                offset: u32::MAX,
            },
            c => c,
        };
        largest = largest.max(payload_len(&req));
    }
    for tag in 0..REPLIES {
        for _ in 0..200 {
            let mut resp = response(&mut g, tag, &full);
            resp.version = u16::MAX;
            resp.id = u16::MAX;
            if let Reply::Chunk { data, .. } = resp.reply {
                resp.reply = Reply::Chunk {
                    offset: u32::MAX,
                    data,
                };
            }
            largest = largest.max(payload_len(&resp));
        }
    }
    assert_eq!(largest, MAX_MESSAGE);
    println!(
        "largest message {largest} B, frame at most {MAX_FRAME} B (decoder buffer {MAX_ENCODED} B)"
    );
}

#[test]
fn sender_refuses_overlong_messages_and_short_buffers() {
    let data = [7u8; MAX_MESSAGE];
    let req = Request::new(
        1,
        Command::PushChunk {
            offset: 0,
            data: &data,
        },
    );
    let mut buf = [0u8; 4 * MAX_FRAME];
    assert!(matches!(
        encode(&req, &mut buf),
        Err(EncodeError::TooLong { len }) if len > MAX_MESSAGE
    ));
    let req = Request::new(1, Command::Status);
    let need = encode(&req, &mut buf).unwrap().len();
    for n in 0..need {
        assert_eq!(
            encode(&req, &mut buf[..n]),
            Err(EncodeError::BufferFull),
            "{n}"
        );
    }
}

#[test]
fn two_frames_back_to_back_decode_as_two() {
    let mut g = Gen::new(0x5EED_0003);
    for _ in 0..200 {
        let (d1, d2) = (g.chunk(), g.chunk());
        let t1 = g.below(u64::from(COMMANDS)) as u32;
        let t2 = g.below(u64::from(COMMANDS)) as u32;
        let (a, b) = (request(&mut g, t1, &d1), request(&mut g, t2, &d2));
        let mut stream = frame(&a);
        stream.extend(frame(&b));
        let mut dec = Decoder::new();
        let rest = match dec.feed::<Request>(&stream) {
            Feed::Frame { result, remaining } => {
                assert_eq!(result, Ok(a));
                remaining.to_vec()
            }
            Feed::Consumed => panic!("first frame missing"),
        };
        match dec.feed::<Request>(&rest) {
            Feed::Frame { result, remaining } => {
                assert_eq!(result, Ok(b));
                assert!(remaining.is_empty());
            }
            Feed::Consumed => panic!("second frame missing"),
        }
    }
}

#[test]
fn wrong_version_is_refused_with_the_request_id() {
    let mut g = Gen::new(0x5EED_0004);
    for tag in 0..COMMANDS {
        let data = g.chunk();
        let mut req = request(&mut g, tag, &data);
        req.version = VERSION + 1 + g.u16() % 100;
        let mut buf = [0u8; MAX_MESSAGE];
        let payload = postcard::to_slice(&req, &mut buf).unwrap();
        assert_eq!(
            parse_request(payload),
            Err(Response::new(
                req.id,
                Reply::Error(ErrorCode::Version { device: VERSION })
            ))
        );
        let resp = Response {
            version: req.version,
            id: req.id,
            reply: Reply::Done,
        };
        let payload = postcard::to_slice(&resp, &mut buf).unwrap();
        assert_eq!(
            parse_response(payload),
            Err(ResponseError::Version {
                device: req.version,
                id: req.id
            })
        );
    }
}

#[test]
fn unknown_or_malformed_requests_are_refused() {
    // version, id, then a tag no version-1 command has.
    for tag in [COMMANDS as u8 - 1 + 1, 100, 127] {
        let payload = [VERSION as u8, 42, tag];
        assert_eq!(
            parse_request(&payload),
            Err(Response::new(42, Reply::Error(ErrorCode::UnknownRequest)))
        );
    }
    // A known command with bytes left over.
    assert_eq!(
        parse_request(&[VERSION as u8, 9, 1, 0]),
        Err(Response::new(9, Reply::Error(ErrorCode::UnknownRequest)))
    );
    // Not even a version and an id.
    let bad = Response::new(
        NO_ID,
        Reply::Error(ErrorCode::Frame(FrameError::BadPostcard)),
    );
    assert_eq!(parse_request(&[]), Err(bad));
    assert_eq!(parse_request(&[0x80]), Err(bad));
}

#[test]
fn crc_is_crc32_iso_hdlc() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}

/// The worked examples of docs/protocol.md, computed independently
/// (Python's `zlib.crc32` and a textbook COBS encoder).
#[test]
fn worked_examples_of_the_docs() {
    let status = frame(&Request::new(7, Command::Status));
    assert_eq!(
        status,
        [0x08, 0x01, 0x07, 0x01, 0x74, 0x15, 0xC5, 0xC6, 0x00]
    );
    let ack = frame(&Response::new(7, Reply::Ack { next: 0 }));
    assert_eq!(
        ack,
        [0x04, 0x01, 0x07, 0x03, 0x05, 0x3F, 0xFD, 0x9A, 0xB7, 0x00]
    );
}
