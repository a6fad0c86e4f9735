//! Round trips of every request and document, the exact wire forms, and the refusals.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::*;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(t: &T) -> String {
    let text = serde_json::to_string(t).expect("serializes");
    let back: T = serde_json::from_str(&text).expect("parses back");
    assert_eq!(&back, t, "{text}");
    text
}

fn status_line() -> StatusLine {
    StatusLine {
        name: "VI_1".into(),
        interface: "eth0".into(),
        family: IpFamily::Ipv4,
        vrid: 51,
        version: 3,
        state: VrrpState::Backup,
        priority: 90,
        configured_priority: 100,
        operator_priority: Some(90),
        maintenance: false,
        master: Some(MasterSeen {
            address: "10.99.0.2".parse().unwrap(),
            priority: 150,
        }),
        in_state_s: 75.5,
        vips: vec![],
    }
}

fn trackers() -> Vec<Tracker> {
    vec![
        Tracker {
            kind: TrackerType::Interface,
            name: "eth1".into(),
            weight: -10,
            reverse: false,
            up: Some(true),
            value: None,
        },
        Tracker {
            kind: TrackerType::Script,
            name: "chk".into(),
            weight: 0,
            reverse: false,
            up: None,
            value: Some(None),
        },
        Tracker {
            kind: TrackerType::File,
            name: "tf".into(),
            weight: 2,
            reverse: true,
            up: Some(false),
            value: Some(Some(3)),
        },
    ]
}

fn protocol_timer() -> ProtocolTimer {
    ProtocolTimer {
        fired: 12,
        mean_late_us: 30.5,
        max_late_us: 80,
        late_buckets: BTreeMap::from([("le_50us".to_string(), 10), ("more".to_string(), 2)]),
        busy_spans: 12,
        max_busy_cpu_us: 300,
        max_busy_wall_us: 450,
        busy_buckets: BTreeMap::from([("le_100us".to_string(), 11), ("more".to_string(), 1)]),
        busy_breaths: 0,
    }
}

fn show() -> Show {
    Show {
        status: status_line(),
        source: "10.99.0.1".parse().unwrap(),
        preempt: true,
        preempt_delay_s: 0.0,
        accept: false,
        auth: Auth::None,
        unicast_peers: vec!["10.99.0.3".parse().unwrap()],
        virtual_mac_interface: Some("vrrp.51".into()),
        checksum_form: ChecksumForm::PseudoHeader,
        configured_vips: vec!["10.99.0.100/32".into()],
        excluded_vips: vec![],
        timers: Timers {
            advert_interval_cs: 100,
            master_adver_interval_cs: 100,
            master_down_interval_us: 3_414_062,
            skew_time_us: 414_062,
            next_deadline_in_us: None,
        },
        master_since_s: Some(12.25),
        trackers: trackers(),
        master_changes: 2,
        counters: Counters {
            rcvd_advertisements: 5,
            ..Counters::default()
        },
        transitions: vec![TransitionRecord {
            ago_s: 75.5,
            unix_time: 1_700_000_000.5,
            from: VrrpState::Init,
            to: VrrpState::Backup,
            reason: "startup".into(),
        }],
        protocol_timer: protocol_timer(),
    }
}

fn requests() -> Vec<Request> {
    vec![
        Request::Status,
        Request::Show {
            instance: "VI_1".into(),
        },
        Request::Priority {
            instance: "VI_1".into(),
            priority: Some(50),
        },
        Request::Priority {
            instance: "VI_1".into(),
            priority: None,
        },
        Request::Maintenance {
            instance: "VI_1".into(),
            on: true,
        },
        Request::Reload,
        Request::Watch,
        Request::Lvs { service: None },
        Request::Lvs {
            service: Some("[10.0.0.1]:tcp:80".into()),
        },
        Request::RealServer {
            service: "10.0.0.1:80".into(),
            real_server: "10.0.0.2:80".into(),
            action: RsAction::Weight { weight: 5 },
        },
        Request::RealServer {
            service: "10.0.0.1:80".into(),
            real_server: "10.0.0.2:80".into(),
            action: RsAction::Drain,
        },
        Request::Announce {
            address: "10.0.0.1".into(),
            action: AnnounceAction::Drain,
        },
        Request::Announce {
            address: "10.0.0.1".into(),
            action: AnnounceAction::Restore,
        },
    ]
}

