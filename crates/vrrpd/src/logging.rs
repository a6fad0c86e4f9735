//! Logging: to the journal when systemd started us with its journal on standard error
//! (`JOURNAL_STREAM`), else to standard error as text or, with `--log-format json`, one
//! JSON object per line for log shippers.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// `detail`: debug level (keepalived's `-D`); `RUST_LOG` overrides both.
///
/// Standard error is written by a background thread: the protocol thread only queues the
/// line, so a slow or stuck reader of our standard error (a full pipe) can never delay an
/// advertisement; lines are dropped rather than block when the queue is full. Keep the
/// returned guard alive until exit: dropping it flushes the queue.
pub(crate) fn init(detail: bool, format: LogFormat) -> Option<Flush> {
    let default = if detail { "debug" } else { "info" };
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));

    if format == LogFormat::Text
        && journal_is_stderr()
        && let Ok(journald) = tracing_journald::layer()
    {
        tracing_subscriber::registry()
            .with(filter())
            .with(journald)
            .init();
        return None;
    }
    let (writer, guard) = background_stderr();
    match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(writer)
            .with_ansi(false)
            .with_target(false)
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter())
            .with_writer(writer)
            .with_target(false)
            .init(),
    }
    Some(guard)
}

/// systemd sets `JOURNAL_STREAM=DEV:INODE` when standard error is connected to the journal;
/// it is ours only if standard error is still that file (not redirected by a wrapper).
fn journal_is_stderr() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(value) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    match std::fs::metadata("/proc/self/fd/2") {
        Ok(meta) => meta.dev() == dev && meta.ino() == ino,
        Err(_) => false,
    }
}

/// How many log lines may wait for the writer thread before new ones are dropped.
const QUEUED_LINES: usize = 16 * 1024;

/// A `MakeWriter` whose writes are queued for a background thread that writes standard
/// error. Hand-written rather than `tracing-appender` (which does the same) because that
/// crate brings the `time` crate and its macros for rolling files vrrpd does not use.
#[derive(Clone)]
pub(crate) struct BackgroundWriter(std::sync::mpsc::SyncSender<Message>);

pub(crate) enum Message {
    Line(Vec<u8>),
    /// Answer once every line queued before is written.
    Flush(std::sync::mpsc::SyncSender<()>),
    /// Run on the writer thread (what is per thread, like capabilities), and answer.
    Run(WriterJob, std::sync::mpsc::SyncSender<Result<(), String>>),
}

pub(crate) type WriterJob = Box<dyn FnOnce() -> Result<(), String> + Send>;

/// The writer thread's queue, when there is one.
static WRITER: std::sync::OnceLock<std::sync::mpsc::SyncSender<Message>> =
    std::sync::OnceLock::new();

/// Runs `job` on the log writer thread and waits (at most a second) for its answer; `None`
/// when there is no writer thread (journal). Never blocks on a full queue.
pub(crate) fn on_writer_thread(job: WriterJob) -> Option<Result<(), String>> {
    let (done, answer) = std::sync::mpsc::sync_channel(1);
    let queued = WRITER.get()?.try_send(Message::Run(job, done));
    Some(match queued {
        Ok(()) => answer
            .recv_timeout(std::time::Duration::from_secs(1))
            .unwrap_or_else(|_| Err("the log writer did not answer".into())),
        Err(_) => Err("the log writer's queue is full".into()),
    })
}

/// Dropping it waits (at most a second) until the queued lines are written.
pub(crate) struct Flush(std::sync::mpsc::SyncSender<Message>);

impl Drop for Flush {
    fn drop(&mut self) {
        let (done, written) = std::sync::mpsc::sync_channel(1);
        if self.0.send(Message::Flush(done)).is_ok() {
            let _ = written.recv_timeout(std::time::Duration::from_secs(1));
        }
    }
}

