//! Probes against hostile or broken servers on 127.0.0.1 (no root needed): each outcome is
//! checked, and each probe must end within its deadline plus a margin.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use md5::{Digest as _, Md5};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use vrrp_check::{Probe, ProbeContext, Prober};
use vrrp_lb::check::*;
use vrrp_lb::spec::RealServerKey;

/// Slack on top of a probe's deadline (2 shared cores in CI).
const MARGIN: Duration = Duration::from_secs(3);
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn spec(kind: CheckKind, timeout: Duration) -> CheckerSpec {
    CheckerSpec {
        kind,
        timing: CheckTiming {
            connect_timeout: timeout,
            ..CheckTiming::default()
        },
        target: CheckTarget::default(),
    }
}

async fn probe(kind: CheckKind, timeout: Duration, port: u16) -> Probe {
    let prober = Prober::new(ProbeContext::default()).unwrap();
    let started = Instant::now();
    let p = prober
        .probe(
            &spec(kind, timeout),
            RealServerKey {
                addr: LOCALHOST,
                port,
            },
        )
        .await;
    assert!(
        started.elapsed() < timeout + MARGIN,
        "{p:?} took {:?}",
        started.elapsed()
    );
    p
}

fn down(p: &Probe) -> &str {
    match &p.outcome {
        CheckOutcome::Down(r) => r,
        o => panic!("expected down, got {o:?}"),
    }
}

/// A TCP server that hands each connection to `serve`.
async fn server<F, Fut>(serve: F) -> u16
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(serve(s));
        }
    });
    port
}

/// A server answering every request with `response`.
async fn answering(response: &'static [u8]) -> u16 {
    server(move |mut s| async move {
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        let _ = s.write_all(response).await;
    })
    .await
}

async fn closed_port() -> u16 {
    let l = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    l.local_addr().unwrap().port()
}

const S1: Duration = Duration::from_secs(1);

#[tokio::test]
async fn closed_port_is_refused() {
    let port = closed_port().await;
    let p = probe(CheckKind::Tcp, S1, port).await;
    assert_eq!(
        down(&p),
        format!("connect to 127.0.0.1:{port}: connection refused")
    );
    let p = probe(
        CheckKind::Http(HttpCheck::new(vec![UrlCheck::new("/")])),
        S1,
        port,
    )
    .await;
    assert!(down(&p).ends_with("connection refused"), "{p:?}");
}

#[tokio::test]
async fn tcp_up() {
    let port = server(|_s| async {}).await;
    assert_eq!(
        probe(CheckKind::Tcp, S1, port).await.outcome,
        CheckOutcome::Up
    );
}

#[tokio::test]
async fn silent_server_times_out() {
    let port = server(|s| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    })
    .await;
    let p = probe(
        CheckKind::Http(HttpCheck::new(vec![UrlCheck::new("/")])),
        S1,
        port,
    )
    .await;
    assert_eq!(
        down(&p),
        format!("127.0.0.1:{port}: timeout after 1 s reading the HTTP header")
    );
    assert!(p.latency >= S1);
    let p = probe(CheckKind::Smtp { helo_name: None }, S1, port).await;
    assert!(down(&p).ends_with("waiting for the SMTP banner"), "{p:?}");
}

#[tokio::test]
async fn garbage_is_not_http() {
    let port = answering(b"SSH-2.0-OpenSSH_9.6\r\n\x00\xff garbage\r\n\r\n").await;
    let p = probe(
        CheckKind::Http(HttpCheck::new(vec![UrlCheck::new("/")])),
        S1,
        port,
    )
    .await;
    assert!(
        down(&p).starts_with("/: not an HTTP status line: \"SSH-2.0"),
        "{p:?}"
    );
    // SMTP servers speak first.
    let port = server(|mut s| async move {
        let _ = s.write_all(b"\x16\x03\x01 binary junk\r\n").await;
        let _ = s.read(&mut [0u8; 64]).await;
    })
    .await;
    let p = probe(CheckKind::Smtp { helo_name: None }, S1, port).await;
    assert!(
        down(&p).starts_with("SMTP banner: not an SMTP reply"),
        "{p:?}"
    );
}

