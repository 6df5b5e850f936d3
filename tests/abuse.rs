//! Abuse of the HTTP edge, against the real binary started as a child process under a low
//! open-file limit (its own process, so that its descriptors, memory and limits are its own):
//! idle connections past the limit, slowloris headers, header floods, uploads over the budget
//! of body bytes, and a stop while a request is in flight.
//!
//! The tests run one at a time (they measure time and memory on a small machine), each with
//! its own server and short limits given as flags.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine;

const ACCOUNT: &str = confab::server::DEV_ACCOUNT_SID;
const TOKEN: &str = confab::server::DEV_AUTH_TOKEN;

/// One test at a time: they measure time and memory.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // This process opens hundreds of sockets: take all the descriptors it may have.
    let _ = confab::edge::raise_open_file_limit();
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// confab as a child process, on its own port, in memory, killed when dropped.
struct Server {
    child: Child,
    addr: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts the binary with `args`, under an open-file limit of `files` (soft and hard, so
    /// that it cannot raise it), and waits until it answers.
    fn start(files: u64, args: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("confab.log");
        let out = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_confab"));
        command
            .args(["serve", "--db", ":memory:", "--listen", &addr])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        // SAFETY: between fork and exec, only setrlimit (async-signal-safe) runs.
        unsafe {
            command.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: files,
                    rlim_max: files,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("confab starts");
        let server = Server {
            child,
            addr,
            log,
            _dir: dir,
        };
        let started = Instant::now();
        while get(&server.addr, "/healthz", Duration::from_secs(1)) != Some(200) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "confab did not start: {}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The server's resident memory, in bytes.
    fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS");
        kb * 1024
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn basic() -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}"));
    format!("Basic {encoded}")
}

/// One request on a fresh connection; its status, or `None` if no answer came in `wait`.
fn get(addr: &str, path: &str, wait: Duration) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(wait)).ok()?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: confab\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        basic()
    );
    stream.write_all(request.as_bytes()).ok()?;
    status_of(&mut stream)
}

