//! Logging: to the journal when systemd started us with its journal on standard error
//! (`JOURNAL_STREAM`), else to standard error as text or, with `--log-format json`, one
//! JSON object per line for log shippers.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `detail`: debug level (keepalived's `-D`); `RUST_LOG` overrides both.
///
/// Standard error is written by a background thread: the protocol thread only queues the
/// line, so a slow or stuck reader of our standard error (a full pipe) can never delay an
/// advertisement; lines are dropped rather than block when the queue is full. Keep the
/// returned guard alive until exit: dropping it flushes the queue.
pub fn init(
    detail: bool,
    format: LogFormat,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
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
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
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
