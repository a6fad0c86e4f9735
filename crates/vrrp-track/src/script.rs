//! The script runner: runs one command in its own session and process group, as a given
//! user, with a hard timeout that kills the whole group, and never leaves a zombie.
//!
//! Every tracker script, notify hook and FIFO reader goes through [`run`] (or, for the
//! long-running FIFO reader, [`spawn_in_group`]). Many runs can be in flight at once: each
//! one owns its child and its pipes, and nothing is shared between runs.

use std::fmt;
use std::io;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt as _;
use tokio::process::{Child, ChildStderr, ChildStdout};
use tracing::warn;

/// The user and group a script runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunAs {
    /// The user id.
    pub uid: u32,
    /// The group id.
    pub gid: u32,
}

impl RunAs {
    /// uid 0, gid 0.
    pub const ROOT: RunAs = RunAs { uid: 0, gid: 0 };
}

/// Environment variables removed from every script's environment (keepalived does the same:
/// `keepalived/core/notify.c`).
pub const SCRUBBED_ENV: [&str; 3] = ["IFS", "LD_PRELOAD", "LD_LIBRARY_PATH"];

/// How long output is still read after the script has exited (a background grandchild may
/// hold the pipes open; its output is not waited for).
const DRAIN: Duration = Duration::from_millis(100);

/// One command to run.
#[derive(Debug, Clone)]
pub struct ScriptCommand {
    /// The argument vector; `argv[0]` is the program as configured.
    pub argv: Vec<String>,
    /// The executable to run, when it differs from `argv[0]` (for example the absolute path
    /// that [`crate::security::check_script`] resolved through `PATH`). `argv[0]` is still
    /// passed as the program's `argv[0]`.
    pub program: Option<PathBuf>,
    /// Run as this user and group (`setgroups([gid])`, `setgid`, `setuid` in the child);
    /// `None` keeps the daemon's identity.
    pub run_as: Option<RunAs>,
    /// Hard limit on the run. At the deadline the process group gets SIGTERM, then SIGKILL
    /// after [`ScriptCommand::kill_grace`].
    pub timeout: Duration,
    /// Time between SIGTERM and SIGKILL on a timeout.
    pub kill_grace: Duration,
    /// Bytes of stdout and of stderr kept for the logs; the rest is read and discarded.
    pub output_limit: usize,
    /// Send SIGKILL to the script's process group once the script itself has exited, so that
    /// background children it left behind do not accumulate (tracker scripts do this; notify
    /// hooks do not, a hook may start something on purpose).
    pub kill_group_on_exit: bool,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

impl ScriptCommand {
    /// A command with the defaults: 2 s kill grace, 1 KiB of output kept, group left alone
    /// after a normal exit.
    pub fn new(argv: Vec<String>, timeout: Duration) -> ScriptCommand {
        ScriptCommand {
            argv,
            program: None,
            run_as: None,
            timeout,
            kill_grace: Duration::from_secs(2),
            output_limit: 1024,
            kill_group_on_exit: false,
            env: Vec::new(),
        }
    }

    /// The command as it would be typed (for logs).
    pub fn display(&self) -> String {
        self.argv.join(" ")
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The script exited with this status.
    Exited(i32),
    /// The script was killed by this signal (not by us).
    Signaled(i32),
    /// The script overran its timeout and its process group was killed. `forced` is true
    /// when SIGTERM was not enough and SIGKILL was needed.
    TimedOut {
        /// SIGKILL was needed after SIGTERM.
        forced: bool,
    },
    /// The script could not be started (missing file, not executable, setuid refused...).
    FailedToStart(String),
}

impl Outcome {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        matches!(self, Outcome::Exited(0))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Exited(code) => write!(f, "exit status {code}"),
            Outcome::Signaled(sig) => write!(f, "killed by signal {sig}"),
            Outcome::TimedOut { forced: false } => write!(f, "timed out (terminated)"),
            Outcome::TimedOut { forced: true } => write!(f, "timed out (killed after SIGTERM)"),
            Outcome::FailedToStart(e) => write!(f, "failed to start: {e}"),
        }
    }
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct ScriptResult {
    /// How the run ended.
    pub outcome: Outcome,
    /// Pid of the script (also its process group id); `None` when it did not start.
    pub pid: Option<u32>,
    /// Wall time from spawn to the end of the run.
    pub duration: Duration,
    /// The first [`ScriptCommand::output_limit`] bytes of stdout (lossy UTF-8).
    pub stdout: String,
    /// The first [`ScriptCommand::output_limit`] bytes of stderr (lossy UTF-8).
    pub stderr: String,
    /// More output was produced than was kept.
    pub truncated: bool,
}

impl ScriptResult {
    fn failed_to_start(e: String) -> ScriptResult {
        ScriptResult {
            outcome: Outcome::FailedToStart(e),
            pid: None,
            duration: Duration::ZERO,
            stdout: String::new(),
            stderr: String::new(),
            truncated: false,
        }
    }

