//! Script security on temporary trees: unsafe components are refused and named.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use common::{TempDir, is_root};
use vrrp_track::script::RunAs;
use vrrp_track::security::{
    self, DEFAULT_PATH, DEFAULT_SCRIPT_USER, SecurityError, UserSource, check_script,
    default_script_user,
};

fn me() -> RunAs {
    RunAs {
        uid: nix::unistd::geteuid().as_raw(),
        gid: nix::unistd::getegid().as_raw(),
    }
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn script_in(dir: &Path, name: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, "#!/bin/sh\nexit 0\n").expect("write script");
    chmod(&p, 0o755);
    p.display().to_string()
}

/// A tree whose own top directory is safe (the temp dir is created by us, mode 0755).
fn tree(tag: &str) -> TempDir {
    let t = TempDir::new(tag);
    chmod(t.path(), 0o755);
    t
}

#[test]
fn safe_tree_is_accepted() {
    let t = tree("safe");
    let dir = t.join("bin");
    std::fs::create_dir(&dir).expect("mkdir");
    chmod(&dir, 0o755);
    let s = script_in(&dir, "check.sh");
    let c = check_script("chk", &[s.clone(), "arg".into()], me(), true, DEFAULT_PATH)
        .expect("safe script accepted");
    assert_eq!(c.executable, Path::new(&s));
    assert!(c.warnings.is_empty());
}

