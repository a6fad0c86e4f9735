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
            use std::io::Write;
            let mut err = std::io::stderr();
            for message in rx {
                match message {
                    Message::Line(line) => {
                        let _ = err.write_all(&line);
                    }
                    Message::Flush(done) => {
                        let _ = err.flush();
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

impl std::io::Write for BackgroundWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Never block: a full queue drops the line.
        let _ = self.0.try_send(Message::Line(buf.to_vec()));
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
