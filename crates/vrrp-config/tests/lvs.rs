//! keepalived's LVS side: real-world configurations, defaults and the inheritance of the
//! checker settings.

mod lvs_common;

use std::path::Path;
use std::time::Duration;

use lvs_common::{MINIMAL, ip, ok, parse, sa, secs};
use vrrp_config::{FlushOnStop, LbDataplane, VirtualServer};
use vrrp_lb::check::{CheckKind, DnsType, HttpVersion};
use vrrp_lb::spec::{
    Forwarding, IpFamily, Protocol, RealServerKey, Scheduler, ServiceAddr, ServiceKey, Tunnel,
    TunnelChecksum,
};

#[test]
fn http_get_with_digest_direct_routing_and_legacy_spellings() {
    let l = ok("http_dr.conf");
    assert!(
        l.warnings
            .iter()
            .any(|w| w.message == "`nb_get_retry` is deprecated")
    );
    let c = &l.config;
    assert!(c.global.lvs.flush);
    let [vs] = c.virtual_servers.as_slice() else {
        panic!("{:?}", c.virtual_servers)
    };
    let s = &vs.spec;
    assert_eq!(s.id.key, ServiceKey::Socket(sa("192.168.200.100:80")));
    assert_eq!(s.id.protocol, Protocol::Tcp);
    assert_eq!(s.scheduler, Scheduler::Wrr);
    assert_eq!(s.forwarding, Forwarding::Dr);
    assert_eq!(s.persistence.unwrap().timeout, secs(50));
    assert_eq!((s.quorum, s.hysteresis), (2, 1));
    // DR cannot change the port: keepalived resets the sorry server's 8080 to 80, warning.
    let sorry = s.sorry_server.unwrap();
    assert_eq!(
        sorry.key,
        RealServerKey {
            addr: ip("192.168.200.200"),
            port: 80
        }
    );
    assert!(
        l.warnings
            .iter()
            .any(|w| w.message.contains("DR and TUN cannot change the port"))
    );
    assert!(sorry.inhibit);
    assert_eq!(sorry.forwarding, Forwarding::Dr);
    assert_eq!(
        vs.quorum_up.as_ref().unwrap().argv,
        ["/etc/keepalived/vip.sh", "up"]
    );
    assert_eq!(vs.quorum_down.as_ref().unwrap().location.line, 29);
    let labels: Vec<&str> = vs.commands().iter().map(|(k, _)| *k).collect();
    assert_eq!(
        labels,
        ["quorum_up", "quorum_down", "notify_up", "notify_down"]
    );
    let [a, b] = s.real_servers.as_slice() else {
        panic!()
    };
    assert_eq!(
        (a.weight, a.inhibit_on_failure, a.has_notify),
        (3, true, true)
    );
    assert_eq!(a.forwarding, Forwarding::Dr);
    assert_eq!(
        vs.real_servers[0].notify_down.as_ref().unwrap().argv[1],
        "down"
    );
    assert!(vs.real_servers[1].notify_up.is_none());
    let [check] = a.checkers.as_slice() else {
        panic!()
    };
    let CheckKind::Http(h) = &check.kind else {
        panic!("{check:?}")
    };
    assert_eq!(h.urls.len(), 2);
    assert_eq!(h.urls[0].path, "/testurl/test.jsp");
    assert_eq!(h.urls[0].digest.unwrap()[..4], [0x64, 0x02, 0x05, 0xb7]);
    assert_eq!(h.urls[1].status_codes, [200..=200, 301..=302]);
    assert_eq!(check.timing.retry, 3);
    assert_eq!(check.timing.connect_timeout, secs(3));
    assert_eq!(check.timing.delay_before_retry, secs(3));
    assert_eq!(check.timing.delay_loop, secs(6));
    assert_eq!(check.timing.warmup, secs(6));
    let CheckKind::Http(h) = &b.checkers[0].kind else {
        panic!()
    };
    assert_eq!(h.urls[0].regex.as_deref(), Some("^OK"));
    assert_eq!(h.version, HttpVersion::V1_1);
    assert_eq!(h.virtualhost.as_deref(), Some("www.example.com"));
    assert_eq!(vs.site.location.line, 20);
    assert_eq!(
        vs.scheduler_site.as_ref().unwrap().line.trim(),
        "lb_algo wrr"
    );
}

