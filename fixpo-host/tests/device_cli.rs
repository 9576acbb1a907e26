//! `fixpo device` end to end: the real binary against a fake device on a
//! unix socket. The fake is written here from `fixpo-proto` alone (its
//! decoder, `parse_request`, `PushReceiver`, `chunk_range`), independent of
//! the host's client, and misbehaves per scenario: another protocol
//! version, another policy shape, busy, silent, a lossy link, a corrupted
//! pull chunk.

use fixpo_core::{Actor, PolicyKind};
use fixpo_proto::transfer::{PushReceiver, chunk_range};
use fixpo_proto::{
    AdaptSettings, Bound, Command, Decoder, DeviceInfo, Dims, End, ErrorCode, Feed, Finished,
    FirmwareVersion, FrameError, Kind, MAX_FRAME, Mode, NO_ID, Reply, Response, Source, Status,
    UpdateReport, Which, crc32, encode, parse_request,
};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command as Proc, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DIMS: Dims = Dims {
    obs: 3,
    hid: 32,
    act: 1,
    kind: Kind::Gaussian,
};

/// How the fake device behaves.
#[derive(Clone)]
struct Scenario {
    /// The protocol version it speaks (in every response).
    version: u16,
    /// The firmware's policy shape.
    dims: Dims,
    /// Its store slot.
    max_file: u32,
    /// An adaptation runs: push, pull of the active policy, adapt and
    /// reset are refused with Busy.
    busy: bool,
    /// Reads everything, answers nothing.
    silent: bool,
    /// Every `k`-th request frame goes wrong, in turn: lost before the
    /// device reads it; handled but its reply lost; handled and its reply
    /// garbled; answered `Error(Frame)` with NO_ID unhandled.
    lose_every: Option<u32>,
    /// The pull chunk at offset 256 has one bit flipped (its frame is
    /// intact, the file's CRC is not).
    corrupt_pull: bool,
    /// `PushBegin` is refused with this, whatever it says.
    refuse_begin: Option<ErrorCode>,
    /// After answering Hello, streams this many reports and a Finished
    /// with this id (an adaptation started elsewhere).
    stream_on_hello: Option<(u16, u32)>,
    /// Sleep after each push chunk.
    chunk_delay: Duration,
    /// Sleep before each streamed report.
    report_delay: Duration,
    /// The first `Committed` is lost (the push is committed all the same).
    lose_committed: bool,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            version: fixpo_proto::VERSION,
            dims: DIMS,
            max_file: 64 * 1024,
            busy: false,
            silent: false,
            lose_every: None,
            corrupt_pull: false,
            refuse_begin: None,
            stream_on_hello: None,
            chunk_delay: Duration::ZERO,
            report_delay: Duration::from_millis(2),
            lose_committed: false,
        }
    }
}

/// What the fake device holds and saw.
#[derive(Default)]
struct State {
    active: Vec<u8>,
    active_seq: Option<u32>,
    factory: Vec<u8>,
    next_seq: u32,
    /// Names of the requests it read (resends included).
    log: Vec<String>,
    adapt: Option<AdaptSettings>,
    chunks: u32,
    aborted: bool,
    resets: Vec<bool>,
    connections: u32,
    reports: u32,
}

struct Fake {
    _dir: tempfile::TempDir,
    sock: PathBuf,
    state: Arc<Mutex<State>>,
}

impl Fake {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    fn port(&self) -> &str {
        self.sock.to_str().unwrap()
    }

    fn saw(&self, name: &str) -> bool {
        self.state().log.iter().any(|l| l == name)
    }
}

/// Starts a fake device whose factory (and active) policy is `factory`;
/// it serves one connection after another until the test ends.
fn fake(s: Scenario, factory: Vec<u8>) -> Fake {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("dev.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let state = Arc::new(Mutex::new(State {
        active: factory.clone(),
        active_seq: None,
        factory,
        next_seq: 2,
        ..State::default()
    }));
    let st = state.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            st.lock().unwrap().connections += 1;
            serve(&s, &st, conn);
        }
    });
    Fake {
        _dir: dir,
        sock,
        state,
    }
}

