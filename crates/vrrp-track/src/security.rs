//! Script security, checked at config load: who scripts run as, and whether their
//! executable can be modified by someone else.
//!
//! keepalived's `enable_script_security` disables unsafe scripts with a log line that is easy
//! to miss (keepalived.md §4 pain point 6). vrrpd refuses them with an error that names the
//! script, the unsafe path component and the reason, so the config is rejected.
//!
//! The rule: every component of the executable's path (the path as written, each directory
//! on the way, and the same for the path with symlinks resolved) must be owned by root or by
//! the user the script runs as, and must not be writable by group or others; a directory
//! with the sticky bit (like `/tmp`) may be group/other writable, since other users cannot
//! rename or remove entries they do not own.

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};

use nix::unistd::{Gid, Group, Uid, User};
use thiserror::Error;

use crate::script::RunAs;

/// The user keepalived runs scripts as by default when it exists.
pub const DEFAULT_SCRIPT_USER: &str = "keepalived_script";

/// The `PATH` used to find scripts configured without a `/` (keepalived uses a fixed path
/// too, not the daemon's environment).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why a script user or a script is refused at config load.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SecurityError {
    /// The configured script user does not exist.
    #[error("script user {0:?} does not exist")]
    NoSuchUser(String),
    /// The configured script group does not exist.
    #[error("script group {0:?} does not exist")]
    NoSuchGroup(String),
    /// The user or group database could not be read.
    #[error("cannot look up {what} {name:?}: {error}")]
    Lookup {
        /// `user` or `group`.
        what: &'static str,
        /// The name looked up.
        name: String,
        /// The system's error.
        error: String,
    },
    /// `enable_script_security` without a usable script user: scripts would run as root.
    #[error(
        "enable_script_security is set but no script user is configured and user {DEFAULT_SCRIPT_USER:?} does not exist: scripts would run as root; set script_user in global_defs (or user in each script) or create user {DEFAULT_SCRIPT_USER}"
    )]
    WouldRunAsRoot,
    /// A script with no program.
    #[error("script {script:?}: empty command")]
    EmptyCommand {
        /// Which script, as the caller names it.
        script: String,
    },
    /// The program is not in the search path.
    #[error("script {script:?}: {program:?} not found in {path}")]
    NotFound {
        /// Which script, as the caller names it.
        script: String,
        /// The program looked for.
        program: String,
        /// The `PATH` searched.
        path: String,
    },
    /// The executable (or a directory above it) cannot be examined.
    #[error("script {script:?}: cannot access {file}: {error}")]
    Inaccessible {
        /// Which script, as the caller names it.
        script: String,
        /// The path that could not be examined.
        file: PathBuf,
        /// The system's error.
        error: String,
    },
    /// The program is not an executable regular file.
    #[error("script {script:?}: {file} is not an executable regular file")]
    NotExecutable {
        /// Which script, as the caller names it.
        script: String,
        /// The resolved executable.
        file: PathBuf,
    },
    /// With `enable_script_security`: someone other than root (or the script's user) could
    /// change what runs.
    #[error(
        "script {script:?} ({executable}) is unsafe with enable_script_security: {component} {reason}; every component of the path must be owned by root (or the script's user) and not writable by group or others"
    )]
    Unsafe {
        /// Which script, as the caller names it.
        script: String,
        /// The resolved executable.
        executable: PathBuf,
        /// The path component at fault (the executable or a directory above it).
        component: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl SecurityError {
    /// Whether the program is missing or not executable (not deployed yet): keepalived then
    /// disables the script with a warning and runs, where the other errors refuse it.
    pub fn is_missing(&self) -> bool {
        matches!(
            self,
            SecurityError::NotFound { .. }
                | SecurityError::NotExecutable { .. }
                | SecurityError::Inaccessible { .. }
        )
    }
}

fn lookup_err(what: &'static str, name: &str, e: nix::Error) -> SecurityError {
    SecurityError::Lookup {
        what,
        name: name.to_string(),
        error: e.to_string(),
    }
}

/// Resolves `user [group]` (names, or numeric ids) to a uid and gid; without a group, the
/// user's primary group.
pub fn resolve_user(name: &str, group: Option<&str>) -> Result<RunAs, SecurityError> {
    let user = match User::from_name(name).map_err(|e| lookup_err("user", name, e))? {
        Some(u) => Some(u),
        None => match name.parse::<u32>() {
            Ok(uid) => {
                User::from_uid(Uid::from_raw(uid)).map_err(|e| lookup_err("user", name, e))?
            }
            Err(_) => None,
        },
    };
    let (uid, primary_gid) = match (user, name.parse::<u32>()) {
        (Some(u), _) => (u.uid.as_raw(), Some(u.gid.as_raw())),
        // A numeric uid without a passwd entry is allowed only with an explicit group.
        (None, Ok(uid)) if group.is_some() => (uid, None),
        (None, _) => return Err(SecurityError::NoSuchUser(name.to_string())),
    };
    let gid = match group {
        None => primary_gid.ok_or_else(|| SecurityError::NoSuchUser(name.to_string()))?,
        Some(g) => match Group::from_name(g).map_err(|e| lookup_err("group", g, e))? {
            Some(gr) => gr.gid.as_raw(),
            None => match g.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => return Err(SecurityError::NoSuchGroup(g.to_string())),
            },
        },
    };
    Ok(RunAs { uid, gid })
}

