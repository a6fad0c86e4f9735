//! The pid file, locked for the daemon's lifetime.
//!
//! keepalived prints "already running" and exits 0 when its pid file names a live process,
//! which hides the failure from service managers. vrrpd holds an exclusive lock on the file
//! while it runs; a second daemon with the same pid file fails with a clear error and a
//! non-zero exit. The lock dies with the process, so a stale file after SIGKILL is harmless.
//!
//! A pid that cannot be written (a full /run) does not stop the daemon: the lock, taken on
//! the empty file, still refuses a second daemon, and the addresses matter more than the
//! file's content. keepalived 2.2.7 also runs with empty pid files, but says nothing.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::fcntl::{Flock, FlockArg};
use tracing::warn;

pub(crate) struct PidFile {
    path: PathBuf,
    _lock: Flock<File>,
}

impl PidFile {
    pub(crate) fn acquire(path: &Path) -> Result<PidFile> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("cannot create the directory of pid file {}", path.display())
            })?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .with_context(|| format!("cannot open pid file {}", path.display()))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, _)) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let pid = text.trim();
                bail!(
                    "vrrpd is already running (pid {}, pid file {}); use another --pid file to run a second daemon",
                    if pid.is_empty() { "unknown" } else { pid },
                    path.display()
                );
            }
        };
        if let Err(e) = write_pid(&mut lock) {
            // Never a partial pid: an empty file is better than a wrong one.
            let _ = lock.set_len(0);
            warn!(
                "pid file {}: cannot write the pid: {e}; running with the file empty (a second \
                 vrrpd with this pid file is still refused)",
                path.display()
            );
        }
        Ok(PidFile {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }
}

fn write_pid(file: &mut File) -> std::io::Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    file.flush()
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused() {
        let dir = std::env::temp_dir().join(format!("vrrpd-pidfile-test-{}", std::process::id()));
        let path = dir.join("vrrpd.pid");
        let first = PidFile::acquire(&path).expect("first");
        let second = PidFile::acquire(&path);
        let message = format!("{:#}", second.err().expect("second must fail"));
        assert!(message.contains("already running"), "{message}");
        assert!(
            message.contains(&std::process::id().to_string()),
            "{message}"
        );
        drop(first);
        assert!(!path.exists());
        let _third = PidFile::acquire(&path).expect("free again");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