    /// One line for the logs: outcome, duration and the start of stderr (or stdout).
    pub fn summary(&self) -> String {
        let mut s = format!("{} after {} ms", self.outcome, self.duration.as_millis());
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let text = text.trim();
        if !text.is_empty() {
            let first: String = text.lines().take(3).collect::<Vec<_>>().join(" | ");
            let first: String = first.chars().take(200).collect();
            s.push_str(&format!("; output: {first}"));
        }
        s
    }
}

/// Kills the process group when dropped unless disarmed: a run whose future is dropped
/// (daemon shutdown, task aborted) does not leave the script behind.
struct GroupGuard {
    pgid: Option<Pid>,
}

impl GroupGuard {
    fn signal(&self, sig: Signal) {
        if let Some(pgid) = self.pgid {
            // ESRCH: the group is already gone.
            let _ = killpg(pgid, sig);
        }
    }
    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

/// The identity change to apply in the child, decided in the parent so the child does
/// nothing but syscalls.
#[derive(Clone, Copy)]
struct Identity {
    change: Option<RunAs>,
}

impl Identity {
    fn for_run_as(run_as: Option<RunAs>) -> Identity {
        // Already that user and group (e.g. a non-root daemon asked to run scripts as
        // itself): nothing to change, and setgroups would fail without CAP_SETGID.
        let change = run_as.filter(|r| {
            !(nix::unistd::geteuid().as_raw() == r.uid && nix::unistd::getegid().as_raw() == r.gid)
        });
        Identity { change }
    }
}

/// Runs in the child between fork and exec: new session (so the child is the leader of a
/// new process group we can kill as a whole), then the identity change.
fn child_setup(identity: Identity) -> io::Result<()> {
    // Only plain system calls (nix's thin wrappers: no allocation, no locks), as required
    // between fork and exec; errors become raw OS errors without allocating.
    nix::unistd::setsid().map_err(io::Error::from)?;
    if let Some(r) = identity.change {
        nix::unistd::setgroups(&[nix::unistd::Gid::from_raw(r.gid)]).map_err(io::Error::from)?;
        nix::unistd::setgid(nix::unistd::Gid::from_raw(r.gid)).map_err(io::Error::from)?;
        nix::unistd::setuid(nix::unistd::Uid::from_raw(r.uid)).map_err(io::Error::from)?;
    }
    Ok(())
}

fn build(cmd: &ScriptCommand, capture: bool) -> Result<tokio::process::Command, String> {
    let Some(argv0) = cmd.argv.first() else {
        return Err("empty command".to_string());
    };
    let program = cmd.program.clone().unwrap_or_else(|| PathBuf::from(argv0));
    let mut std_cmd = std::process::Command::new(&program);
    std_cmd
        .arg0(argv0)
        .args(&cmd.argv[1..])
        .stdin(Stdio::null());
    if capture {
        std_cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    } else {
        std_cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    for var in SCRUBBED_ENV {
        std_cmd.env_remove(var);
    }
    for (k, v) in &cmd.env {
        std_cmd.env(k, v);
    }
    let identity = Identity::for_run_as(cmd.run_as);
    // SAFETY: the closure runs in the forked child before exec; child_setup only makes
    // async-signal-safe system calls (setsid, setgroups, setgid, setuid) and allocates
    // nothing; `identity` is a Copy value captured by move.
    unsafe {
        std_cmd.pre_exec(move || child_setup(identity));
    }
    let mut command = tokio::process::Command::from(std_cmd);
    command.kill_on_drop(true);
    Ok(command)
}

/// Starts `cmd` in its own process group without capturing output or applying a timeout
/// (used for the long-running `notify_fifo_script`). The caller owns the child; dropping it
/// kills the script (not its group: use [`kill_group`]).
pub fn spawn_in_group(cmd: &ScriptCommand) -> io::Result<Child> {
    let mut command = build(cmd, false).map_err(io::Error::other)?;
    command.spawn()
}

/// Sends `sig` to the process group `pgid` (a pid returned by this module); a group that is
/// already gone is not an error.
pub fn kill_group(pgid: u32, sig: Signal) {
    if let Ok(raw) = i32::try_from(pgid) {
        let _ = killpg(Pid::from_raw(raw), sig);
    }
}

struct Capture {
    kept: Vec<u8>,
    limit: usize,
    truncated: bool,
}

impl Capture {
    fn new(limit: usize) -> Capture {
        Capture {
            kept: Vec::new(),
            limit,
            truncated: false,
        }
    }
    fn push(&mut self, bytes: &[u8]) {
        let room = self.limit.saturating_sub(self.kept.len());
        if bytes.len() > room {
            self.truncated = true;
        }
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.kept).into_owned()
    }
}

enum Phase {
    Running,
    Terminating,
    Killing,
    Draining,
}

async fn read_some_out(pipe: &mut Option<ChildStdout>, buf: &mut [u8]) -> io::Result<usize> {
    match pipe {
        Some(p) => p.read(buf).await,
        None => std::future::pending().await,
    }
}

async fn read_some_err(pipe: &mut Option<ChildStderr>, buf: &mut [u8]) -> io::Result<usize> {
    match pipe {
        Some(p) => p.read(buf).await,
        None => std::future::pending().await,
    }
}

/// Runs `cmd` to completion (or to its timeout) and reports how it ended.
///
/// The script runs in a new session (`setsid`), so its pid is also its process group id; on
/// timeout the whole group gets SIGTERM, then SIGKILL after `kill_grace`, and finally
/// SIGKILL again once the script is reaped, for children that ignored SIGTERM. The script
/// is always reaped before this returns. Dropping the future kills the group.
pub async fn run(cmd: &ScriptCommand) -> ScriptResult {
    let mut command = match build(cmd, true) {
        Ok(c) => c,
        Err(e) => return ScriptResult::failed_to_start(e),
    };
    let start = Instant::now();
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            let what = cmd
                .program
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| cmd.argv[0].clone());
            return ScriptResult::failed_to_start(format!("{what}: {e}"));
        }
    };
    let pid = child.id();
    let mut guard = GroupGuard {
        pgid: pid.and_then(|p| i32::try_from(p).ok()).map(Pid::from_raw),
    };
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let mut out = Capture::new(cmd.output_limit);
    let mut err = Capture::new(cmd.output_limit);
    let mut out_buf = vec![0u8; 4096];
    let mut err_buf = vec![0u8; 4096];

    let mut status: Option<io::Result<ExitStatus>> = None;
    let mut timed_out = false;
    let mut forced = false;
    let mut phase = Phase::Running;
    // A timeout too large to add (Duration::MAX) means "a year".
    let end = start
        .checked_add(cmd.timeout)
        .unwrap_or(start + Duration::from_secs(365 * 86_400));
    let mut deadline = tokio::time::Instant::from_std(end);

    loop {
        if status.is_some() && stdout.is_none() && stderr.is_none() {
            break;
        }
        tokio::select! {
            st = child.wait(), if status.is_none() => {
                if timed_out || cmd.kill_group_on_exit {
                    // Children that outlived the script (or ignored SIGTERM).
                    guard.signal(Signal::SIGKILL);
                }
                status = Some(st);
                phase = Phase::Draining;
                deadline = tokio::time::Instant::now() + DRAIN;
            }
            n = read_some_out(&mut stdout, &mut out_buf) => match n {
                Ok(0) | Err(_) => stdout = None,
                Ok(n) => out.push(&out_buf[..n]),
            },
            n = read_some_err(&mut stderr, &mut err_buf) => match n {
                Ok(0) | Err(_) => stderr = None,
                Ok(n) => err.push(&err_buf[..n]),
            },
            () = tokio::time::sleep_until(deadline) => match phase {
                Phase::Running => {
                    timed_out = true;
                    guard.signal(Signal::SIGTERM);
                    phase = Phase::Terminating;
                    deadline = tokio::time::Instant::now() + cmd.kill_grace;
                }
                Phase::Terminating => {
                    forced = true;
                    guard.signal(Signal::SIGKILL);
                    phase = Phase::Killing;
                    deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                }
                Phase::Killing => {
                    // SIGKILL not acted on (uninterruptible sleep): keep waiting, it is
                    // reaped as soon as it dies.
                    warn!(pid, command = %cmd.display(), "script did not die after SIGKILL; still waiting");
                    guard.signal(Signal::SIGKILL);
                    deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                }
                Phase::Draining => break,
            },
        }
    }
    // Reaped (status is Some): the group is either gone or was killed above.
    guard.disarm();
    let duration = start.elapsed();
    let outcome = if timed_out {
        Outcome::TimedOut { forced }
    } else {
        match status {
            Some(Ok(st)) => match (st.code(), st.signal()) {
                (Some(code), _) => Outcome::Exited(code),
                (None, Some(sig)) => Outcome::Signaled(sig),
                (None, None) => Outcome::Exited(-1),
            },
            Some(Err(e)) => Outcome::FailedToStart(format!("wait failed: {e}")),
            None => Outcome::FailedToStart("not reaped".to_string()),
        }
    };
    ScriptResult {
        outcome,
        pid,
        duration,
        stdout: out.text(),
        stderr: err.text(),
        truncated: out.truncated || err.truncated,
    }
}