fn name(c: &Command<'_>) -> String {
    match c {
        Command::Hello => "Hello",
        Command::Status => "Status",
        Command::PushBegin { .. } => "PushBegin",
        Command::PushChunk { .. } => "PushChunk",
        Command::PushCommit => "PushCommit",
        Command::PushAbort => "PushAbort",
        Command::PullBegin { .. } => "PullBegin",
        Command::PullChunk { .. } => "PullChunk",
        Command::Adapt(_) => "Adapt",
        Command::Stop => "Stop",
        Command::Reset { .. } => "Reset",
    }
    .into()
}

/// One connection: frames in, responses out.
fn serve(s: &Scenario, st: &Mutex<State>, mut conn: UnixStream) {
    let mut dec = Decoder::new();
    let mut push: Option<(PushReceiver, Vec<u8>)> = None;
    let mut frames = 0u32;
    let mut buf = [0u8; 600];
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut rest = &buf[..n];
        while let Feed::Frame { result, remaining } = dec.feed_raw(rest) {
            rest = remaining;
            if s.silent {
                continue;
            }
            let payload = match result {
                Ok(p) => p.to_vec(),
                Err(e) => {
                    send(
                        s,
                        &mut conn,
                        NO_ID,
                        Reply::Error(ErrorCode::Frame(e)),
                        false,
                    );
                    continue;
                }
            };
            frames += 1;
            let fault = match s.lose_every {
                Some(k) if frames % k == 0 => (frames / k) % 4,
                _ => 99,
            };
            if fault == 0 {
                continue; // lost on the way in
            }
            if fault == 3 {
                let e = Reply::Error(ErrorCode::Frame(FrameError::BadCrc));
                send(s, &mut conn, NO_ID, e, false);
                continue;
            }
            let req = match parse_request(&payload) {
                Ok(r) => r,
                Err(refusal) => {
                    send(s, &mut conn, refusal.id, refusal.reply, false);
                    continue;
                }
            };
            st.lock().unwrap().log.push(name(&req.command));
            let keep_going = handle(s, st, &mut conn, &mut push, req.id, req.command, fault);
            if !keep_going {
                return;
            }
        }
    }
}

/// Sends one response (`garble`: with a byte of its frame changed).
fn send(s: &Scenario, conn: &mut UnixStream, id: u16, reply: Reply<'_>, garble: bool) {
    let mut buf = [0u8; MAX_FRAME];
    let resp = Response {
        version: s.version,
        id,
        reply,
    };
    let frame = encode(&resp, &mut buf).unwrap();
    if garble {
        let i = frame.len() / 2;
        frame[i] = frame[i].wrapping_add(1).max(1);
    }
    let _ = conn.write_all(frame);
}

fn report(u: u32, settings: &AdaptSettings, seq: u32) -> UpdateReport {
    let eps_kl = settings.eps_kl.unwrap_or(0.02);
    let eps_total = match settings.eps_total {
        Bound::Default => Some(0.5),
        Bound::Off => None,
        Bound::At(v) => Some(v),
    };
    UpdateReport {
        update: u,
        ret: -200.0 + 10.0 * u as f32,
        max_kl: eps_kl * (0.5 + 0.05 * u as f32),
        check_max_kl: eps_kl * (0.5 + 0.05 * u as f32) + 1e-5,
        eps_kl,
        beta: 1.0 + 0.25 * u as f32,
        fixup_steps: u % 3,
        backtrack_t: 1.0,
        drift_kl: eps_total.map(|e| e * 0.1 * u as f32),
        eps_total,
        kept: u % 4 != 3,
        rolled_back: false,
        committed: (u + 1 == settings.updates).then_some(seq),
    }
}

