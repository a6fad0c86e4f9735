//! Preprocessing: `@ID` lines, `$NAME` parameters, `~SEQ`/`~LST` loops, line continuation
//! and the include variants, with errors located in the original text.

use std::path::{Path, PathBuf};

use vrrp_config::{ConfigError, LoadOptions, Loaded, load_with, parse_str_with};

fn opts(id: &str) -> LoadOptions {
    LoadOptions {
        config_id: Some(id.to_owned()),
    }
}

fn ok_as(id: &str, text: &str) -> Loaded {
    match parse_str_with("t.conf", text, &opts(id)) {
        Ok(l) => l,
        Err(errs) => {
            for e in &errs {
                eprintln!("{e}");
            }
            panic!("{} errors", errs.len());
        }
    }
}

fn ok(text: &str) -> Loaded {
    ok_as("node1", text)
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse_str_with("t.conf", text, &opts("node1")) {
        Ok(l) => panic!("expected errors, got {:#?}", l.config),
        Err(e) => e,
    }
}

/// Asserts one error at `line:column` whose message contains `msg`; returns it.
#[track_caller]
fn has<'a>(errs: &'a [ConfigError], line: usize, column: usize, msg: &str) -> &'a ConfigError {
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    errs.iter()
        .find(|e| e.line == line && e.column == column && e.message.contains(msg))
        .unwrap_or_else(|| panic!("no error {line}:{column} `{msg}` in:\n{}", all.join("\n")))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

const INST: &str = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n    priority $PRIO\n    virtual_ipaddress {\n        10.0.0.1/24\n    }\n}\n";

#[test]
fn conditional_lines() {
    let text = "global_defs {\n    @node1 router_id one\n    @node2 router_id two\n}\n$PRIO=100\n@^node1 $PRIO=50\n";
    let text = format!("{text}{INST}");
    let a = ok_as("node1", &text);
    assert_eq!(a.config.global.router_id.as_deref(), Some("one"));
    assert_eq!(a.config.instances[0].priority, 100);
    let b = ok_as("node2", &text);
    assert_eq!(b.config.global.router_id.as_deref(), Some("two"));
    assert_eq!(b.config.instances[0].priority, 50);
    let c = ok_as("other", &text);
    assert_eq!(c.config.global.router_id, None);
    assert_eq!(c.config.instances[0].priority, 50);
}

#[test]
fn parameters_are_substituted_when_used() {
    // Substitution happens at use time, recursively (keepalived's example).
    let text = "$BASE=10.2.${SUB}\n$SUB=0\n$PRIO=1${SUB}1\nvrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n    priority $PRIO\n    virtual_ipaddress {\n        ${BASE}.100/32\n        $SUB=10\n        ${BASE}.100/32\n    }\n}\n";
    let l = ok(text);
    let i = &l.config.instances[0];
    assert_eq!(i.priority, 101);
    let addrs: Vec<String> = i.vips.iter().map(|v| v.addr.to_string()).collect();
    assert_eq!(addrs, ["10.2.0.100", "10.2.10.100"]);
}

#[test]
fn parameter_errors_point_at_the_reference() {
    let errs = errors(&format!("$PRIO=300\n{INST}"));
    let e = has(&errs, 5, 14, "invalid priority `300`");
    assert_eq!(e.snippet, "    priority $PRIO");
    assert!(
        e.hint
            .as_deref()
            .is_some_and(|h| h.contains("`$PRIO` defined at t.conf:1")),
        "{e}"
    );
    let errs = errors(INST);
    has(&errs, 4, 14, "undefined parameter `$PRIO`");
    let errs = errors(&format!(
        "$PRIO=1\n$X=1\n{}",
        INST.replace("$PRIO", "$PRIO0 ${X}x $X.1")
    ));
    has(&errs, 6, 14, "undefined parameter `$PRIO0`");
    has(&errs, 6, 27, "`$X` is followed by other text");
}