/// Reads a response's status line off `stream` (and the rest until the server closes).
fn status_of(stream: &mut TcpStream) -> Option<u16> {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&chunk[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Whether the server has closed `stream` (a read sees the end, or a reset), waiting up to
/// `wait`; bytes the server sends first (an error answer) are read and dropped.
fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut chunk = [0u8; 1024];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match stream.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
    false
}

/// Past the open-file limit, idle connections do not lock a fresh client out: at the
/// connection cap the server closes connections that have no request in progress to make
/// room, long before its idle timeout (here a minute).
#[test]
fn idle_connections_past_the_limit_do_not_stop_a_fresh_client() {
    let _one = one_at_a_time();
    let server = Server::start(256, &["--idle-timeout", "60s", "--header-timeout", "60s"]);
    let idle: Vec<TcpStream> = (0..400).map(|_| server.connect()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let answered = get(&server.addr, "/v1/Conversations", Duration::from_secs(10));
    assert_eq!(
        answered,
        Some(200),
        "a fresh client after 400 idle connections, within {:?}\n{}",
        started.elapsed(),
        server.log()
    );
    // A write too, and the server's log says why it closed connections.
    let mut stream = server.connect();
    let body = "FriendlyName=after-the-flood";
    let request = format!(
        "POST /v1/Conversations HTTP/1.1\r\nHost: confab\r\nAuthorization: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        basic(),
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(status_of(&mut stream), Some(201));
    assert!(
        server.log().contains("at the connection limit"),
        "{}",
        server.log()
    );
    drop(idle);
}

/// Slowloris: connections that send their headers a byte at a time are closed once the header
/// timeout has passed since their first byte, while an idle connection (no byte sent) stays
/// until the idle timeout.
#[test]
fn slowloris_connections_are_closed_after_the_header_timeout() {
    let _one = one_at_a_time();
    let server = Server::start(1024, &["--header-timeout", "1s", "--idle-timeout", "4s"]);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Instant::now();
    let mut dripping = Vec::new();
    for i in 0..100 {
        let mut stream = server.connect();
        stream
            .write_all(format!("GET /healthz HTTP/1.1\r\nX-Slow-{i}: ").as_bytes())
            .unwrap();
        dripping.push(stream);
    }
    let mut idle = server.connect();
    let idle_opened = Instant::now();
    // Keep dripping a byte every 100 ms into each, from another thread.
    let drips: Vec<TcpStream> = dripping.iter().map(|s| s.try_clone().unwrap()).collect();
    let dripper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for mut s in &drips {
                    let _ = s.write_all(b"a");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    for (i, stream) in dripping.iter_mut().enumerate() {
        let left = Duration::from_secs(4).saturating_sub(started.elapsed());
        assert!(
            closed_within(stream, left),
            "slowloris connection {i} still open after {:?}",
            started.elapsed()
        );
    }
    let all_closed = started.elapsed();
    assert!(
        all_closed >= Duration::from_millis(900),
        "closed before the header timeout: {all_closed:?}"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    dripper.join().unwrap();
    // The idle connection outlives twice the header timeout, and is closed by the idle one.
    assert!(
        !closed_within(
            &mut idle,
            Duration::from_secs(2).saturating_sub(idle_opened.elapsed())
        ),
        "an idle connection was closed by the header timeout"
    );
    assert!(
        closed_within(&mut idle, Duration::from_secs(6)),
        "an idle connection outlived the idle timeout"
    );
    assert!(idle_opened.elapsed() >= Duration::from_millis(3900));
    // The server still answers.
    assert_eq!(
        get(&server.addr, "/healthz", Duration::from_secs(5)),
        Some(200)
    );
}

/// Header floods (clients sending header lines and never finishing a request) hold little
/// memory while they last, and give it back: each connection's head is at most 32 KiB (431
/// past it) in a 64 KiB buffer, and the connections are capped.
#[test]
fn header_floods_do_not_grow_memory_without_bound() {
    let _one = one_at_a_time();
    let server = Server::start(256, &["--header-timeout", "2s"]);
    // A few requests first, so that the baseline includes the server's warm state.
    for _ in 0..20 {
        assert_eq!(
            get(&server.addr, "/v1/Conversations", Duration::from_secs(5)),
            Some(200)
        );
    }
    let baseline = server.rss();
    let flooding = Duration::from_secs(3);
    let started = Instant::now();
    let flooders: Vec<_> = (0..300)
        .map(|i| {
            let addr = server.addr.clone();
            std::thread::spawn(move || {
                let line = format!("X-Flood-{i}: {}\r\n", "f".repeat(1000));
                while started.elapsed() < flooding {
                    let Ok(mut stream) = TcpStream::connect(&addr) else {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
                    let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: confab\r\n");
                    while started.elapsed() < flooding && stream.write_all(line.as_bytes()).is_ok()
                    {
                    }
                }
            })
        })
        .collect();
    let mut peak = baseline;
    while started.elapsed() < flooding {
        peak = peak.max(server.rss());
        std::thread::sleep(Duration::from_millis(50));
    }
    for flooder in flooders {
        flooder.join().unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = server.rss();
    const MB: u64 = 1024 * 1024;
    assert!(
        peak.saturating_sub(baseline) < 48 * MB,
        "RSS grew from {} MB to {} MB under the flood",
        baseline / MB,
        peak / MB
    );
    assert!(
        after.saturating_sub(baseline) < 32 * MB,
        "RSS stayed at {} MB after the flood (from {} MB)",
        after / MB,
        baseline / MB
    );
    assert_eq!(
        get(&server.addr, "/healthz", Duration::from_secs(5)),
        Some(200)
    );
}

/// An upload written slowly: headers, then `size` bytes in ten pieces over `over`; the status
/// of the answer, read while writing (a refusal comes before the body is read).
fn slow_upload(addr: &str, service: &str, size: usize, over: Duration) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    let head = format!(
        "POST /v1/Services/{service}/Media HTTP/1.1\r\nHost: confab\r\nAuthorization: {}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\
         Connection: close\r\n\r\n",
        basic()
    );
    stream.write_all(head.as_bytes()).ok()?;
    let mut reader = stream.try_clone().ok()?;
    let reading = std::thread::spawn(move || {
        reader
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut answer = Vec::new();
        let _ = reader.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).to_string()
    });
    let body = vec![b'm'; size];
    for piece in body.chunks(size.div_ceil(10)) {
        if stream.write_all(piece).is_err() {
            break;
        }
        std::thread::sleep(over / 10);
    }
    let _ = stream.shutdown(Shutdown::Write);
    let answer = reading.join().ok()?;
    let status = answer.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    Some((status, answer))
}

/// The default service's SID.
fn default_service(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    let request = format!(
        "GET /v1/Services HTTP/1.1\r\nHost: confab\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        basic()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let at = answer.find("\"sid\":\"IS").expect("a service") + 7;
    answer[at..at + 34].to_string()
}

/// Concurrent uploads past the budget of body bytes in flight are refused cleanly (429,
/// 20429, Retry-After, Connection: close) while the others go through; the budget is given
/// back, so the next upload goes through too.
#[test]
fn uploads_over_the_byte_budget_are_refused_cleanly() {
    let _one = one_at_a_time();
    let budget = 12 * 1024 * 1024;
    let server = Server::start(1024, &["--body-bytes-in-flight", &budget.to_string()]);
    let service = default_service(&server.addr);
    let baseline = server.rss();
    let size = 5 * 1024 * 1024;
    let uploads: Vec<_> = (0..6)
        .map(|_| {
            let (addr, service) = (server.addr.clone(), service.clone());
            std::thread::spawn(move || slow_upload(&addr, &service, size, Duration::from_secs(2)))
        })
        .collect();
    let answers: Vec<(u16, String)> = uploads
        .into_iter()
        .map(|u| u.join().unwrap().expect("an answer"))
        .collect();
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let refused: Vec<&String> = answers
        .iter()
        .filter(|(s, _)| *s == 429)
        .map(|(_, a)| a)
        .collect();
    assert_eq!(
        (created, refused.len()),
        (2, 4),
        "two 5 MB uploads fit a 12 MB budget: {:?}",
        answers.iter().map(|(s, _)| s).collect::<Vec<_>>()
    );
    for answer in refused {
        let lower = answer.to_ascii_lowercase();
        assert!(lower.contains("\"code\":20429"), "{answer}");
        assert!(lower.contains("retry-after: 1\r\n"), "{answer}");
        assert!(lower.contains("connection: close\r\n"), "{answer}");
    }
    const MB: u64 = 1024 * 1024;
    assert!(
        server.rss().saturating_sub(baseline) < 64 * MB,
        "RSS grew from {} MB to {} MB",
        baseline / MB,
        server.rss() / MB
    );
    let again = slow_upload(&server.addr, &service, size, Duration::from_millis(100));
    assert_eq!(
        again.map(|(s, _)| s),
        Some(201),
        "the budget was given back"
    );
}

/// A body that stops arriving is given up after the body timeout: 400 (20001), and the
/// connection is closed.
#[test]
fn a_body_that_stops_arriving_times_out() {
    let _one = one_at_a_time();
    let server = Server::start(1024, &["--body-timeout", "1s"]);
    let mut stream = server.connect();
    let request = format!(
        "POST /v1/Conversations HTTP/1.1\r\nHost: confab\r\nAuthorization: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nFriendly",
        basic()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 400") && answer.contains("\"code\":20001"),
        "{answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    let waited = started.elapsed();
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(5)).contains(&waited),
        "{waited:?}"
    );
}

/// SIGTERM during a request: the request in flight is finished (its answer written), new
/// connections are no longer accepted, and the process exits 0.
#[test]
fn a_stop_finishes_the_request_in_flight() {
    let _one = one_at_a_time();
    let mut server = Server::start(1024, &[]);
    let service = default_service(&server.addr);
    let addr = server.addr.clone();
    let upload = std::thread::spawn(move || {
        slow_upload(&addr, &service, 1024 * 1024, Duration::from_millis(1500))
    });
    std::thread::sleep(Duration::from_millis(400));
    // SAFETY: kill(2) on the child's own pid.
    unsafe {
        libc::kill(server.child.id() as libc::pid_t, libc::SIGTERM);
    }
    let answer = upload.join().unwrap();
    assert_eq!(answer.as_ref().map(|(s, _)| *s), Some(201), "{answer:?}");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}\n{}", server.log());
    assert!(TcpStream::connect(&server.addr).is_err(), "still accepting");
}