#[test]
fn ssl_get_with_a_client_certificate_and_virtualhost_inheritance() {
    let c = ok("ssl_nat.conf").config;
    assert_eq!(c.global.lvs.dataplane, LbDataplane::Auto);
    let tls = c.ssl.as_ref().unwrap();
    assert_eq!(tls.ca.as_deref(), Some(Path::new("/etc/keepalived/ca.pem")));
    assert_eq!(tls.password.as_deref(), Some("s3cret"));
    let s = &c.virtual_servers[0].spec;
    assert_eq!(
        (s.scheduler, s.forwarding),
        (Scheduler::Rr, Forwarding::Nat)
    );
    let [a, b] = s.real_servers.as_slice() else {
        panic!()
    };
    assert_eq!(a.key.port, 8443);
    assert!(a.alpha, "alpha flows from the virtual server");
    assert!(!b.alpha, "`alpha no` on the real server wins");
    let CheckKind::Ssl(h) = &a.checkers[0].kind else {
        panic!()
    };
    assert_eq!(h.virtualhost.as_deref(), Some("shop.example.com"));
    assert_eq!(
        h.sni.as_deref(),
        Some("shop.example.com"),
        "enable_sni: the virtual host"
    );
    assert!(h.tls_compliant);
    assert!(a.checkers[0].timing.alpha);
    assert_eq!(a.checkers[0].timing.retry, 2);
    let tcp = &a.checkers[1];
    assert_eq!(tcp.kind, CheckKind::Tcp);
    assert_eq!(tcp.target.connect_port, Some(9100));
    assert_eq!(tcp.timing.connect_timeout, secs(1));
    assert_eq!(tcp.timing.delay_loop, secs(10));
    let CheckKind::Ssl(h) = &b.checkers[0].kind else {
        panic!()
    };
    assert_eq!(h.urls[0].virtualhost.as_deref(), Some("api.example.com"));
    assert_eq!(h.sni.as_deref(), Some("backend.example.com"));
    assert_eq!(b.checkers[0].timing.warmup, Duration::ZERO);
    assert!(!b.checkers[0].timing.alpha);
}

#[test]
fn dns_udp_smtp_and_misc_checks() {
    let c = ok("misc_udp.conf").config;
    let g = &c.global.lvs;
    assert!(g.checker_log_all_failures && g.rs_init_notifies);
    let fifo = g.notify_fifo.as_ref().unwrap();
    assert_eq!(fifo.path, Path::new("/run/keepalived/lvs.fifo"));
    assert_eq!(
        fifo.script.as_ref().unwrap().program(),
        "/usr/local/bin/lvs-events.sh"
    );
    let [dns, smtp, api] = c.virtual_servers.as_slice() else {
        panic!()
    };
    let s = &dns.spec;
    assert_eq!(s.id.protocol, Protocol::Udp);
    assert!(s.flags.flag2 && s.flags.one_packet && !s.flags.flag1);
    let d = &s.real_servers[0].checkers[0];
    let CheckKind::Dns(q) = &d.kind else { panic!() };
    assert_eq!((q.qtype, q.name.as_str()), (DnsType::A, "example.com"));
    assert_eq!(d.timing.retry, 3, "DNS_CHECK retries 3 times by default");
    assert!(d.timing.log_all_failures, "checker_log_all_failures");
    let [udp, ping] = s.real_servers[1].checkers.as_slice() else {
        panic!()
    };
    let CheckKind::Udp(u) = &udp.kind else {
        panic!()
    };
    assert_eq!(u.payload.len(), 16);
    assert_eq!(
        u.require_reply,
        Some(vec![Some(0), Some(1), None, Some(0x80)])
    );
    assert_eq!(u.min_reply_length, Some(12));
    assert_eq!(ping.kind, CheckKind::Ping);
    assert_eq!(ping.timing.delay_loop, secs(3));
    let CheckKind::Smtp { helo_name } = &smtp.spec.real_servers[0].checkers[0].kind else {
        panic!()
    };
    assert_eq!(helo_name.as_deref(), Some("mail.example.com"));
    let m = &api.spec.real_servers[0].checkers[0];
    let CheckKind::Misc(misc) = &m.kind else {
        panic!()
    };
    assert_eq!(
        misc.argv,
        ["/usr/local/bin/api-weight.sh", "10.1.2.1", "x y"]
    );
    assert_eq!(
        misc.user,
        Some(("nobody".to_owned(), Some("nogroup".to_owned())))
    );
    assert_eq!(misc.timeout, Some(secs(3)));
    assert!(misc.dynamic);
    assert_eq!(m.timing.retry, 0, "MISC_CHECK does not retry by default");
    let cmds = api.commands();
    let [("MISC_CHECK", cmd)] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    assert_eq!(cmd.argv, misc.argv);
    assert_eq!(cmd.user.as_ref().unwrap().group.as_deref(), Some("nogroup"));
    assert_eq!(cmd.location.line, 50);
    assert_eq!(m.timing.delay_loop, secs(5));
}