/// Whether a `Stop` arrived (answered `Done`) among the bytes waiting
/// on the socket; anything else waiting is dropped (the host sends
/// nothing else during an adaptation in these tests).
fn stop_requested(s: &Scenario, conn: &mut UnixStream) -> bool {
    let mut stop = false;
    conn.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 600];
    let mut dec = Decoder::new();
    while let Ok(n @ 1..) = conn.read(&mut buf) {
        let mut rest = &buf[..n];
        while let Feed::Frame { result, remaining } = dec.feed_raw(rest) {
            rest = remaining;
            if let Ok(req) = result
                .map_err(|_| ())
                .and_then(|p| parse_request(p).map_err(|_| ()))
                && req.command == Command::Stop
            {
                stop = true;
                send(s, conn, req.id, Reply::Done, false);
            }
        }
    }
    conn.set_nonblocking(false).unwrap();
    stop
}

fn stream(
    s: &Scenario,
    st: &Mutex<State>,
    conn: &mut UnixStream,
    id: u16,
    settings: &AdaptSettings,
    seq: u32,
) {
    let mut end = End::Completed;
    let mut updates = 0;
    for u in 0..settings.updates {
        std::thread::sleep(s.report_delay);
        if stop_requested(s, conn) {
            st.lock().unwrap().log.push("Stop".into());
            end = End::Stopped;
            break;
        }
        send(s, conn, id, Reply::Report(report(u, settings, seq)), false);
        st.lock().unwrap().reports += 1;
        updates += 1;
    }
    let kept = (0..updates).filter(|u| u % 4 != 3).count() as u32;
    let fin = Finished {
        end,
        updates,
        kept,
        rollbacks: 0,
        commits: 1,
    };
    send(s, conn, id, Reply::Finished(fin), false);
}