fn background_stderr() -> (BackgroundWriter, Flush) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Message>(QUEUED_LINES);
    let _ = std::thread::Builder::new()
        .name("vrrpd-log".into())
        .spawn(move || {
            let mut sink = Sink::new(std::io::stderr());
            for message in rx {
                match message {
                    Message::Line(line) => sink.line(&line),
                    Message::Flush(done) => {
                        let _ = std::io::Write::flush(&mut sink.out);
                        let _ = done.send(());
                    }
                    Message::Run(job, done) => {
                        let _ = done.send(job());
                    }
                }
            }
        });
    let _ = WRITER.set(tx.clone());
    (BackgroundWriter(tx.clone()), Flush(tx))
}

/// Lines dropped because the writer's queue was full.
static DROPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The writer thread's end: the lines it could not write (a full disk under a redirected
/// standard error, a closed pipe) are counted, and once writing works again the log says
/// how many were lost and why, once, rather than failing silently.
struct Sink<W> {
    out: W,
    lost: u64,
    error: Option<std::io::Error>,
    /// The last failed write left half a line.
    partial: bool,
}

impl<W: std::io::Write> Sink<W> {
    fn new(out: W) -> Sink<W> {
        Sink {
            out,
            lost: 0,
            error: None,
            partial: false,
        }
    }

    fn line(&mut self, line: &[u8]) {
        if self.partial && self.write(b"\n").is_err() {
            self.lost += 1;
            return;
        }
        self.partial = false;
        match self.write(line) {
            Ok(()) => self.resumed(),
            Err((written, e)) => {
                self.lost += 1;
                self.partial = written > 0;
                self.error.get_or_insert(e);
            }
        }
    }

    /// Writes all of `buf`, or says how much was written before the error.
    fn write(&mut self, mut buf: &[u8]) -> Result<(), (usize, std::io::Error)> {
        let mut written = 0;
        while !buf.is_empty() {
            match self.out.write(buf) {
                Ok(0) => return Err((written, std::io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    written += n;
                    buf = &buf[n..];
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err((written, e)),
            }
        }
        Ok(())
    }

    /// A line was written: says what was lost before it (through the subscriber, so in the
    /// log's format; the line is queued behind this one).
    fn resumed(&mut self) {
        let dropped = DROPPED.swap(0, std::sync::atomic::Ordering::Relaxed);
        if let Some(e) = self.error.take() {
            tracing::warn!(
                "the log could not be written ({e}): {} line(s) lost; writing again",
                self.lost
            );
        }
        if dropped > 0 {
            tracing::warn!("{dropped} log line(s) dropped: the log writer fell behind");
        }
        self.lost = 0;
    }
}

impl std::io::Write for BackgroundWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Never block: a full queue drops the line (counted, and said once the queue drains).
        if self.0.try_send(Message::Line(buf.to_vec())).is_err() {
            DROPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BackgroundWriter {
    type Writer = BackgroundWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails while `full`, after writing `fits` bytes of a write.
    struct Disk {
        text: Vec<u8>,
        full: bool,
        fits: usize,
    }

    impl std::io::Write for Disk {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if !self.full {
                self.text.extend_from_slice(buf);
                return Ok(buf.len());
            }
            if self.fits > 0 {
                let n = self.fits.min(buf.len());
                self.text.extend_from_slice(&buf[..n]);
                self.fits -= n;
                return Ok(n);
            }
            Err(std::io::Error::from_raw_os_error(28))
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lost_lines_are_counted_and_a_half_line_is_ended() {
        let mut sink = Sink::new(Disk {
            text: Vec::new(),
            full: false,
            fits: 0,
        });
        sink.line(b"one\n");
        sink.out.full = true;
        sink.out.fits = 2;
        sink.line(b"two\n");
        sink.line(b"three\n");
        assert_eq!(sink.lost, 2);
        assert!(sink.partial);
        sink.out.full = false;
        sink.line(b"four\n");
        assert_eq!(String::from_utf8_lossy(&sink.out.text), "one\ntw\nfour\n");
        assert_eq!(
            (sink.lost, sink.partial, sink.error.is_none()),
            (0, false, true)
        );
    }
}