#[test]
fn world_writable_directory_is_refused_and_named() {
    let t = tree("unsafe");
    let dir = t.join("shared");
    std::fs::create_dir(&dir).expect("mkdir");
    chmod(&dir, 0o777);
    let s = script_in(&dir, "check.sh");
    let err = check_script("chk_web", &[s], me(), true, DEFAULT_PATH).expect_err("refused");
    match &err {
        SecurityError::Unsafe {
            script,
            component,
            reason,
            ..
        } => {
            assert_eq!(script, "chk_web");
            assert_eq!(component, &dir);
            assert!(reason.contains("writable by others"), "{reason}");
            assert!(reason.contains("0777"), "{reason}");
        }
        e => panic!("unexpected {e:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&dir.display().to_string()), "{msg}");
    assert!(msg.contains("chk_web"), "{msg}");

    // Security disabled: accepted, with a warning when it runs as root.
    let c = check_script(
        "chk_web",
        &[script_in(&dir, "c2.sh")],
        RunAs::ROOT,
        false,
        DEFAULT_PATH,
    )
    .expect("accepted without security");
    if is_root() {
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("writable by others"));
    }
}

#[test]
fn sticky_world_writable_directory_is_allowed() {
    let t = tree("sticky");
    let dir = t.join("tmp");
    std::fs::create_dir(&dir).expect("mkdir");
    chmod(&dir, 0o1777);
    let s = script_in(&dir, "check.sh");
    check_script("chk", &[s], me(), true, DEFAULT_PATH).expect("sticky dir is fine");
}

#[test]
fn group_writable_script_is_refused() {
    let t = tree("group");
    let s = script_in(t.path(), "check.sh");
    chmod(Path::new(&s), 0o775);
    let err = check_script("chk", std::slice::from_ref(&s), me(), true, DEFAULT_PATH)
        .expect_err("refused");
    match err {
        SecurityError::Unsafe {
            component, reason, ..
        } => {
            assert_eq!(component, Path::new(&s));
            assert!(reason.contains("writable by group"), "{reason}");
        }
        e => panic!("unexpected {e:?}"),
    }
}

#[test]
fn symlink_into_an_unsafe_directory_is_refused() {
    let t = tree("symlink");
    let bad = t.join("bad");
    std::fs::create_dir(&bad).expect("mkdir");
    chmod(&bad, 0o777);
    let target = script_in(&bad, "real.sh");
    let good = t.join("good");
    std::fs::create_dir(&good).expect("mkdir");
    chmod(&good, 0o755);
    let link = good.join("check.sh");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let err = check_script(
        "chk",
        &[link.display().to_string()],
        me(),
        true,
        DEFAULT_PATH,
    )
    .expect_err("refused");
    match err {
        SecurityError::Unsafe { component, .. } => assert_eq!(component, bad),
        e => panic!("unexpected {e:?}"),
    }
}

#[test]
fn file_owned_by_another_user_is_refused() {
    if !vrrp_testlab::need(is_root(), "needs root to chown") {
        return;
    }
    let nobody = security::resolve_user("nobody", None).expect("nobody");
    let t = tree("owner");
    let s = script_in(t.path(), "check.sh");
    nix::unistd::chown(
        Path::new(&s),
        Some(nix::unistd::Uid::from_raw(nobody.uid)),
        Some(nix::unistd::Gid::from_raw(nobody.gid)),
    )
    .expect("chown");
    let err = check_script(
        "chk",
        std::slice::from_ref(&s),
        RunAs::ROOT,
        true,
        DEFAULT_PATH,
    )
    .expect_err("refused");
    match err {
        SecurityError::Unsafe {
            component, reason, ..
        } => {
            assert_eq!(component, Path::new(&s));
            assert!(
                reason.contains("owned by uid") && reason.contains("nobody"),
                "{reason}"
            );
        }
        e => panic!("unexpected {e:?}"),
    }
    // The same file is fine for a script that runs as its owner.
    check_script("chk", &[s], nobody, true, DEFAULT_PATH).expect("owner may own its script");
}

#[test]
fn missing_and_non_executable_scripts_are_errors() {
    let t = tree("missing");
    let err =
        check_script("chk", &[t.s("nope.sh")], me(), false, DEFAULT_PATH).expect_err("missing");
    assert!(matches!(err, SecurityError::Inaccessible { .. }), "{err:?}");
    let err = check_script(
        "chk",
        &["no-such-cmd-vrrp-track".into()],
        me(),
        false,
        DEFAULT_PATH,
    )
    .expect_err("not in PATH");
    assert!(err.to_string().contains("not found"), "{err}");
    let s = script_in(t.path(), "noexec.sh");
    chmod(Path::new(&s), 0o644);
    let err = check_script("chk", &[s], me(), false, DEFAULT_PATH).expect_err("not executable");
    assert!(
        matches!(err, SecurityError::NotExecutable { .. }),
        "{err:?}"
    );
    assert!(matches!(
        check_script("chk", &[], me(), false, DEFAULT_PATH),
        Err(SecurityError::EmptyCommand { .. })
    ));
}

#[test]
fn bare_names_resolve_through_path() {
    let t = tree("path");
    let s = script_in(t.path(), "my-check");
    let path = format!("/nonexistent:{}", t.path().display());
    let c = check_script("chk", &["my-check".into()], me(), true, &path).expect("found");
    assert_eq!(c.executable, Path::new(&s));
}

#[test]
fn default_script_user_rules() {
    let (r, src) = default_script_user(Some(("nobody", None)), true).expect("configured");
    assert_eq!(src, UserSource::Configured);
    assert_eq!(r, security::resolve_user("nobody", None).expect("nobody"));
    assert!(matches!(
        default_script_user(Some(("no-such-user-vrrp-track", None)), false),
        Err(SecurityError::NoSuchUser(_))
    ));
    let have_default = matches!(
        nix::unistd::User::from_name(DEFAULT_SCRIPT_USER),
        Ok(Some(_))
    );
    if have_default {
        let (_, src) = default_script_user(None, true).expect("keepalived_script");
        assert_eq!(src, UserSource::KeepalivedScript);
    } else {
        assert_eq!(
            default_script_user(None, false).expect("root allowed"),
            (RunAs::ROOT, UserSource::RootInsecure)
        );
        let err = default_script_user(None, true).expect_err("refused");
        assert_eq!(err, SecurityError::WouldRunAsRoot);
        let msg = err.to_string();
        assert!(msg.contains("scripts would run as root"), "{msg}");
        assert!(
            msg.contains("script_user") && msg.contains(DEFAULT_SCRIPT_USER),
            "{msg}"
        );
    }
}