#[test]
fn every_request_round_trips() {
    for r in requests() {
        let line = round_trip(&r);
        assert_eq!(Request::parse(&line), Ok(r.clone()), "{line}");
        assert_eq!(r.to_line(), line);
    }
}

#[test]
fn requests_have_the_documented_wire_form() {
    let lines: Vec<String> = requests().iter().map(Request::to_line).collect();
    assert_eq!(
        lines,
        [
            r#"{"v":1,"command":"status"}"#,
            r#"{"v":1,"command":"show","instance":"VI_1"}"#,
            r#"{"v":1,"command":"priority","instance":"VI_1","priority":50}"#,
            r#"{"v":1,"command":"priority","instance":"VI_1","priority":null}"#,
            r#"{"v":1,"command":"maintenance","instance":"VI_1","on":true}"#,
            r#"{"v":1,"command":"reload"}"#,
            r#"{"v":1,"command":"watch"}"#,
            r#"{"v":1,"command":"lvs"}"#,
            r#"{"v":1,"command":"lvs","service":"[10.0.0.1]:tcp:80"}"#,
            r#"{"v":1,"command":"rs","service":"10.0.0.1:80","real_server":"10.0.0.2:80","action":"weight","weight":5}"#,
            r#"{"v":1,"command":"rs","service":"10.0.0.1:80","real_server":"10.0.0.2:80","action":"drain"}"#,
            r#"{"v":1,"command":"announce","address":"10.0.0.1","action":"drain"}"#,
            r#"{"v":1,"command":"announce","address":"10.0.0.1","action":"restore"}"#,
        ]
    );
}

