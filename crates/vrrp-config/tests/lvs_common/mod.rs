//! Helpers of the LVS tests.
// Each test file uses some of the helpers.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use vrrp_config::{Config, ConfigError, Loaded, load, parse_str};

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lvs")
        .join(name)
}

pub(crate) fn ok(name: &str) -> Loaded {
    match load(&fixture(name)) {
        Ok(l) => l,
        Err(errs) => {
            for e in &errs {
                eprintln!("{e}");
            }
            panic!("{name}: {} errors", errs.len());
        }
    }
}

pub(crate) fn parse(text: &str) -> Config {
    match parse_str("t.conf", text) {
        Ok(l) => l.config,
        Err(errs) => {
            for e in &errs {
                eprintln!("{e}");
            }
            panic!("{} errors", errs.len());
        }
    }
}

pub(crate) fn errors(text: &str) -> Vec<ConfigError> {
    match parse_str("t.conf", text) {
        Ok(l) => panic!("expected errors, got {:#?}", l.config.virtual_servers),
        Err(e) => e,
    }
}

/// Asserts one error at `line:column` with exactly `msg`.
#[track_caller]
pub(crate) fn has(errs: &[ConfigError], line: usize, column: usize, msg: &str) {
    let found = errs
        .iter()
        .any(|e| e.line == line && e.column == column && e.message == msg);
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(
        found,
        "no error {line}:{column} `{msg}` in:\n{}",
        all.join("\n")
    );
}

pub(crate) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(crate) fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// One virtual server, one real server, one TCP_CHECK: everything else is a default.
pub(crate) const MINIMAL: &str = "virtual_server 10.0.0.1 80 {\n    real_server 10.0.0.2 80 {\n        TCP_CHECK {\n        }\n    }\n}\n";
