//! A full disk: a vrrpd Master whose pid file, control socket, dumps, sysctl journal
//! (`use_vmac`) and notify FIFO are on a 64 KiB tmpfs filled to 100 % (its log on the lab's
//! disk), and a Backup whose log file is on that tmpfs too. The Master must start, advertise,
//! say once what failed, reload, and write its dump once there is room again; the Backup's
//! log must resume and say how many lines were lost.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vrrp_testlab::{Lab, Node, Proc, require, run_bounded, skip, wait_until};

use super::{POLL, STEP, vrrpd_binary};

/// A tiny tmpfs, unmounted (lazily: a daemon may still hold a file) and removed on drop.
struct TinyFs {
    dir: PathBuf,
}

impl TinyFs {
    fn mount(dir: PathBuf) -> Result<TinyFs, String> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let mut cmd = Command::new("mount");
        cmd.args(["-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs"])
            .arg(&dir);
        match run_bounded(cmd, Duration::from_secs(10)) {
            Ok(out) if out.status.success() => Ok(TinyFs { dir }),
            Ok(out) => Err(format!(
                "mount tmpfs: {}",
                String::from_utf8_lossy(&out.stderr)
            )),
            Err(e) => Err(format!("mount tmpfs: {e}")),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Fills it to the last byte.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.path("fill")).expect("create the filler");
        let block = [0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.write_all(&[0u8]);
    }

    fn free(&self) {
        std::fs::remove_file(self.path("fill")).expect("remove the filler");
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let mut cmd = Command::new("umount");
        cmd.arg("-l").arg(&self.dir);
        let _ = run_bounded(cmd, Duration::from_secs(10));
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn conf(priority: u8, vips: &[IpAddr], fifo: Option<&Path>) -> String {
    let global = fifo
        .map(|f| format!("global_defs {{\n    notify_fifo {}\n}}\n", f.display()))
        .unwrap_or_default();
    let vmac = if fifo.is_some() { "    use_vmac\n" } else { "" };
    let vips: String = vips.iter().map(|v| format!("        {v}/24\n")).collect();
    format!(
        "{global}vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 76\n    \
         priority {priority}\n    version 3\n    advert_int 0.1\n{vmac}    virtual_ipaddress {{\n\
         {vips}    }}\n}}\n"
    )
}

/// vrrpd's arguments with every file on `fs`, named after `who`.
fn args(fs: &TinyFs, conf: &Path, who: &str) -> Vec<String> {
    let on = |ext: &str| {
        fs.path(&format!("{who}.{ext}"))
            .to_string_lossy()
            .into_owned()
    };
    vec![
        "-n".into(),
        "-l".into(),
        "-D".into(),
        "-f".into(),
        conf.to_string_lossy().into_owned(),
        "-p".into(),
        on("pid"),
        "--control-socket".into(),
        on("sock"),
        "--state-file".into(),
        on("state.json"),
        "--stats-file".into(),
        on("stats.json"),
    ]
}

fn spawn(node: &Node, program: &str, args: &[String]) -> Proc {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    node.spawn(program, &args, &[]).expect("spawn")
}

fn log_of(p: &Proc) -> String {
    std::fs::read_to_string(p.stderr_path()).unwrap_or_default()
}

fn full_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("No space left"))
        .collect()
}

fn signal(p: &Proc, sig: i32) {
    p.kill_main(sig).expect("signal");
}