#[tokio::test]
async fn endless_header_is_bounded() {
    let port = server(|mut s| async move {
        let _ = s.write_all(b"HTTP/1.0 200 OK\r\n").await;
        let line = [b'x'; 4096];
        while s.write_all(&line).await.is_ok() {}
    })
    .await;
    let p = probe(
        CheckKind::Http(HttpCheck::new(vec![UrlCheck::new("/")])),
        S1 * 2,
        port,
    )
    .await;
    assert_eq!(down(&p), "/: HTTP header longer than 64 KiB");
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn endless_body_ends_at_the_deadline_with_bounded_memory() {
    let port = server(|mut s| async move {
        let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await;
        let block = vec![b'y'; 64 * 1024];
        while s.write_all(&block).await.is_ok() {}
    })
    .await;
    let before = rss_kib();
    let mut u = UrlCheck::new("/");
    u.digest = Some([0; 16]);
    u.regex = Some("never-there".into());
    let p = probe(CheckKind::Http(HttpCheck::new(vec![u])), S1 * 2, port).await;
    assert_eq!(
        down(&p),
        format!("127.0.0.1:{port}: timeout after 2 s reading the body")
    );
    let grown = rss_kib().saturating_sub(before);
    assert!(grown < 32 * 1024, "memory grew by {grown} KiB");
}

#[tokio::test]
async fn gigabyte_body_is_not_read_without_digest_or_regex() {
    let port = server(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
            .await;
        let block = vec![b'z'; 64 * 1024];
        for _ in 0..(1_000_000_000 / block.len()) {
            if s.write_all(&block).await.is_err() {
                break;
            }
        }
    })
    .await;
    let p = probe(
        CheckKind::Http(HttpCheck::new(vec![UrlCheck::new("/")])),
        S1 * 2,
        port,
    )
    .await;
    assert_eq!(p.outcome, CheckOutcome::Up);
    assert!(p.latency < S1, "{p:?}");
}

#[tokio::test]
async fn reset_and_early_close() {
    let reset = server(|s| async move {
        let std = s.into_std().unwrap();
        socket2::SockRef::from(&std)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(std);
    })
    .await;
    let p = probe(
        CheckKind::Http(HttpCheck::new(vec![UrlCheck::new("/")])),
        S1,
        reset,
    )
    .await;
    assert!(down(&p).ends_with("connection reset by peer"), "{p:?}");
    let closing = server(|s| async move { drop(s) }).await;
    let p = probe(
        CheckKind::Http(HttpCheck::new(vec![UrlCheck::new("/")])),
        S1,
        closing,
    )
    .await;
    let r = down(&p);
    assert!(
        r.ends_with("connection closed by the server before any response")
            || r.ends_with("connection reset by peer"),
        "{p:?}"
    );
}

#[tokio::test]
async fn tls_handshake_failures() {
    let plain = answering(b"HTTP/1.0 400 Bad Request\r\n\r\nnot TLS").await;
    let p = probe(
        CheckKind::Ssl(HttpCheck::new(vec![UrlCheck::new("/")])),
        S1,
        plain,
    )
    .await;
    assert!(down(&p).contains("TLS handshake"), "{p:?}");
    let closing = server(|mut s| async move {
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf).await;
    })
    .await;
    let p = probe(
        CheckKind::Ssl(HttpCheck::new(vec![UrlCheck::new("/")])),
        S1,
        closing,
    )
    .await;
    assert!(down(&p).contains("TLS handshake"), "{p:?}");
}

