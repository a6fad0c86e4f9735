//! `vrrpctl sniff --pcap` on the committed captures (see tests/fixtures/make-fixtures.sh
//! and make-crafted.py for how they were made).

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn vrrpctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vrrpctl"))
        .args(args)
        .output()
        .expect("run vrrpctl")
}

/// The per-packet JSON objects of a capture.
fn packets(name: &str) -> Vec<Value> {
    let path = fixture(name);
    let out = vrrpctl(&["sniff", "--pcap", path.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn summary(name: &str) -> Value {
    let path = fixture(name);
    let out = vrrpctl(&[
        "sniff",
        "--pcap",
        path.to_str().unwrap(),
        "--summary",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

fn diagnosis_kinds(s: &Value) -> Vec<String> {
    s["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap().to_string())
        .collect()
}

const FIELDS: [&str; 14] = [
    "time",
    "src",
    "src_mac",
    "ttl",
    "version",
    "vrid",
    "priority",
    "count",
    "addresses",
    "interval_cs",
    "auth_type",
    "checksum_ok",
    "checksum_form",
    "error",
];

fn assert_exact_fields(p: &Value) {
    let obj = p.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = FIELDS.to_vec();
    want.sort_unstable();
    assert_eq!(keys, want);
}

fn is_rfc3339_micros(t: &str) -> bool {
    // 2026-11-29T07:35:25.417406Z
    t.len() == 27
        && t.ends_with('Z')
        && t.as_bytes()[10] == b'T'
        && t.as_bytes()[19] == b'.'
        && t[20..26].bytes().all(|b| b.is_ascii_digit())
}

#[test]
fn v2_pass_keepalived_tcpdump() {
    let p = packets("v2-pass.pcap");
    // The capture also holds ARP, IGMP and IPv6 frames: only VRRP is printed.
    assert!(p.len() >= 3, "{p:?}");
    for pkt in &p {
        assert_exact_fields(pkt);
        assert!(is_rfc3339_micros(pkt["time"].as_str().unwrap()), "{pkt}");
        assert_eq!(pkt["src"], "10.99.201.1");
        assert_eq!(pkt["src_mac"], "02:00:00:99:01:01");
        assert_eq!(pkt["ttl"], 255);
        assert_eq!(pkt["version"], 2);
        assert_eq!(pkt["vrid"], 51);
        assert_eq!(pkt["count"], 1);
        assert_eq!(pkt["addresses"], serde_json::json!(["10.99.201.100"]));
        assert_eq!(pkt["interval_cs"], 100);
        assert_eq!(pkt["auth_type"], 1);
        assert_eq!(pkt["checksum_ok"], true);
        assert_eq!(pkt["checksum_form"], Value::Null);
        assert_eq!(pkt["error"], Value::Null);
    }
    assert_eq!(p[0]["priority"], 150);
    // keepalived's shutdown: priority 0.
    assert_eq!(p.last().unwrap()["priority"], 0);
    assert!(diagnosis_kinds(&summary("v2-pass.pcap")).is_empty());
}

#[test]
fn v2_text_hides_the_password_unless_asked() {
    let path = fixture("v2-pass.pcap");
    let path = path.to_str().unwrap();
    let out = vrrpctl(&["sniff", "--pcap", path]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("VRRPv2 vrid 51 prio 150"), "{text}");
    assert!(text.contains("interval 1s (100cs)"), "{text}");
    assert!(text.contains("auth pass (set)"), "{text}");
    assert!(!text.contains("secret1"), "{text}");
    let out = vrrpctl(&["sniff", "--pcap", path, "--show-password"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("auth pass \"secret1\""), "{text}");
    // JSON never carries the password.
    let out = vrrpctl(&["sniff", "--pcap", path, "--json"]);
    assert!(!String::from_utf8(out.stdout).unwrap().contains("secret1"));
}

#[test]
fn v3_ipv4_keepalived_tshark_pcapng() {
    let p = packets("v3-ipv4.pcapng");
    assert!(p.len() >= 3, "{p:?}");
    for pkt in &p {
        assert_exact_fields(pkt);
        assert_eq!(pkt["version"], 3);
        assert_eq!(pkt["src"], "10.99.201.1");
        assert_eq!(pkt["interval_cs"], 100);
        assert_eq!(pkt["auth_type"], Value::Null);
        assert_eq!(pkt["checksum_ok"], true);
        // keepalived's default: the RFC 5798 pseudo-header reading.
        assert_eq!(pkt["checksum_form"], "pseudo-header");
        assert_eq!(pkt["error"], Value::Null);
    }
    assert!(diagnosis_kinds(&summary("v3-ipv4.pcapng")).is_empty());
}

#[test]
fn v3_ipv6_keepalived_tcpdump_any_sll2_nanoseconds() {
    let p = packets("v3-ipv6.pcap");
    assert!(p.len() >= 3, "{p:?}");
    for pkt in &p {
        assert_exact_fields(pkt);
        assert_eq!(pkt["version"], 3);
        assert!(pkt["src"].as_str().unwrap().starts_with("fe80::"), "{pkt}");
        // SLL2 carries the sender's MAC.
        assert_eq!(pkt["src_mac"], "02:00:00:99:01:01");
        assert_eq!(pkt["ttl"], 255);
        assert_eq!(
            pkt["addresses"],
            serde_json::json!(["fe80::51", "fd99::100"])
        );
        assert_eq!(pkt["checksum_ok"], true);
        assert_eq!(pkt["checksum_form"], Value::Null);
        assert_eq!(pkt["error"], Value::Null);
    }
    let s = summary("v3-ipv6.pcap");
    assert_eq!(s["groups"][0]["family"], "ipv6");
    assert!(diagnosis_kinds(&s).is_empty());
}

#[test]
fn vrrpd_v3_tcpdump_linux_sll() {
    // vrrpd as master against keepalived, captured as Linux cooked v1 (link type 113).
    let p = packets("vrrpd-v3-sll.pcap");
    assert!(p.len() >= 3, "{p:?}");
    for pkt in &p {
        assert_exact_fields(pkt);
        assert_eq!(pkt["src"], "10.99.201.1");
        assert_eq!(pkt["src_mac"], "02:00:00:99:01:01");
        assert_eq!(pkt["version"], 3);
        assert_eq!(pkt["checksum_ok"], true);
        assert_eq!(pkt["checksum_form"], "pseudo-header");
        assert_eq!(pkt["error"], Value::Null);
    }
    assert_eq!(p[0]["priority"], 150);
    assert_eq!(p.last().unwrap()["priority"], 0);
}

#[test]
fn two_masters_and_auth_mismatch_from_keepalived() {
    let p = packets("v2-auth-mismatch.pcapng");
    let sources: std::collections::BTreeSet<&str> =
        p.iter().map(|x| x["src"].as_str().unwrap()).collect();
    assert_eq!(sources.len(), 2);
    let s = summary("v2-auth-mismatch.pcapng");
    let kinds = diagnosis_kinds(&s);
    assert!(kinds.contains(&"two_masters".to_string()), "{s:#}");
    assert!(kinds.contains(&"auth_mismatch".to_string()), "{s:#}");
    let two = s["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "two_masters")
        .unwrap();
    assert_eq!(two["vrid"], 51);
    assert_eq!(
        two["sources"],
        serde_json::json!(["10.99.201.1", "10.99.201.2"])
    );
    // The summary JSON names no password either.
    assert!(!s.to_string().contains("secret1"));
    // Text summary.
    let path = fixture("v2-auth-mismatch.pcapng");
    let out = vrrpctl(&["sniff", "--pcap", path.to_str().unwrap(), "--summary"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[two_masters]"), "{text}");
    assert!(
        text.contains("[auth_mismatch] different passwords"),
        "{text}"
    );
}

#[test]
fn crafted_errors() {
    let p = packets("crafted-errors.pcap");
    // 7 + 1 + 1 + 1 + 1 VRRP packets; the ARP and UDP frames are skipped.
    assert_eq!(p.len(), 11, "{p:#?}");
    for pkt in &p {
        assert_exact_fields(pkt);
    }
    assert_eq!(p[0]["time"], "2026-01-01T00:00:00.000000Z");
    assert_eq!(p[0]["checksum_form"], "pseudo-header");
    assert_eq!(p[0]["error"], Value::Null);

    // Bad TTL: the rest of the packet is still shown.
    let ttl = &p[1];
    assert_eq!(ttl["time"], "2026-01-01T00:00:00.500000Z");
    assert_eq!(ttl["ttl"], 64);
    assert_eq!(ttl["error"], "ttl_not_255");
    assert_eq!(ttl["priority"], 100);
    assert_eq!(ttl["checksum_ok"], true);
    assert_eq!(ttl["checksum_form"], "message-only");

    let bad = &p[7];
    assert_eq!(bad["src"], "10.99.202.3");
    assert_eq!(bad["error"], "bad_checksum");
    assert_eq!(bad["checksum_ok"], false);
    assert_eq!(bad["checksum_form"], Value::Null);
    assert_eq!(bad["vrid"], 7);
    assert_eq!(bad["priority"], 50);

    // Truncated: what the header shows, the rest null.
    let short = &p[8];
    assert_eq!(short["error"], "truncated");
    assert_eq!(short["version"], 3);
    assert_eq!(short["vrid"], 9);
    assert_eq!(short["priority"], 100);
    assert_eq!(short["count"], 1);
    assert_eq!(short["addresses"], Value::Null);
    assert_eq!(short["interval_cs"], Value::Null);
    assert_eq!(short["checksum_ok"], false);

    assert_eq!(p[9]["error"], "zero_count");
    assert_eq!(p[9]["addresses"], serde_json::json!([]));
    // 802.1Q-tagged.
    assert_eq!(p[10]["vrid"], 11);
    assert_eq!(p[10]["error"], Value::Null);

    let s = summary("crafted-errors.pcap");
    let kinds = diagnosis_kinds(&s);
    for k in [
        "two_masters",
        "ttl_not_255",
        "bad_checksum",
        "mixed_checksum_forms",
        "invalid_packets",
    ] {
        assert!(kinds.contains(&k.to_string()), "{k} missing: {s:#}");
    }
    let ttl = s["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "ttl_not_255")
        .unwrap();
    assert_eq!(ttl["sources"], serde_json::json!(["10.99.202.2"]));
    // The truncated packet is no checksum error.
    let bad: Vec<&Value> = s["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "bad_checksum")
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["sources"], serde_json::json!(["10.99.202.3"]));
}

#[test]
fn count_stops_early_and_stdin_works() {
    let path = fixture("crafted-errors.pcap");
    let out = vrrpctl(&[
        "sniff",
        "--pcap",
        path.to_str().unwrap(),
        "--json",
        "--count",
        "2",
    ]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);

    let file = std::fs::File::open(&path).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vrrpctl"))
        .args(["sniff", "--pcap", "-", "--json"])
        .stdin(file)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 11);
}

#[test]
fn exit_codes() {
    // Runtime errors: 1, with a message.
    let out = vrrpctl(&["sniff", "--pcap", "/nonexistent/x.pcap"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("cannot open /nonexistent/x.pcap"), "{err}");

    let dir = std::env::temp_dir().join(format!("vrrpctl-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture file").unwrap();
    let out = vrrpctl(&["sniff", "--pcap", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("not a pcap or pcapng file")
    );

    // A capture cut short (tcpdump killed mid-write): the packets before, a warning, 0.
    let full = std::fs::read(fixture("crafted-errors.pcap")).unwrap();
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &full[..full.len() - 30]).unwrap();
    let out = vrrpctl(&["sniff", "--pcap", cut.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stderr).unwrap().contains("warning"));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 11);
    std::fs::remove_dir_all(&dir).unwrap();

    let out = vrrpctl(&["sniff", "--interface", "vc-no-such-if0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("no such interface: vc-no-such-if0"), "{err}");

    // Usage errors: 2.
    for args in [
        &["sniff"][..],
        &["sniff", "--pcap", "a", "--interface", "b"],
        &["sniff", "--pcap", "a", "--duration", "3"],
        &["sniff", "--pcap", "a", "--count", "x"],
        &["frobnicate"],
    ] {
        assert_eq!(vrrpctl(args).status.code(), Some(2), "{args:?}");
    }
    // --socket is accepted before the command.
    let path = fixture("v3-ipv4.pcapng");
    let out = vrrpctl(&[
        "--socket",
        "/tmp/x.sock",
        "sniff",
        "--pcap",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
}