/// Where the default script user came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSource {
    /// `script_user` in `global_defs`.
    Configured,
    /// The `keepalived_script` user exists.
    KeepalivedScript,
    /// Neither, and script security is off: scripts run as root (log a warning).
    RootInsecure,
}

/// keepalived's default script user: `script_user` if set, else `keepalived_script` if that
/// user exists, else root — but with `enable_script_security` the last case is refused
/// instead ([`SecurityError::WouldRunAsRoot`]). The daemon needs this only when some script
/// or hook has no `user` of its own.
pub fn default_script_user(
    script_user: Option<(&str, Option<&str>)>,
    script_security: bool,
) -> Result<(RunAs, UserSource), SecurityError> {
    if let Some((name, group)) = script_user {
        return Ok((resolve_user(name, group)?, UserSource::Configured));
    }
    match resolve_user(DEFAULT_SCRIPT_USER, None) {
        Ok(r) => Ok((r, UserSource::KeepalivedScript)),
        Err(SecurityError::NoSuchUser(_)) if !script_security => {
            Ok((RunAs::ROOT, UserSource::RootInsecure))
        }
        Err(SecurityError::NoSuchUser(_)) => Err(SecurityError::WouldRunAsRoot),
        Err(e) => Err(e),
    }
}

/// The result of checking one script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptCheck {
    /// The executable to run (absolute when found through `PATH`). Pass it as
    /// [`crate::script::ScriptCommand::program`] so that `PATH` is not searched again later.
    pub executable: PathBuf,
    /// Unsafe components found while security is disabled (log them as warnings).
    pub warnings: Vec<String>,
}

/// Finds `program` as `execvp` would: as is when it contains a `/`, else in `path`.
pub fn resolve_executable(program: &str, path: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(program))
        .find(|p| is_executable_file(p))
}

fn is_executable_file(p: &Path) -> bool {
    match fs::metadata(p) {
        Ok(m) => m.is_file() && m.permissions().mode() & 0o111 != 0,
        Err(_) => false,
    }
}

fn user_name(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(u)) => format!("uid {uid} ({})", u.name),
        _ => format!("uid {uid}"),
    }
}

fn group_name(gid: u32) -> String {
    match Group::from_gid(Gid::from_raw(gid)) {
        Ok(Some(g)) => format!("gid {gid} ({})", g.name),
        _ => format!("gid {gid}"),
    }
}

/// Why `meta` (of a path component) is unsafe for a script run as `run_as`, if it is.
fn unsafe_reason(meta: &fs::Metadata, run_as: RunAs) -> Option<String> {
    let mode = meta.mode();
    let uid = meta.uid();
    let is_link = meta.file_type().is_symlink();
    if uid != 0 && uid != run_as.uid {
        return Some(format!(
            "is owned by {} (mode {:04o})",
            user_name(uid),
            mode & 0o7777
        ));
    }
    if is_link {
        // A symlink's own mode means nothing; its directory and target are checked.
        return None;
    }
    let sticky_dir = meta.is_dir() && mode & 0o1000 != 0;
    if sticky_dir {
        return None;
    }
    if mode & 0o002 != 0 {
        return Some(format!(
            "is writable by others (mode {:04o}, owner {})",
            mode & 0o7777,
            user_name(uid)
        ));
    }
    if mode & 0o020 != 0 {
        return Some(format!(
            "is writable by group {} (mode {:04o})",
            group_name(meta.gid()),
            mode & 0o7777
        ));
    }
    None
}