#[tokio::test]
async fn status_digest_and_regex() {
    const BODY: &[u8] = b"hello from the test\n";
    let ok = answering(
        b"HTTP/1.0 200 OK\r\nContent-Length: 20\r\n\r\nhello from the test\ntrailing junk",
    )
    .await;
    let unavailable = answering(b"HTTP/1.1 503 Service Unavailable\r\n\r\n").await;
    let p = probe(
        CheckKind::Http(HttpCheck::new(vec![UrlCheck::new("/")])),
        S1,
        unavailable,
    )
    .await;
    assert_eq!(down(&p), "/: HTTP status 503 not in 200-299");
    let mut u = UrlCheck::new("/");
    u.status_codes = vec![500..=503, 204..=204];
    assert_eq!(
        probe(CheckKind::Http(HttpCheck::new(vec![u])), S1, unavailable)
            .await
            .outcome,
        CheckOutcome::Up
    );

    let digest: [u8; 16] = Md5::digest(BODY).into();
    let mut u = UrlCheck::new("/");
    u.digest = Some(digest);
    u.regex = Some("from the".into());
    assert_eq!(
        probe(CheckKind::Http(HttpCheck::new(vec![u.clone()])), S1, ok)
            .await
            .outcome,
        CheckOutcome::Up
    );
    u.regex_no_match = true;
    let p = probe(CheckKind::Http(HttpCheck::new(vec![u.clone()])), S1, ok).await;
    assert_eq!(down(&p), "/: body matches regex \"from the\"");
    u.regex = None;
    u.digest = Some([0x1a; 16]);
    let p = probe(CheckKind::Http(HttpCheck::new(vec![u])), S1, ok).await;
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        down(&p),
        format!("/: digest {hex} != expected 1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a")
    );
    let mut bad = UrlCheck::new("/");
    bad.regex = Some("(unclosed".into());
    for _ in 0..2 {
        let p = probe(CheckKind::Http(HttpCheck::new(vec![bad.clone()])), S1, ok).await;
        assert!(down(&p).starts_with("/: regex \"(unclosed\": "), "{p:?}");
    }
    // Every url must pass.
    let p = probe(
        CheckKind::Http(HttpCheck::new(vec![
            UrlCheck::new("/"),
            UrlCheck::new("/b"),
        ])),
        S1,
        ok,
    )
    .await;
    assert_eq!(p.outcome, CheckOutcome::Up);
    let mut b = UrlCheck::new("/b");
    b.status_codes = vec![500..=500];
    let p = probe(
        CheckKind::Http(HttpCheck::new(vec![UrlCheck::new("/"), b])),
        S1,
        ok,
    )
    .await;
    assert_eq!(down(&p), "/b: HTTP status 200 not in 500");
}

#[tokio::test]
async fn genhash_digests_the_body() {
    let port = answering(b"HTTP/1.0 200 OK\r\nServer: test\r\n\r\nsome body\n").await;
    let r = vrrp_check::genhash(vrrp_check::GenhashRequest {
        server: LOCALHOST,
        port,
        path: "/".into(),
        vhost: Some("www.example".into()),
        ssl: false,
        sni: None,
        timeout: S1,
        version: HttpVersion::V1_0,
        fwmark: None,
    })
    .await
    .unwrap();
    let want: [u8; 16] = Md5::digest(b"some body\n").into();
    assert_eq!(r.digest, want);
    assert_eq!(r.status, 200);
    assert_eq!(r.status_line, "HTTP/1.0 200 OK");
    assert_eq!(r.body, b"some body\n");
    let text = r.to_string();
    assert!(text.contains(" HTTP Header Ascii Buffer "), "{text}");
    assert!(text.ends_with(&format!("{}\n", r.digest_hex())), "{text}");
}

async fn smtp_server(banner: &'static [u8], helo_reply: &'static [u8]) -> u16 {
    server(move |mut s| async move {
        let _ = s.write_all(banner).await;
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).await.unwrap_or(0);
        if buf[..n].starts_with(b"HELO probe.example\r\n") {
            let _ = s.write_all(helo_reply).await;
        }
        let n = s.read(&mut buf).await.unwrap_or(0);
        if &buf[..n] == b"QUIT\r\n" {
            let _ = s.write_all(b"221 bye\r\n").await;
        }
    })
    .await
}

#[tokio::test]
async fn smtp_dialogue() {
    let helo = || CheckKind::Smtp {
        helo_name: Some("probe.example".into()),
    };
    let good = smtp_server(
        b"220-mx.example ESMTP\r\n220 ready\r\n",
        b"250 mx.example\r\n",
    )
    .await;
    assert_eq!(probe(helo(), S1, good).await.outcome, CheckOutcome::Up);
    let busy = smtp_server(b"554 no service\r\n", b"").await;
    assert_eq!(
        down(&probe(helo(), S1, busy).await),
        "SMTP banner: code 554, expected 220"
    );
    let rude = smtp_server(b"220 ok\r\n", b"502 no\r\n").await;
    assert_eq!(
        down(&probe(helo(), S1, rude).await),
        "SMTP answer to HELO: code 502, expected 250"
    );
}

/// A DNS server on 127.0.0.1 answering each query with `answers(query)`.
async fn dns_server(answers: fn(&[u8]) -> Vec<Vec<u8>>) -> u16 {
    let s = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let port = s.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            for a in answers(&buf[..n]) {
                let _ = s.send_to(&a, from).await;
            }
        }
    });
    port
}

