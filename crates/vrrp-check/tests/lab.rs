//! Probes against real servers (nginx, dnsmasq, aiosmtpd, socat, the kernel's ICMP) in lab
//! namespaces. Needs root; `.config/nextest.toml` keeps it out of a plain run.
//!
//! Each probe runs on a thread that has entered the client node's network namespace, on a
//! current-thread runtime of its own.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use vrrp_check::{GenhashRequest, Probe, ProbeContext, Prober, genhash};
use vrrp_lb::check::*;
use vrrp_lb::spec::RealServerKey;
use vrrp_testlab::{Dnsmasq, Lab, Nginx, Node, Smtpd, UdpEcho, require};

const MARGIN: Duration = Duration::from_secs(3);
const S2: Duration = Duration::from_secs(2);

/// Runs `f` on a thread inside `node`'s network namespace.
fn in_ns<T: Send, Fut: Future<Output = T>>(node: &Node, f: impl FnOnce() -> Fut + Send) -> T {
    let path = format!("/run/netns/{}", node.ns());
    std::thread::scope(|s| {
        s.spawn(move || {
            let ns = std::fs::File::open(&path).unwrap();
            setns(&ns, CloneFlags::CLONE_NEWNET).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(f())
        })
        .join()
        .unwrap()
    })
}

fn spec(kind: CheckKind) -> CheckerSpec {
    CheckerSpec {
        kind,
        timing: CheckTiming {
            connect_timeout: S2,
            ..CheckTiming::default()
        },
        target: CheckTarget::default(),
    }
}

/// One probe from `client`, bounded by its deadline plus a margin.
fn probe_from(
    client: &Node,
    ctx: ProbeContext,
    spec: CheckerSpec,
    addr: IpAddr,
    port: u16,
) -> Probe {
    let prober = Prober::new(ctx).unwrap();
    let started = Instant::now();
    let p = in_ns(client, || async move {
        prober.probe(&spec, RealServerKey { addr, port }).await
    });
    assert!(started.elapsed() < S2 + MARGIN, "{p:?}");
    p
}

fn probe(client: &Node, kind: CheckKind, addr: impl Into<IpAddr>, port: u16) -> Probe {
    probe_from(
        client,
        ProbeContext::default(),
        spec(kind),
        addr.into(),
        port,
    )
}

fn down(p: &Probe) -> &str {
    match &p.outcome {
        CheckOutcome::Down(r) => r,
        o => panic!("expected down, got {o:?}"),
    }
}

fn hex_to_digest(hex: &str) -> [u8; 16] {
    let mut d = [0u8; 16];
    for (i, b) in d.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    d
}

