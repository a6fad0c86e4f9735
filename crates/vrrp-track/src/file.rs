//! `track_file`: a number read from a file, watched with inotify.
//!
//! The directory holding the file is watched (not the file), so that replacing the file by
//! `rename` (the atomic way to write it) is seen, as are deletion and creation. The value is
//! read again on `IN_CLOSE_WRITE` and `IN_MOVED_TO`; `IN_DELETE` and `IN_MOVED_FROM` mean
//! the file is gone, which counts as 0 (keepalived `track_file.c`). Every
//! [`FileTracker::RESYNC`] all files are read again anyway, in case an event was lost
//! (inotify queue overflow, a writer that never closes the file).
//!
//! Reading follows keepalived: at most 127 bytes, parsed like `strtol(buf, NULL, 0)`
//! (leading blanks, sign, `0x` hex, leading-`0` octal, stops at the first non-digit; no
//! digits at all reads as 0). A missing, unreadable or empty file is 0. A number outside the
//! `i32` range is logged and ignored (the previous value stays).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read as _};
use std::os::fd::{AsFd as _, AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use crate::tracker::{TrackerEvent, TrackerKind, TrackerStatus};

/// `init_file [VALUE] [overwrite]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInit {
    /// The value written (default 0).
    pub value: i64,
    /// Overwrite an existing file (not on reload); without it the file is only created when
    /// missing.
    pub overwrite: bool,
}

/// A `track_file` block.
///
/// | keepalived | field | default |
/// |---|---|---|
/// | `track_file NAME` (alias `vrrp_track_file`) | `name` | |
/// | `file "PATH"` | `path` | |
/// | `weight N [reverse]` | `weight`, `reverse` (defaults for the instance's `track_file`) | **1** |
/// | `init_file [VALUE] [overwrite]` | `init` | none |
#[derive(Debug, Clone)]
pub struct FileSpec {
    /// `track_file NAME`
    pub name: String,
    /// `file "PATH"`: the file whose number is read.
    pub path: PathBuf,
    /// `weight N`: the value read times this adjusts the priority (0: non-zero means Fault).
    pub weight: i32,
    /// `weight N reverse`: the weight counts the other way (see [`crate::weights`]).
    pub reverse: bool,
    /// `init_file [VALUE] [overwrite]`
    pub init: Option<FileInit>,
}

impl FileSpec {
    /// A spec with keepalived's defaults (weight 1, no `init_file`).
    pub fn new(name: &str, path: impl Into<PathBuf>) -> FileSpec {
        FileSpec {
            name: name.to_string(),
            path: path.into(),
            weight: 1,
            reverse: false,
            init: None,
        }
    }
}

/// Applies `init_file` at start-up: creates the file with the value when it is missing, or
/// overwrites it when `overwrite` is set and this is not a reload. An existing path that is
/// not a regular file is an error.
pub fn initialise(spec: &FileSpec, reload: bool) -> io::Result<()> {
    let Some(init) = spec.init else {
        return Ok(());
    };
    match fs::metadata(&spec.path) {
        Ok(m) => {
            if !init.overwrite || reload {
                return Ok(());
            }
            if !m.is_file() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "track_file {}: cannot initialise {}: not a regular file",
                        spec.name,
                        spec.path.display()
                    ),
                ));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    fs::write(&spec.path, format!("{}\n", init.value)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "track_file {}: cannot initialise {}: {e}",
                spec.name,
                spec.path.display()
            ),
        )
    })
}

/// Parses like C's `strtol(buf, NULL, 0)`: `None` only when the number does not fit in an
/// `i32` (keepalived then ignores the read).
pub fn parse_value(bytes: &[u8]) -> Option<i64> {
    let mut i = 0;
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    let mut negative = false;
    if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
        negative = bytes[i] == b'-';
        i += 1;
    }
    let mut radix = 10;
    if i + 1 < bytes.len()
        && bytes[i] == b'0'
        && (bytes[i + 1] == b'x' || bytes[i + 1] == b'X')
        && bytes.get(i + 2).is_some_and(|b| b.is_ascii_hexdigit())
    {
        radix = 16;
        i += 2;
    } else if i < bytes.len() && bytes[i] == b'0' {
        radix = 8;
    }
    let mut value: i64 = 0;
    while i < bytes.len() {
        let Some(d) = (bytes[i] as char).to_digit(radix) else {
            break;
        };
        value = value
            .saturating_mul(i64::from(radix))
            .saturating_add(i64::from(d));
        i += 1;
    }
    let value = if negative { -value } else { value };
    if value < i64::from(i32::MIN) || value > i64::from(i32::MAX) {
        None
    } else {
        Some(value)
    }
}

