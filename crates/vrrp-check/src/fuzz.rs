//! The parsers of what real servers send (the HTTP response reader behind HTTP_GET,
//! SSL_GET and genhash; SMTP replies; DNS answers; UDP replies) under seeded mutation
//! (vrrp-fuzz), on the corpus of tests/corpus. In the crate, for its private parsers.
//!
//! Properties: nothing panics; a bad response is an error with a reason of bounded length
//! (a server must not be able to flood the log through it); what is accepted is what the
//! bytes say (the status code is the one on the status line, the digest is that of the
//! body the header announces, a reply code has three digits).

use std::ops::RangeInclusive;
use std::path::Path;

use md5::{Digest as _, Md5};
use vrrp_fuzz::{Campaign, Mutator, read_corpus};
use vrrp_lb::check::UrlCheck;

use crate::http::{Regexes, Response, exchange, header_end};
use crate::{GenhashReport, Stage};

/// The longest reason a check failure may give (an excerpt, not the response).
const REASON_LIMIT: usize = 400;

fn corpus(name: &str) -> Vec<Vec<u8>> {
    read_corpus(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus")
            .join(name),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
}

fn check_reason(reason: &str) {
    assert!(!reason.is_empty(), "an error without a reason");
    assert!(
        reason.len() <= REASON_LIMIT,
        "a reason of {} bytes: {reason:?}",
        reason.len()
    );
}

/// The response as the server sent it, read by the probes' reader (the body too).
fn read_response(rt: &tokio::runtime::Runtime, input: &[u8]) -> Result<Response, String> {
    let mut stream = tokio::io::join(input, tokio::io::sink());
    rt.block_on(exchange(
        &mut stream,
        b"GET / HTTP/1.0\r\n\r\n",
        true,
        &Stage::new("fuzz"),
    ))
}

/// What an accepted response must be: the status line's code, the announced body.
fn check_response(input: &[u8], resp: &Response) {
    let end = header_end(input).expect("accepted without a header end");
    assert_eq!(resp.header, input[..end], "the header is the input's");
    let code = &resp.header[resp.header.iter().position(|&b| b == b' ').unwrap_or(0)..];
    let code = String::from_utf8_lossy(code);
    assert!(
        code.trim_start()
            .starts_with(&format!("{:03}", resp.status)),
        "{code:?}"
    );
    let body = &input[end..];
    let body = &body[..usize::try_from(resp.body_len).expect("a body within the input")];
    assert_eq!(resp.digest, <[u8; 16]>::from(Md5::digest(body)));
    assert!(resp.body_prefix.len() <= crate::BODY_PREFIX_LIMIT);
    assert_eq!(resp.body_prefix[..], body[..resp.body_prefix.len()]);
}

/// genhash's report of a response, as `genhash` makes it.
fn report_of(resp: &Response) -> GenhashReport {
    let line_end = resp
        .header
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(resp.header.len());
    GenhashReport {
        status_line: String::from_utf8_lossy(&resp.header[..line_end]).into_owned(),
        status: resp.status,
        header: resp.header.clone(),
        body: resp.body_prefix.clone(),
        body_len: resp.body_len,
        digest: resp.digest,
    }
}

/// Every way a `url` block can judge a response.
fn urls() -> Vec<UrlCheck> {
    let ranges: Vec<RangeInclusive<u16>> = vec![200..=200, 300..=399];
    vec![
        UrlCheck::new("/"),
        UrlCheck {
            status_codes: ranges,
            digest: Some(*b"0123456789abcdef"),
            regex: Some("h.llo|up".into()),
            ..UrlCheck::new("/")
        },
        UrlCheck {
            regex: Some("^$".into()),
            regex_no_match: true,
            ..UrlCheck::new("/")
        },
    ]
}

#[test]
fn http_responses_never_panic_and_bad_ones_have_a_reason() {
    let corpus = corpus("http");
    let rt = runtime();
    let regexes = Regexes::default();
    let urls = urls();
    let dictionary: &[&[u8]] = &[
        b"HTTP/1.1 ",
        b"HTTP/1.0 ",
        b"200",
        b"999",
        b"\r\n",
        b"\n",
        b"\r\n\r\n",
        b"\n\n",
        b"Content-Length: ",
        b"content-length:",
        b"0",
        b"-1",
        b"18446744073709551616",
        b":",
        b" ",
        b"\xff",
        b"\x00",
    ];
    let mutator = Mutator::new(corpus.clone(), dictionary);
    let report =
        Campaign::new("check-http", 40_000, 30).run(
            &corpus,
            &mutator,
            |input| match read_response(&rt, input) {
                Ok(resp) => {
                    check_response(input, &resp);
                    let _ = report_of(&resp).to_string();
                    let verdicts = urls
                        .iter()
                        .map(|u| crate::http::check_url(u, &resp, &regexes));
                    for reason in verdicts.filter_map(Result::err) {
                        check_reason(&reason);
                    }
                    "read".into()
                }
                Err(reason) => {
                    check_reason(&reason);
                    reason.split(':').next().unwrap_or_default().to_string()
                }
            },
        );
    assert!(report.count("read") > report.executions / 10, "{report:?}");
}

/// The server's side of the SMTP dialogue: three replies (banner, HELO, QUIT).
#[test]
fn smtp_replies_never_panic_and_bad_ones_have_a_reason() {
    let corpus = corpus("smtp");
    let rt = runtime();
    let dictionary: &[&[u8]] = &[
        b"220", b"250", b"-", b" ", b"\r\n", b"\n", b"000", b"99", b"\xff",
    ];
    let mutator = Mutator::new(corpus.clone(), dictionary);
    let report = Campaign::new("check-smtp", 40_000, 30).run(&corpus, &mutator, |input| {
        let mut stream = input;
        let mut pending = Vec::new();
        let mut codes = 0;
        for _ in 0..3 {
            match rt.block_on(crate::smtp::reply_code(&mut stream, &mut pending)) {
                Ok(code) => {
                    assert!(code < 1000, "{code}");
                    codes += 1;
                }
                Err(reason) => {
                    check_reason(&reason);
                    return format!(
                        "{codes} replies, then {}",
                        reason.split(':').next().unwrap_or_default()
                    );
                }
            }
        }
        "3 replies".into()
    });
    assert!(
        report.count("3 replies") > report.executions / 10,
        "{report:?}"
    );
}

/// DNS answers and UDP replies: the rules that accept or ignore what comes back.
#[test]
fn dns_and_udp_replies_never_panic() {
    let corpus = corpus("dns");
    let pattern: Vec<Option<u8>> = vec![Some(0x12), Some(0x34), None, Some(0x80)];
    let mutator = Mutator::new(
        corpus.clone(),
        &[&[0x12, 0x34], &[0x81, 0x80], &[0xc0, 0x0c]],
    );
    let report = Campaign::new("check-dns", 100_000, 30).run(&corpus, &mutator, |input| {
        let udp = crate::udp::reply_matches(input, &pattern, 4, 512);
        if let Err(reason) = &udp {
            check_reason(reason);
        }
        match crate::dns::answer(0x1234, input) {
            Some(rcode) => {
                assert!(
                    input.len() >= 12 && input[..2] == [0x12, 0x34],
                    "{input:02x?}"
                );
                assert!(rcode < 16);
                format!("rcode {rcode}")
            }
            None => "ignored".into(),
        }
    });
    assert!(
        report.count("rcode 0") > 0 && report.count("ignored") > 0,
        "{report:?}"
    );
}
