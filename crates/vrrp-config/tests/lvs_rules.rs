//! keepalived's LVS side: located errors, keepalived's family and tunnel rules, and what a
//! data path refuses.

mod lvs_common;

use lvs_common::{MINIMAL, errors, has, ip, parse, secs};
use vrrp_config::parse_str;
use vrrp_lb::dataplane::DataPathKind;
use vrrp_lb::spec::{Forwarding, IpFamily, Scheduler, ServiceAddr, Tunnel, TunnelChecksum};

#[test]
fn direct_routing_refusals_of_nftables() {
    let text = "virtual_server 10.0.0.1 80 {
    lvs_sched rr
    lvs_method DR
    persistence_timeout 60
    real_server 10.0.0.2 8080 {
    }
    real_server 10.0.0.3 80 {
        lvs_method NAT
    }
}
virtual_server 10.0.0.1 81 {
    lvs_sched wrr
    lvs_method DR
    real_server 10.0.0.4 81 {
    }
}
";
    let c = parse(text);
    assert!(c.data_path_errors(DataPathKind::Ipvs).is_empty());
    let errs = c.data_path_errors(DataPathKind::Nftables);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    has(
        &errs,
        1,
        1,
        "lvs_method DR with other methods in one virtual server: nftables forwards a service one way (make every lvs_method of it DR)",
    );
    has(
        &errs,
        1,
        1,
        "persistence with lvs_method DR needs connection state: IPVS only (or lvs_sched sh/mh, which keep a client on its server)",
    );
    // keepalived resets a DR server's port to the service's (with a warning): nothing
    // left to refuse.
    assert_eq!(c.virtual_servers[0].spec.real_servers[0].key.port, 80);
}

#[test]
fn data_path_refusals_are_located_at_their_keyword() {
    let text = "virtual_server 10.0.0.1 80 {
    lvs_sched lc
    lvs_method TUN
    real_server 10.0.0.2 80 {
        lvs_method TUN type gre
    }
    real_server 10.0.0.3 80 {
        lvs_method DR
    }
}
virtual_server 10.0.0.1 81 {
    protocol SCTP
    real_server 10.0.0.4 81 {
    }
}
";
    let c = parse(text);
    assert!(c.data_path_errors(DataPathKind::Ipvs).is_empty());
    let errs = c.data_path_errors(DataPathKind::Nftables);
    // DR is carried, but not mixed with TUN in one virtual server.
    assert_eq!(errs.len(), 6, "{errs:#?}");
    has(
        &errs,
        1,
        1,
        "lvs_method DR with other methods in one virtual server: nftables forwards a service one way (make every lvs_method of it DR)",
    );
    has(
        &errs,
        2,
        15,
        "lvs_sched lc: needs connection counts: IPVS only (nftables has rr, wrr, sh, mh)",
    );
    has(
        &errs,
        3,
        16,
        "lvs_method TUN: tunnelling needs IPVS (nftables has NAT and DR)",
    );
    has(
        &errs,
        5,
        20,
        "lvs_method TUN: tunnelling needs IPVS (nftables has NAT and DR)",
    );
    has(
        &errs,
        12,
        14,
        "protocol SCTP: SCTP services need IPVS (nftables has TCP and UDP)",
    );
    has(
        &errs,
        11,
        1,
        "lvs_sched wlc (the default): needs connection counts: IPVS only (nftables has rr, wrr, sh, mh)",
    );
    assert_eq!(errs[0].snippet, "    lvs_sched lc");
    assert!(
        errs[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("use the IPVS data path")
    );
    // Asked for, nftables' refusals are errors at load.
    let errs = errors(&format!(
        "global_defs {{\n    lb_dataplane nftables\n}}\n{MINIMAL}"
    ));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    has(
        &errs,
        4,
        1,
        "lvs_sched wlc (the default): needs connection counts: IPVS only (nftables has rr, wrr, sh, mh)",
    );
    let ok = parse(&format!(
        "global_defs {{\n    lb_dataplane nftables\n}}\n{}",
        MINIMAL.replace("{\n    real", "{\n    lvs_sched mh\n    real")
    ));
    assert_eq!(ok.virtual_servers[0].spec.scheduler, Scheduler::Mh);
}

