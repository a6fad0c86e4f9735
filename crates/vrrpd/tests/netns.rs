//! Several vrrpd on one host, one per network namespace (the way OpenStack Neutron's L3 HA
//! runs one keepalived per router namespace), started at once WITHOUT `-p`,
//! `--control-socket` or dump flags: each takes the defaults of its namespace
//! (`/run/vrrpd/netns/NAME/`), none collides with another, and `ip netns exec NAME vrrpctl`
//! reaches the daemon of NAME.
//!
//! Needs root (network namespaces); without it the test prints `SKIPPED: ...` (a failure
//! under `VRRPD_LAB_REQUIRED=1`, as in CI). The lab kills the daemons it started and deletes
//! its namespaces on drop; the run directories under `/run/vrrpd/netns/` are removed by a
//! guard, also when the test panics. See docs/testing.md.

use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::Duration;

use serde_json::Value;
use vrrp_testlab::{KeepalivedConf, Lab, Node, Proc, SIGTERM, VrrpInstance, require, wait_until};

const DAEMONS: u8 = 4;
/// Bound of the start of every daemon (pid file written, socket answering).
const START: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);

fn vrrpd_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vrrpd"))
}

/// The run directory vrrpd derives in the namespace `ns` (docs/control.md).
fn run_dir(ns: &str) -> PathBuf {
    Path::new("/run/vrrpd/netns").join(ns)
}

/// Removes the daemons' run directories. Declared before the lab, it is dropped after it,
/// once the lab has killed the daemons: also when the test fails.
struct RunDirs(Vec<PathBuf>);

impl Drop for RunDirs {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The instance names in `vrrpctl status --json`'s output; `None` if it is not that document.
fn instance_names(json: &str) -> Option<Vec<String>> {
    let doc: Value = serde_json::from_str(json).ok()?;
    doc.get("instances")?
        .as_array()?
        .iter()
        .map(|i| i.get("name")?.as_str().map(str::to_string))
        .collect()
}

/// `ip netns exec NS vrrpctl status --json` in `node`: the instance names, else why not.
fn status(vrrpctl: &Path, node: &Node) -> Result<Vec<String>, String> {
    let out = node
        .run_timeout(
            &vrrpctl.to_string_lossy(),
            &["status", "--json"],
            Duration::from_secs(10),
        )
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    instance_names(&stdout).ok_or_else(|| format!("not a status document: {stdout}"))
}

#[test]
fn daemons_in_namespaces_coexist_without_flags() {
    require!();
    let vrrpctl = vrrp_testlab::vrrpctl_next_to(&vrrpd_binary()).expect("vrrpctl binary");
    let mut run_dirs = RunDirs(Vec::new());
    let mut lab = Lab::new("nsrd").expect("lab");
    let mut routers = Vec::new();
    for i in 1..=DAEMONS {
        let node = lab.add_router(&format!("r{i}")).expect("router");
        // Each its own VRID and VIP: independent routers that happen to share a LAN.
        let conf = KeepalivedConf::new()
            .router_id(format!("r{i}"))
            .instance(
                VrrpInstance::new(&format!("VI_{i}"), "eth0", 50 + i, 100)
                    .version(3)
                    .advert_int(0.1)
                    .vip(format!("{}/24", lab.vip4(100 + i))),
            )
            .render();
        let conf = node.write_file(&format!("r{i}.conf"), &conf).expect("conf");
        let dir = run_dir(node.ns());
        // The namespace names are new; a directory of that name is a dead run's leftover.
        let _ = std::fs::remove_dir_all(&dir);
        run_dirs.0.push(dir);
        routers.push((node, conf));
    }

    // All at the same instant: the defaults are derived concurrently, as at a host's boot.
    let barrier = Barrier::new(routers.len());
    let procs: Vec<Proc> = std::thread::scope(|s| {
        let starts: Vec<_> = routers
            .iter()
            .map(|(node, conf)| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let conf = conf.to_string_lossy();
                    node.spawn(
                        &vrrpd_binary().to_string_lossy(),
                        &["-n", "-l", "-f", &conf],
                        &[],
                    )
                })
            })
            .collect();
        starts
            .into_iter()
            .map(|t| t.join().expect("start thread").expect("spawn vrrpd"))
            .collect()
    });

    for (i, ((node, _), proc)) in routers.iter().zip(&procs).enumerate() {
        let dir = run_dir(node.ns());
        let pidfile = dir.join("vrrpd.pid");
        let mut last = Err(String::from("never asked"));
        let up = wait_until(START, POLL, || {
            if !proc.is_running() {
                return true;
            }
            last = status(&vrrpctl, node);
            last.is_ok()
        });
        assert!(
            up && proc.is_running(),
            "vrrpd in {} (pid {}) does not answer on its default socket: {last:?}{}\n{}",
            node.ns(),
            proc.pid(),
            proc.tail(20),
            lab.diag()
        );
        let names = last.unwrap_or_default();
        assert_eq!(
            names,
            vec![format!("VI_{}", i + 1)],
            "{}'s vrrpctl must reach its own daemon",
            node.ns()
        );
        let pid = std::fs::read_to_string(&pidfile).unwrap_or_default();
        assert_eq!(
            pid.trim(),
            proc.pid().to_string(),
            "{}: the default pid file {} names its daemon",
            node.ns(),
            pidfile.display()
        );
        assert!(dir.join("vrrpd.sock").exists(), "{}: the socket", node.ns());
    }
    // Nothing collided: every daemon still runs, none saw another's socket or pid file.
    for ((node, _), proc) in routers.iter().zip(&procs) {
        let log = std::fs::read_to_string(proc.stderr_path()).unwrap_or_default();
        assert!(
            proc.is_running()
                && !log.contains("another daemon answers")
                && !log.contains("already running"),
            "vrrpd in {} collided:\n{}",
            node.ns(),
            proc.tail(20)
        );
    }

    // Stopped by PID, each removes its pid file and socket; the directories go with the guard.
    for proc in &procs {
        proc.kill_main(SIGTERM).expect("SIGTERM");
    }
    for ((node, _), proc) in routers.iter().zip(&procs) {
        let status = proc.wait_timeout(Duration::from_secs(10)).expect("wait");
        assert!(
            status.is_some_and(|s| s.success()),
            "vrrpd in {} must stop cleanly on SIGTERM: {status:?}\n{}",
            node.ns(),
            proc.tail(20)
        );
        let dir = run_dir(node.ns());
        assert!(
            !dir.join("vrrpd.pid").exists() && !dir.join("vrrpd.sock").exists(),
            "vrrpd in {} left its pid file or socket behind",
            node.ns()
        );
    }
    drop(lab);
    drop(run_dirs);
    for (node, _) in &routers {
        assert!(!run_dir(node.ns()).exists(), "{} removed", node.ns());
    }
}