fn reply(q: &[u8], flags: [u8; 2]) -> Vec<u8> {
    let mut r = q.to_vec();
    r[2..4].copy_from_slice(&flags);
    r
}

#[tokio::test]
async fn dns_rules() {
    let dns = || {
        CheckKind::Dns(DnsCheck {
            qtype: DnsType::A,
            name: "www.example".into(),
        })
    };
    // Noise first (another id, a query, a runt), then the answer: keepalived waits on.
    let good = dns_server(|q| {
        let mut other = reply(q, [0x81, 0x80]);
        other[0] ^= 0xff;
        vec![
            other,
            reply(q, [0x01, 0x00]),
            vec![1, 2, 3],
            reply(q, [0x81, 0x80]),
        ]
    })
    .await;
    assert_eq!(probe(dns(), S1, good).await.outcome, CheckOutcome::Up);
    let nx = dns_server(|q| vec![reply(q, [0x81, 0x83])]).await;
    assert_eq!(
        down(&probe(dns(), S1, nx).await),
        "DNS answer with RCODE 3 (NXDOMAIN)"
    );
    let silent = dns_server(|_| vec![]).await;
    let p = probe(dns(), S1, silent).await;
    assert!(
        down(&p).ends_with("timeout after 1 s waiting for the DNS answer"),
        "{p:?}"
    );
}

#[tokio::test]
async fn udp_rules() {
    let echo = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let echo_port = echo.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = echo.recv_from(&mut buf).await {
            let _ = echo.send_to(&buf[..n], from).await;
        }
    });
    let check = |require: Option<Vec<ReplyByte>>| {
        CheckKind::Udp(UdpCheck {
            payload: vec![0xde, 0xad, 0xbe, 0xef],
            require_reply: require,
            ..UdpCheck::default()
        })
    };
    let good = check(Some(vec![Some(0xde), None, Some(0xbe)]));
    assert_eq!(probe(good, S1, echo_port).await.outcome, CheckOutcome::Up);
    let bad = check(Some(vec![Some(0xde), Some(0x00)]));
    assert_eq!(
        down(&probe(bad, S1, echo_port).await),
        "UDP reply byte 1 is ad, expected 00"
    );

    let closed = {
        let s = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
        s.local_addr().unwrap().port()
    };
    let p = probe(check(None), S1, closed).await;
    assert_eq!(
        down(&p),
        format!("127.0.0.1:{closed}: ICMP port unreachable")
    );

    // A server that swallows datagrams: up without require_reply, after the whole deadline.
    let sink = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let sink_port = sink.local_addr().unwrap().port();
    let p = probe(check(None), S1, sink_port).await;
    assert_eq!(p.outcome, CheckOutcome::Up);
    assert!(p.latency >= S1);
    let p = probe(check(Some(vec![None])), S1, sink_port).await;
    assert!(down(&p).starts_with("no UDP reply"), "{p:?}");
    drop(sink);
}

fn misc(argv: &[&str], dynamic: bool, timeout: Option<Duration>) -> CheckKind {
    CheckKind::Misc(MiscCheck {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        user: None,
        timeout,
        dynamic,
    })
}

#[tokio::test]
async fn misc_exit_codes() {
    assert_eq!(
        probe(misc(&["/bin/true"], false, None), S1, 0)
            .await
            .outcome,
        CheckOutcome::Up
    );
    let p = probe(misc(&["/bin/false"], false, None), S1, 0).await;
    assert!(down(&p).starts_with("/bin/false: exit status 1"), "{p:?}");
    let p = probe(misc(&["/bin/sh", "-c", "exit 7"], true, None), S1, 0).await;
    assert_eq!(p.outcome, CheckOutcome::Weight(5));
    let p = probe(misc(&["/bin/sh", "-c", "exit 7"], false, None), S1, 0).await;
    assert!(down(&p).contains("exit status 7"), "{p:?}");
    let started = Instant::now();
    let p = probe(misc(&["/bin/sleep", "30"], false, Some(S1)), S1, 0).await;
    assert_eq!(down(&p), "/bin/sleep 30: timed out after 1 s");
    assert!(started.elapsed() < S1 + MARGIN);
    let p = probe(misc(&["/nonexistent/check"], false, None), S1, 0).await;
    assert!(down(&p).contains("failed to start"), "{p:?}");
}