#[test]
fn located_errors() {
    let errs = errors(
        "virtual_server 2001:db8::1 80 {
    sorry_server 10.0.0.9 80
    real_server 10.0.0.1 80 {
    }
    real_server 2001:db8::2 80 {
    }
    real_server 2001:db8::2 80 {
    }
}
virtual_server 2001:db8::1 80 { real_server 2001:db8::3 80 { } }
virtual_server group nope {
}
virtual_server 10.0.0.1 80 {
    lvs_sched fastest
    lvs_method MASQ
    real_server 10.0.0.2 80 {
        HTTP_GET {
        }
        SSL_GET {
            url {
                digest 1234
            }
            url {
                path /
                regex \"(?<=a)b\"
            }
        }
        BFD_CHECK {
            name x
        }
        MISC_CHECK {
            misc_path /bin/true
            connect_ip 10.0.0.5
        }
        FILE_CHECK {
            track_file missing
        }
    }
}
",
    );
    has(
        &errs,
        2,
        18,
        "sorry server 10.0.0.9 is IPv4 but the virtual server is IPv6",
    );
    has(
        &errs,
        3,
        5,
        "real server 10.0.0.1 is IPv4 but the virtual server is IPv6",
    );
    has(&errs, 7, 5, "duplicate real_server [2001:db8::2]:80");
    has(
        &errs,
        10,
        16,
        "duplicate virtual_server [2001:db8::1]:tcp:80",
    );
    has(&errs, 11, 16, "unknown virtual_server_group `nope`");
    has(
        &errs,
        14,
        15,
        "invalid lvs_sched `fastest`: must be one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, mh, fo, ovf, sed, nq, twos",
    );
    has(
        &errs,
        15,
        16,
        "invalid lvs_method `MASQ`: must be NAT, DR or TUN",
    );
    has(&errs, 17, 9, "HTTP_GET has no `url`");
    has(
        &errs,
        21,
        24,
        "invalid digest `1234`: must be 32 hex digits (an MD5, as genhash prints it)",
    );
    has(&errs, 20, 13, "`url` has no `path`");
    assert!(
        errs.iter()
            .any(|e| e.line == 25 && e.column == 23 && e.message.contains("PCRE2")),
        "{errs:#?}"
    );
    has(
        &errs,
        28,
        9,
        "BFD_CHECK is not supported: vrrpd has no BFD; check the real server with another checker (TCP_CHECK, PING_CHECK...)",
    );
    has(&errs, 33, 13, "MISC_CHECK does not take `connect_ip`");
    has(&errs, 36, 24, "unknown track_file `missing`");
    let rendered = errs
        .iter()
        .find(|e| e.line == 3)
        .map(|e| e.to_string())
        .unwrap();
    assert_eq!(
        rendered,
        "t.conf:3:5: error: real server 10.0.0.1 is IPv4 but the virtual server is IPv6\n    3 |     real_server 10.0.0.1 80 {\n      |     ^^^^^^^^^^^"
    );
}

#[test]
fn group_errors() {
    let errs = errors(
        "virtual_server_group g {
    10.0.0.1 80
    2001:db8::1 80
}
virtual_server_group h {
    10.0.0.9-3 80
    fwmark 0
    10.0.0.1 80 90
}
virtual_server_group h {
}
",
    );
    has(
        &errs,
        3,
        5,
        "virtual_server_group `g` mixes IPv4 and IPv6 entries",
    );
    has(
        &errs,
        6,
        5,
        "invalid entry `10.0.0.9-3` in `virtual_server_group`: the range ends before it starts",
    );
    has(&errs, 7, 12, "invalid fwmark `0`: must not be 0");
    has(&errs, 8, 17, "unexpected `90` in `virtual_server_group`");
    has(&errs, 10, 22, "duplicate virtual_server_group name `h`");
}

