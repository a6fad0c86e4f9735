//! A corpus of real-world-shaped keepalived.conf files (`tests/corpus/`, sources in its
//! README): each file's verdict under `vrrpd -t` matches keepalived 2.2.7's, or the
//! difference is a documented choice.
//!
//! - `vrrpd_verdicts` (no root): `vrrpd -t` on every file gives the verdict recorded in
//!   `verdicts.tsv`, and the recorded verdicts keep the policy: a file keepalived runs
//!   unchanged (`clean`) or corrects and runs (`warns`) is accepted; a file keepalived cannot
//!   check (`fails`) is refused; where keepalived silently ignores part of the file (`drops`)
//!   vrrpd refuses it with a located error, never a silent skip.
//! - `keepalived_verdicts` (root, keepalived): `keepalived -t` on every file, in a network
//!   namespace with the interfaces the files name and a private mount of `/etc/keepalived`
//!   holding stub scripts, still says what `verdicts.tsv` records.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vrrp_testlab::{require, run_bounded};

/// The interfaces the corpus names; the keepalived test creates them.
const INTERFACES: [&str; 11] = [
    "eth0", "eth1", "eth2", "eth3", "ens3", "ens4", "ens160", "ens192", "enp0s3", "bond0",
    "vxlan100",
];

/// Runs `keepalived -t` with a tmpfs on /etc/keepalived that holds an executable stub for
/// every /etc/keepalived path the file (or its includes) names: scripts "deployed".
const KEEPALIVED_CHECK: &str = r#"
mount -t tmpfs corpus /etc/keepalived || exit 90
for p in $(grep -oh '/etc/keepalived/[A-Za-z0-9_./-]*' "$1" corpus-includes/* | sort -u); do
    mkdir -p "$(dirname "$p")" && printf '#!/bin/sh\nexit 0\n' > "$p" && chmod 755 "$p"
done
keepalived -t -f "$1" 2>&1
echo "exit=$?"
"#;

#[derive(Debug)]
struct Row {
    file: String,
    keepalived: String,
    vrrpd: String,
    says: String,
    note: String,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(corpus_dir().join("verdicts.tsv")).expect("verdicts.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 5, "verdicts.tsv: 5 tab-separated fields: {l:?}");
            Row {
                file: f[0].into(),
                keepalived: f[1].into(),
                vrrpd: f[2].into(),
                says: f[3].into(),
                note: f[4].into(),
            }
        })
        .collect()
}

#[test]
fn every_file_has_a_verdict_and_a_source() {
    let rows = rows();
    let readme = std::fs::read_to_string(corpus_dir().join("README.md")).expect("README.md");
    let mut files: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("corpus dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    files.sort();
    let listed: Vec<String> = rows.iter().map(|r| r.file.clone()).collect();
    assert_eq!(files, listed, "every .conf has one row, in order");
    assert!(rows.len() >= 40, "the corpus has at least 40 files");
    for r in &rows {
        assert!(
            readme.contains(&r.file),
            "{} is missing from README.md",
            r.file
        );
        assert!(
            ["clean", "warns", "drops", "fails"].contains(&r.keepalived.as_str()),
            "{}: keepalived verdict {:?}",
            r.file,
            r.keepalived
        );
        let expected = match r.keepalived.as_str() {
            "clean" | "warns" => "accepts",
            _ => "refuses",
        };
        // The policy; a row that departs from it names the documented difference.
        if r.vrrpd != expected {
            assert!(
                r.note.contains("docs/differences.md"),
                "{}: keepalived {} but vrrpd {}: document the difference",
                r.file,
                r.keepalived,
                r.vrrpd
            );
        }
        if r.keepalived != "clean" && r.keepalived != "fails" {
            assert!(
                !r.says.is_empty(),
                "{}: record what keepalived says",
                r.file
            );
        }
    }
}

#[test]
fn vrrpd_verdicts() {
    let vrrpd = env!("CARGO_BIN_EXE_vrrpd");
    let mut wrong = Vec::new();
    for r in rows() {
        let out = Command::new(vrrpd)
            .args(["-t", "-f", &r.file])
            .current_dir(corpus_dir())
            .output()
            .expect("run vrrpd -t");
        let verdict = if out.status.success() {
            "accepts"
        } else {
            "refuses"
        };
        if verdict != r.vrrpd {
            wrong.push(format!(
                "{}: vrrpd {verdict}, recorded {}\n{}{}",
                r.file,
                r.vrrpd,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Deletes the namespace on drop, also when the test fails.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("run ip");
    assert!(status.success(), "ip {args:?} failed");
}

#[test]
fn keepalived_verdicts() {
    require!("ip", "unshare", "keepalived");
    let ns = Netns(format!("vrrpd-corpus-{}", std::process::id()));
    ip(&["netns", "add", &ns.0]);
    for (i, name) in INTERFACES.iter().enumerate() {
        let peer = format!("corpus{i}");
        ip(&[
            "-n", &ns.0, "link", "add", name, "type", "veth", "peer", "name", &peer,
        ]);
        ip(&["-n", &ns.0, "link", "set", name, "up"]);
    }
    let mut wrong = Vec::new();
    for r in rows() {
        let file = corpus_dir().join(&r.file);
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &ns.0,
            "unshare",
            "--mount",
            "--propagation",
            "private",
        ])
        .args(["sh", "-c", KEEPALIVED_CHECK, "sh"])
        .arg(&file)
        .current_dir(corpus_dir());
        let out = run_bounded(cmd, Duration::from_secs(30)).expect("run keepalived -t");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let exit = text
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("exit="))
            .unwrap_or("none")
            .to_string();
        // keepalived -t exits 0, or 6 when its only remark is script security.
        let ok = match r.keepalived.as_str() {
            "clean" => (exit == "0" || exit == "6") && !text.contains("(Line"),
            "fails" => exit != "0" && exit != "5" && exit != "6",
            _ => text.contains(&r.says),
        };
        let says_ok = r.says.is_empty() || text.contains(&r.says);
        if !ok || !says_ok {
            wrong.push(format!(
                "{}: recorded {} ({:?}), keepalived exit {exit}:\n{text}",
                r.file, r.keepalived, r.says
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
