//! The scheduling keywords of `global_defs`: `vrrp_priority`, `vrrp_rt_priority`,
//! `vrrp_rlimit_rttime`, `vrrp_no_swap`, `vrrp_cpu_affinity`.

use vrrp_config::{ConfigError, Loaded, VrrpSched, parse_str};

fn ok(text: &str) -> Loaded {
    parse_str("t.conf", text).unwrap_or_else(|e| {
        let all: Vec<String> = e.iter().map(|e| e.to_string()).collect();
        panic!("unexpected errors:\n{}", all.join("\n"))
    })
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse_str("t.conf", text) {
        Ok(l) => panic!("expected errors, got {:#?}", l.config.global.vrrp_sched),
        Err(e) => e,
    }
}

#[track_caller]
fn has(errs: &[ConfigError], line: usize, column: usize, msg: &str) {
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(
        errs.iter()
            .any(|e| e.line == line && e.column == column && e.message.contains(msg)),
        "no error {line}:{column} `{msg}` in:\n{}",
        all.join("\n")
    );
}

fn global(lines: &str) -> String {
    format!("global_defs {{\n{lines}}}\n")
}

#[test]
fn the_keywords_are_read() {
    let l = ok(&global(
        "    vrrp_priority -10\n    vrrp_rt_priority 50\n    vrrp_rlimit_rttime 20000\n    vrrp_no_swap\n    vrrp_cpu_affinity 1 0 1\n",
    ));
    let s = &l.config.global.vrrp_sched;
    assert_eq!(s.nice, Some(-10));
    assert_eq!(s.rt_priority, Some(50));
    assert_eq!(s.rlimit_rttime, Some(20000));
    assert_eq!(s.rttime_limit(), Some(20000));
    assert!(s.no_swap);
    assert_eq!(s.cpu_affinity, vec![0, 1]);
}

#[test]
fn the_defaults_change_nothing() {
    let l = ok(&global("    router_id a\n"));
    assert_eq!(l.config.global.vrrp_sched, VrrpSched::default());
    assert_eq!(l.config.global.vrrp_sched.rttime_limit(), None);
}

#[test]
fn rttime_defaults_to_keepalived_s_10ms_under_rt_priority_only() {
    let rt = ok(&global("    vrrp_rt_priority 1\n"));
    assert_eq!(rt.config.global.vrrp_sched.rttime_limit(), Some(10_000));
    let no_rt = ok(&global("    vrrp_rlimit_rtime 5000\n"));
    assert_eq!(no_rt.config.global.vrrp_sched.rlimit_rttime, Some(5000));
    assert_eq!(no_rt.config.global.vrrp_sched.rttime_limit(), None);
}

#[test]
fn bad_values_are_located() {
    let errs = errors(&global(
        "    vrrp_priority 20\n    vrrp_rt_priority 0\n    vrrp_rlimit_rttime 1\n    vrrp_cpu_affinity 0 x\n    vrrp_no_swap maybe\n",
    ));
    has(&errs, 2, 19, "invalid vrrp_priority `20`");
    has(&errs, 3, 22, "invalid vrrp_rt_priority `0`");
    has(&errs, 4, 24, "invalid vrrp_rlimit_rttime `1`");
    has(&errs, 5, 25, "invalid CPU `x`");
    has(&errs, 6, 18, "vrrp_no_swap");
    let errs = errors(&global("    vrrp_cpu_affinity\n"));
    has(&errs, 2, 5, "needs at least one CPU");
    let errs = errors(&global("    vrrp_rt_priority\n"));
    has(&errs, 2, 5, "vrrp_rt_priority");
}

#[test]
fn checker_rt_priority_is_still_refused() {
    let errs = errors(&global("    checker_rt_priority 10\n"));
    has(&errs, 2, 5, "unsupported keyword");
}

#[test]
fn checker_priority_and_no_swap_are_read() {
    let l = ok(&global("    checker_priority 10\n    checker_no_swap\n"));
    assert_eq!(l.config.global.checker_sched.nice, Some(10));
    assert!(l.config.global.checker_sched.no_swap);
    let errs = errors(&global("    checker_priority -21\n"));
    has(&errs, 2, 22, "invalid checker_priority `-21`");
}