#[test]
fn bad_real_server_requests_are_refused_with_a_sentence() {
    let refused = |line: &str| Request::parse(line).unwrap_err();
    assert_eq!(
        refused(r#"{"v":1,"command":"rs","service":"a","real_server":"b","action":"weight"}"#),
        "rs weight needs \"weight\": a whole number"
    );
    assert_eq!(
        refused(r#"{"v":1,"command":"rs","service":"a","real_server":"b","action":"kill"}"#),
        "rs needs \"action\": weight, drain, disable or enable"
    );
    assert_eq!(
        refused(r#"{"v":1,"command":"rs","real_server":"b","action":"drain"}"#),
        "rs needs \"service\""
    );
}

#[test]
fn lvs_documents_round_trip() {
    let rs = LvsRealServer {
        address: "[10.0.0.2]:80".into(),
        forwarding: "Masq".into(),
        configured_weight: 3,
        weight: Some(3),
        up: true,
        operator: None,
        sorry_server: false,
        checkers: vec![LvsChecker {
            kind: "HTTP_GET".into(),
            up: true,
            failures: 0,
            last_error: None,
            latency_ms: Some(1.5),
            probes: 7,
        }],
        traffic: Traffic::default(),
    };
    let status = LvsStatus {
        data_path: "nftables".into(),
        services: vec![LvsService {
            service: "[10.0.0.1]:tcp:80".into(),
            protocol: "tcp".into(),
            scheduler: "wrr".into(),
            persistence_s: None,
            quorum: 1,
            hysteresis: 0,
            quorum_up: true,
            live_weight: 3,
            suspended: false,
            real_servers: vec![rs.clone()],
            traffic: Traffic::default(),
        }],
        announcements: vec![announcement()],
    };
    round_trip(&status);
    let request = Request::Lvs { service: None };
    let value = serde_json::to_value(Reply::Lvs(status.clone())).unwrap();
    assert_eq!(Reply::decode(&request, value).unwrap(), Reply::Lvs(status));
    let action = Request::RealServer {
        service: "s".into(),
        real_server: "r".into(),
        action: RsAction::Enable,
    };
    let value = serde_json::to_value(Reply::RealServer(Box::new(rs.clone()))).unwrap();
    assert_eq!(
        Reply::decode(&action, value).unwrap(),
        Reply::RealServer(Box::new(rs))
    );
}

fn announcement() -> BgpAnnouncement {
    BgpAnnouncement {
        vip: "10.0.0.1".into(),
        announced: false,
        withheld: Some("maintenance".into()),
        services: vec!["[10.0.0.1]:tcp:80".into()],
        transitions: 2,
        error: None,
    }
}

#[test]
fn announce_answers_and_refusals() {
    let request = Request::Announce {
        address: "10.0.0.1".into(),
        action: AnnounceAction::Drain,
    };
    let value = serde_json::to_value(Reply::Announce(announcement())).unwrap();
    assert_eq!(
        Reply::decode(&request, value).unwrap(),
        Reply::Announce(announcement())
    );
    let refused = |line: &str| Request::parse(line).expect_err(line);
    assert_eq!(
        refused(r#"{"v":1,"command":"announce","action":"drain"}"#),
        "announce needs \"address\""
    );
    assert_eq!(
        refused(r#"{"v":1,"command":"announce","address":"10.0.0.1","action":"off"}"#),
        "announce needs \"action\": drain or restore"
    );
    // Without bgp_announce services the lvs document has no `announcements`.
    let line = r#"{"data_path":"nftables","services":[]}"#;
    let status: LvsStatus = serde_json::from_str(line).unwrap();
    assert!(status.announcements.is_empty());
    assert_eq!(serde_json::to_string(&status).unwrap(), line);
}

#[test]
fn requests_parse_leniently_as_before() {
    // Field order does not matter, unknown fields are ignored, a missing priority resets.
    assert_eq!(
        Request::parse(r#"{"instance":"VI_1","command":"priority","v":1,"extra":[1]}"#),
        Ok(Request::Priority {
            instance: "VI_1".into(),
            priority: None
        })
    );
    assert_eq!(
        Request::parse(r#"{"v":1,"command":"priority","instance":"VI_1","priority":254}"#),
        Ok(Request::Priority {
            instance: "VI_1".into(),
            priority: Some(254)
        })
    );
}

#[test]
fn bad_requests_are_refused_with_a_sentence() {
    let refused = |line: &str| Request::parse(line).expect_err(line);
    assert_eq!(
        refused(r#"{"v":2,"command":"status"}"#),
        "unsupported protocol version Some(2); this daemon speaks 1"
    );
    assert_eq!(
        refused(r#"{"command":"status"}"#),
        "unsupported protocol version None; this daemon speaks 1"
    );
    assert_eq!(
        refused(r#"{"v":"1","command":"status"}"#),
        "unsupported protocol version None; this daemon speaks 1"
    );
    for p in ["255", "0", "-1", "\"50\"", "1.5"] {
        assert_eq!(
            refused(&format!(
                r#"{{"v":1,"command":"priority","instance":"x","priority":{p}}}"#
            )),
            "priority must be 1-254, or null to reset",
            "{p}"
        );
    }
    assert_eq!(
        refused(r#"{"v":1,"command":"show"}"#),
        "show needs \"instance\""
    );
    assert_eq!(
        refused(r#"{"v":1,"command":"priority","priority":50}"#),
        "priority needs \"instance\""
    );
    assert_eq!(
        refused(r#"{"v":1,"command":"maintenance","instance":"VI_1"}"#),
        "maintenance needs \"on\": true or false"
    );
    assert_eq!(refused(r#"{"v":1}"#), "missing \"command\"");
    assert_eq!(
        refused(r#"{"v":1,"command":"reboot"}"#),
        "unknown command \"reboot\""
    );
    assert!(refused("garbage").starts_with("not JSON: "));
    assert!(refused(r#""status""#).starts_with("not a request object: "));
    assert!(refused(r#"[1,"status"]"#).starts_with("not a request object: "));
    // Through serde as well (the message then names the position).
    assert!(serde_json::from_str::<Request>(r#"{"v":1,"command":"show"}"#).is_err());
}

#[test]
fn answers_have_the_documented_wire_form() {
    assert_eq!(
        Answer::Ok(Reply::Watching).to_line(),
        "{\"v\":1,\"ok\":true,\"result\":\"watching\"}\n"
    );
    assert_eq!(
        Answer::<Reply>::Error("no instance named \"x\"".into()).to_line(),
        "{\"v\":1,\"ok\":false,\"error\":\"no instance named \\\"x\\\"\"}\n"
    );
    let summary = ReloadSummary {
        unchanged: 1,
        updated: 1,
        ..ReloadSummary::default()
    };
    assert_eq!(
        Answer::Ok(Reply::Reloaded(summary)).to_line(),
        "{\"v\":1,\"ok\":true,\"result\":\"1 unchanged, 1 updated in place, 0 re-created, 0 removed, 0 added\"}\n"
    );
    let line = Answer::Ok(Reply::Instance(status_line())).to_line();
    assert_eq!(
        line,
        concat!(
            r#"{"v":1,"ok":true,"result":{"name":"VI_1","interface":"eth0","family":"ipv4","#,
            r#""vrid":51,"version":3,"state":"BACKUP","priority":90,"configured_priority":100,"#,
            r#""operator_priority":90,"maintenance":false,"#,
            r#""master":{"address":"10.99.0.2","priority":150},"in_state_s":75.5,"vips":[]}}"#,
            "\n"
        )
    );
}

#[test]
fn answers_parse_back() {
    let ok: Answer<Value> = serde_json::from_str(r#"{"v":1,"ok":true,"result":"done"}"#).unwrap();
    assert_eq!(ok, Answer::Ok(json!("done")));
    let missing: Answer<Value> = serde_json::from_str(r#"{"v":1,"ok":true}"#).unwrap();
    assert_eq!(missing, Answer::Ok(Value::Null));
    let err: Answer<Value> =
        serde_json::from_str(r#"{"v":1,"ok":false,"error":"no instance named \"x\""}"#).unwrap();
    assert_eq!(
        err.into_result(),
        Err("no instance named \"x\"".to_string())
    );
    let unknown: Answer<StatusList> = serde_json::from_str(r#"{"v":1,"ok":false}"#).unwrap();
    assert_eq!(unknown, Answer::Error("unknown error".into()));
    let list = StatusList {
        instances: vec![status_line()],
    };
    let typed: Answer<StatusList> =
        serde_json::from_str(&Answer::Ok(Reply::Status(list.clone())).to_line()).unwrap();
    assert_eq!(typed, Answer::Ok(list));
}

#[test]
fn every_reply_decodes_by_its_request() {
    let cases = [
        (
            Request::Status,
            Reply::Status(StatusList {
                instances: vec![status_line()],
            }),
        ),
        (
            Request::Show {
                instance: "VI_1".into(),
            },
            Reply::Show(Box::new(show())),
        ),
        (
            Request::Priority {
                instance: "VI_1".into(),
                priority: Some(90),
            },
            Reply::Instance(status_line()),
        ),
        (
            Request::Maintenance {
                instance: "VI_1".into(),
                on: false,
            },
            Reply::Instance(status_line()),
        ),
        (
            Request::Reload,
            Reply::Reloaded(ReloadSummary {
                unchanged: 2,
                added: 1,
                ..ReloadSummary::default()
            }),
        ),
        (Request::Watch, Reply::Watching),
    ];
    for (request, reply) in cases {
        let value = serde_json::to_value(&reply).unwrap();
        assert_eq!(Reply::decode(&request, value).unwrap(), reply);
    }
    assert!(Reply::decode(&Request::Watch, json!("nope")).is_err());
    assert!(Reply::decode(&Request::Reload, json!("2 unchanged")).is_err());
}

#[test]
fn every_document_round_trips() {
    round_trip(&status_line());
    round_trip(&StatusList {
        instances: vec![status_line()],
    });
    round_trip(&show());
    for t in trackers() {
        round_trip(&t);
    }
    let snapshot = Snapshot {
        instances: vec![SnapshotInstance {
            status: status_line(),
            counters: Counters {
                sent_advertisements: 7,
                ..Counters::default()
            },
            master_changes: 3,
            trackers: trackers(),
        }],
    };
    round_trip(&snapshot);
    round_trip(&StateDump {
        version: DUMP_VERSION,
        instances: vec![show()],
    });
    round_trip(&StatsDump {
        version: DUMP_VERSION,
        instances: vec![InstanceStats {
            name: "VI_1".into(),
            state: VrrpState::Master,
            counters: Counters::default(),
        }],
        protocol_timer: protocol_timer(),
    });
    let summary = ReloadSummary {
        unchanged: 1,
        updated: 2,
        recreated: 3,
        removed: 4,
        added: 5,
    };
    assert_eq!(
        round_trip(&summary),
        r#""1 unchanged, 2 updated in place, 3 re-created, 4 removed, 5 added""#
    );
}

#[test]
fn documents_have_the_documented_shape() {
    // The show document is flat: the status line's fields, then the rest.
    let v = serde_json::to_value(show()).unwrap();
    for key in [
        "name", "state", "master", "vips", "source", "auth", "timers",
    ] {
        assert!(v.get(key).is_some(), "{key} in {v}");
    }
    assert_eq!(v["auth"], "none");
    assert_eq!(v["checksum_form"], "pseudo-header");
    assert_eq!(v["unicast_peers"], json!(["10.99.0.3"]));
    assert_eq!(v["timers"]["next_deadline_in_us"], Value::Null);
    assert_eq!(v["counters"].as_object().map(|c| c.len()), Some(23));
    // Trackers: interfaces have no `value`; the others have one, null until known.
    assert_eq!(
        serde_json::to_string(&trackers()).unwrap(),
        concat!(
            r#"[{"type":"interface","name":"eth1","weight":-10,"reverse":false,"up":true},"#,
            r#"{"type":"script","name":"chk","weight":0,"reverse":false,"up":null,"value":null},"#,
            r#"{"type":"file","name":"tf","weight":2,"reverse":true,"up":false,"value":3}]"#
        )
    );
}

#[test]
fn counters_follow_the_core() {
    let core = vrrp_core::Counters {
        rcvd_lower_priority_as_master: 4,
        ..Default::default()
    };
    let ours = serde_json::to_value(core).unwrap();
    let fields: serde_json::Map<String, Value> = core
        .fields()
        .iter()
        .map(|(name, value)| ((*name).to_string(), json!(value)))
        .collect();
    assert_eq!(ours, Value::Object(fields));
    let back: Counters = serde_json::from_value(ours).unwrap();
    assert_eq!(back, core);
}

#[test]
fn names_are_the_wire_names() {
    for s in VrrpState::ALL {
        assert_eq!(serde_json::to_value(s).unwrap(), s.name());
    }
    for f in [IpFamily::Ipv4, IpFamily::Ipv6] {
        assert_eq!(serde_json::to_value(f).unwrap(), f.name());
    }
    for a in [Auth::Pass, Auth::None] {
        assert_eq!(serde_json::to_value(a).unwrap(), a.name());
    }
    for c in [ChecksumForm::PseudoHeader, ChecksumForm::MessageOnly] {
        assert_eq!(serde_json::to_value(c).unwrap(), c.name());
        let core = match c {
            ChecksumForm::PseudoHeader => vrrp_core::ChecksumForm::PseudoHeader,
            ChecksumForm::MessageOnly => vrrp_core::ChecksumForm::MessageOnly,
        };
        assert_eq!(c.name(), core.name());
    }
    for t in [
        TrackerType::Interface,
        TrackerType::Script,
        TrackerType::File,
        TrackerType::Process,
    ] {
        assert_eq!(serde_json::to_value(t).unwrap(), t.name());
    }
    for k in [
        vrrp_core::weights::TrackerKind::Script,
        vrrp_core::weights::TrackerKind::File,
        vrrp_core::weights::TrackerKind::Process,
    ] {
        assert_eq!(TrackerType::from(k).name(), k.name());
    }
    for s in [
        vrrp_core::State::Initialize,
        vrrp_core::State::Backup,
        vrrp_core::State::Master,
        vrrp_core::State::Fault,
        vrrp_core::State::Observer,
    ] {
        assert_eq!(VrrpState::from(s).name(), s.name());
    }
}

#[test]
fn events_have_the_documented_wire_form() {
    let events = [
        (
            Event::Transition {
                instance: "VI_1".into(),
                from: VrrpState::Backup,
                to: VrrpState::Master,
                reason: "master down timer expired".into(),
                priority: 100,
            },
            r#"{"v":1,"event":{"type":"transition","instance":"VI_1","from":"BACKUP","to":"MASTER","reason":"master down timer expired","priority":100}}"#,
        ),
        (
            Event::MasterChanged {
                instance: "VI_1".into(),
                master: Some(MasterEvent {
                    address: "fe80::1".parse().unwrap(),
                    priority: 150,
                    interval_cs: 100,
                }),
            },
            r#"{"v":1,"event":{"type":"master_changed","instance":"VI_1","master":{"address":"fe80::1","priority":150,"interval_cs":100}}}"#,
        ),
        (
            Event::MasterChanged {
                instance: "VI_1".into(),
                master: None,
            },
            r#"{"v":1,"event":{"type":"master_changed","instance":"VI_1","master":null}}"#,
        ),
        (
            Event::Priority {
                instance: "VI_1".into(),
                priority: None,
                by: "uid 0 pid 7".into(),
            },
            r#"{"v":1,"event":{"type":"priority","instance":"VI_1","priority":null,"by":"uid 0 pid 7"}}"#,
        ),
        (
            Event::Maintenance {
                instance: "VI_1".into(),
                on: true,
                by: "uid 0 pid 7".into(),
            },
            r#"{"v":1,"event":{"type":"maintenance","instance":"VI_1","on":true,"by":"uid 0 pid 7"}}"#,
        ),
        (
            Event::Lagged { missed: 3 },
            r#"{"v":1,"event":{"type":"lagged","missed":3}}"#,
        ),
    ];
    for (event, want) in events {
        let line = WatchLine::new(event);
        assert_eq!(line.to_line(), format!("{want}\n"));
        assert_eq!(round_trip(&line), want);
    }
}

#[test]
fn reload_errors_read_as_before() {
    assert_eq!(
        ReloadError::Refused("a reload is already running".into()).to_string(),
        "a reload is already running"
    );
    assert_eq!(
        ReloadError::Partial {
            summary: ReloadSummary::default(),
            failures: vec!["VI_2: no such interface".into(), "no_accept: nft".into()],
        }
        .to_string(),
        "applied, except: VI_2: no such interface; no_accept: nft"
    );
}

/// Every key path of a document (`timers.skew_time_us`, `transitions[].from`), sorted.
fn key_paths(v: &Value) -> Vec<String> {
    fn walk(v: &Value, prefix: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    out.push(path.clone());
                    walk(v, &path, out);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(item, &format!("{prefix}[]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out.sort();
    out.dedup();
    out
}

const STATUS_KEYS: [&str; 15] = [
    "configured_priority",
    "family",
    "in_state_s",
    "interface",
    "maintenance",
    "master",
    "master.address",
    "master.priority",
    "name",
    "operator_priority",
    "priority",
    "state",
    "version",
    "vips",
    "vrid",
];

/// The keys the daemon's hand-made JSON had before the contract was typed.
#[test]
fn documents_keep_the_keys_of_before() {
    let counters: Vec<String> = Counters::default()
        .fields()
        .iter()
        .map(|(name, _)| format!("counters.{name}"))
        .collect();
    let tracker_keys = [
        "trackers",
        "trackers[].name",
        "trackers[].reverse",
        "trackers[].type",
        "trackers[].up",
        "trackers[].value",
        "trackers[].weight",
    ];
    let mut want: Vec<String> = STATUS_KEYS.iter().map(|k| k.to_string()).collect();
    want.extend(
        [
            "source",
            "preempt",
            "preempt_delay_s",
            "accept",
            "auth",
            "unicast_peers",
            "virtual_mac_interface",
            "checksum_form",
            "configured_vips",
            "excluded_vips",
            "timers",
            "timers.advert_interval_cs",
            "timers.master_adver_interval_cs",
            "timers.master_down_interval_us",
            "timers.skew_time_us",
            "timers.next_deadline_in_us",
            "master_since_s",
            "master_changes",
            "counters",
            "transitions",
            "transitions[].ago_s",
            "transitions[].unix_time",
            "transitions[].from",
            "transitions[].to",
            "transitions[].reason",
            "protocol_timer",
            "protocol_timer.fired",
            "protocol_timer.mean_late_us",
            "protocol_timer.max_late_us",
            "protocol_timer.late_buckets",
            "protocol_timer.late_buckets.le_50us",
            "protocol_timer.late_buckets.more",
            "protocol_timer.busy_spans",
            "protocol_timer.max_busy_cpu_us",
            "protocol_timer.max_busy_wall_us",
            "protocol_timer.busy_buckets",
            "protocol_timer.busy_buckets.le_100us",
            "protocol_timer.busy_buckets.more",
            "protocol_timer.busy_breaths",
        ]
        .map(String::from),
    );
    want.extend(tracker_keys.map(String::from));
    want.extend(counters.iter().cloned());
    want.sort();
    assert_eq!(key_paths(&serde_json::to_value(show()).unwrap()), want);

    let status = serde_json::to_value(StatusList {
        instances: vec![status_line()],
    })
    .unwrap();
    let mut want: Vec<String> = STATUS_KEYS
        .iter()
        .map(|k| format!("instances[].{k}"))
        .collect();
    want.push("instances".into());
    want.sort();
    assert_eq!(key_paths(&status), want);

    let snapshot = serde_json::to_value(Snapshot {
        instances: vec![SnapshotInstance {
            status: status_line(),
            counters: Counters::default(),
            master_changes: 0,
            trackers: trackers(),
        }],
    })
    .unwrap();
    let mut want: Vec<String> = STATUS_KEYS
        .iter()
        .copied()
        .chain(tracker_keys)
        .chain(["counters", "master_changes"])
        .map(|k| format!("instances[].{k}"))
        .chain(counters.iter().map(|k| format!("instances[].{k}")))
        .collect();
    want.push("instances".into());
    want.sort();
    assert_eq!(key_paths(&snapshot), want);

    let stats = serde_json::to_value(StatsDump {
        version: DUMP_VERSION,
        instances: vec![InstanceStats {
            name: "VI_1".into(),
            state: VrrpState::Master,
            counters: Counters::default(),
        }],
        protocol_timer: protocol_timer(),
    })
    .unwrap();
    let mut want: Vec<String> = [
        "version",
        "instances",
        "instances[].name",
        "instances[].state",
        "instances[].counters",
        "protocol_timer",
        "protocol_timer.fired",
        "protocol_timer.mean_late_us",
        "protocol_timer.max_late_us",
        "protocol_timer.late_buckets",
        "protocol_timer.late_buckets.le_50us",
        "protocol_timer.late_buckets.more",
        "protocol_timer.busy_spans",
        "protocol_timer.max_busy_cpu_us",
        "protocol_timer.max_busy_wall_us",
        "protocol_timer.busy_buckets",
        "protocol_timer.busy_buckets.le_100us",
        "protocol_timer.busy_buckets.more",
        "protocol_timer.busy_breaths",
    ]
    .map(String::from)
    .into_iter()
    .chain(counters.iter().map(|k| format!("instances[].{k}")))
    .collect();
    want.sort();
    assert_eq!(key_paths(&stats), want);

    let state = serde_json::to_value(StateDump {
        version: DUMP_VERSION,
        instances: vec![show()],
    })
    .unwrap();
    assert_eq!(state["version"], 1);
    assert_eq!(state["instances"][0], serde_json::to_value(show()).unwrap());
}
