//! Logs: `tracing` events formatted by `tracing_subscriber`, written to stderr in batches.
//!
//! Every request logs a line, so the write is on the hot path. Writing each line with its own
//! write(2), or handing each to a writer thread that must be woken for it (tracing-appender),
//! cost a system call and often a context switch per request in the benchmark's profile. Here a
//! line is appended to a shared buffer; a thread writes the buffer out every
//! [`FLUSH_INTERVAL`], a full buffer is written at once, and [`FlushOnDrop`] writes what is
//! left when the process ends. A line reaches stderr at most [`FLUSH_INTERVAL`] late.
//!
//! The per-request line ([`answered`]) is formatted here rather than by `tracing_subscriber`,
//! in the same layout: through the subscriber's formatter it was 3 of a conversation fetch's
//! 18.7 µs of CPU in the benchmark (15.5 µs with `RUST_LOG=warn`).

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use axum::http::Method;

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How late a line may reach stderr.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// A buffer this full is written at once, so a burst cannot grow it without bound.
const MAX_BUFFERED: usize = 64 * 1024;

/// Installs the global subscriber: `RUST_LOG` or `info`, on stderr (stdout carries only the
/// banner and subcommands' JSON), colours only for a person at a terminal. Keep the guard alive
/// until the process ends: dropping it writes the last lines.
pub fn init() -> FlushOnDrop {
    let sink = BatchedStderr::default();
    let flusher = sink.clone();
    std::thread::Builder::new()
        .name("confab-log".into())
        .spawn(move || {
            loop {
                std::thread::sleep(FLUSH_INTERVAL);
                flusher.flush();
            }
        })
        .expect("could not start the log thread");
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    if !ansi {
        // At a terminal the request lines go through the subscriber too, for its colours.
        let _ = ACCESS_LOG.set(sink.clone());
    }
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(sink.clone())
                .with_ansi(ansi),
        )
        .with(filter_from_env())
        .init();
    FlushOnDrop(sink)
}

/// What `RUST_LOG` asks for: a default level and levels by target (`debug`,
/// `info,confab::webhooks=debug`), or `info` when it is unset or unreadable. `Targets` reads
/// these without the regular expressions of `EnvFilter` (span and field filters), which confab
/// does not need and whose crates took 12 s of CPU in a first build (docs/design.md, "Release
/// build: fat LTO for the benchmark and releases").
fn filter_from_env() -> Targets {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(Level::INFO))
}

/// Where [`answered`] writes, once [`init`] has installed the subscriber (without colours).
static ACCESS_LOG: OnceLock<BatchedStderr> = OnceLock::new();

thread_local! {
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(256));
}

/// The request log line, at `info` for target `confab::app` (so `RUST_LOG` filters it as any
/// event), laid out as the subscriber lays out its own lines:
/// `2026-11-26T04:37:38.713117Z  INFO confab::app: answered method=GET path=/v1/Conversations status=200 latency_us=557`.
/// The path is never followed by the query, which may carry identities.
pub fn answered(method: &Method, path: &str, status: u16, latency_us: u64) {
    if !tracing::enabled!(target: "confab::app", tracing::Level::INFO) {
        return;
    }
    let Some(sink) = ACCESS_LOG.get() else {
        // A terminal, or a library user's own subscriber: an ordinary event.
        tracing::info!(target: "confab::app", %method, path, status, latency_us, "answered");
        return;
    };
    LINE.with_borrow_mut(|line| {
        line.clear();
        write_request_line(line, SystemTime::now(), method, path, status, latency_us);
        sink.append(line);
    });
}

/// The line [`answered`] logs. Pieces copied in, numbers through itoa: through `write!` the
/// line's formatting was a twentieth of a conversation fetch's instructions.
fn write_request_line(
    line: &mut Vec<u8>,
    now: SystemTime,
    method: &Method,
    path: &str,
    status: u16,
    latency_us: u64,
) {
    let mut numbers = itoa::Buffer::new();
    write_timestamp(line, now);
    line.extend_from_slice(b"  INFO confab::app: answered method=");
    line.extend_from_slice(method.as_str().as_bytes());
    line.extend_from_slice(b" path=");
    line.extend_from_slice(path.as_bytes());
    line.extend_from_slice(b" status=");
    line.extend_from_slice(numbers.format(status).as_bytes());
    line.extend_from_slice(b" latency_us=");
    line.extend_from_slice(numbers.format(latency_us).as_bytes());
    line.push(b'\n');
}

/// `2026-11-26T04:37:38.713117Z`, as the subscriber writes its timestamps.
fn write_timestamp(line: &mut Vec<u8>, now: SystemTime) {
    let since_epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
    match crate::wire::time::Date(secs).ascii() {
        Some(date) => {
            line.extend_from_slice(&date[..19]);
            // A million added, its leading 1 dropped: six digits, leading zeros kept.
            let mut digits = itoa::Buffer::new();
            let padded = digits.format(1_000_000 + since_epoch.subsec_micros());
            line.push(b'.');
            line.extend_from_slice(&padded.as_bytes()[1..]);
            line.push(b'Z');
        }
        None => line.extend_from_slice(b"????-??-??T??:??:??.??????Z"),
    }
}

/// Writes the buffered lines when dropped (at the end of `main`).
pub struct FlushOnDrop(BatchedStderr);

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        self.0.flush();
    }
}

#[derive(Clone, Default)]
struct BatchedStderr {
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl BatchedStderr {
    /// Writes out everything buffered. The lock is held only to swap the buffer out.
    fn flush(&self) {
        let lines = std::mem::take(&mut *self.buffer.lock().unwrap_or_else(|e| e.into_inner()));
        if !lines.is_empty() {
            // Nowhere to report a failed log write.
            let _ = std::io::stderr().lock().write_all(&lines);
        }
    }

    /// Buffers `line`, and writes the buffer out if that filled it.
    fn append(&self, line: &[u8]) {
        let full = {
            let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
            buffer.extend_from_slice(line);
            buffer.len() >= MAX_BUFFERED
        };
        if full {
            self.flush();
        }
    }
}

impl Write for BatchedStderr {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.append(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        BatchedStderr::flush(self);
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = BatchedStderr;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_the_subscribers_layout() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_131_858_713_117);
        let mut line = Vec::new();
        write_timestamp(&mut line, at);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "2025-11-26T04:37:38.713117Z"
        );
    }

    #[test]
    fn microseconds_keep_their_leading_zeros() {
        for (micros, written) in [(0, ".000000Z"), (42, ".000042Z"), (100_000, ".100000Z")] {
            let at = SystemTime::UNIX_EPOCH
                + Duration::from_secs(1_764_131_858)
                + Duration::from_micros(micros);
            let mut line = Vec::new();
            write_timestamp(&mut line, at);
            assert_eq!(&line[19..], written.as_bytes(), "{micros} µs");
        }
    }

    #[test]
    fn the_request_line_is_the_subscribers_layout() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_131_858_000_007);
        let mut line = Vec::new();
        write_request_line(
            &mut line,
            at,
            &Method::DELETE,
            "/v1/Users/US1",
            204,
            1_234_567,
        );
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "2025-11-26T04:37:38.000007Z  INFO confab::app: answered method=DELETE \
             path=/v1/Users/US1 status=204 latency_us=1234567\n"
        );
    }
}