#[test]
fn http_and_tcp_against_nginx() {
    require!("nginx", "openssl", "md5sum", "nft");
    let mut lab = Lab::new("chkh").unwrap();
    let rs = lab.add_host("rs1").unwrap();
    let client = lab.add_host("c1").unwrap();
    let web = Nginx::start(&rs, "rs1", 8080).unwrap();
    let body: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    web.put("page.bin", &body).unwrap();
    let copy = rs.lab_path("page-copy.bin");
    std::fs::write(&copy, &body).unwrap();
    let md5sum = rs.run_ok("md5sum", &[&copy.to_string_lossy()]).unwrap();
    let md5sum = md5sum.split_whitespace().next().unwrap().to_string();

    assert_eq!(
        probe(&client, CheckKind::Tcp, rs.ipv4(), 8080).outcome,
        CheckOutcome::Up
    );
    assert_eq!(
        probe(&client, CheckKind::Tcp, rs.ipv6(), 8080).outcome,
        CheckOutcome::Up
    );
    let p = probe(&client, CheckKind::Tcp, rs.ipv4(), 8081);
    assert_eq!(
        down(&p),
        format!("connect to {}:8081: connection refused", rs.ipv4())
    );
    // bindto, bind_if and connect_port.
    let mut bound = spec(CheckKind::Tcp);
    bound.target = CheckTarget {
        bindto: Some(client.ipv4().into()),
        bind_if: Some(client.ifname().into()),
        connect_port: Some(8080),
        fwmark: Some(7),
        ..CheckTarget::default()
    };
    for cmd in [
        "add table inet probe",
        "add chain inet probe out { type filter hook output priority 0 ; }",
        "add rule inet probe out meta mark 7 tcp dport 8080 counter",
    ] {
        client.run_ok("nft", &[cmd]).unwrap();
    }
    let p = probe_from(&client, ProbeContext::default(), bound, rs.ipv4().into(), 1);
    assert_eq!(p.outcome, CheckOutcome::Up);
    let counted = client
        .run_ok("nft", &["list", "table", "inet", "probe"])
        .unwrap();
    assert!(
        !counted.contains("packets 0 "),
        "fwmark 7 not seen: {counted}"
    );
    assert!(counted.contains("packets "), "{counted}");

    let mut page = UrlCheck::new("/page.bin");
    page.digest = Some(hex_to_digest(&md5sum));
    let mut name = UrlCheck::new("/");
    name.regex = Some("^rs1\n$".into());
    let mut host = UrlCheck::new("/host");
    host.virtualhost = Some("www.lab.test".into());
    host.regex = Some(r"^www\.lab\.test\n$".into());
    let all = HttpCheck::new(vec![page.clone(), name, host]);
    assert_eq!(
        probe(&client, CheckKind::Http(all.clone()), rs.ipv4(), 8080).outcome,
        CheckOutcome::Up
    );
    let v11 = HttpCheck {
        version: HttpVersion::V1_1,
        ..all
    };
    assert_eq!(
        probe(&client, CheckKind::Http(v11), rs.ipv6(), 8080).outcome,
        CheckOutcome::Up
    );
    // Without a virtual host, the Host header is the address and port.
    let mut by_addr = UrlCheck::new("/host");
    by_addr.regex = Some(format!("^{}:8080\n$", rs.ipv4()).replace('.', r"\."));
    assert_eq!(
        probe(
            &client,
            CheckKind::Http(HttpCheck::new(vec![by_addr])),
            rs.ipv4(),
            8080
        )
        .outcome,
        CheckOutcome::Up
    );

    let p = probe(
        &client,
        CheckKind::Http(HttpCheck::new(vec![UrlCheck::new("/missing")])),
        rs.ipv4(),
        8080,
    );
    assert_eq!(down(&p), "/missing: HTTP status 404 not in 200-299");
    page.digest = Some([0; 16]);
    let p = probe(
        &client,
        CheckKind::Http(HttpCheck::new(vec![page])),
        rs.ipv4(),
        8080,
    );
    assert_eq!(
        down(&p),
        format!("/page.bin: digest {md5sum} != expected 00000000000000000000000000000000")
    );

    // genhash's digest is md5sum's.
    let (server, port) = (rs.ipv4().into(), 8080);
    let report = in_ns(&client, || async move {
        genhash(GenhashRequest {
            server,
            port,
            path: "/page.bin".into(),
            vhost: None,
            ssl: false,
            sni: None,
            timeout: S2,
            version: HttpVersion::V1_0,
            fwmark: None,
        })
        .await
    })
    .unwrap();
    assert_eq!(report.digest_hex(), md5sum);
    assert_eq!(report.body_len, body.len() as u64);
    assert_eq!(report.status, 200);

    web.kill().unwrap();
    let p = probe(
        &client,
        CheckKind::Http(HttpCheck::new(vec![UrlCheck::new("/")])),
        rs.ipv4(),
        8080,
    );
    assert!(down(&p).ends_with("connection refused"), "{p:?}");
}

