//! A firmware under QEMU with its host link on a unix socket, and a
//! bare-bones protocol client written on fixpo-proto alone (for the frames
//! `fixpo device` would never send: corrupted, oversized, out of order).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fixpo_proto::{Command as Cmd, Decoder, Feed, MAX_FRAME, Reply, Request, encode};

use crate::qemu::{defmt_print, psram_backing};

/// The qemu-mps2 firmware running under QEMU, UART0 on a unix socket
/// (QEMU is the server), its PSRAM on a file, its defmt log collected.
pub struct Device {
    qemu: Child,
    /// The socket `fixpo device --port` takes.
    pub socket: PathBuf,
    log: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Device {
    /// Boots `elf` with these semihosting words on `psram`; returns once
    /// the socket exists.
    pub fn boot(elf: &Path, args: &[String], psram: &Path, socket: &Path) -> Device {
        let _ = std::fs::remove_file(socket);
        let mut sh = String::from("enable=on,target=native,arg=fixpo");
        for a in args {
            sh.push_str(&format!(",arg={}", a.replace(',', ",,")));
        }
        let serial = format!("unix:{},server=on,wait=off", socket.display());
        let mut qemu = Command::new("qemu-system-arm")
            .args(["-machine", "mps2-an386", "-cpu", "cortex-m4", "-nographic"])
            .args(["-monitor", "none", "-serial", &serial])
            .args(["-semihosting-config", &sh])
            .arg("-kernel")
            .arg(elf)
            .args(psram_backing(psram))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("qemu-system-arm");
        let mut decoder = Command::new(defmt_print())
            .arg("-e")
            .arg(elf)
            .stdin(qemu.stdout.take().expect("qemu stdout"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("defmt-print");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        let out = decoder.stdout.take().expect("defmt-print stdout");
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
            let _ = decoder.wait();
        });
        let t0 = Instant::now();
        while !socket.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "QEMU made no socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Device {
            qemu,
            socket: socket.to_path_buf(),
            log,
            reader: Some(reader),
        }
    }

    /// The decoded log so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log holds `count` lines containing `pat`; panics
    /// with the log after `limit`.
    pub fn wait_for(&self, pat: &str, count: usize, limit: Duration) -> String {
        let t0 = Instant::now();
        loop {
            let log = self.log();
            if log.lines().filter(|l| l.contains(pat)).count() >= count {
                return log;
            }
            assert!(
                t0.elapsed() < limit,
                "no {count}× `{pat}` within {limit:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: a power cut.
    pub fn kill(&mut self) -> String {
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.log()
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
    }
}

/// A minimal client: frames in, payloads out.
pub struct Raw {
    stream: UnixStream,
    decoder: Decoder,
    pending: Vec<u8>,
}

impl Raw {
    /// Connects to the device's socket.
    pub fn connect(socket: &Path) -> Raw {
        let stream = UnixStream::connect(socket).expect("connect to the device socket");
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut raw = Raw {
            stream,
            decoder: Decoder::new(),
            pending: Vec::new(),
        };
        raw.send_bytes(&[0]);
        raw
    }

    /// Sends raw bytes as they are.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to the device");
    }

    /// The frame of a request.
    pub fn frame(id: u16, cmd: Cmd<'_>) -> Vec<u8> {
        let mut buf = [0u8; MAX_FRAME];
        encode(&Request::new(id, cmd), &mut buf)
            .expect("encode")
            .to_vec()
    }

    /// The next frame's payload (CRC checked), waiting up to `limit`.
    pub fn next_payload(&mut self, limit: Duration) -> Option<Vec<u8>> {
        let t0 = Instant::now();
        loop {
            while !self.pending.is_empty() {
                let input = std::mem::take(&mut self.pending);
                match self.decoder.feed_raw(&input) {
                    Feed::Consumed => {}
                    Feed::Frame { result, remaining } => {
                        self.pending = remaining.to_vec();
                        match result {
                            Ok(p) => return Some(p.to_vec()),
                            Err(e) => panic!("device sent a bad frame: {e}"),
                        }
                    }
                }
            }
            if t0.elapsed() > limit {
                return None;
            }
            let mut buf = [0u8; 512];
            match self.stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("read from the device: {e}"),
            }
        }
    }

    /// Sends `bytes` and returns the next response's payload.
    pub fn exchange(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.send_bytes(bytes);
        self.next_payload(Duration::from_secs(30))
            .expect("no response within 30 s")
    }

    /// Sends a request and returns its response's payload (skipping
    /// frames with other ids).
    pub fn request(&mut self, id: u16, cmd: Cmd<'_>) -> Vec<u8> {
        self.send_bytes(&Self::frame(id, cmd));
        loop {
            let p = self
                .next_payload(Duration::from_secs(30))
                .expect("no response within 30 s");
            let r = fixpo_proto::parse_response(&p).expect("a response");
            if r.id == id {
                return p;
            }
        }
    }
}

/// The reply in a response payload.
pub fn reply(payload: &[u8]) -> Reply<'_> {
    fixpo_proto::parse_response(payload)
        .expect("a response of this version")
        .reply
}

/// A frame around an arbitrary payload (its CRC correct): for requests
/// this protocol version does not have.
pub fn frame_of_payload(payload: &[u8]) -> Vec<u8> {
    let mut decoded = payload.to_vec();
    decoded.extend_from_slice(&fixpo_proto::crc32(payload).to_le_bytes());
    let mut out = vec![0u8; fixpo_proto::cobs_max(decoded.len()) + 1];
    let n = cobs_encode(&decoded, &mut out);
    out.truncate(n);
    out.push(0);
    out
}

/// COBS, written out (a textbook encoder, independent of postcard's).
fn cobs_encode(input: &[u8], out: &mut [u8]) -> usize {
    let (mut code_at, mut w, mut code) = (0, 1, 1u8);
    for &b in input {
        if b == 0 {
            out[code_at] = code;
            code_at = w;
            w += 1;
            code = 1;
        } else {
            out[w] = b;
            w += 1;
            code += 1;
            if code == 0xFF {
                out[code_at] = code;
                code_at = w;
                w += 1;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    w
}