#[test]
fn groups_fwmarks_ipv6_and_global_lvs_keywords() {
    let c = ok("group_fwmark.conf").config;
    let g = &c.global.lvs;
    assert_eq!(g.dataplane, LbDataplane::Ipvs);
    assert_eq!(g.flush_on_stop, FlushOnStop::VirtualServers);
    let t = g.timeouts.unwrap();
    assert_eq!(
        (t.tcp, t.tcpfin, t.udp),
        (Some(secs(900)), Some(secs(30)), Some(secs(60)))
    );
    let sd = g.sync_daemon.as_ref().unwrap();
    assert_eq!(sd.interface, "eth1");
    assert_eq!(sd.instance.as_deref(), Some("VI_1"));
    assert_eq!(
        (sd.sync_id, sd.max_len, sd.port, sd.ttl),
        (Some(7), Some(1400), Some(8848), Some(2))
    );
    assert_eq!(sd.group, Some(ip("224.0.0.81")));
    assert_eq!(sd.location.line, 4);
    let [group] = c.virtual_server_groups.as_slice() else {
        panic!()
    };
    assert_eq!(
        group.addrs,
        [
            ServiceAddr::Socket(sa("10.20.0.1:80")),
            ServiceAddr::Range {
                first: ip("10.20.0.2"),
                last: ip("10.20.0.9"),
                port: 80
            },
            ServiceAddr::Range {
                first: ip("10.20.1.0"),
                last: ip("10.20.1.3"),
                port: 8080
            },
            ServiceAddr::Fwmark {
                mark: 3,
                family: IpFamily::V4
            },
        ]
    );
    let [web, fwm, v6] = c.virtual_servers.as_slice() else {
        panic!()
    };
    assert_eq!(web.spec.id.key, ServiceKey::Group("web".to_owned()));
    assert_eq!(web.spec.addrs, group.addrs);
    assert_eq!(
        web.spec.forwarding,
        Forwarding::Tun {
            tunnel: Tunnel::Gue { port: 6080 },
            checksum: TunnelChecksum::Csum
        }
    );
    let p = web.spec.persistence.unwrap();
    assert_eq!((p.timeout, p.granularity), (secs(360), Some(24)));
    let rs = &web.spec.real_servers[0];
    assert_eq!(rs.key.port, 80);
    let CheckKind::File(f) = &rs.checkers[0].kind else {
        panic!()
    };
    assert_eq!(
        (f.track_file.as_str(), f.weight, f.reverse),
        ("weight_rs", 2, true)
    );
    assert_eq!(
        fwm.spec.addrs,
        [ServiceAddr::Fwmark {
            mark: 5,
            family: IpFamily::V6
        }]
    );
    assert!(fwm.spec.flags.flag1);
    let key = fwm.spec.real_servers[0].key;
    assert_eq!(key.port, 0, "a fwmark service's real server without a port");
    let t = &fwm.spec.real_servers[0].checkers[0].target;
    assert_eq!(
        (t.connect_port, t.bindto, t.fwmark),
        (Some(443), Some(ip("2001:db8::1")), Some(9))
    );
    let rs = &v6.spec.real_servers[0];
    assert_eq!(v6.spec.id.protocol, Protocol::Sctp);
    assert_eq!(
        (rs.weight, rs.upper_threshold, rs.lower_threshold),
        (0, 1000, 800)
    );
    assert_eq!(
        (rs.forwarding, v6.spec.forwarding),
        (Forwarding::Dr, Forwarding::Nat)
    );
}

