//! Logs: `tracing` events formatted by `tracing_subscriber`, written to stderr in batches.
//!
//! Every request logs a line, so the write is on the hot path. Writing each line with its own
//! write(2), or handing each to a writer thread that must be woken for it (tracing-appender),
//! cost a system call and often a context switch per request in the benchmark's profile. Here a
//! line is appended to a shared buffer; a thread writes the buffer out every
//! [`FLUSH_INTERVAL`], a full buffer is written at once, and [`FlushOnDrop`] writes what is
//! left when the process ends. A line reaches stderr at most [`FLUSH_INTERVAL`] late.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

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
    tracing_subscriber::fmt()
        .with_writer(sink.clone())
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    FlushOnDrop(sink)
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
}

impl Write for BatchedStderr {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let full = {
            let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
            buffer.extend_from_slice(line);
            buffer.len() >= MAX_BUFFERED
        };
        if full {
            BatchedStderr::flush(self);
        }
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
