//! The configuration check at start and for `-t`: the file, then its scripts, hooks and load
//! balancer, all reported in one pass.

use std::path::Path;

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
    // Scripts and hooks are checked at load (users, executables, script security), so that
    // `-t` reports what would keep the daemon from starting.
    let scripts = tracking::Scripts::new(&config.global);
    let mut errors = Vec::new();
    for instance in &config.instances {
        if let Err(e) = setup::extras(&config, instance, &scripts) {
            errors.push(e);
        }
    }
    for group in &config.sync_groups {
        if let Err(e) = scripts.notify_scripts(&group.notify, None) {
            errors.push(e);
        }
    }
    let balancer_plan = match balancer::BalancerPlan::from_config(&config, &scripts) {
        Ok(plan) => plan,
        Err(e) => {
            errors.push(format!("{e:#}"));
            None
        }
    };
    let tracker_plan = match tracking::plan(&config, &scripts) {
        Ok(plan) => Some(plan),
        Err(e) => {
            errors.extend(e);
            None
        }
    };
    // Scripts not installed yet: keepalived disables them and runs; `--strict` refuses.
    warnings.extend(scripts.notes(path));
    let missing = scripts.missing();
    if args.strict {
        config_errors.extend(missing.into_iter().map(as_error));
    } else {
        warnings.extend(missing);
    }
    config_errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    warnings.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));

    let failed = !config_errors.is_empty() || !errors.is_empty();
    if failed || args.config_test {
        for e in &config_errors {
            eprintln!("{e}");
        }
        for e in &errors {
            eprintln!("{e}");
        }
        for w in &warnings {
            eprintln!("{w}");
        }
    } else {
        for w in &warnings {
            warn!("{w}");
        }
    }
    // The load balancer's check reports its errors as one text.
    let n_errors = config_errors.len()
        + errors
            .iter()
            .map(|e| e.matches(": error: ").count().max(1))
            .sum::<usize>();
    let summary = format!(
        "{}: {}, {}",
        path.display(),
        count(n_errors, "error"),
        count(warnings.len(), "warning")
    );
    match tracker_plan {
        Some(plan) if !failed => {
            if args.config_test {
                println!("{}: configuration is valid", path.display());
                if !warnings.is_empty() {
                    eprintln!("{summary}");
                }
            }
            Some((config, scripts, plan, balancer_plan))
        }
        _ => {
            eprintln!("{summary}");
            None
        }
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