#[test]
fn full_disk_the_daemon_advertises_and_says_what_failed() {
    require!("mount", "umount");
    let mut lab = Lab::new("disk").expect("lab");
    let r1 = lab.add_router("r1").expect("router");
    let r2 = lab.add_router("r2").expect("router");
    let (vip, vip2) = (IpAddr::V4(lab.vip4(100)), IpAddr::V4(lab.vip4(101)));
    // Declared after the lab: unmounted before the lab removes its directory.
    let fs = match TinyFs::mount(lab.dir().join("full")) {
        Ok(fs) => fs,
        Err(why) => return skip(&why),
    };
    fs.fill();
    let binary = vrrpd_binary().to_string_lossy().into_owned();
    let fifo = fs.path("notify.fifo");
    let m_conf = lab
        .write_file("master.conf", &conf(200, &[vip], Some(&fifo)))
        .expect("conf");
    let master = spawn(&r1, &binary, &args(&fs, &m_conf, "master"));
    let started = wait_until(STEP, POLL, || {
        !master.is_running() || log_of(&master).contains("vrrpd started")
    });
    assert!(
        started && master.is_running(),
        "no start on a full disk{}",
        lab.diag()
    );
    assert!(
        wait_until(STEP, POLL, || r1.has_address(vip)),
        "no Master{}",
        lab.diag()
    );

    // The Backup logs to the full disk.
    let b_conf = lab
        .write_file("backup.conf", &conf(100, &[vip], None))
        .expect("conf");
    let b_log = fs.path("backup.log");
    let mut b_cmd = args(&fs, &b_conf, "backup");
    b_cmd.insert(0, binary.clone());
    let quoted: Vec<String> = b_cmd.iter().map(|a| format!("'{a}'")).collect();
    let script = format!("exec {} 2>>'{}'", quoted.join(" "), b_log.display());
    let backup = spawn(&r2, "sh", &["-c".into(), script]);
    assert!(
        wait_until(STEP, POLL, || fs.path("backup.sock").exists()),
        "{}",
        lab.diag()
    );

    // A second daemon is still refused: the lock holds even though the pid is not written.
    let second = spawn(&r1, &binary, &args(&fs, &m_conf, "master"));
    let refused = second
        .wait_timeout(STEP)
        .expect("wait")
        .is_some_and(|s| !s.success());
    assert!(
        refused && log_of(&second).contains("already running"),
        "{}",
        lab.diag()
    );

    // A dump fails, and leaves nothing behind; a reload works.
    signal(&master, libc::SIGUSR1);
    assert!(
        wait_until(STEP, POLL, || log_of(&master)
            .contains("SIGUSR1: state: cannot write")),
        "{}",
        lab.diag()
    );
    assert!(
        !fs.path("master.state.tmp").exists(),
        "a partial dump is left on the full disk"
    );
    std::fs::write(&m_conf, conf(200, &[vip, vip2], Some(&fifo))).expect("conf");
    signal(&master, libc::SIGHUP);
    assert!(
        wait_until(STEP, POLL, || r1.has_address(vip2)),
        "reload{}",
        lab.diag()
    );

    // What failed is said once, not once per advertisement.
    let said = full_lines(&log_of(&master)).len();
    std::thread::sleep(Duration::from_secs(3));
    let log = log_of(&master);
    let lines = full_lines(&log);
    eprintln!("full disk, Master's log:\n{}", lines.join("\n"));
    assert_eq!(lines.len(), said, "the log repeats the failure");
    assert!(
        lines.len() <= 6,
        "{} lines about the full disk",
        lines.len()
    );
    assert!(
        log.contains("pid file"),
        "the pid file's failure is not said"
    );
    // A FIFO needs an inode, not a block: it works on the full disk.
    assert!(
        fifo.exists() && !log.contains("notify.fifo"),
        "notify FIFO{}",
        lab.diag()
    );
    assert!(
        !r2.has_address(vip) && backup.is_running(),
        "{}",
        lab.diag()
    );

    // Room again: the dump is written, the Backup's log resumes and counts what it lost.
    fs.free();
    signal(&master, libc::SIGUSR1);
    let dumped = wait_until(STEP, POLL, || {
        std::fs::read_to_string(fs.path("master.state.json")).is_ok_and(|t| t.ends_with("}\n"))
    });
    assert!(dumped, "no dump once there is room{}", lab.diag());
    signal(&backup, libc::SIGHUP);
    let resumed = wait_until(STEP, POLL, || {
        std::fs::read_to_string(&b_log).is_ok_and(|t| t.contains("SIGHUP"))
    });
    let b_text = std::fs::read_to_string(&b_log).unwrap_or_default();
    eprintln!(
        "Backup's log once there is room:\n{}",
        b_text.lines().take(3).collect::<Vec<_>>().join("\n")
    );
    assert!(
        resumed && b_text.contains("lost"),
        "the Backup's log: {b_text}"
    );

    signal(&master, libc::SIGTERM);
    let stopped = master.wait_timeout(STEP).expect("wait");
    assert!(stopped.is_some_and(|s| s.success()), "{}", lab.diag());
    assert!(
        !fs.path("master.pid.sysctls").exists(),
        "the sysctl journal is left"
    );
}
