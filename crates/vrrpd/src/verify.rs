//! The configuration check at start and for `-t`: the file, then its scripts, hooks and load
//! balancer, all reported in one pass.

use std::path::{Path, PathBuf};

use tracing::warn;
use vrrp_config::{Config, ConfigError, LoadOptions, Warning};

use crate::cli::Args;
use crate::{balancer, setup, tracking};

/// What a valid configuration gives the daemon.
pub(crate) type Checked = (
    Config,
    tracking::Scripts,
    tracking::Plan,
    Option<balancer::BalancerPlan>,
);

/// Reads and checks the configuration at `path`. Every error and warning is printed on
/// standard error as a located diagnostic (with `-t`, warnings too, before the summary;
/// when starting, warnings go to the log). `None`: there were errors.
pub(crate) fn check(path: &Path, args: &Args) -> Option<Checked> {
    // The scripts are checked even when the file has errors, so that one pass reports all;
    // the configuration then only serves that check.
    let vrrp_config::Checked {
        config,
        errors: mut config_errors,
        mut warnings,
    } = vrrp_config::check_with(path, &LoadOptions::default());
    // FRR's setup for `bgp_announce`: at start only (and `-t`), while the daemon can still
    // read FRR's files (0640 frr:frr on Debian; a reload runs without CAP_DAC_OVERRIDE).
    config_errors.extend(config.bgp_frr_errors());
    let scripts = tracking::Scripts::new(&config.global);
    let (errors, tracker_plan, balancer_plan) = check_scripts(&config, &scripts);
    // Scripts not installed yet: keepalived disables them and runs; `--strict` refuses.
    warnings.extend(scripts.notes(path));
    let missing = scripts.missing();
    if args.strict {
        config_errors.extend(missing.into_iter().map(as_error));
    } else {
        warnings.extend(missing);
    }
    warnings.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    // The file's errors and those of the scripts and the load balancer, in file order.
    let mut all: Vec<(Position, String)> = config_errors
        .iter()
        .map(|e| ((e.file.clone(), e.line, e.column), e.to_string()))
        .chain(
            errors
                .iter()
                .flat_map(|e| split_diagnostics(e))
                .map(|d| (position(&d), d)),
        )
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let errors: Vec<String> = all.into_iter().map(|(_, e)| e).collect();
    report(path, args, &errors, &warnings);
    match tracker_plan {
        Some(plan) if errors.is_empty() => Some((config, scripts, plan, balancer_plan)),
        _ => None,
    }
}

/// Checks the scripts and hooks of `config` (users, executables, script security) and the
/// load balancer, so that `-t` reports what would keep the daemon from starting: the
/// errors, and the plans when there are none.
fn check_scripts(
    config: &Config,
    scripts: &tracking::Scripts,
) -> (
    Vec<String>,
    Option<tracking::Plan>,
    Option<balancer::BalancerPlan>,
) {
    let mut errors = Vec::new();
    for instance in &config.instances {
        if let Err(e) = setup::extras(config, instance, scripts) {
            errors.push(e);
        }
    }
    for group in &config.sync_groups {
        if let Err(e) = scripts.notify_scripts(&group.notify, None) {
            errors.push(e);
        }
    }
    let balancer_plan = match balancer::BalancerPlan::from_config(config, scripts) {
        Ok(plan) => plan,
        Err(e) => {
            errors.push(format!("{e:#}"));
            None
        }
    };
    let tracker_plan = match tracking::plan(config, scripts) {
        Ok(plan) => Some(plan),
        Err(e) => {
            errors.extend(e);
            None
        }
    };
    (errors, tracker_plan, balancer_plan)
}

/// Prints the diagnostics and the summary (`-t`, or errors); else logs the warnings.
fn report(path: &Path, args: &Args, errors: &[String], warnings: &[Warning]) {
    if errors.is_empty() && !args.config_test {
        for w in warnings {
            warn!("{w}");
        }
        return;
    }
    for e in errors {
        eprintln!("{e}");
    }
    for w in warnings {
        eprintln!("{w}");
    }
    if errors.is_empty() {
        println!("{}: configuration is valid", path.display());
        if warnings.is_empty() {
            return;
        }
    }
    eprintln!(
        "{}: {}, {}",
        path.display(),
        count(errors.len(), "error"),
        count(warnings.len(), "warning")
    );
}

/// Where a diagnostic points: file, line, column.
type Position = (PathBuf, usize, usize);

/// The diagnostics of a text holding several (the load balancer's check joins them): each
/// starts with an unindented `FILE:LINE:COL: error: ` line.
fn split_diagnostics(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let starts = !line.starts_with(' ') && line.contains(": error: ");
        match out.last_mut() {
            Some(cur) if !starts => {
                cur.push('\n');
                cur.push_str(line);
            }
            _ => out.push(line.to_owned()),
        }
    }
    out
}

/// The position a `FILE:LINE:COL: error: ...` text starts with (unknown ones sort last).
fn position(text: &str) -> Position {
    let at = text.split_once(": error: ").map_or("", |(at, _)| at);
    let mut parts = at.rsplitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(col), Some(line), Some(file)) => match (line.parse(), col.parse()) {
            (Ok(line), Ok(col)) => (PathBuf::from(file), line, col),
            _ => (PathBuf::from(at), usize::MAX, 0),
        },
        _ => (PathBuf::from(at), usize::MAX, 0),
    }
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// A warning turned into an error (`--strict`).
fn as_error(w: Warning) -> ConfigError {
    ConfigError {
        file: w.file,
        line: w.line,
        column: w.column,
        message: w.message,
        snippet: w.snippet,
        hint: w.hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_diagnostics_are_split_and_located() {
        let text = "a.conf:3:5: error: one\n    3 | x\n      | ^\nb.conf:10:2: error: two";
        let parts = split_diagnostics(text);
        assert_eq!(parts.len(), 2, "{parts:?}");
        assert_eq!(position(&parts[0]), (PathBuf::from("a.conf"), 3, 5));
        assert_eq!(position(&parts[1]), (PathBuf::from("b.conf"), 10, 2));
        assert_eq!(position("no position").1, usize::MAX);
    }
}