#[tokio::test]
async fn file_check_rule() {
    let dir = std::env::temp_dir().join(format!("vrrp-check-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("weight");
    let ctx = ProbeContext {
        track_files: HashMap::from([("w".to_string(), path.clone())]),
        ..ProbeContext::default()
    };
    let prober = Prober::new(ctx).unwrap();
    let check = |weight, reverse| {
        spec(
            CheckKind::File(FileCheck {
                track_file: "w".into(),
                weight,
                reverse,
            }),
            S1,
        )
    };
    let rs = RealServerKey {
        addr: LOCALHOST,
        port: 80,
    };
    std::fs::write(&path, "0\n").unwrap();
    assert_eq!(
        prober.probe(&check(0, false), rs).await.outcome,
        CheckOutcome::WeightOffset(0)
    );
    std::fs::write(&path, "3\n").unwrap();
    assert!(matches!(
        prober.probe(&check(0, false), rs).await.outcome,
        CheckOutcome::Down(_)
    ));
    assert_eq!(
        prober.probe(&check(0, true), rs).await.outcome,
        CheckOutcome::WeightOffset(0)
    );
    // weight 2: the value times 2 moves the configured weight.
    assert_eq!(
        prober.probe(&check(2, false), rs).await.outcome,
        CheckOutcome::WeightOffset(6)
    );
    std::fs::write(&path, "-70000\n").unwrap();
    assert!(matches!(
        prober.probe(&check(1, false), rs).await.outcome,
        CheckOutcome::Down(_)
    ));
    assert_eq!(
        prober.probe(&check(1, true), rs).await.outcome,
        CheckOutcome::WeightOffset(70000)
    );
    let missing = spec(
        CheckKind::File(FileCheck {
            track_file: "nope".into(),
            weight: 0,
            reverse: false,
        }),
        S1,
    );
    assert_eq!(
        prober.probe(&missing, rs).await.outcome,
        CheckOutcome::Down("track_file nope is not defined".into())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn tls_setup_errors_are_clear() {
    let e = Prober::new(ProbeContext {
        tls: Some(TlsClient {
            ca: Some("/nonexistent/ca.pem".into()),
            ..TlsClient::default()
        }),
        ..ProbeContext::default()
    })
    .unwrap_err();
    assert!(
        e.to_string().starts_with("SSL ca /nonexistent/ca.pem: "),
        "{e}"
    );
    let e = Prober::new(ProbeContext {
        tls: Some(TlsClient {
            password: Some("x".into()),
            certificate: Some("/c".into()),
            ..TlsClient::default()
        }),
        ..ProbeContext::default()
    })
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "not supported yet: an SSL key with a password"
    );
    let _ = SocketAddr::from((LOCALHOST, 0));
}

/// The daemon spawns probes on a multi-threaded runtime: the future must be `Send`.
#[test]
fn probes_are_send() {
    fn send<T: Send>(_: &T) {}
    let prober = Prober::new(ProbeContext::default()).unwrap();
    let s = spec(CheckKind::Tcp, S1);
    let rs = RealServerKey {
        addr: LOCALHOST,
        port: 1,
    };
    send(&prober.probe(&s, rs));
    send(&vrrp_check::genhash(vrrp_check::GenhashRequest {
        server: LOCALHOST,
        port: 1,
        path: "/".into(),
        vhost: None,
        ssl: false,
        sni: None,
        timeout: S1,
        version: HttpVersion::V1_0,
        fwmark: None,
    }));
}

#[tokio::test]
async fn request_injection_is_refused() {
    let port = answering(b"HTTP/1.0 200 OK\r\n\r\n").await;
    let p = probe(
        CheckKind::Http(HttpCheck::new(vec![UrlCheck::new(
            "/x HTTP/1.0\r\nEvil: 1",
        )])),
        S1,
        port,
    )
    .await;
    assert!(down(&p).starts_with("invalid url path"), "{p:?}");
    let mut u = UrlCheck::new("/");
    u.virtualhost = Some("a\r\nb".into());
    let p = probe(CheckKind::Http(HttpCheck::new(vec![u])), S1, port).await;
    assert!(down(&p).starts_with("invalid virtualhost"), "{p:?}");
}