/// Handles one request; `false` ends the connection (a reset).
fn handle(
    s: &Scenario,
    st: &Mutex<State>,
    conn: &mut UnixStream,
    push: &mut Option<(PushReceiver, Vec<u8>)>,
    id: u16,
    cmd: Command<'_>,
    fault: u32,
) -> bool {
    let drop_reply = fault == 1;
    let garble = fault == 2;
    let reply_to = |conn: &mut UnixStream, reply: Reply<'_>| {
        if !drop_reply {
            send(s, conn, id, reply, garble);
        }
    };
    let busy = Reply::Error(ErrorCode::Busy);
    match cmd {
        Command::Hello => {
            let (active_seq, factory_seq) = {
                let g = st.lock().unwrap();
                (g.active_seq, Some(1))
            };
            let mut device_id = [0u8; 16];
            device_id[..12].copy_from_slice(&[0xA5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xEE]);
            let info = DeviceInfo {
                protocol: s.version,
                device_id,
                firmware: FirmwareVersion {
                    major: 0,
                    minor: 3,
                    patch: 1,
                },
                dims: s.dims,
                active_seq,
                factory_seq,
                eps_kl: 0.02,
                eps_total: Some(0.5),
                max_file: s.max_file,
            };
            reply_to(conn, Reply::Hello(info));
            if let Some((sid, n)) = s.stream_on_hello {
                let settings = AdaptSettings {
                    updates: n,
                    eps_kl: None,
                    eps_total: Bound::Default,
                };
                stream(s, st, conn, sid, &settings, 9);
            }
        }
        Command::Status => {
            let g = st.lock().unwrap();
            let status = Status {
                mode: if s.busy {
                    Mode::Adapting { done: 2, of: 10 }
                } else {
                    Mode::Control
                },
                source: g.active_seq.map_or(Source::Factory, Source::Record),
                fingerprint: u64::from(crc32(&g.active)),
                factory_seq: Some(1),
                updates: 42,
                uptime_ms: 3_723_000,
            };
            drop(g);
            reply_to(conn, Reply::Status(status));
        }
        Command::PushBegin { len, crc, dims } => {
            if s.busy {
                reply_to(conn, busy);
            } else if let Some(code) = s.refuse_begin {
                reply_to(conn, Reply::Error(code));
            } else {
                match PushReceiver::begin(len, crc, dims, s.dims, s.max_file) {
                    Ok(rx) => {
                        *push = Some((rx, vec![0; len as usize]));
                        reply_to(conn, Reply::Ack { next: 0 });
                    }
                    Err(code) => reply_to(conn, Reply::Error(code)),
                }
            }
        }
        Command::PushChunk { offset, data } => {
            std::thread::sleep(s.chunk_delay);
            st.lock().unwrap().chunks += 1;
            let reply = match push {
                None => Reply::Error(ErrorCode::NoTransfer),
                Some((rx, slot)) => {
                    let write = |at: u32, bytes: &[u8]| {
                        slot[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
                        Ok(())
                    };
                    match rx.chunk(offset, data, write) {
                        Ok(next) => Reply::Ack { next },
                        Err(code) => Reply::Error(code),
                    }
                }
            };
            reply_to(conn, reply);
        }
        Command::PushCommit => {
            let reply = match push.take() {
                None => Reply::Error(ErrorCode::NoTransfer),
                Some((rx, slot)) => match rx.finish() {
                    Err(code) => Reply::Error(code),
                    Ok(()) if fixpo_core::file::read_header(&slot).is_err() => {
                        Reply::Error(ErrorCode::InvalidPolicy)
                    }
                    Ok(()) => {
                        let mut g = st.lock().unwrap();
                        let seq = g.next_seq;
                        g.next_seq += 1;
                        g.active = slot;
                        g.active_seq = Some(seq);
                        Reply::Committed { seq }
                    }
                },
            };
            let first_commit = st.lock().unwrap().active_seq == Some(2);
            if !(s.lose_committed && first_commit && matches!(reply, Reply::Committed { .. })) {
                reply_to(conn, reply);
            }
        }
        Command::PushAbort => {
            *push = None;
            st.lock().unwrap().aborted = true;
            reply_to(conn, Reply::Done);
        }
        Command::PullBegin { which } => {
            if s.busy && which == Which::Active {
                reply_to(conn, busy);
            } else {
                let g = st.lock().unwrap();
                let (bytes, seq) = match which {
                    Which::Active => (&g.active, g.active_seq),
                    Which::Factory => (&g.factory, Some(1)),
                };
                let reply = Reply::PullInfo {
                    which,
                    seq,
                    len: bytes.len() as u32,
                    crc: crc32(bytes),
                };
                drop(g);
                reply_to(conn, reply);
            }
        }
        Command::PullChunk { which, offset } => {
            let g = st.lock().unwrap();
            let mut bytes = match which {
                Which::Active => g.active.clone(),
                Which::Factory => g.factory.clone(),
            };
            drop(g);
            match chunk_range(bytes.len(), offset) {
                None => reply_to(
                    conn,
                    Reply::Error(ErrorCode::TooLarge {
                        max: bytes.len() as u32,
                    }),
                ),
                Some(range) => {
                    if s.corrupt_pull && offset == 256 {
                        bytes[offset as usize + 10] ^= 0x10;
                    }
                    let data = &bytes[range];
                    reply_to(conn, Reply::Chunk { offset, data });
                }
            }
        }
        Command::Adapt(settings) => {
            if s.busy {
                reply_to(conn, busy);
            } else {
                let seq = {
                    let mut g = st.lock().unwrap();
                    g.adapt = Some(settings);
                    g.next_seq
                };
                reply_to(conn, Reply::Done);
                stream(s, st, conn, id, &settings, seq);
            }
        }
        Command::Stop => reply_to(conn, Reply::Done),
        Command::Reset { factory } => {
            if s.busy {
                reply_to(conn, busy);
            } else {
                st.lock().unwrap().resets.push(factory);
                reply_to(conn, Reply::Done);
                return false; // the device reboots: the link drops
            }
        }
    }
    true
}

// ---------------------------------------------------------------------------
// Policy files and the binary.

/// SplitMix64, for random weights.
struct Rng(u64);

impl rand_core::RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = self.next_u32() as u8;
        }
    }
}

