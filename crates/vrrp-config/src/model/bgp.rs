//! Active-active balancing (vrrpd keywords): `bgp_announce` services have their addresses
//! announced through the node's FRR while they have their quorum. vrrpd does not speak BGP:
//! it installs a host route per VIP in `bgp_announce_table`, which FRR's zebra imports
//! (`ip import-table N`) and bgpd announces (`redistribute table N`). This file holds the
//! settings and the pure check of FRR's files; `docs/loadbalancer.md` shows the setup.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vrrp_lb::spec::ServiceAddr;

use super::Config;
use crate::diag::ConfigError;

/// The routing table of announced routes when `bgp_announce_table` is not given.
const DEFAULT_TABLE: u32 = 200;
/// Largest table FRR 8.4's `ip import-table` accepts.
pub(crate) const MAX_TABLE: u32 = 252;
/// Most addresses one `bgp_announce` service may announce (one route each).
pub(crate) const MAX_ANNOUNCED: usize = 256;

/// The `bgp_*` keywords of `global_defs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpGlobal {
    /// `bgp_announce_table N` (200).
    pub table: u32,
    /// `bgp_announce_drain SECS` (2 s): between withdrawal and removal.
    pub drain: Duration,
    /// `bgp_frr_config PATH` (/etc/frr/frr.conf): read at start to check FRR's setup.
    pub frr_config: PathBuf,
}

impl Default for BgpGlobal {
    fn default() -> Self {
        BgpGlobal {
            table: DEFAULT_TABLE,
            drain: Duration::from_secs(2),
            frr_config: PathBuf::from("/etc/frr/frr.conf"),
        }
    }
}

/// What FRR lacks for the announcements to reach its peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrrProblem {
    /// The configuration file cannot be read.
    NoConfig(String),
    /// zebra does not import the table.
    NoImportTable,
    /// bgpd does not redistribute the table (or there is no `router bgp`).
    NoRedistribute,
    /// `daemons` cannot be read.
    NoDaemons(String),
    /// `bgpd=yes` is missing from `daemons`.
    BgpdDisabled,
}

impl FrrProblem {
    /// The message and the fix, for a start error.
    pub fn describe(&self, conf: &Path, daemons: &Path, table: u32) -> (String, String) {
        let (c, d) = (conf.display(), daemons.display());
        match self {
            FrrProblem::NoConfig(e) => (
                format!("bgp_announce: cannot read FRR's configuration {c}: {e}"),
                "install FRR and configure it (docs/loadbalancer.md, \"Active-active with BGP\"), or set `bgp_frr_config`".into(),
            ),
            FrrProblem::NoImportTable => (
                format!("bgp_announce: {c} has no `ip import-table {table}`"),
                format!("add `ip import-table {table}` to {c}: zebra must import the announced routes"),
            ),
            FrrProblem::NoRedistribute => (
                format!("bgp_announce: {c} has no `redistribute table {table}` under `router bgp`"),
                format!("add `redistribute table {table}` to the `router bgp` block (address-family ipv4 unicast) of {c}"),
            ),
            FrrProblem::NoDaemons(e) => (
                format!("bgp_announce: cannot read FRR's {d}: {e}"),
                "install FRR; its daemons file must enable bgpd".into(),
            ),
            FrrProblem::BgpdDisabled => (
                format!("bgp_announce: bgpd is not enabled in {d}"),
                format!("set `bgpd=yes` in {d} and restart FRR"),
            ),
        }
    }
}

/// Checks FRR's configuration text (`frr.conf`) and its `daemons` file for what the
/// announcements of `table` need. Comments (`!`, `#`) and indentation are ignored; the
/// `redistribute` line must be inside `router bgp`.
pub fn frr_problems(
    conf: Result<&str, String>,
    daemons: Result<&str, String>,
    table: u32,
) -> Vec<FrrProblem> {
    let mut out = Vec::new();
    match conf {
        Err(e) => out.push(FrrProblem::NoConfig(e)),
        Ok(text) => {
            let (import, redistribute) = scan_conf(text, table);
            if !import {
                out.push(FrrProblem::NoImportTable);
            }
            if !redistribute {
                out.push(FrrProblem::NoRedistribute);
            }
        }
    }
    match daemons {
        Err(e) => out.push(FrrProblem::NoDaemons(e)),
        Ok(text) if !bgpd_enabled(text) => out.push(FrrProblem::BgpdDisabled),
        Ok(_) => {}
    }
    out
}

/// Whether `ip import-table TABLE` and, inside `router bgp`, `redistribute table TABLE`
/// are there.
fn scan_conf(text: &str, table: u32) -> (bool, bool) {
    let number = table.to_string();
    let (mut import, mut redistribute, mut in_bgp) = (false, false, false);
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            [c, ..] if c.starts_with('!') || c.starts_with('#') => {}
            ["ip", "import-table", n, ..] if *n == number => import = true,
            ["router", "bgp", ..] => in_bgp = true,
            // A top-level block that is not `router bgp` ends it (FRR writes `exit` too).
            ["exit"] if !line.starts_with(' ') => in_bgp = false,
            [w, ..] if !line.starts_with(' ') && w.starts_with("router") => in_bgp = false,
            ["redistribute", "table", n, ..] if in_bgp && *n == number => redistribute = true,
            _ => {}
        }
    }
    (import, redistribute)
}

/// `bgpd=yes` in FRR's `daemons` (shell syntax: the last assignment wins).
fn bgpd_enabled(text: &str) -> bool {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("bgpd="))
        .next_back()
        .is_some_and(|v| v.trim().trim_matches('"') == "yes")
}

