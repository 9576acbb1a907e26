//! Push and pull bookkeeping over a simulated lossy link, every refusal,
//! and the time a 64×64 policy takes over a 115 200-baud UART with this
//! framing.

mod common;

use common::{Gen, frame};
use fixpo_proto::transfer::{PullError, PullReceiver, PushReceiver, chunk_range, push_chunk};
use fixpo_proto::{
    CHUNK, Command, Dims, ErrorCode, Kind, MAX_FRAME, Reply, Request, Response, StoreFault, crc32,
};

const DIMS: Dims = Dims {
    obs: 3,
    hid: 64,
    act: 1,
    kind: Kind::Gaussian,
};

/// A policy-file-sized byte string (contents do not matter to the
/// bookkeeping; a quarter of the bytes are zeros, as in f32 data).
fn file(g: &mut Gen, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| if g.below(4) == 0 { 0 } else { g.u64() as u8 })
        .collect()
}

/// A push where each request and each ack is lost with probability 1/8:
/// the host resends from the last `next` it heard; the slot ends up equal
/// to the file and the commit checks pass.
#[test]
fn push_over_a_lossy_link() {
    let mut g = Gen::new(0x7A_0001);
    for round in 0..50 {
        let len = g.below(20_000) as usize;
        let f = file(&mut g, len);
        let mut rx = PushReceiver::begin(len as u32, crc32(&f), DIMS, DIMS, 40_000).unwrap();
        let mut slot = vec![0xFFu8; len];
        let mut next = 0u32; // what the host last heard
        let mut sends = 0;
        while let Some(Command::PushChunk { offset, data }) = push_chunk(&f, next) {
            sends += 1;
            assert!(
                sends < 100 * (len / CHUNK + 2),
                "round {round}: no progress"
            );
            if g.below(8) == 0 {
                continue; // request lost
            }
            let ack = rx
                .chunk(offset, data, |at, bytes| {
                    let at = at as usize;
                    // Flash programs erased bytes once: never twice.
                    assert!(slot[at..at + bytes.len()].iter().all(|&b| b == 0xFF));
                    slot[at..at + bytes.len()].copy_from_slice(bytes);
                    Ok(())
                })
                .unwrap();
            if g.below(8) != 0 {
                next = ack; // else the ack is lost
            }
        }
        assert_eq!(rx.next() as usize, len);
        assert_eq!(rx.finish(), Ok(()));
        // The slot was 0xFF-filled; the file's own 0xFF bytes match anyway.
        assert_eq!(slot, f, "round {round}");
    }
}

#[test]
fn push_refusals() {
    let mut g = Gen::new(0x7A_0002);
    let f = file(&mut g, 1000);
    let crc = crc32(&f);
    let other = Dims { hid: 32, ..DIMS };
    assert_eq!(
        PushReceiver::begin(1000, crc, other, DIMS, 4096).err(),
        Some(ErrorCode::DimensionMismatch { device: DIMS })
    );
    let cat = Dims {
        kind: Kind::Categorical,
        ..DIMS
    };
    assert!(PushReceiver::begin(1000, crc, cat, DIMS, 4096).is_err());
    assert_eq!(
        PushReceiver::begin(1000, crc, DIMS, DIMS, 999).err(),
        Some(ErrorCode::TooLarge { max: 999 })
    );
    assert_eq!(
        PushReceiver::begin(1, crc, DIMS, DIMS, 0).err(),
        Some(ErrorCode::TooLarge { max: 0 })
    );

    let ok = |_: u32, _: &[u8]| Ok(());
    let mut rx = PushReceiver::begin(1000, crc, DIMS, DIMS, 4096).unwrap();
    // A gap: chunk 1 before chunk 0.
    assert_eq!(
        rx.chunk(256, &f[256..512], ok),
        Err(ErrorCode::Offset { expected: 0 })
    );
    assert_eq!(rx.chunk(0, &f[..256], ok), Ok(256));
    // Past the announced length.
    assert_eq!(
        rx.chunk(900, &f[..200], ok),
        Err(ErrorCode::Offset { expected: 256 })
    );
    assert_eq!(
        rx.chunk(256, &[0; 800], ok),
        Err(ErrorCode::TooLarge { max: 1000 })
    );
    // A failing write counts nothing.
    let fail = |_: u32, _: &[u8]| Err(ErrorCode::Store(StoreFault::Verify));
    assert_eq!(
        rx.chunk(256, &f[256..512], fail),
        Err(ErrorCode::Store(StoreFault::Verify))
    );
    assert_eq!(rx.next(), 256);
    // Early commit.
    assert_eq!(
        rx.finish(),
        Err(ErrorCode::Truncated {
            received: 256,
            expected: 1000
        })
    );
    // A resend overlapping what arrived writes only the new part.
    let mut written = Vec::new();
    let r = rx.chunk(128, &f[128..600], |at, b| {
        written.push((at, b.to_vec()));
        Ok(())
    });
    assert_eq!(r, Ok(600));
    assert_eq!(written, vec![(256, f[256..600].to_vec())]);
    assert_eq!(rx.chunk(600, &f[600..], ok), Ok(1000));
    assert_eq!(rx.finish(), Ok(()));

    // Different bytes than the announced CRC covers.
    let mut rx = PushReceiver::begin(1000, crc, DIMS, DIMS, 4096).unwrap();
    let mut bad = f.clone();
    bad[500] ^= 0x10;
    for at in (0..1000).step_by(CHUNK) {
        let end = (at + CHUNK).min(1000);
        rx.chunk(at as u32, &bad[at..end], ok).unwrap();
    }
    assert_eq!(
        rx.finish(),
        Err(ErrorCode::BadCrc {
            expected: crc,
            computed: crc32(&bad)
        })
    );
}