#[test]
fn predefined_parameters() {
    let text = "global_defs {\n    router_id ${_INSTANCE}${_HASH}x${_BANG}\n}\n$PRIO=9\n";
    let l = ok_as("lb-a", &format!("{text}{INST}"));
    assert_eq!(l.config.global.router_id.as_deref(), Some("lb-a#x!"));
    let errs = errors(&format!(
        "global_defs {{\n    router_id ${{_RANDOM 1 5}}\n}}\n$PRIO=9\n{INST}"
    ));
    has(&errs, 2, 15, "`${_RANDOM}` is not supported");
    let errs = errors(&format!("$_PWD=x\n$PRIO=9\n{INST}"));
    has(&errs, 1, 1, "`$_PWD` is predefined");
}

#[test]
fn quoted_undefined_parameters_are_kept_with_a_warning() {
    let text = "global_defs {\n    router_id \"a $HOME b\"\n}\n$PRIO=9\n";
    let l = ok(&format!("{text}{INST}"));
    assert_eq!(l.config.global.router_id.as_deref(), Some("a $HOME b"));
    assert!(
        l.warnings.iter().any(|w| w.line == 2
            && w.column == 18
            && w.message.contains("`$HOME` is not a defined parameter")),
        "{:?}",
        l.warnings
    );
}

#[test]
fn multi_line_definitions() {
    let text = "$INSTANCE= \\\nvrrp_instance VI_${NUM} { \\\n    interface eth0 \\\n    virtual_router_id ${NUM} \\\n    @high priority 130 \\\n    @low priority 120 \\\n    virtual_ipaddress { \\\n        10.0.${NUM}.254/24 \\\n    } \\\n}\n\n$NUM=1\n$INSTANCE\n$NUM=2\n$INSTANCE\n";
    let l = ok_as("high", text);
    let names: Vec<&str> = l.config.instances.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["VI_1", "VI_2"]);
    assert!(l.config.instances.iter().all(|i| i.priority == 130));
    assert_eq!(l.config.instances[1].vips[0].addr.to_string(), "10.0.2.254");
    let l = ok_as("low", text);
    assert!(l.config.instances.iter().all(|i| i.priority == 120));
    // An error in the body points at the reference, naming the body line.
    let errs = errors(&text.replace("$NUM=2", "$NUM=300"));
    let e = has(&errs, 15, 1, "invalid virtual_router_id `300`");
    assert!(
        e.hint.as_deref().is_some_and(|h| h.contains("t.conf:4")),
        "{e}"
    );
}

#[test]
fn seq_and_lst_loops() {
    let text = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n    virtual_ipaddress {\n        ~SEQ(N, 0, 3) 10.0.${N}.1/24\n        ~LST({A, B}, {1, 2}, {3, 4}) 10.2.${A}.${B}\n        ~LST(X, 7) ~SEQ(Y, 2) 10.3.${X}.${Y}\n        ~SEQ(Z, 3, -1, 2) 10.4.0.$Z\n    }\n    virtual_ipaddress_excluded {\n        ~SEQx(H, 0x90, 0x10, 0xc0) fe80::20:${H}:1\n    }\n}\n";
    let l = ok(text);
    let i = &l.config.instances[0];
    let addrs: Vec<String> = i.vips.iter().map(|v| v.addr.to_string()).collect();
    assert_eq!(
        addrs,
        [
            "10.0.0.1", "10.0.1.1", "10.0.2.1", "10.0.3.1", "10.2.1.2", "10.2.3.4", "10.3.7.1",
            "10.3.7.2", "10.4.0.3", "10.4.0.2"
        ]
    );
    let ex: Vec<String> = i.excluded_vips.iter().map(|v| v.addr.to_string()).collect();
    assert_eq!(
        ex,
        [
            "fe80::20:90:1",
            "fe80::20:a0:1",
            "fe80::20:b0:1",
            "fe80::20:c0:1"
        ]
    );
}

#[test]
fn errors_in_loops_point_at_the_original_line() {
    let text = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n    virtual_ipaddress {\n        ~SEQ(N, 255, 257) 10.0.0.${N}/24\n    }\n}\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 2, "{errs:?}");
    let e = has(&errs, 5, 27, "invalid address `10.0.0.256/24`");
    assert_eq!(e.snippet, "        ~SEQ(N, 255, 257) 10.0.0.${N}/24");
    assert!(
        e.hint.as_deref().is_some_and(|h| h.contains("N = 256")),
        "{e}"
    );
    has(&errs, 5, 27, "invalid address `10.0.0.257/24`");
}

