//! The Debian package (lab test, root): `scripts/package.sh` builds it from the binaries of the
//! profile under test, lintian finds no error or warning, and in a clean Debian bookworm root
//! (mmdebstrap, cached under /var/cache/vrrpd-tests) it installs, runs, shows its man pages
//! and completions, and purges cleanly (`tests/chroot-check.sh`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use vrrp_testlab::{find_tool, is_root, need, run_bounded};

const TOOLS: &[&str] = &[
    "lintian",
    "mmdebstrap",
    "dpkg-shlibdeps",
    "dpkg-deb",
    "strip",
    "unshare",
    "chroot",
];
/// What the root holds besides the essential packages: what the checks ask.
const INCLUDE: &str = "man-db,bash-completion,zsh,fish";
const CACHE: &str = "/var/cache/vrrpd-tests";

#[test]
fn package_builds_passes_lintian_and_installs_in_a_clean_debian() {
    if !need(
        is_root(),
        "needs root (chroot, device nodes in the Debian root)",
    ) {
        return;
    }
    if let Some(t) = TOOLS.iter().find(|t| find_tool(t).is_none()) {
        need(false, &format!("`{t}` is not installed (scripts/setup.sh)"));
        return;
    }
    let bins = profile_binaries();
    let work = TempDir::new();
    let deb = build_package(&bins, work.path());
    lintian(&deb);

    install_and_check(&deb, &work.path().join("root"));
}

/// The directory of the profile under test, which holds vrrpd and vrrpctl after a workspace
/// build (`cargo nextest run --workspace`, as in CI; alone: `cargo build -p vrrpd -p vrrpctl`
/// first). Not rebuilt here: other tests run those binaries meanwhile, and a build with
/// another package selection can unify features differently and relink them.
fn profile_binaries() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_vrrp-pkg"))
        .parent()
        .expect("the binary's directory")
        .to_path_buf();
    for bin in ["vrrpd", "vrrpctl"] {
        assert!(
            dir.join(bin).is_file(),
            "no {bin} in {}: cargo build -p vrrpd -p vrrpctl",
            dir.display()
        );
    }
    dir
}

/// Extracts a clean Debian root into `root` and runs `tests/chroot-check.sh` there.
fn install_and_check(deb: &Path, root: &Path) {
    std::fs::create_dir(root).expect("mkdir root");
    ok(
        run(tar_extract(&debian_root(), root), 120),
        "extract the root",
    );
    std::fs::copy(deb, root.join("tmp/vrrpd.deb")).expect("copy the package");
    let check = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chroot-check.sh");
    std::fs::copy(check, root.join("tmp/check.sh")).expect("copy the check script");
    // A private mount namespace: /proc is mounted for the chroot only, and goes with it.
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(r#"mount -t proc proc "$1/proc" && exec chroot "$1" /bin/sh /tmp/check.sh "$2""#)
        .args([
            "sh".as_ref(),
            root.as_os_str(),
            env!("CARGO_PKG_VERSION").as_ref(),
        ]);
    let out = ok(run(cmd, 180), "the checks in the chroot");
    assert!(String::from_utf8_lossy(&out.stdout).contains("chroot checks passed"));
}

fn build_package(bins: &Path, out: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/package.sh");
    let mut cmd = Command::new(script);
    cmd.arg("--bin-dir").arg(bins).arg("--out").arg(out);
    let built = ok(run(cmd, 300), "scripts/package.sh");
    let deb = PathBuf::from(String::from_utf8_lossy(&built.stdout).trim());
    assert!(deb.is_file(), "package.sh printed {}", deb.display());
    deb
}

/// Fails on any error or warning; the informational tags are printed.
fn lintian(deb: &Path) {
    let mut cmd = Command::new("lintian");
    cmd.args(["--fail-on", "error,warning", "--display-info"])
        .arg(deb);
    let out = ok(run(cmd, 300), "lintian");
    eprintln!("lintian:\n{}", String::from_utf8_lossy(&out.stdout));
}

/// A Debian bookworm root (tarball), made once with mmdebstrap and then reused.
fn debian_root() -> PathBuf {
    let tar = Path::new(CACHE).join(format!(
        "bookworm-essential-{}.tar",
        INCLUDE.replace(',', "-")
    ));
    if tar.is_file() {
        return tar;
    }
    std::fs::create_dir_all(CACHE).expect("create the cache directory");
    // Written aside and renamed, so that an interrupted run leaves no partial root.
    let partial = tar.with_extension(format!("{}.tar", std::process::id()));
    let mut cmd = Command::new("mmdebstrap");
    cmd.args([
        "--variant=essential",
        &format!("--include={INCLUDE}"),
        "bookworm",
    ])
    .arg(&partial)
    .arg("http://deb.debian.org/debian");
    let made = run(cmd, 600);
    if made.as_ref().is_ok_and(|o| o.status.success()) {
        std::fs::rename(&partial, &tar).expect("rename the root");
    } else {
        let _ = std::fs::remove_file(&partial);
    }
    ok(made, "mmdebstrap (the Debian mirror must be reachable)");
    tar
}

fn tar_extract(tar: &Path, into: &Path) -> Command {
    let mut cmd = Command::new("tar");
    cmd.arg("-xf").arg(tar).arg("-C").arg(into);
    cmd
}

fn run(cmd: Command, secs: u64) -> vrrp_testlab::Result<Output> {
    run_bounded(cmd, Duration::from_secs(secs))
}

/// The output of a step that must succeed; its output is shown otherwise.
#[track_caller]
fn ok(out: vrrp_testlab::Result<Output>, what: &str) -> Output {
    let out = out.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A directory under /tmp, removed with everything in it (the Debian root) when dropped, also
/// when the test fails. Nothing stays mounted in it: the chroot's /proc lives in the mount
/// namespace of its `unshare`.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        remove_stale();
        let dir = std::env::temp_dir().join(format!("vrrpd-package-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test directory");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

/// The directories of earlier runs that were killed before they could clean up (a timeout):
/// those whose process is gone.
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name.to_str().and_then(|n| n.strip_prefix("vrrpd-package-"));
        if pid.is_some_and(|p| !Path::new("/proc").join(p).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