impl Config {
    /// Whether any virtual server is marked `bgp_announce`.
    pub fn bgp_announces(&self) -> bool {
        self.virtual_servers
            .iter()
            .any(|vs| vs.bgp_announce.is_some())
    }

    /// FRR's setup checked against the `bgp_announce` services (files read here; the
    /// daemon calls this at start, located at the first `bgp_announce`). `daemons` is
    /// the file next to `bgp_frr_config`.
    pub fn bgp_frr_errors(&self) -> Vec<ConfigError> {
        let Some(site) = self
            .virtual_servers
            .iter()
            .find_map(|vs| vs.bgp_announce.as_ref())
        else {
            return Vec::new();
        };
        let bgp = &self.global.lvs.bgp;
        let conf_path = &bgp.frr_config;
        let daemons_path = conf_path.with_file_name("daemons");
        let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| e.to_string());
        let (conf, daemons) = (read(conf_path), read(&daemons_path));
        frr_problems(
            conf.as_deref().map_err(Clone::clone),
            daemons.as_deref().map_err(Clone::clone),
            bgp.table,
        )
        .iter()
        .map(|p| {
            let (message, hint) = p.describe(conf_path, &daemons_path, bgp.table);
            site.error(message, hint)
        })
        .collect()
    }
}

/// The addresses a `bgp_announce` service announces: its socket addresses and every
/// address of its ranges (at most one more than [`MAX_ANNOUNCED`] of each, so that the
/// check sees an excess without listing a /8); fwmark services have none.
pub fn announced_addrs(addrs: &[ServiceAddr]) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for a in addrs {
        match *a {
            ServiceAddr::Socket(sa) => out.push(sa.ip()),
            ServiceAddr::Range {
                first: IpAddr::V4(f),
                last: IpAddr::V4(l),
                ..
            } => {
                let all = u32::from(f)..=u32::from(l);
                out.extend(all.take(MAX_ANNOUNCED + 1).map(|n| IpAddr::V4(n.into())));
            }
            ServiceAddr::Range { first, .. } => out.push(first),
            ServiceAddr::Fwmark { .. } => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "frr version 8.4\n!\nip import-table 200\n!\nrouter bgp 65001\n bgp router-id 10.99.0.1\n neighbor 10.99.0.2 remote-as 65000\n !\n address-family ipv4 unicast\n  redistribute table 200\n exit-address-family\nexit\n!\n";

    fn check(conf: &str, daemons: &str, table: u32) -> Vec<FrrProblem> {
        frr_problems(Ok(conf), Ok(daemons), table)
    }

    #[test]
    fn a_complete_setup_passes() {
        assert_eq!(check(GOOD, "zebra=yes\nbgpd=yes\n", 200), vec![]);
    }

    #[test]
    fn another_table_is_missing_both_lines() {
        assert_eq!(
            check(GOOD, "bgpd=yes", 201),
            vec![FrrProblem::NoImportTable, FrrProblem::NoRedistribute]
        );
    }

    #[test]
    fn commented_lines_do_not_count() {
        let conf = "! ip import-table 200\nrouter bgp 1\n# redistribute table 200\n";
        assert_eq!(
            check(conf, "bgpd=yes", 200),
            vec![FrrProblem::NoImportTable, FrrProblem::NoRedistribute]
        );
    }

    #[test]
    fn redistribute_outside_router_bgp_does_not_count() {
        let conf =
            "ip import-table 200\nrouter bgp 1\nexit\nrouter ospf\n redistribute table 200\n";
        assert_eq!(
            check(conf, "bgpd=yes", 200),
            vec![FrrProblem::NoRedistribute]
        );
    }

    #[test]
    fn bgpd_must_be_enabled_last() {
        assert_eq!(
            check(GOOD, "bgpd=no\n", 200),
            vec![FrrProblem::BgpdDisabled]
        );
        assert_eq!(
            check(GOOD, "bgpd=yes\n# later\nbgpd=no\n", 200),
            vec![FrrProblem::BgpdDisabled]
        );
        assert_eq!(check(GOOD, "bgpd=\"yes\"\n", 200), vec![]);
    }

    #[test]
    fn unreadable_files_are_named() {
        let p = frr_problems(Err("No such file".into()), Err("gone".into()), 200);
        assert_eq!(
            p,
            vec![
                FrrProblem::NoConfig("No such file".into()),
                FrrProblem::NoDaemons("gone".into())
            ]
        );
        let (msg, hint) = p[0].describe(
            Path::new("/etc/frr/frr.conf"),
            Path::new("/etc/frr/daemons"),
            200,
        );
        assert!(
            msg.contains("/etc/frr/frr.conf") && msg.contains("No such file"),
            "{msg}"
        );
        assert!(hint.contains("bgp_frr_config"), "{hint}");
    }

    #[test]
    fn ranges_are_expanded_and_fwmarks_have_none() {
        let addrs = [
            ServiceAddr::Socket("10.99.0.100:80".parse().unwrap()),
            ServiceAddr::Socket("10.99.0.100:443".parse().unwrap()),
            ServiceAddr::Range {
                first: "10.99.0.1".parse().unwrap(),
                last: "10.99.0.2".parse().unwrap(),
                port: 80,
            },
            ServiceAddr::Fwmark {
                mark: 1,
                family: vrrp_lb::spec::IpFamily::V4,
            },
        ];
        let ips: Vec<String> = announced_addrs(&addrs)
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(ips, ["10.99.0.1", "10.99.0.2", "10.99.0.100"]);
    }
}