#[test]
fn https_against_nginx() {
    require!("nginx", "openssl");
    let mut lab = Lab::new("chks").unwrap();
    let rs = lab.add_host("rs1").unwrap();
    let client = lab.add_host("c1").unwrap();
    let web = Nginx::start_with(&rs, "rs1", 8080, Some(8443)).unwrap();
    let ca = web.ca().unwrap().to_path_buf();
    let with_ca = |ca: &std::path::Path| ProbeContext {
        tls: Some(TlsClient {
            ca: Some(ca.to_path_buf()),
            ..TlsClient::default()
        }),
        ..ProbeContext::default()
    };
    let mut sni = UrlCheck::new("/sni");
    sni.regex = Some("^rs1\n$".into());
    let ssl = |sni_name: Option<&str>, urls| {
        CheckKind::Ssl(HttpCheck {
            urls,
            sni: sni_name.map(str::to_string),
            tls_compliant: true,
            ..HttpCheck::default()
        })
    };
    let rs4: IpAddr = rs.ipv4().into();

    // No ca: the server is not verified (keepalived's behaviour).
    let p = probe(&client, ssl(None, vec![UrlCheck::new("/")]), rs4, 8443);
    assert_eq!(p.outcome, CheckOutcome::Up);
    // SNI reaches the server.
    let p = probe(&client, ssl(Some("rs1"), vec![sni.clone()]), rs4, 8443);
    assert_eq!(p.outcome, CheckOutcome::Up);
    let p = probe(&client, ssl(None, vec![sni.clone()]), rs4, 8443);
    assert!(
        down(&p).contains("does not match regex"),
        "no SNI without a name: {p:?}"
    );
    // With the right ca: the chain is verified, by name or by address.
    let p = probe_from(
        &client,
        with_ca(&ca),
        spec(ssl(Some("rs1"), vec![sni])),
        rs4,
        8443,
    );
    assert_eq!(p.outcome, CheckOutcome::Up);
    let p = probe_from(
        &client,
        with_ca(&ca),
        spec(ssl(None, vec![UrlCheck::new("/")])),
        rs.ipv6().into(),
        8443,
    );
    assert_eq!(p.outcome, CheckOutcome::Up);
    // With another ca: refused.
    let other = rs.lab_path("other-ca.crt");
    let other_key = rs.lab_path("other-ca.key");
    rs.run_ok(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=other",
            "-keyout",
            &other_key.to_string_lossy(),
            "-out",
            &other.to_string_lossy(),
        ],
    )
    .unwrap();
    let p = probe_from(
        &client,
        with_ca(&other),
        spec(ssl(Some("rs1"), vec![UrlCheck::new("/")])),
        rs4,
        8443,
    );
    assert!(down(&p).contains("TLS handshake"), "{p:?}");
    // Plain HTTP port: no TLS there.
    let p = probe(&client, ssl(None, vec![UrlCheck::new("/")]), rs4, 8080);
    assert!(down(&p).contains("TLS handshake"), "{p:?}");

    let (server, sni_name) = (rs4, Some("rs1".to_string()));
    let report = in_ns(&client, || async move {
        genhash(GenhashRequest {
            server,
            port: 8443,
            path: "/sni".into(),
            vhost: None,
            ssl: true,
            sni: sni_name,
            timeout: S2,
            version: HttpVersion::V1_1,
            fwmark: None,
        })
        .await
    })
    .unwrap();
    assert_eq!(report.body, b"rs1\n");
}

#[test]
fn dns_against_dnsmasq() {
    require!("dnsmasq", "ss");
    let mut lab = Lab::new("chkd").unwrap();
    let rs = lab.add_host("ns1").unwrap();
    let client = lab.add_host("c1").unwrap();
    let dns = Dnsmasq::start(&rs, 5353).unwrap();
    let q = |qtype, name: &str| {
        CheckKind::Dns(DnsCheck {
            qtype,
            name: name.into(),
        })
    };
    let www = format!("www.{}", Dnsmasq::ZONE);
    assert_eq!(
        probe(&client, q(DnsType::A, &www), rs.ipv4(), 5353).outcome,
        CheckOutcome::Up
    );
    assert_eq!(
        probe(&client, q(DnsType::Soa, Dnsmasq::ZONE), rs.ipv4(), 5353).outcome,
        CheckOutcome::Up
    );
    let p = probe(&client, q(DnsType::A, "elsewhere.example"), rs.ipv4(), 5353);
    assert!(down(&p).starts_with("DNS answer with RCODE"), "{p:?}");
    dns.kill().unwrap();
    let p = probe(&client, q(DnsType::A, &www), rs.ipv4(), 5353);
    assert!(down(&p).ends_with("connection refused"), "{p:?}");
}

#[test]
fn smtp_against_aiosmtpd() {
    require!("ss");
    let mut lab = Lab::new("chkm").unwrap();
    let rs = lab.add_host("mx1").unwrap();
    let client = lab.add_host("c1").unwrap();
    let smtpd = Smtpd::start(&rs, 2525).unwrap();
    let smtp = || CheckKind::Smtp {
        helo_name: Some("probe.lab.test".into()),
    };
    assert_eq!(
        probe(&client, smtp(), rs.ipv4(), 2525).outcome,
        CheckOutcome::Up
    );
    let ctx = ProbeContext {
        helo_name: "c1.lab.test".into(),
        ..ProbeContext::default()
    };
    let p = probe_from(
        &client,
        ctx,
        spec(CheckKind::Smtp { helo_name: None }),
        rs.ipv4().into(),
        2525,
    );
    assert_eq!(p.outcome, CheckOutcome::Up);
    smtpd.kill().unwrap();
    let p = probe(&client, smtp(), rs.ipv4(), 2525);
    assert!(down(&p).ends_with("connection refused"), "{p:?}");
}