#[test]
fn keepalived_defaults() {
    let c = parse(MINIMAL);
    let vs: &VirtualServer = &c.virtual_servers[0];
    let s = &vs.spec;
    assert_eq!(s.scheduler, Scheduler::Wlc, "IPVS_DEF_SCHED");
    assert_eq!(s.forwarding, Forwarding::Nat);
    assert_eq!(s.id.protocol, Protocol::Tcp);
    assert_eq!((s.quorum, s.hysteresis), (1, 0));
    assert!(s.persistence.is_none() && s.sorry_server.is_none());
    assert!(!s.omega && !s.ha_suspend);
    let rs = &s.real_servers[0];
    assert_eq!(rs.weight, 1);
    assert!(!rs.alpha && !rs.inhibit_on_failure && !rs.has_notify);
    let t = &rs.checkers[0].timing;
    assert_eq!(t.delay_loop, secs(60));
    assert_eq!(t.connect_timeout, secs(5));
    assert_eq!(t.retry, 1);
    assert_eq!(t.delay_before_retry, secs(1));
    assert_eq!(t.warmup, secs(60), "the warmup defaults to the delay_loop");
    assert!(!t.alpha && !t.log_all_failures);
    assert!(vs.scheduler_site.is_none() && vs.protocol_site.is_none());
    let c = parse(
        "virtual_server 10.0.0.1 53 {\n    real_server 10.0.0.2 {\n        DNS_CHECK {\n        }\n    }\n}\n",
    );
    let rs = &c.virtual_servers[0].spec.real_servers[0];
    assert_eq!(
        rs.key.port, 53,
        "a real server without a port takes the service's"
    );
    let CheckKind::Dns(q) = &rs.checkers[0].kind else {
        panic!()
    };
    assert_eq!((q.qtype, q.name.as_str()), (DnsType::Soa, "."));
    assert_eq!(rs.checkers[0].timing.retry, 3);
    assert_eq!(c.global.lvs.dataplane, LbDataplane::Auto);
}

#[test]
fn settings_flow_from_virtual_server_to_real_server_to_checker() {
    let c = parse(
        "virtual_server 10.0.0.1 80 {
    delay_loop 20
    connect_timeout 4
    retry 5
    delay_before_retry 2
    warmup 7
    weight 4
    inhibit_on_failure
    real_server 10.0.0.2 80 {
        delay_loop 10
        retry 6
        TCP_CHECK {
            retry 7
        }
        TCP_CHECK {
            connect_timeout 1.5
            delay_before_retry 0.5
            warmup 0
        }
    }
    real_server 10.0.0.3 80 {
        weight 9
        TCP_CHECK {
        }
    }
}
",
    );
    let [a, b] = c.virtual_servers[0].spec.real_servers.as_slice() else {
        panic!()
    };
    assert_eq!((a.weight, b.weight), (4, 9));
    assert!(a.inhibit_on_failure && b.inhibit_on_failure);
    let (t1, t2) = (&a.checkers[0].timing, &a.checkers[1].timing);
    assert_eq!(
        (t1.delay_loop, t1.retry, t1.connect_timeout),
        (secs(10), 7, secs(4))
    );
    assert_eq!((t1.delay_before_retry, t1.warmup), (secs(2), secs(7)));
    assert_eq!(
        (t2.retry, t2.connect_timeout),
        (6, Duration::from_millis(1500))
    );
    assert_eq!(
        (t2.delay_before_retry, t2.warmup),
        (Duration::from_millis(500), Duration::ZERO)
    );
    let t3 = &b.checkers[0].timing;
    assert_eq!(
        (t3.delay_loop, t3.retry, t3.connect_timeout),
        (secs(20), 5, secs(4))
    );
}