#[test]
fn pull_collects_and_checks() {
    let mut g = Gen::new(0x7A_0003);
    for _ in 0..50 {
        let len = g.below(10_000) as usize;
        let f = file(&mut g, len);
        let mut rx = PullReceiver::new(len as u32, crc32(&f));
        let mut out = vec![0u8; len];
        while !rx.is_done() {
            let r = chunk_range(len, rx.next()).unwrap();
            assert!(r.len() <= CHUNK && !r.is_empty());
            rx.chunk(r.start as u32, &f[r], &mut out).unwrap();
        }
        assert_eq!(rx.finish(), Ok(()));
        assert_eq!(out, f);
        assert_eq!(chunk_range(len, len as u32), Some(len..len));
        assert_eq!(chunk_range(len, len as u32 + 1), None);
    }
    let f = file(&mut g, 600);
    let mut out = vec![0u8; 600];
    let mut rx = PullReceiver::new(600, crc32(&f));
    assert_eq!(
        rx.chunk(256, &f[256..512], &mut out),
        Err(PullError::Offset { expected: 0 })
    );
    assert_eq!(rx.chunk(0, &[], &mut out), Err(PullError::Length));
    assert_eq!(rx.finish(), Err(PullError::Length));
    rx.chunk(0, &f[..300], &mut out).unwrap();
    assert_eq!(rx.chunk(300, &[0; 301], &mut out), Err(PullError::Length));
    let mut wrong = f[300..].to_vec();
    wrong[0] ^= 1;
    rx.chunk(300, &wrong, &mut out).unwrap();
    assert_eq!(rx.finish(), Err(PullError::BadCrc));
}

/// Bytes on the wire for one push of `f`, stop-and-wait: (host → device,
/// device → host, frames each way).
fn push_bytes(f: &[u8]) -> (usize, usize, usize) {
    let (mut down, mut up, mut frames) = (0, 0, 0);
    let mut id = 0u16;
    let mut exchange = |cmd: Command<'_>, reply: Reply<'_>| {
        id += 1;
        down += frame(&Request::new(id, cmd)).len();
        up += frame(&Response::new(id, reply)).len();
        frames += 1;
    };
    exchange(
        Command::PushBegin {
            len: f.len() as u32,
            crc: crc32(f),
            dims: DIMS,
        },
        Reply::Ack { next: 0 },
    );
    let mut next = 0u32;
    while let Some(cmd) = push_chunk(f, next) {
        let Command::PushChunk { offset, data } = cmd else {
            unreachable!()
        };
        next = offset + data.len() as u32;
        exchange(cmd, Reply::Ack { next });
    }
    exchange(Command::PushCommit, Reply::Committed { seq: 7 });
    (down, up, frames)
}

/// The time a 3 → 64×64 → 1 policy file takes to push at 115 200 baud
/// (10 bits per byte: start, 8 data, stop), with this framing and one ack
/// per chunk, not counting the device's flash programming or turnaround.
#[test]
fn push_time_of_a_64x64_policy_at_115200_baud() {
    const BAUD: f64 = 115_200.0;
    let mut g = Gen::new(0x7A_0004);
    let chunks_of = |len: usize| len.div_ceil(CHUNK);
    for (label, len) in [
        ("with critic", fixpo_core::file::max_encoded_len(3, 64, 1)),
        (
            "without critic",
            fixpo_core::file::encoded_len(3, 64, 1, false),
        ),
    ] {
        let f = file(&mut g, len);
        let (down, up, frames) = push_bytes(&f);
        let chunks = chunks_of(len);
        assert_eq!(frames, chunks + 2);
        // Independent bounds: at least the file and one delimiter per
        // frame; at most a largest frame per chunk, plus begin and commit.
        assert!(down >= len + frames);
        assert!(down <= chunks * MAX_FRAME + 2 * MAX_FRAME);
        let raw_s = len as f64 * 10.0 / BAUD;
        let stream_s = down as f64 * 10.0 / BAUD;
        let total_s = (down + up) as f64 * 10.0 / BAUD;
        let overhead = (down - len) as f64 / chunks as f64;
        println!(
            "64x64 {label}: file {len} B in {chunks} chunks; host->device {down} B \
             ({overhead:.1} B framing per chunk), device->host {up} B; \
             raw {raw_s:.2} s, framed {stream_s:.2} s, with acks {total_s:.2} s \
             ({:.1} % over raw)",
            100.0 * (total_s / raw_s - 1.0)
        );
        // The framing costs a few percent, not a multiple.
        assert!(total_s < raw_s * 1.15);
    }
}
