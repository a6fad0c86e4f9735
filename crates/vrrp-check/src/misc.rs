//! MISC_CHECK: an external program, run by vrrp-track's script runner (own process group,
//! killed at `misc_timeout`, by default the `delay_loop`). Exit 0 is up, 1 down; with
//! `misc_dynamic`, 2-255 is up with weight (code - 2). A timeout is down.

use vrrp_lb::check::{CheckOutcome, CheckTiming, MiscCheck};
use vrrp_track::script::{Outcome, ScriptCommand, run};
use vrrp_track::security::{check_script, resolve_user};

use crate::{ProbeContext, Verdict, secs};

/// `PATH` for programs named without a `/` (keepalived's default for scripts).
const SCRIPT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub(crate) async fn probe(m: &MiscCheck, timing: &CheckTiming, ctx: &ProbeContext) -> Verdict {
    if m.argv.is_empty() {
        return Err("misc_path is empty".to_string());
    }
    let run_as = match &m.user {
        Some((user, group)) => Some(
            resolve_user(user, group.as_deref()).map_err(|e| format!("MISC_CHECK user: {e}"))?,
        ),
        None => ctx.script_user,
    };
    let timeout = m.timeout.unwrap_or(timing.delay_loop);
    let mut cmd = ScriptCommand::new(m.argv.clone(), timeout);
    cmd.run_as = run_as;
    // A checker's leftover children would pile up at every delay_loop.
    cmd.kill_group_on_exit = true;
    if let Some(user) = run_as {
        let checked = check_script(
            "MISC_CHECK",
            &m.argv,
            user,
            ctx.script_security,
            SCRIPT_PATH,
        )
        .map_err(|e| e.to_string())?;
        cmd.program = Some(checked.executable);
    }
    let result = run(&cmd).await;
    match result.outcome {
        Outcome::Exited(0) => Ok(CheckOutcome::Up),
        Outcome::Exited(code @ 2..=255) if m.dynamic => Ok(CheckOutcome::Weight(code as u32 - 2)),
        Outcome::TimedOut { .. } => Err(format!(
            "{}: timed out after {}",
            cmd.display(),
            secs(timeout)
        )),
        _ => Err(format!("{}: {}", cmd.display(), result.summary())),
    }
}
