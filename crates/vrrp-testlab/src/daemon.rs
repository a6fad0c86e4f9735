//! The daemon under test: keepalived (reference) or vrrpd, started in a node.

use crate::{Error, Node, Proc, Result, SIGKILL, SIGTERM, find_tool, run_bounded, wait_until};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which VRRP daemon to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Daemon {
    /// `keepalived -n -l -D -G -P -R -f CONF -p PID -r VRRP_PID -c CHECKERS_PID -b BFD_PID`.
    Keepalived,
    /// `vrrpd -n -l -D -f CONF -p PID --control-socket SOCK`.
    Vrrpd {
        /// The vrrpd executable.
        binary: PathBuf,
    },
}

impl fmt::Display for Daemon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Daemon::Keepalived => f.write_str("keepalived"),
            Daemon::Vrrpd { binary } => write!(f, "vrrpd ({})", binary.display()),
        }
    }
}

impl Daemon {
    /// The vrrpd binary next to the running executable (`target/<profile>/vrrpd`
    /// for binaries; one level up for test executables in `deps/`).
    pub fn vrrpd_next_to_exe() -> Daemon {
        let exe = std::env::current_exe().unwrap_or_default();
        let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut binary = dir.join("vrrpd");
        if !binary.is_file()
            && dir.file_name().is_some_and(|n| n == "deps")
            && let Some(up) = dir.parent()
        {
            binary = up.join("vrrpd");
        }
        Daemon::Vrrpd { binary }
    }