#[test]
fn keepalived_family_and_tunnel_rules() {
    let l = parse_str(
        "t.conf",
        "virtual_server fwmark 7 {
    real_server 2001:db8::5 80 {
    }
}
virtual_server 10.0.0.1 80 {
    lvs_method TUN port 6080 type gue remcsum
    real_server 2001:db8::6 80 {
    }
    sorry_server 2001:db8::7 80
}
virtual_server 10.0.0.2 80 {
}
virtual_server 10.0.0.3 80 {
    persistence_granularity 24
    real_server 10.0.0.4 80 {
    }
}
",
    )
    .unwrap();
    let c = &l.config;
    assert_eq!(
        c.virtual_servers.len(),
        3,
        "the one without real servers is ignored"
    );
    assert!(
        l.warnings.iter().any(
            |w| w.line == 11 && w.message == "virtual_server has no real_server; it is ignored"
        )
    );
    assert_eq!(
        c.virtual_servers[0].spec.addrs,
        [ServiceAddr::Fwmark {
            mark: 7,
            family: IpFamily::V6
        }],
        "a fwmark service takes its real servers' family"
    );
    let tun = &c.virtual_servers[1].spec;
    assert_eq!(
        tun.forwarding,
        Forwarding::Tun {
            tunnel: Tunnel::Gue { port: 6080 },
            checksum: TunnelChecksum::Remcsum
        }
    );
    assert_eq!(
        tun.real_servers[0].key.addr,
        ip("2001:db8::6"),
        "tunnelled: any family"
    );
    assert!(tun.sorry_server.is_some());
    let p = c.virtual_servers[2].spec.persistence.unwrap();
    assert_eq!((p.timeout, p.granularity), (secs(360), Some(24)));
    let errs = errors(
        "virtual_server 10.0.0.1 80 {\n    lvs_method TUN type gue\n    real_server 10.0.0.2 80 {\n    }\n}\n",
    );
    has(&errs, 2, 20, "`type gue` needs `port N`");
    let errs = errors(
        "virtual_server 10.0.0.1 80 {\n    lvs_method DR port 80\n    real_server 10.0.0.2 80 {\n        weight -1\n    }\n}\n",
    );
    has(&errs, 2, 19, "unexpected `port` after `DR`");
    has(
        &errs,
        4,
        16,
        "invalid weight `-1`: must be an integer between 0 and 2147483647",
    );
}

#[test]
fn lvs_sync_daemon_old_form_and_checks() {
    let l = parse_str(
        "t.conf",
        &format!("global_defs {{\n    lvs_sync_daemon eth0 VI_1 5\n}}\n{MINIMAL}"),
    )
    .unwrap();
    let sd = l.config.global.lvs.sync_daemon.unwrap();
    assert_eq!(
        (sd.instance.as_deref(), sd.sync_id),
        (Some("VI_1"), Some(5))
    );
    assert!(l.warnings.iter().any(|w| w.line == 2 && w.column == 31));
    let c = parse(&format!(
        "global_defs {{\n    lvs_sync_daemon eth0\n}}\n{MINIMAL}"
    ));
    assert_eq!(
        c.global.lvs.sync_daemon.unwrap().sync_id,
        None,
        "the instance's VRID"
    );
    let errs = errors("global_defs {\n    lvs_sync_daemon eth0 group 10.0.0.1 bogus 1\n}\n");
    has(
        &errs,
        2,
        32,
        "invalid group `10.0.0.1`: is not a multicast address",
    );
}

#[test]
fn misspelt_keywords_get_a_suggestion() {
    let errs = errors(
        "virtual_server 10.0.0.1 80 {
    lvs_shed rr
    real_server 10.0.0.2 80 {
        HTTP_GET {
            conect_timeout 3
            url {
                pth /
            }
        }
    }
}
",
    );
    let hint = |line: usize| {
        errs.iter()
            .find(|e| e.line == line)
            .and_then(|e| e.hint.clone())
            .unwrap_or_default()
    };
    assert_eq!(hint(2), "did you mean `lvs_sched`?");
    assert_eq!(hint(5), "did you mean `connect_timeout`?");
    assert_eq!(hint(7), "did you mean `path`?");
}

#[test]
fn connection_thresholds_and_one_packet_scheduling_are_ipvs_only() {
    let text = "virtual_server 10.0.0.1 53 {
    lvs_sched rr
    protocol UDP
    ops
    real_server 10.0.0.2 53 {
        uthreshold 100
    }
    real_server 10.0.0.3 53 {
    }
}
";
    let c = parse(text);
    assert!(c.data_path_errors(DataPathKind::Ipvs).is_empty());
    let errs = c.data_path_errors(DataPathKind::Nftables);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    has(&errs, 1, 1, "ops: one-packet scheduling is IPVS only");
    has(
        &errs,
        5,
        5,
        "uthreshold/lthreshold of [10.0.0.2]:53: needs connection counts: IPVS only",
    );
}