/// Reads a track file's value: `Ok(0)` when it is missing, unreadable or empty; `Err` with
/// the text when the number is out of range.
pub fn read_value(path: &Path) -> Result<i64, String> {
    let Ok(mut f) = fs::File::open(path) else {
        return Ok(0);
    };
    let mut buf = [0u8; 127];
    let mut len = 0;
    while len < buf.len() {
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Ok(0),
        }
    }
    parse_value(&buf[..len]).ok_or_else(|| String::from_utf8_lossy(&buf[..len]).trim().to_string())
}

struct InotifyFd(Inotify);

impl AsRawFd for InotifyFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

struct Watched {
    spec: FileSpec,
    /// Resolved path of the file (directory canonicalised).
    path: PathBuf,
    file_name: OsString,
    wd: i32,
    value: i64,
}

/// All `track_file`s of the daemon, on one inotify instance.
pub struct FileTracker {
    inotify: AsyncFd<InotifyFd>,
    state: Files,
}

struct Files {
    files: Vec<Watched>,
    by_wd: HashMap<i32, Vec<usize>>,
}

impl FileTracker {
    /// How often every file is read again regardless of events.
    pub const RESYNC: Duration = Duration::from_secs(10);

    /// Sets up the watches and reads the initial values. Must be called inside a tokio
    /// runtime (the inotify descriptor is registered with it). Fails when a file's
    /// directory does not exist (keepalived drops such a tracker with a config error).
    pub fn new(specs: Vec<FileSpec>) -> io::Result<FileTracker> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .map_err(io::Error::from)?;
        let mask = AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF;
        let mut files = Vec::new();
        let mut by_wd: HashMap<i32, Vec<usize>> = HashMap::new();
        for spec in specs {
            let Some(file_name) = spec.path.file_name().map(|n| n.to_os_string()) else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "track_file {}: {} names no file",
                        spec.name,
                        spec.path.display()
                    ),
                ));
            };
            let dir = match spec.path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let dir = fs::canonicalize(&dir).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "track_file {}: directory {} of {}: {e}",
                        spec.name,
                        dir.display(),
                        spec.path.display()
                    ),
                )
            })?;
            let wd = inotify.add_watch(&dir, mask).map_err(|e| {
                io::Error::other(format!(
                    "track_file {}: cannot watch {}: {e}",
                    spec.name,
                    dir.display()
                ))
            })?;
            let path = dir.join(&file_name);
            let value = match read_value(&path) {
                Ok(v) => v,
                Err(text) => {
                    warn!(file = %spec.name, "track_file {}: invalid number {text:?} in {}; using 0", spec.name, path.display());
                    0
                }
            };
            by_wd.entry(wd.as_raw()).or_default().push(files.len());
            files.push(Watched {
                spec,
                path,
                file_name,
                wd: wd.as_raw(),
                value,
            });
        }
        // SAFETY: InotifyFd owns the inotify descriptor (an OwnedFd inside nix's Inotify),
        // which stays open and unchanged until the AsyncFd and its inner value are dropped.
        let inotify = unsafe {
            AsyncFd::register_with_interest(InotifyFd(inotify), tokio::io::Interest::READABLE)
        }
        .map_err(io::Error::from)?;
        Ok(FileTracker {
            inotify,
            state: Files { files, by_wd },
        })
    }

    /// [`FileTracker::new`] from outside the runtime of `handle` (e.g. the daemon's
    /// main thread with the tracking thread's handle); spawn [`FileTracker::run`] on it.
    pub fn new_on(
        handle: &tokio::runtime::Handle,
        specs: Vec<FileSpec>,
    ) -> io::Result<FileTracker> {
        let _guard = handle.enter();
        FileTracker::new(specs)
    }

    /// The current value of each file, by tracker name.
    pub fn values(&self) -> Vec<(String, i64)> {
        self.state
            .files
            .iter()
            .map(|w| (w.spec.name.clone(), w.value))
            .collect()
    }

    /// Reports every file's initial value, then watches until `tx` is closed.
    pub async fn run(self, tx: UnboundedSender<TrackerEvent>) {
        let FileTracker { inotify, mut state } = self;
        for w in &state.files {
            let _ = tx.send(Files::event(
                w,
                format!("{} initial value {}", w.path.display(), w.value),
            ));
        }
        let mut resync = tokio::time::interval(Self::RESYNC);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        resync.tick().await;
        let mut inotify_ok = true;
        loop {
            tokio::select! {
                ready = inotify.readable(), if inotify_ok => {
                    let events = match ready {
                        Ok(mut guard) => match guard.get_inner().0.read_events() {
                            Ok(events) => events,
                            Err(Errno::EAGAIN) => {
                                guard.clear_ready();
                                Vec::new()
                            }
                            Err(Errno::EINTR) => Vec::new(),
                            Err(e) => {
                                warn!("track_file: reading inotify events: {e}");
                                guard.clear_ready();
                                Vec::new()
                            }
                        },
                        Err(e) => {
                            warn!("track_file: inotify failed: {e}; files are now only read every {} s", Self::RESYNC.as_secs());
                            inotify_ok = false;
                            Vec::new()
                        }
                    };
                    for ev in events {
                        state.handle(ev, &tx);
                    }
                }
                _ = resync.tick() => state.update_all(&tx),
                () = tx.closed() => return,
            }
        }
    }
}