#[test]
fn udp_against_socat() {
    require!("socat", "ss");
    let mut lab = Lab::new("chku").unwrap();
    let rs = lab.add_host("rs1").unwrap();
    let client = lab.add_host("c1").unwrap();
    let echo = UdpEcho::start(&rs, 7007).unwrap();
    let udp = |require_reply| {
        CheckKind::Udp(UdpCheck {
            payload: b"ping?".to_vec(),
            require_reply,
            min_reply_length: Some(5),
            max_reply_length: Some(5),
        })
    };
    let pattern = Some(vec![Some(b'p'), None, None, None, Some(b'?')]);
    assert_eq!(
        probe(&client, udp(pattern.clone()), rs.ipv4(), 7007).outcome,
        CheckOutcome::Up
    );
    let wrong = Some(vec![Some(b'x')]);
    assert_eq!(
        down(&probe(&client, udp(wrong), rs.ipv4(), 7007)),
        "UDP reply byte 0 is 70, expected 78"
    );
    let p = probe(&client, udp(None), rs.ipv4(), 7008);
    assert_eq!(
        down(&p),
        format!("{}:7008: ICMP port unreachable", rs.ipv4())
    );
    echo.kill().unwrap();
    let p = probe(&client, udp(pattern), rs.ipv4(), 7007);
    assert!(!matches!(p.outcome, CheckOutcome::Up), "{p:?}");
}

#[test]
fn ping_up_and_down() {
    require!();
    let mut lab = Lab::new("chkp").unwrap();
    let rs = lab.add_host("rs1").unwrap();
    let client = lab.add_host("c1").unwrap();
    assert_eq!(
        probe(&client, CheckKind::Ping, rs.ipv4(), 0).outcome,
        CheckOutcome::Up
    );
    assert_eq!(
        probe(&client, CheckKind::Ping, rs.ipv6(), 0).outcome,
        CheckOutcome::Up
    );
    rs.link_down().unwrap();
    let p = probe(&client, CheckKind::Ping, rs.ipv4(), 0);
    assert!(matches!(p.outcome, CheckOutcome::Down(_)), "{p:?}");
    let p = probe(&client, CheckKind::Ping, rs.ipv6(), 0);
    assert!(matches!(p.outcome, CheckOutcome::Down(_)), "{p:?}");
}

#[test]
fn misc_check_runs_as_its_user() {
    require!();
    let nobody = vrrp_track::security::resolve_user("nobody", None).unwrap();
    let check = |user: Option<(String, Option<String>)>| {
        spec(CheckKind::Misc(MiscCheck {
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("test \"$(id -u)\" = {}", nobody.uid),
            ],
            user,
            timeout: Some(S2),
            dynamic: false,
        }))
    };
    let run = |ctx: ProbeContext, spec: CheckerSpec| {
        let prober = Prober::new(ctx).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(prober.probe(
            &spec,
            RealServerKey {
                addr: [127, 0, 0, 1].into(),
                port: 0,
            },
        ))
    };
    // The checker's user, with script security on.
    let secure = ProbeContext {
        script_security: true,
        ..ProbeContext::default()
    };
    let p = run(secure, check(Some(("nobody".into(), None))));
    assert_eq!(p.outcome, CheckOutcome::Up);
    // Else the default script user.
    let by_default = ProbeContext {
        script_user: Some(nobody),
        ..ProbeContext::default()
    };
    assert_eq!(run(by_default, check(None)).outcome, CheckOutcome::Up);
    // Else the daemon's own identity (root here).
    assert!(matches!(
        run(ProbeContext::default(), check(None)).outcome,
        CheckOutcome::Down(_)
    ));
    let p = run(
        ProbeContext::default(),
        check(Some(("no-such-user-x".into(), None))),
    );
    assert!(down(&p).starts_with("MISC_CHECK user: "), "{p:?}");
}
