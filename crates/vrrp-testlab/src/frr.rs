//! FRR's zebra, bgpd and bfdd in a lab node, each with its own configuration file, pid
//! file, zserv socket and vty sockets in a directory of the lab (so that several nodes run
//! their own FRR side by side), queried with `vtysh --vty_socket`.

use std::path::PathBuf;
use std::time::Duration;

use crate::{Error, Node, Proc, Result, SIGKILL, run_bounded, wait_until};

/// Where the Debian package `frr` installs the daemons.
pub const FRR_DIR: &str = "/usr/lib/frr";

/// `None` if FRR's zebra, bgpd and bfdd are installed, else why not.
pub fn frr_unavailable() -> Option<String> {
    ["zebra", "bgpd", "bfdd"]
        .iter()
        .find(|d| !PathBuf::from(FRR_DIR).join(d).is_file())
        .map(|d| format!("FRR's {d} is not installed in {FRR_DIR} (apt-get install frr)"))
}

/// The three configuration files of a node's FRR.
#[derive(Clone, Debug, Default)]
pub struct FrrConf {
    /// zebra's (`ip import-table`, ...).
    pub zebra: String,
    /// bgpd's (`router bgp`).
    pub bgpd: String,
    /// bfdd's (`bfd` profiles).
    pub bfdd: String,
}

impl FrrConf {
    /// The three parts in one text, as an integrated `frr.conf` would hold them.
    pub fn integrated(&self) -> String {
        format!("{}\n{}\n{}\n", self.zebra, self.bfdd, self.bgpd)
    }
}

/// A node's running FRR daemons.
pub struct Frr {
    node: Node,
    dir: PathBuf,
    /// zebra, bfdd, bgpd, in start order.
    procs: Vec<Proc>,
}

impl Frr {
    /// Starts zebra, then bfdd and bgpd, in `node` with `conf`; waits for their vty sockets.
    pub fn start(node: &Node, conf: &FrrConf) -> Result<Frr> {
        if let Some(why) = frr_unavailable() {
            return Err(Error::msg(why));
        }
        let name = node.name();
        let dir = node.lab_path(&format!("{name}-frr"));
        std::fs::create_dir_all(&dir)?;
        // The daemons drop privileges to the user `frr`: their sockets go where it may write.
        let mut chown = std::process::Command::new("chown");
        chown.arg("frr:frr").arg(&dir);
        let out = run_bounded(chown, Duration::from_secs(10))?;
        if !out.status.success() {
            return Err(Error::msg(format!("chown frr:frr {}", dir.display())));
        }
        let mut frr = Frr {
            node: node.clone(),
            dir,
            procs: Vec::new(),
        };
        frr.spawn("zebra", &conf.zebra, &[])?;
        let bfdctl = frr.path("bfdd.sock");
        frr.spawn("bfdd", &conf.bfdd, &["--bfdctl", &bfdctl])?;
        frr.spawn("bgpd", &conf.bgpd, &[])?;
        Ok(frr)
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_string_lossy().into_owned()
    }

    fn spawn(&mut self, daemon: &str, conf: &str, extra: &[&str]) -> Result<()> {
        let name = self.node.name().to_string();
        let conf = self
            .node
            .write_file(&format!("{name}-{daemon}.conf"), conf)?;
        let vty = self.path(&format!("{daemon}.vty"));
        let _ = std::fs::remove_file(&vty);
        let (pid, zserv, dir) = (
            self.path(&format!("{daemon}.pid")),
            self.path("zserv.api"),
            self.dir.to_string_lossy().into_owned(),
        );
        let conf = conf.to_string_lossy().into_owned();
        let mut args = vec![
            "-f",
            &conf,
            "-i",
            &pid,
            "-z",
            &zserv,
            "--vty_socket",
            &dir,
            "-P",
            "0",
            "--log",
            "stdout",
        ];
        args.extend_from_slice(extra);
        let exe = format!("{FRR_DIR}/{daemon}");
        let proc = self.node.spawn(&exe, &args, &[])?;
        let up = wait_until(Duration::from_secs(20), Duration::from_millis(20), || {
            PathBuf::from(&vty).exists() || !proc.is_running()
        });
        if !up || !proc.is_running() {
            return Err(Error::msg(format!(
                "{daemon} on {name} did not start:\n{}",
                proc.tail(20)
            )));
        }
        self.procs.push(proc);
        Ok(())
    }

    /// `vtysh -c CMD` against this node's daemons: its output.
    pub fn vtysh(&self, cmd: &str) -> Result<String> {
        let dir = self.dir.to_string_lossy().into_owned();
        let out = self.node.run_timeout(
            "vtysh",
            &["--vty_socket", &dir, "-c", cmd],
            Duration::from_secs(20),
        )?;
        if !out.status.success() {
            return Err(Error::msg(format!(
                "vtysh -c {cmd:?} on {}: {}",
                self.node.name(),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `show bgp summary json`: the number of neighbors in state Established.
    pub fn established(&self) -> usize {
        let text = self
            .vtysh("show bgp ipv4 unicast summary json")
            .unwrap_or_default();
        text.matches("\"state\":\"Established\"").count()
    }

    /// `show bfd peers json`: the number of BFD sessions up.
    pub fn bfd_up(&self) -> usize {
        let text = self.vtysh("show bfd peers json").unwrap_or_default();
        let compact: String = text.split_whitespace().collect();
        compact.matches("\"status\":\"up\"").count()
    }

    /// True while every daemon runs.
    pub fn is_running(&self) -> bool {
        self.procs.iter().all(Proc::is_running)
    }

    /// SIGKILL to every daemon, then reap them (a crashed node).
    pub fn crash(&self) -> Result<()> {
        for p in &self.procs {
            p.kill(SIGKILL)?;
        }
        for p in &self.procs {
            p.kill_and_wait()?;
        }
        Ok(())
    }

    /// The last lines of each daemon's output, for failure messages.
    pub fn tail(&self, n: usize) -> String {
        self.procs.iter().map(|p| p.tail(n)).collect()
    }
}