#[test]
fn loop_limits() {
    let errs = errors("~SEQ(I, 0, 1, 9223372036854775807) x\n");
    has(&errs, 1, 1, "iterations; at most 100000 lines");
    let errs = errors("~SEQ(A, 1000) ~SEQ(B, 1000) router_id x\n");
    has(&errs, 1, 29, "more than 100000 lines");
    let errs = errors("~SEQ(I, 1, 0, 5) x\n~SEQ(1I, 5) x\n  ~LST({A, B}, {1}) x\n~SEQ(I, 3 x\n");
    has(&errs, 1, 1, "invalid `~SEQ`: step 0");
    has(&errs, 2, 1, "is not a variable name");
    has(&errs, 3, 3, "has 1 value(s) for 2 variable(s)");
    has(&errs, 4, 1, "`~SEQ(` is not closed");
}

#[test]
fn self_referencing_parameters_stop() {
    let errs = errors("$A=${A}${A}\nrouter_id $A\n");
    has(&errs, 2, 11, "parameter substitutions in one line");
    let errs = errors(&format!("$A={}${{A}}\nrouter_id $A\n", "x".repeat(200)));
    has(&errs, 2, 11, "longer than");
    let errs = errors("$A=x ${A}\nrouter_id $A\n");
    has(&errs, 2, 11, "parameter substitutions in one line");
    let errs = errors("$M= \\\n$M \\\n$M\n$M\n");
    has(&errs, 4, 1, "nested more than");
}

#[test]
fn include_variants() {
    let dir = fixture("includes");
    let l = load_with(&dir.join("main.conf"), &opts("node1")).expect("valid");
    assert_eq!(l.config.instances.len(), 1);
    assert_eq!(l.config.global.router_id.as_deref(), Some("from-include"));
    let errs = load_with(&dir.join("strict.conf"), &opts("node1")).expect_err("must fail");
    has(&errs, 2, 1, "include `missing.conf` matches no file");
    has(&errs, 3, 1, "include `none*.conf` matches no file");
    has(&errs, 4, 1, "include alternative `parts/nope.conf`");
    // include_check all, then plain include: a pattern without match is an error too.
    has(&errs, 6, 1, "include `gone*.conf` matches no file");
    assert!(!errs.iter().any(|e| e.line == 7), "{errs:?}");
}

/// Found by tests/config_fuzz.rs: each repeat of a single setting looked for the first one
/// among all the tokens read so far, so a loop repeating a setting late in a file took a
/// time in the square of its length (this text: 32 s in a debug build, a 451-byte mutant
/// 46 s in a release build); the first is now remembered.
#[test]
fn a_setting_repeated_by_a_loop_late_in_a_file_is_read_at_once() {
    let text = "global_defs {\n    ~SEQ(h, 1, 40000) router_id r\n}\n\
                vrrp_script chk {\n    ~SEQ(h, 1, 40000) script \"/bin/true\"\n}\n";
    let started = std::time::Instant::now();
    let loaded = ok(text);
    let repeats = |m: &str| loaded.warnings.iter().any(|w| w.message.starts_with(m));
    assert!(repeats("`script` is already set"), "{:#?}", loaded.warnings);
    assert!(
        repeats("`router_id` is already set"),
        "{:#?}",
        loaded.warnings
    );
    // About 2 s in a debug build; it took 32 s.
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(15), "{took:?}");
}

/// Found by tests/config_fuzz.rs: every substitution scans and moves its whole line, so a
/// loop of long lines full of references cost the product of lines, references and line
/// length (a 3,361-byte mutant: 14 s in a release build, 19 s alone); the characters moved
/// are now budgeted, and the error is located.
#[test]
fn substitutions_in_long_generated_lines_are_budgeted() {
    let refs = " -${i}".repeat(500);
    let text = format!("$i=1\nvrrp_script chk {{\n    ~SEQ(h, 1, 4096) script \"x{refs}\"\n}}\n");
    let started = std::time::Instant::now();
    let errs = errors(&text);
    let budget = errs
        .iter()
        .find(|e| e.message.starts_with("the substitutions copy more than"));
    // At one of the line's references.
    assert!(
        budget.is_some_and(|e| e.line == 3 && e.column > 30),
        "{errs:#?}"
    );
    // Under a second in a debug build; this text used to be read whole.
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(15), "{took:?}");
}
