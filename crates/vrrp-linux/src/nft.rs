//! Accept_Mode off (`no_accept`): packets addressed to a VIP are dropped, as RFC 5798 §6.4.3
//! asks of a non-owner Master ("MUST NOT accept packets addressed to the IPvX address(es)
//! associated with the virtual router" unless Accept_Mode is True), except IPv6 Neighbor
//! Discovery, which §6.1 says must not be dropped.
//!
//! The kernel has no such switch, so, as keepalived does, vrrpd installs a filter: an
//! nftables table `inet vrrpd` with the VIPs in two sets and a drop rule on input. It is
//! driven through nftables' JSON interface (`nft -j -f -`), the one place where vrrpd runs
//! a program: libnftables' JSON is the stable interface and writing nf_tables netlink
//! batches by hand is not worth it. The rule only matters while the VIP is local, i.e. while
//! Master, so the set is static per configuration.

use std::io::{self, Write};
use std::net::IpAddr;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// The table vrrpd owns (per network namespace).
pub const TABLE: &str = "vrrpd";

/// The JSON batch that (re)creates the table with these VIPs. Pure, for tests.
pub fn no_accept_batch(vips: &[IpAddr]) -> Value {
    let v4: Vec<String> = vips
        .iter()
        .filter(|a| a.is_ipv4())
        .map(|a| a.to_string())
        .collect();
    let v6: Vec<String> = vips
        .iter()
        .filter(|a| a.is_ipv6())
        .map(|a| a.to_string())
        .collect();
    let table = json!({"family": "inet", "name": TABLE});
    let mut batch = vec![
        json!({"add": {"table": table}}),
        json!({"flush": {"table": table}}),
        json!({"add": {"chain": {"family": "inet", "table": TABLE, "name": "no_accept",
            "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}}),
        json!({"add": {"set": {"family": "inet", "table": TABLE, "name": "vips4", "type": "ipv4_addr"}}}),
        json!({"add": {"set": {"family": "inet", "table": TABLE, "name": "vips6", "type": "ipv6_addr"}}}),
    ];
    if !v4.is_empty() {
        batch.push(json!({"add": {"element": {"family": "inet", "table": TABLE, "name": "vips4", "elem": v4}}}));
    }
    if !v6.is_empty() {
        batch.push(json!({"add": {"element": {"family": "inet", "table": TABLE, "name": "vips6", "elem": v6}}}));
    }
    batch.push(json!({"add": {"rule": {"family": "inet", "table": TABLE, "chain": "no_accept", "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "@vips4"}},
        {"drop": null}
    ]}}}));
    // Neighbour Discovery for the VIP passes (this chain only), everything else drops.
    batch.push(json!({"add": {"rule": {"family": "inet", "table": TABLE, "chain": "no_accept", "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "daddr"}}, "right": "@vips6"}},
        {"match": {"op": "==", "left": {"payload": {"protocol": "icmpv6", "field": "type"}},
            "right": {"set": ["nd-neighbor-solicit", "nd-neighbor-advert"]}}},
        {"accept": null}
    ]}}}));
    batch.push(json!({"add": {"rule": {"family": "inet", "table": TABLE, "chain": "no_accept", "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "daddr"}}, "right": "@vips6"}},
        {"drop": null}
    ]}}}));
    json!({"nftables": batch})
}

/// Installs (or replaces) the no_accept filter for `vips`; with none, removes it.
pub fn apply_no_accept(vips: &[IpAddr]) -> io::Result<()> {
    if vips.is_empty() {
        return remove_no_accept();
    }
    run(&no_accept_batch(vips))
}

/// Removes vrrpd's table, if present.
pub fn remove_no_accept() -> io::Result<()> {
    // `add` first so that `delete` never fails on a missing table.
    let table = json!({"family": "inet", "name": TABLE});
    run(&json!({"nftables": [{"add": {"table": table}}, {"delete": {"table": table}}]}))
}

fn run(batch: &Value) -> io::Result<()> {
    let mut child = Command::new("nft")
        .args(["-j", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run nft (package nftables) for no_accept: {e}"),
            )
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(batch.to_string().as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "nft refused the no_accept rules: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_has_both_sets_and_spares_neighbour_discovery() {
        let vips: Vec<IpAddr> = vec![
            "10.99.0.100".parse().expect("v4"),
            "fd99::100".parse().expect("v6"),
        ];
        let text = no_accept_batch(&vips).to_string();
        assert!(text.contains("\"10.99.0.100\""), "{text}");
        assert!(text.contains("\"fd99::100\""), "{text}");
        assert!(text.contains("nd-neighbor-solicit"), "{text}");
        assert!(text.contains("\"hook\":\"input\""), "{text}");
    }
}