/// Every prefix of `path` from `/` down to `path` itself.
fn prefixes(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut cur = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir => cur.push("/"),
            Component::Normal(n) => cur.push(n),
            Component::CurDir => continue,
            Component::ParentDir => cur.push(".."),
            Component::Prefix(_) => continue,
        }
        out.push(cur.clone());
    }
    out
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// Checks one script (`argv` as configured) that will run as `run_as`.
///
/// Always: the program must be found (through `path` when it has no `/`) and be an
/// executable regular file. With `script_security`, any unsafe component is an error
/// naming it; without, unsafe components of scripts that run as root are returned as
/// warnings.
pub fn check_script(
    script: &str,
    argv: &[String],
    run_as: RunAs,
    script_security: bool,
    path: &str,
) -> Result<ScriptCheck, SecurityError> {
    let Some(program) = argv.first() else {
        return Err(SecurityError::EmptyCommand {
            script: script.to_string(),
        });
    };
    let Some(executable) = resolve_executable(program, path) else {
        return Err(SecurityError::NotFound {
            script: script.to_string(),
            program: program.clone(),
            path: path.to_string(),
        });
    };
    let literal = absolute(&executable);
    let resolved = fs::canonicalize(&literal).map_err(|e| SecurityError::Inaccessible {
        script: script.to_string(),
        file: literal.clone(),
        error: e.to_string(),
    })?;
    if !is_executable_file(&resolved) {
        return Err(SecurityError::NotExecutable {
            script: script.to_string(),
            file: resolved,
        });
    }
    // Execute permission for the target user is left to exec itself; here only the
    // ownership/mode rule applies.
    let mut warnings = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for component in prefixes(&literal).into_iter().chain(prefixes(&resolved)) {
        if !seen.insert(component.clone()) {
            continue;
        }
        let meta = fs::symlink_metadata(&component).map_err(|e| SecurityError::Inaccessible {
            script: script.to_string(),
            file: component.clone(),
            error: e.to_string(),
        })?;
        if let Some(reason) = unsafe_reason(&meta, run_as) {
            if script_security {
                return Err(SecurityError::Unsafe {
                    script: script.to_string(),
                    executable: resolved,
                    component,
                    reason,
                });
            }
            if run_as.uid == 0 {
                warnings.push(format!(
                    "script {script:?} runs as root but {} {reason} (enable_script_security would refuse it)",
                    component.display()
                ));
            }
        }
    }
    Ok(ScriptCheck {
        executable: if program.contains('/') {
            executable
        } else {
            literal
        },
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_walk_down_from_root() {
        assert_eq!(
            prefixes(Path::new("/usr/bin/true")),
            vec![
                PathBuf::from("/"),
                PathBuf::from("/usr"),
                PathBuf::from("/usr/bin"),
                PathBuf::from("/usr/bin/true"),
            ]
        );
    }

    #[test]
    fn resolve_through_path() {
        let p = resolve_executable("sh", DEFAULT_PATH).expect("sh in PATH");
        assert!(p.is_absolute());
        assert_eq!(
            resolve_executable("./x", DEFAULT_PATH),
            Some(PathBuf::from("./x"))
        );
        assert_eq!(
            resolve_executable("no-such-program-vrrp-track", DEFAULT_PATH),
            None
        );
    }

    #[test]
    fn root_resolves() {
        assert_eq!(resolve_user("root", None), Ok(RunAs::ROOT));
        assert_eq!(resolve_user("0", Some("0")), Ok(RunAs::ROOT));
        assert!(matches!(
            resolve_user("no-such-user-vrrp-track", None),
            Err(SecurityError::NoSuchUser(_))
        ));
        assert!(matches!(
            resolve_user("root", Some("no-such-group-vrrp-track")),
            Err(SecurityError::NoSuchGroup(_))
        ));
    }
}
