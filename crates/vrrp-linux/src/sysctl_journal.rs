//! The original values of the sysctls a daemon changed, written down as they are changed, so
//! that a daemon killed before it could restore them (SIGKILL, OOM, power to the process cut)
//! puts them back at its next start. Without it the next run's [`SysctlGuard`] would save the
//! killed run's values as the "old" ones, and a clean stop would leave them for good: a base
//! interface kept at `arp_ignore=1`, `arp_filter=1`, `arp_announce=2` after the daemon is gone
//! (keepalived 2.2.7 leaves them so too).
//!
//! One journal per process: a text file of `PATH VALUE` lines, first value per path wins.
//! The daemon keeps it next to its pid file, whose lock makes it the only writer. Only paths
//! under `/proc/sys/net/` are read back: the file must not be a way to write other sysctls.
//!
//! [`SysctlGuard`]: crate::SysctlGuard

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where [`record`] writes, between [`recover`] and [`close`], and its first failure.
static JOURNAL: Mutex<Option<Journal>> = Mutex::new(None);

struct Journal {
    path: PathBuf,
    failed: Option<io::Error>,
}

const ALLOWED: &str = "/proc/sys/net/";

/// The `(path, value)` entries of a journal text, first per path, allowed paths only.
fn parse(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    // A last line without its newline was cut by a failed write (a full disk): its value may
    // be cut too, so it is not trusted.
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    for line in complete.lines() {
        let Some((path, value)) = line.split_once(' ') else {
            continue;
        };
        let safe = path.starts_with(ALLOWED) && !path.contains("/../") && !path.ends_with("/..");
        if safe && !value.contains('\n') && !out.iter().any(|(p, _)| p == path) {
            out.push((path.to_string(), value.to_string()));
        }
    }
    out
}

/// Puts back the values a killed run's journal at `path` recorded (those still present),
/// empties it and journals this process's changes there from now on. Returns what was
/// changed back and the errors (the file unreadable, a sysctl that could not be written).
pub fn recover(path: &Path) -> (Vec<(String, String)>, Vec<io::Error>) {
    let mut restored = Vec::new();
    let mut errors = Vec::new();
    match fs::read_to_string(path) {
        Ok(text) => {
            for (p, value) in parse(&text) {
                match crate::sysctl::set(&p, &value) {
                    Ok(old) if old != value => restored.push((p, value)),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => errors.push(e),
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => errors.push(io::Error::new(
            e.kind(),
            format!("read {}: {e}", path.display()),
        )),
    }
    if let Err(e) = fs::write(path, "").and_then(|()| reserve(path)) {
        errors.push(io::Error::new(
            e.kind(),
            format!(
                "write {}: {e}; sysctls changed from now on will not be put back after a kill",
                path.display()
            ),
        ));
    }
    *lock() = Some(Journal {
        path: path.to_path_buf(),
        failed: None,
    });
    (restored, errors)
}

/// Room for about 200 entries, taken at start: on a disk that fills up later the journal
/// still has its space, and on a full one the failure shows at start, when it is logged,
/// rather than at the first change (only reported at exit).
const RESERVED: libc::off_t = 16 * 1024;

fn reserve(path: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = OpenOptions::new().write(true).open(path)?;
    // SAFETY: fallocate(2) on an open descriptor; KEEP_SIZE leaves the file's length as is.
    let r = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, RESERVED) };
    match r {
        0 => Ok(()),
        _ => match io::Error::last_os_error() {
            // A file system without fallocate: nothing reserved, nothing wrong.
            e if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(()),
            e => Err(e),
        },
    }
}

/// Writes down `old` as the value to restore for `path` (absolute), when a journal is open.
/// A failure does not undo the change: it is kept for [`close`] to report.
pub(crate) fn record(path: &str, old: &str) {
    let mut guard = lock();
    let Some(journal) = guard.as_mut() else {
        return;
    };
    // One write per line: a kill between two lines loses at most the newest.
    let written = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&journal.path)
        .and_then(|mut f| {
            let len = f.metadata()?.len();
            let line = f.write_all(format!("{path} {old}\n").as_bytes());
            if line.is_err() {
                // No half line left for the next one to be glued to.
                let _ = f.set_len(len);
            }
            line
        });
    if let Err(e) = written {
        journal.failed.get_or_insert(io::Error::new(
            e.kind(),
            format!("journal {}: {e}", journal.path.display()),
        ));
    }
}

/// Every change has been restored: the journal goes, and nothing is recorded any more.
/// Returns the first failure to record a change, else the removal's.
pub fn close() -> io::Result<()> {
    let Some(j) = lock().take() else {
        return Ok(());
    };
    let removed = match fs::remove_file(&j.path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    j.failed.map_or(removed, Err)
}

fn lock() -> std::sync::MutexGuard<'static, Option<Journal>> {
    JOURNAL.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_per_allowed_path() {
        let text = "/proc/sys/net/ipv4/conf/eth0/arp_ignore 0\n\
                    /proc/sys/net/ipv4/conf/eth0/arp_ignore 1\n\
                    /proc/sys/kernel/core_pattern |/bin/evil\n\
                    /proc/sys/net/../kernel/x 1\n\
                    garbage\n\
                    /proc/sys/net/ipv4/tcp_rmem 4096 131072 6291456\n\
                    /proc/sys/net/ipv4/tcp_wmem 4096 16";
        assert_eq!(
            parse(text),
            vec![
                (
                    "/proc/sys/net/ipv4/conf/eth0/arp_ignore".to_string(),
                    "0".to_string()
                ),
                (
                    "/proc/sys/net/ipv4/tcp_rmem".to_string(),
                    "4096 131072 6291456".to_string()
                ),
            ]
        );
    }
}