    /// Short name: "keepalived" or "vrrpd".
    pub fn name(&self) -> &'static str {
        match self {
            Daemon::Keepalived => "keepalived",
            Daemon::Vrrpd { .. } => "vrrpd",
        }
    }

    /// `None` if the daemon can be started, else why not.
    pub fn unavailable(&self) -> Option<String> {
        match self {
            Daemon::Keepalived => find_tool("keepalived")
                .is_none()
                .then(|| "keepalived is not installed (apt-get install keepalived)".to_string()),
            Daemon::Vrrpd { binary } => (!binary.is_file())
                .then(|| format!("vrrpd binary {} does not exist", binary.display())),
        }
    }

    /// Writes `conf` as `<node>-<daemon>-<n>.conf` in the lab directory and
    /// starts the daemon in the foreground in `node`'s namespace, with its own
    /// pid files (and control socket) in the lab directory so that several
    /// instances coexist.
    pub fn start(&self, node: &Node, conf: &str) -> Result<DaemonProc> {
        self.start_with(node, conf, &[], &[])
    }

    /// [`Daemon::start`] with more arguments and environment for the daemon. vrrpd also
    /// gets `--state-file` / `--stats-file` next to its configuration
    /// ([`DaemonProc::state_file`], [`DaemonProc::stats_file`]).
    pub fn start_with(
        &self,
        node: &Node,
        conf: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<DaemonProc> {
        if let Some(why) = self.unavailable() {
            return Err(Error::msg(why));
        }
        let base = format!("{}-{}", node.name(), self.name());
        let mut n = 0;
        while node.lab_path(&format!("{base}-{n}.conf")).exists() && n < 1000 {
            n += 1;
        }
        let stem = format!("{base}-{n}");
        let conf_path = node.write_file(&format!("{stem}.conf"), conf)?;
        let pidfile = node.lab_path(&format!("{stem}.pid"));
        self.launch(node, conf_path, pidfile, extra, env)
    }

    /// Starts the daemon with `conf_path`, `pidfile`, and the other files named after the
    /// pid file (`STEM.pid`: `STEM.sock`, `STEM.vrrp.pid`, ...).
    fn launch(
        &self,
        node: &Node,
        conf_path: PathBuf,
        pidfile: PathBuf,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<DaemonProc> {
        let s = |p: &Path| p.to_string_lossy().into_owned();
        match self {
            Daemon::Keepalived => {
                let vrrp_pid = pidfile.with_extension("vrrp.pid");
                let chk_pid = pidfile.with_extension("checkers.pid");
                let bfd_pid = pidfile.with_extension("bfd.pid");
                let args = [
                    "--dont-fork".to_string(),
                    "--log-console".into(),
                    "--log-detail".into(),
                    "--no-syslog".into(),
                    "--vrrp".into(),
                    "--dont-respawn".into(),
                    format!("--use-file={}", s(&conf_path)),
                    format!("--pid={}", s(&pidfile)),
                    format!("--vrrp_pid={}", s(&vrrp_pid)),
                    format!("--checkers_pid={}", s(&chk_pid)),
                    format!("--bfd_pid={}", s(&bfd_pid)),
                ];
                let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
                args.extend_from_slice(extra);
                let proc = node.spawn("keepalived", &args, env)?;
                // keepalived forks its VRRP process; kill it with the parent.
                proc.add_child_pidfile(&vrrp_pid);
                Ok(DaemonProc {
                    daemon: self.clone(),
                    node: node.name().to_string(),
                    proc,
                    conf: conf_path,
                    pidfile,
                    control_socket: None,
                })
            }
            Daemon::Vrrpd { binary } => {
                let sock = pidfile.with_extension("sock");
                let mut args = vec![
                    "-n".to_string(),
                    "-l".into(),
                    "-D".into(),
                    "-f".into(),
                    s(&conf_path),
                    "-p".into(),
                    s(&pidfile),
                    "--control-socket".into(),
                    s(&sock),
                    "--state-file".into(),
                    s(&conf_path.with_extension("state.json")),
                    "--stats-file".into(),
                    s(&conf_path.with_extension("stats.json")),
                ];
                args.extend(extra.iter().map(|a| a.to_string()));
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let proc = node.spawn(&binary.to_string_lossy(), &args, env)?;
                Ok(DaemonProc {
                    daemon: self.clone(),
                    node: node.name().to_string(),
                    proc,
                    conf: conf_path,
                    pidfile,
                    control_socket: Some(sock),
                })
            }
        }
    }
}

/// A running daemon instance.
#[derive(Clone, Debug)]
pub struct DaemonProc {
    /// Which daemon it is.
    pub daemon: Daemon,
    /// The node it runs in.
    pub node: String,
    /// The process (`ip netns exec` execs in place, so it is the daemon itself).
    pub proc: Proc,
    /// The configuration file it was started with.
    pub conf: PathBuf,
    /// Its pid file.
    pub pidfile: PathBuf,
    /// vrrpd's control socket (`None` for keepalived).
    pub control_socket: Option<PathBuf>,
}

impl DaemonProc {
    /// Starts the daemon again in `node` (the one it ran in) with the same configuration
    /// file, pid file and control socket, as a service manager restarts it after a crash.
    /// Fails while it still runs.
    pub fn restart(&self, node: &Node) -> Result<DaemonProc> {
        if self.is_running() {
            return Err(Error::msg(format!(
                "{} on {} still runs",
                self.daemon.name(),
                self.node
            )));
        }
        self.daemon
            .launch(node, self.conf.clone(), self.pidfile.clone(), &[], &[])
    }

    /// Where vrrpd writes its SIGUSR1 state dump.
    pub fn state_file(&self) -> PathBuf {
        self.conf.with_extension("state.json")
    }

    /// Where vrrpd writes its SIGUSR2 statistics dump.
    pub fn stats_file(&self) -> PathBuf {
        self.conf.with_extension("stats.json")
    }

    /// The daemon's PID.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// True until the daemon has exited.
    pub fn is_running(&self) -> bool {
        self.proc.is_running()
    }

    /// Waits (bounded) until the daemon is up: its pid file exists, and for
    /// keepalived its VRRP child too. Fails if the daemon exited or wrote no pid file.
    pub fn wait_started(&self, timeout: Duration) -> Result<()> {
        let ok = wait_until(timeout, Duration::from_millis(20), || {
            !self.proc.is_running()
                || (self.pidfile.exists()
                    && match self.daemon {
                        Daemon::Keepalived => !self.proc.children().is_empty(),
                        Daemon::Vrrpd { .. } => true,
                    })
        });
        if !self.proc.is_running() {
            return Err(Error::msg(format!(
                "{} on {} exited early ({:?})\n{}",
                self.daemon.name(),
                self.node,
                self.proc.status(),
                self.proc.tail(20)
            )));
        }
        if !ok {
            // A daemon that runs but never wrote its pid file is not up as documented.
            return Err(Error::msg(format!(
                "{} on {}: no pid file {} after {timeout:?}\n{}",
                self.daemon.name(),
                self.node,
                self.pidfile.display(),
                self.proc.tail(20)
            )));
        }
        Ok(())
    }

    /// Waits (bounded) until vrrpd logs "vrrpd started", after which its signal handlers
    /// and control socket are in place (docs/testing.md); keepalived: [`Self::wait_started`].
    pub fn wait_ready(&self, timeout: Duration) -> Result<()> {
        if let Daemon::Keepalived = self.daemon {
            return self.wait_started(timeout);
        }
        let logged = wait_until(timeout, Duration::from_millis(20), || {
            !self.proc.is_running()
                || std::fs::read_to_string(self.proc.stderr_path())
                    .is_ok_and(|l| l.contains("vrrpd started"))
        });
        if logged && self.proc.is_running() {
            return Ok(());
        }
        Err(Error::msg(format!(
            "vrrpd on {} did not start:\n{}",
            self.node,
            self.proc.tail(30)
        )))
    }

    /// A crash: SIGKILL to every process of the daemon (keepalived's VRRP
    /// child first, so it cannot shut down gracefully), then reap.
    /// VIPs the daemon had added stay on the interface, as after a real crash.
    pub fn crash(&self) -> Result<()> {
        self.proc.kill_and_wait()
    }

    /// A clean stop: SIGTERM (VRRP sends priority 0 and releases its VIPs);
    /// SIGKILL if still running after `timeout`. Returns whether it exited
    /// on its own.
    pub fn stop(&self, timeout: Duration) -> Result<bool> {
        // Signal only the main process: keepalived forwards to its children.
        self.proc.kill_main(SIGTERM)?;
        if self.proc.wait_timeout(timeout)?.is_some() {
            Ok(true)
        } else {
            self.proc.kill(SIGKILL)?;
            self.proc.kill_and_wait()?;
            Ok(false)
        }
    }

    /// Last lines of the daemon's output.
    pub fn tail(&self, n: usize) -> String {
        self.proc.tail(n)
    }
}

/// The vrrpctl binary of the same build as `vrrpd`: next to it (a workspace build puts it
/// there), else built once with `cargo build -p vrrpctl` into the same target directory
/// and profile (bounded).
pub fn vrrpctl_next_to(vrrpd: &Path) -> Result<PathBuf> {
    let dir = vrrpd
        .parent()
        .ok_or_else(|| Error::msg("vrrpd has no directory"))?;
    let candidate = dir.join("vrrpctl");
    let usable = |p: &Path| {
        let mut cmd = std::process::Command::new(p);
        cmd.arg("--help");
        p.is_file()
            && run_bounded(cmd, Duration::from_secs(30))
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("maintenance"))
    };
    if usable(&candidate) {
        return Ok(candidate);
    }
    // dir is TARGET/PROFILE (debug, release or a custom profile's name).
    let profile = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let target = dir
        .parent()
        .ok_or_else(|| Error::msg("no target directory"))?;
    let mut cmd = std::process::Command::new(option_env!("CARGO").unwrap_or("cargo"));
    cmd.args(["build", "-p", "vrrpctl", "--bin", "vrrpctl"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", target);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let out = run_bounded(cmd, Duration::from_secs(900))?;
    if !out.status.success() || !candidate.is_file() {
        return Err(Error::msg(format!(
            "cargo build -p vrrpctl failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(candidate)
}