impl Files {
    fn event(w: &Watched, detail: String) -> TrackerEvent {
        TrackerEvent {
            name: w.spec.name.clone(),
            kind: TrackerKind::File,
            status: TrackerStatus::Value(w.value),
            detail,
        }
    }

    /// Reads file `i` (or takes `gone` as 0) and reports a change.
    fn update(&mut self, i: usize, gone: bool, tx: &UnboundedSender<TrackerEvent>) {
        let w = &mut self.files[i];
        let (value, how) = if gone {
            (0, "removed")
        } else {
            match read_value(&w.path) {
                Ok(v) => (v, "read"),
                Err(text) => {
                    warn!(file = %w.spec.name, "track_file {}: invalid number {text:?} in {}; keeping {}", w.spec.name, w.path.display(), w.value);
                    return;
                }
            }
        };
        if value != w.value {
            info!(file = %w.spec.name, "track_file {}: {} now {value} (was {})", w.spec.name, w.path.display(), w.value);
            w.value = value;
            let _ = tx.send(Self::event(
                w,
                format!("{} {how}: {value}", w.path.display()),
            ));
        }
    }

    fn update_all(&mut self, tx: &UnboundedSender<TrackerEvent>) {
        for i in 0..self.files.len() {
            self.update(i, false, tx);
        }
    }

    fn handle(&mut self, ev: nix::sys::inotify::InotifyEvent, tx: &UnboundedSender<TrackerEvent>) {
        if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
            warn!("track_file: inotify queue overflow; reading every file");
            self.update_all(tx);
            return;
        }
        let wd = ev.wd.as_raw();
        if ev.mask.intersects(
            AddWatchFlags::IN_DELETE_SELF | AddWatchFlags::IN_MOVE_SELF | AddWatchFlags::IN_IGNORED,
        ) {
            if let Some(w) = self.files.iter().find(|w| w.wd == wd) {
                warn!(
                    "track_file: directory of {} was removed or moved; its files are now only read every {} s",
                    w.path.display(),
                    FileTracker::RESYNC.as_secs()
                );
            }
            return;
        }
        if ev.mask.contains(AddWatchFlags::IN_ISDIR) {
            return;
        }
        let Some(name) = ev.name else {
            return;
        };
        let Some(indices) = self.by_wd.get(&wd).cloned() else {
            return;
        };
        let gone = ev
            .mask
            .intersects(AddWatchFlags::IN_DELETE | AddWatchFlags::IN_MOVED_FROM);
        for i in indices {
            if self.files[i].file_name == name {
                self.update(i, gone, tx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_strtol() {
        assert_eq!(parse_value(b"42\n"), Some(42));
        assert_eq!(parse_value(b"  -7 trailing"), Some(-7));
        assert_eq!(parse_value(b"+5"), Some(5));
        assert_eq!(parse_value(b"0x1f"), Some(31));
        assert_eq!(parse_value(b"010"), Some(8));
        assert_eq!(parse_value(b"0"), Some(0));
        assert_eq!(parse_value(b""), Some(0));
        assert_eq!(parse_value(b"abc"), Some(0));
        assert_eq!(parse_value(b"0x"), Some(0));
        assert_eq!(parse_value(b"99999999999"), None);
        assert_eq!(parse_value(b"-2147483648"), Some(-2_147_483_648));
    }
}