/// A 3→32×32→1 Gaussian policy file with random weights.
fn policy_file(seed: u64) -> Vec<u8> {
    let mut actor = Actor::<3, 32, 1>::zero(PolicyKind::Gaussian);
    actor.policy.init(&mut Rng(seed), -0.5);
    actor.action_low = [-2.0];
    actor.action_high = [2.0];
    let mut buf = vec![0u8; fixpo_core::file::max_encoded_len(3, 32, 1)];
    let n = fixpo_core::file::encode(&actor, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn fixpo(args: &[&str]) -> Output {
    Proc::new(env!("CARGO_BIN_EXE_fixpo"))
        .args(args)
        .env_remove("FIXPO_PORT")
        .output()
        .expect("the fixpo binary runs")
}

/// `fixpo device --port PORT --timeout MS ARGS…`.
fn device(port: &str, timeout_ms: u32, args: &[&str]) -> Output {
    let ms = timeout_ms.to_string();
    let mut all = vec!["device", "--port", port, "--timeout", &ms];
    all.extend_from_slice(args);
    fixpo(&all)
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed ({:?}):\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Exit code `code` and exactly one stderr line, `error: …` containing
/// `expect`.
fn fails(out: &Output, code: i32, expect: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{err}",
        String::from_utf8_lossy(&out.stdout)
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one stderr line expected:\n{err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(lines[0].contains(expect), "`{expect}` not in: {err}");
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

// ---------------------------------------------------------------------------
// Success paths.

#[test]
fn push_then_pull_is_bit_exact() {
    let factory = policy_file(1);
    let dev = fake(Scenario::default(), factory.clone());
    let t = tempfile::tempdir().unwrap();
    let file = policy_file(2);
    let p = write(t.path(), "new.fxp", &file);

    let out = ok(&device(dev.port(), 500, &["push", p.to_str().unwrap()]));
    assert!(out.contains("committed as record #2"), "{out}");
    assert!(out.contains("B/s"), "{out}");
    assert_eq!(dev.state().active, file);
    assert_eq!(dev.state().active_seq, Some(2));

    let pulled = t.path().join("pulled.fxp");
    let out = ok(&device(
        dev.port(),
        500,
        &["pull", "--out", pulled.to_str().unwrap()],
    ));
    assert!(out.contains("record #2"), "{out}");
    assert_eq!(std::fs::read(&pulled).unwrap(), file);

    let f = t.path().join("factory.fxp");
    ok(&device(
        dev.port(),
        500,
        &["pull", "--factory", "--out", f.to_str().unwrap()],
    ));
    assert_eq!(std::fs::read(&f).unwrap(), factory);
    // The pulled file is a policy file the rest of fixpo reads.
    let inspect = ok(&fixpo(&["inspect", pulled.to_str().unwrap()]));
    assert!(inspect.contains("3→32×32→1"), "{inspect}");
}

#[test]
fn a_lossy_link_is_retried_and_stays_bit_exact() {
    let dev = fake(
        Scenario {
            lose_every: Some(3),
            ..Scenario::default()
        },
        policy_file(3),
    );
    let t = tempfile::tempdir().unwrap();
    let file = policy_file(4);
    let p = write(t.path(), "new.fxp", &file);
    let out = ok(&device(dev.port(), 100, &["push", p.to_str().unwrap()]));
    assert!(out.contains("requests resent"), "{out}");
    assert_eq!(dev.state().active, file);
    let chunks = file.len().div_ceil(256);
    let sent = dev.state().log.iter().filter(|l| *l == "PushChunk").count();
    assert!(sent > chunks, "{sent} chunk requests for {chunks} chunks");

    let pulled = t.path().join("pulled.fxp");
    ok(&device(
        dev.port(),
        100,
        &["pull", "--out", pulled.to_str().unwrap()],
    ));
    assert_eq!(std::fs::read(&pulled).unwrap(), file);
}

#[test]
fn a_lost_committed_is_recovered_from_the_devices_hello() {
    let dev = fake(
        Scenario {
            lose_committed: true,
            ..Scenario::default()
        },
        policy_file(24),
    );
    let t = tempfile::tempdir().unwrap();
    let file = policy_file(25);
    let p = write(t.path(), "new.fxp", &file);
    let out = ok(&device(dev.port(), 100, &["push", p.to_str().unwrap()]));
    assert!(out.contains("committed as record #2"), "{out}");
    assert_eq!(dev.state().active, file);
    let log = dev.state().log.clone();
    let n = |name: &str| log.iter().filter(|l| *l == name).count();
    // The resent commit is refused (NoTransfer); a second Hello shows the
    // new record.
    assert_eq!((n("PushCommit"), n("Hello")), (2, 2), "{log:?}");
}

#[test]
fn adapt_streams_reports_into_plottable_metrics() {
    let dev = fake(Scenario::default(), policy_file(5));
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("adapt");
    let out = ok(&device(
        dev.port(),
        500,
        &[
            "adapt",
            "--updates",
            "6",
            "--eps-kl",
            "0.03",
            "--eps-total",
            "off",
            "--out",
            dir.to_str().unwrap(),
        ],
    ));
    let settings = dev.state().adapt.unwrap();
    assert_eq!(settings.updates, 6);
    assert_eq!(settings.eps_kl, Some(0.03));
    assert_eq!(settings.eps_total, Bound::Off);
    // One line per update, then the summary.
    let updates: Vec<&str> = out.lines().filter(|l| l.starts_with("update")).collect();
    assert_eq!(updates.len(), 6, "{out}");
    assert!(
        out.contains("adaptation completed: 6 updates, 5 kept"),
        "{out}"
    );

    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    for (u, l) in lines.iter().enumerate() {
        let expect = report(u as u32, &settings, 0);
        assert_eq!(l["iter"], u as u64 + 1);
        assert_eq!(l["update"], u as u64);
        assert_eq!(l["return_mean"].as_f64().unwrap() as f32, expect.ret);
        assert_eq!(l["max_kl"].as_f64().unwrap() as f32, expect.max_kl);
        assert_eq!(l["eps_kl"].as_f64().unwrap() as f32, 0.03);
        assert_eq!(l["kept"], expect.kept);
        assert!(l["eps_total"].is_null());
    }
    let png = dir.join("curve.png");
    ok(&fixpo(&[
        "plot",
        dir.to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
    ]));
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);
    assert!(dir.join("device.json").exists());

    // The same directory is never overwritten.
    let again = device(
        dev.port(),
        500,
        &["adapt", "--updates", "2", "--out", dir.to_str().unwrap()],
    );
    fails(&again, 1, "already exists");
}

#[test]
fn monitor_follows_an_adaptation_started_elsewhere() {
    let dev = fake(
        Scenario {
            stream_on_hello: Some((777, 4)),
            ..Scenario::default()
        },
        policy_file(6),
    );
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("watch");
    let out = ok(&device(
        dev.port(),
        500,
        &["monitor", "--out", dir.to_str().unwrap()],
    ));
    assert!(out.contains("adaptation completed: 4 updates"), "{out}");
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 4);
}

#[test]
fn status_text_and_json() {
    let dev = fake(Scenario::default(), policy_file(7));
    let out = ok(&device(dev.port(), 500, &["status"]));
    assert!(out.contains("3→32×32→1 Gaussian"), "{out}");
    assert!(out.contains("firmware    0.3.1, protocol 1"), "{out}");
    assert!(out.contains("a50102030405060708090aee"), "{out}");
    assert!(out.contains("1 h 02 min 03 s"), "{out}");
    let out = ok(&device(dev.port(), 500, &["status", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["device"]["hid"], 32);
    assert_eq!(v["device"]["kind"], "gaussian");
    assert_eq!(v["device"]["max_file"], 64 * 1024);
    assert_eq!(v["status"]["mode"], "control");
    assert_eq!(v["status"]["updates"], 42);
}

#[test]
fn reset_succeeds_although_the_device_hangs_up() {
    let dev = fake(Scenario::default(), policy_file(8));
    let out = ok(&device(dev.port(), 500, &["reset", "--factory"]));
    assert!(out.contains("rebooting with its factory policy"), "{out}");
    assert_eq!(dev.state().resets, vec![true]);
}

// ---------------------------------------------------------------------------
// Failures: one line, one exit code each.

#[test]
fn no_device_and_no_port() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("ttyNOPE");
    fails(
        &device(missing.to_str().unwrap(), 500, &["status"]),
        3,
        "no device at",
    );
    // A socket nobody listens on.
    let dead = t.path().join("dead.sock");
    drop(UnixListener::bind(&dead).unwrap());
    fails(
        &device(dead.to_str().unwrap(), 500, &["status"]),
        3,
        "no device",
    );
    fails(&fixpo(&["device", "status"]), 1, "FIXPO_PORT");
}

#[test]
fn silent_device_times_out() {
    let dev = fake(
        Scenario {
            silent: true,
            ..Scenario::default()
        },
        policy_file(9),
    );
    let start = Instant::now();
    let out = device(dev.port(), 100, &["--retries", "2", "status"]);
    fails(
        &out,
        4,
        "no answer from the device to Hello after 3 tries of 100 ms",
    );
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn wrong_protocol_version() {
    let dev = fake(
        Scenario {
            version: 2,
            ..Scenario::default()
        },
        policy_file(10),
    );
    fails(
        &device(dev.port(), 500, &["status"]),
        5,
        "the device speaks version 2, this host version 1",
    );
}

#[test]
fn dimension_mismatch_is_found_before_sending() {
    let dev = fake(Scenario::default(), policy_file(11));
    let small = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixpo-core/tests/fixtures/v1_gaussian_3_8_1.fxp");
    fails(
        &device(dev.port(), 500, &["push", small.to_str().unwrap()]),
        6,
        "the policy file is 3→8×8→1 Gaussian, the device runs 3→32×32→1 Gaussian",
    );
    assert!(dev.saw("Hello"));
    assert!(!dev.saw("PushBegin"));
}

#[test]
fn dimension_mismatch_reported_by_the_device() {
    let other = Dims { obs: 4, ..DIMS };
    let dev = fake(
        Scenario {
            refuse_begin: Some(ErrorCode::DimensionMismatch { device: other }),
            ..Scenario::default()
        },
        policy_file(12),
    );
    let t = tempfile::tempdir().unwrap();
    let p = write(t.path(), "p.fxp", &policy_file(13));
    fails(
        &device(dev.port(), 500, &["push", p.to_str().unwrap()]),
        6,
        "the device runs 4→32×32→1 Gaussian",
    );
}

#[test]
fn too_large_is_found_before_sending() {
    let dev = fake(
        Scenario {
            max_file: 1000,
            ..Scenario::default()
        },
        policy_file(14),
    );
    let t = tempfile::tempdir().unwrap();
    let file = policy_file(15);
    let p = write(t.path(), "p.fxp", &file);
    fails(
        &device(dev.port(), 500, &["push", p.to_str().unwrap()]),
        7,
        &format!("{} bytes, the device takes at most 1000", file.len()),
    );
    assert!(!dev.saw("PushBegin"));
}

#[test]
fn busy_device_refuses_push_pull_adapt_reset() {
    let dev = fake(
        Scenario {
            busy: true,
            ..Scenario::default()
        },
        policy_file(16),
    );
    let t = tempfile::tempdir().unwrap();
    let p = write(t.path(), "p.fxp", &policy_file(17));
    let out = t.path().join("out.fxp");
    for args in [
        vec!["push", p.to_str().unwrap()],
        vec!["pull", "--out", out.to_str().unwrap()],
        vec!["adapt", "--updates", "3"],
        vec!["reset"],
    ] {
        fails(&device(dev.port(), 500, &args), 8, "device busy");
    }
    assert!(!out.exists());
    // Status still answers, and says what it is busy with.
    let s = ok(&device(dev.port(), 500, &["status"]));
    assert!(s.contains("adapting, 2 of 10 updates done"), "{s}");
}

#[test]
fn corrupt_pull_writes_nothing() {
    let dev = fake(
        Scenario {
            corrupt_pull: true,
            ..Scenario::default()
        },
        policy_file(18),
    );
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("pulled.fxp");
    fails(
        &device(dev.port(), 500, &["pull", "--out", out.to_str().unwrap()]),
        11,
        "pulled active policy is corrupt",
    );
    let left: Vec<_> = std::fs::read_dir(t.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn bad_policy_file_is_refused_before_connecting() {
    let dev = fake(Scenario::default(), policy_file(19));
    let t = tempfile::tempdir().unwrap();
    let mut file = policy_file(20);
    let n = file.len();
    file[n / 2] ^= 0xFF;
    let p = write(t.path(), "bad.fxp", &file);
    fails(
        &device(dev.port(), 500, &["push", p.to_str().unwrap()]),
        10,
        "bad.fxp",
    );
    let missing = t.path().join("missing.fxp");
    fails(
        &device(dev.port(), 500, &["push", missing.to_str().unwrap()]),
        10,
        "missing.fxp",
    );
    assert_eq!(dev.state().connections, 0);
}

#[test]
fn ctrl_c_during_push_aborts_and_keeps_the_old_policy() {
    let factory = policy_file(21);
    let dev = fake(
        Scenario {
            chunk_delay: Duration::from_millis(40),
            ..Scenario::default()
        },
        factory.clone(),
    );
    let t = tempfile::tempdir().unwrap();
    let p = write(t.path(), "p.fxp", &policy_file(22));
    let child = Proc::new(env!("CARGO_BIN_EXE_fixpo"))
        .args(["device", "--port", dev.port(), "push", p.to_str().unwrap()])
        .env_remove("FIXPO_PORT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while dev.state().chunks < 3 {
        assert!(start.elapsed() < Duration::from_secs(5), "no chunks");
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed = Proc::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    fails(&out, 130, "push aborted; the device keeps its old policy");
    assert!(dev.state().aborted);
    assert_eq!(dev.state().active, factory);
    assert!(!dev.saw("PushCommit"));
}

#[test]
fn ctrl_c_during_adapt_stops_the_device_and_keeps_every_report() {
    let dev = fake(
        Scenario {
            report_delay: Duration::from_millis(10),
            ..Scenario::default()
        },
        policy_file(23),
    );
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("adapt");
    let child = Proc::new(env!("CARGO_BIN_EXE_fixpo"))
        .args(["device", "--port", dev.port(), "adapt", "--updates", "1000"])
        .args(["--out", dir.to_str().unwrap()])
        .env_remove("FIXPO_PORT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while dev.state().reports < 5 {
        assert!(start.elapsed() < Duration::from_secs(5), "no reports");
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed = Proc::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dev.saw("Stop"));
    let sent = dev.state().reports;
    assert!(sent < 1000);
    assert!(
        stdout.contains(&format!("adaptation stopped: {sent} updates")),
        "{stdout}"
    );
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    assert_eq!(text.lines().count() as u32, sent);
}

// ---------------------------------------------------------------------------
// The command line itself.

#[test]
fn help_lists_every_subcommand_and_the_exit_codes() {
    let out = ok(&fixpo(&["device", "--help"]));
    for sub in [
        "list", "status", "push", "pull", "adapt", "monitor", "reset",
    ] {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(&format!("{sub} "))),
            "`{sub}` missing from:\n{out}"
        );
    }
    for code in ["3 ", "4 ", "5 ", "6 ", "7 ", "8 ", "130"] {
        assert!(
            out.contains(&format!("    {code}")),
            "exit code {code} missing"
        );
    }
    assert!(out.contains("FIXPO_PORT"), "{out}");
    let top = ok(&fixpo(&["--help"]));
    assert!(top.contains("device"), "{top}");
    ok(&fixpo(&["device", "list"]));
}
