//! The checkers of a `real_server`: HTTP_GET, SSL_GET (with their `url` blocks), TCP_CHECK,
//! SMTP_CHECK, DNS_CHECK, MISC_CHECK, UDP_CHECK, PING_CHECK and FILE_CHECK.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use vrrp_lb::check::{
    CheckKind, CheckTarget, DnsCheck, DnsType, FileCheck, HttpCheck, HttpVersion, MiscCheck,
    ReplyByte, UdpCheck, UrlCheck,
};

use super::lvs::{MAX_LVS_TIMER, RawTiming, fwmark};
use super::{At, BlockCtx, Parser, RawCmd, Stmt, word};
use crate::diag::Span;
use crate::keywords::Block;
use crate::model::ScriptUser;
use crate::value;

/// A checker as written; the timing is resolved against its real server and service later.
#[derive(Debug)]
pub(crate) struct RawChecker {
    pub span: Span,
    pub kind: CheckKind,
    pub timing: RawTiming,
    pub log_all_failures: bool,
    pub target: CheckTarget,
    /// FILE_CHECK's `track_file`, to check that it is defined.
    pub track_file: Option<At<String>>,
    /// MISC_CHECK's `misc_path` as a command (with `user`), for the daemon's script checks.
    pub misc_command: Option<RawCmd>,
    pub misc_user: Option<ScriptUser>,
}

/// Hex bytes (`payload`, `digest`).
fn hex_bytes(s: &str) -> Result<Vec<u8>, String> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("must be an even number of hex digits".to_owned());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "must be hex digits".to_owned())
        })
        .collect()
}

/// `require_reply`: hex bytes, `XX` for any byte.
fn reply_bytes(s: &str) -> Result<Vec<ReplyByte>, String> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if !s.len().is_multiple_of(2) || s.is_empty() {
        return Err("must be an even number of hex digits (`XX`: any byte)".to_owned());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| match s.get(i..i + 2) {
            Some("XX" | "xx") => Ok(None),
            Some(h) if h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(u8::from_str_radix(h, 16).ok())
            }
            _ => Err("must be hex digits (`XX`: any byte)".to_owned()),
        })
        .collect()
}

/// `digest`: the 32 hex digits of an MD5.
fn digest(s: &str) -> Result<[u8; 16], String> {
    let reason = || "must be 32 hex digits (an MD5, as genhash prints it)".to_owned();
    if s.len() != 32 {
        return Err(reason());
    }
    let bytes = hex_bytes(s).map_err(|_| reason())?;
    bytes.try_into().map_err(|_| reason())
}

/// `status_code` words: `200` or `200-299`.
fn status(s: &str) -> Result<RangeInclusive<u16>, String> {
    let code = |w: &str| {
        value::int(w, 100, 599)
            .map(|v| u16::try_from(v).unwrap_or(0))
            .map_err(|_| "must be a status code 100-599 or a range such as 200-299".to_owned())
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (code(a)?, code(b)?);
            if b < a {
                return Err("the range ends before it starts".to_owned());
            }
            Ok(a..=b)
        }
        None => code(s).map(|c| c..=c),
    }
}

/// The body regex is checked as vrrpd runs it: Rust regex syntax, not keepalived's PCRE2.
fn regex(s: &str) -> Result<String, String> {
    regex_syntax::Parser::new().parse(s).map_err(|e| {
        let first = e.to_string();
        // The last line of regex-syntax's message says what is wrong ("error: ...").
        let last = first.lines().last().unwrap_or("invalid").trim();
        let reason = last.strip_prefix("error: ").unwrap_or(last).to_owned();
        format!(
            "{reason} (vrrpd uses Rust regex syntax, keepalived PCRE2: no look-around nor back-references)"
        )
    })?;
    Ok(s.to_owned())
}

fn dns_type(w: &str) -> Result<DnsType, String> {
    match w.to_ascii_uppercase().as_str() {
        "A" => Ok(DnsType::A),
        "NS" => Ok(DnsType::Ns),
        "CNAME" => Ok(DnsType::Cname),
        "SOA" => Ok(DnsType::Soa),
        "MX" => Ok(DnsType::Mx),
        "TXT" => Ok(DnsType::Txt),
        "AAAA" => Ok(DnsType::Aaaa),
        _ => Err("must be A, NS, CNAME, SOA, MX, TXT or AAAA".to_owned()),
    }
}

fn text(w: &str) -> Result<String, String> {
    if w.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(w.to_owned())
    }
}

impl<'t> Parser<'t, '_> {
    /// A checker block (the `{` is consumed); `None` when it is unusable (reported).
    pub(super) fn checker(&mut self, st: &Stmt<'t>) -> Option<RawChecker> {
        let (own, shared) = match st.name {
            "HTTP_GET" | "SSL_GET" => (Block::HttpCheck, Some(Block::Checker)),
            "SMTP_CHECK" => (Block::SmtpCheck, Some(Block::Checker)),
            "DNS_CHECK" => (Block::DnsCheck, Some(Block::Checker)),
            "MISC_CHECK" => (Block::MiscCheck, Some(Block::Checker)),
            "UDP_CHECK" => (Block::UdpCheck, Some(Block::Checker)),
            "FILE_CHECK" => (Block::FileCheck, None),
            // TCP_CHECK and PING_CHECK have only the shared options.
            _ => (Block::Checker, None),
        };
        let kind = match st.name {
            "HTTP_GET" => CheckKind::Http(HttpCheck::default()),
            "SSL_GET" => CheckKind::Ssl(HttpCheck::default()),
            "SMTP_CHECK" => CheckKind::Smtp { helo_name: None },
            "DNS_CHECK" => CheckKind::Dns(DnsCheck {
                qtype: DnsType::Soa,
                name: ".".to_owned(),
            }),
            "MISC_CHECK" => CheckKind::Misc(MiscCheck {
                argv: Vec::new(),
                user: None,
                timeout: None,
                dynamic: false,
            }),
            "UDP_CHECK" => CheckKind::Udp(UdpCheck::default()),
            "PING_CHECK" => CheckKind::Ping,
            "FILE_CHECK" => CheckKind::File(FileCheck {
                track_file: String::new(),
                weight: 1,
                reverse: false,
            }),
            _ => CheckKind::Tcp,
        };
        let mut c = RawChecker {
            span: st.span(),
            kind,
            timing: RawTiming::default(),
            log_all_failures: false,
            target: CheckTarget::default(),
            track_file: None,
            misc_command: None,
            misc_user: None,
        };
        let ctx = BlockCtx {
            name: st.name,
            span: st.span(),
        };
        let mut seen = HashMap::new();
        while let Some(s) = self.lvs_stmt(&ctx, own, shared, &mut seen) {
            let Some((s, block)) = s else { continue };
            match block {
                Block::Checker => self.common_stmt(&mut c, &s, st.name),
                Block::HttpCheck => self.http_stmt(&mut c, &s),
                Block::SmtpCheck => self.smtp_stmt(&mut c, &s),
                Block::DnsCheck => self.dns_stmt(&mut c, &s),
                Block::MiscCheck => self.misc_stmt(&mut c, &s),
                Block::UdpCheck => self.udp_stmt(&mut c, &s),
                _ => self.file_stmt(&mut c, &s),
            }
        }
        self.checker_complete(c, st)
    }

    /// Reports what a checker block lacks.
    fn checker_complete(&mut self, c: RawChecker, st: &Stmt<'t>) -> Option<RawChecker> {
        let missing = match &c.kind {
            CheckKind::Http(h) | CheckKind::Ssl(h) if h.urls.is_empty() => Some((
                format!("{} has no `url`", st.name),
                "add `url { path /health }`",
            )),
            CheckKind::Misc(m) if m.argv.is_empty() => Some((
                "MISC_CHECK has no `misc_path`".to_owned(),
                "add `misc_path \"/path/to/check arg...\"`",
            )),
            CheckKind::File(_) if c.track_file.is_none() => Some((
                "FILE_CHECK has no `track_file`".to_owned(),
                "add `track_file NAME` (a top-level `track_file NAME { }`)",
            )),
            _ => None,
        };
        if let Some((msg, hint)) = missing {
            self.d.error_hint(st.span(), msg, hint);
            return None;
        }
        Some(c)
    }

    /// The options shared by the checkers.
    fn common_stmt(&mut self, c: &mut RawChecker, s: &Stmt<'t>, checker: &str) {
        let connection = !matches!(
            s.name,
            "retry" | "delay_before_retry" | "warmup" | "delay_loop" | "alpha" | "log_all_failures"
        );
        if connection && checker == "MISC_CHECK" {
            self.d.error_hint(
                s.span(),
                format!("MISC_CHECK does not take `{}`", s.name),
                "MISC_CHECK's program does its own connecting; only retry, delay_before_retry, warmup, delay_loop, alpha and log_all_failures apply",
            );
            return;
        }
        let t = &mut c.target;
        let port = |w: &str| {
            value::int(w, 1, 65535)
                .map(|v| u16::try_from(v).unwrap_or(0))
                .map_err(|_| "must be a port number between 1 and 65535".to_owned())
        };
        match s.name {
            "connect_ip" => t.connect_ip = self.value(s, value::ip).map(|v| v.v).or(t.connect_ip),
            "connect_port" => t.connect_port = self.value(s, port).map(|v| v.v).or(t.connect_port),
            "bindto" => t.bindto = self.value(s, value::ip).map(|v| v.v).or(t.bindto),
            "bind_port" => t.bind_port = self.value(s, port).map(|v| v.v).or(t.bind_port),
            "bind_if" => {
                t.bind_if = self
                    .value(s, value::ifname)
                    .map(|v| v.v)
                    .or(t.bind_if.take())
            }
            "fwmark" => t.fwmark = self.value(s, fwmark).map(|v| v.v).or(t.fwmark),
            "connect_timeout" | "retry" | "delay_before_retry" | "warmup" | "delay_loop"
            | "alpha" => self.timing(&mut c.timing, s),
            "log_all_failures" => {
                c.log_all_failures = self.flag(s).map_or(c.log_all_failures, |v| v.v)
            }
            _ => self.unsupported(s, Block::Checker),
        }
    }

    fn http_stmt(&mut self, c: &mut RawChecker, s: &Stmt<'t>) {
        let ssl = matches!(c.kind, CheckKind::Ssl(_));
        let (CheckKind::Http(h) | CheckKind::Ssl(h)) = &mut c.kind else {
            return;
        };
        if !ssl && matches!(s.name, "enable_sni" | "sni_name" | "tls_compliant") {
            self.d.error_hint(
                s.span(),
                format!("`{}` is an SSL_GET option", s.name),
                "HTTP_GET does not use TLS; use SSL_GET",
            );
            return;
        }
        match s.name {
            "url" => {
                self.no_args(s);
                if let Some((u, tls_compliant)) = self.url_block(s) {
                    h.urls.push(u);
                    // keepalived also takes `tls_compliant` in a url; it is the checker's.
                    h.tls_compliant |= tls_compliant;
                }
            }
            "virtualhost" => {
                h.virtualhost = self.value(s, text).map(|v| v.v).or(h.virtualhost.take())
            }
            "http_protocol" => {
                let v = self.value(s, |w| match w {
                    "1.0" => Ok(HttpVersion::V1_0),
                    "1.0C" | "1.0c" => Ok(HttpVersion::V1_0Close),
                    "1.1" => Ok(HttpVersion::V1_1),
                    _ => Err("must be 1.0, 1.0C or 1.1".to_owned()),
                });
                h.version = v.map_or(h.version, |v| v.v);
            }
            "fast_recovery" => h.fast_recovery = self.flag(s).map_or(h.fast_recovery, |v| v.v),
            "enable_sni" => {
                // The name is the virtual host's unless `sni_name` gives one.
                if self.flag(s).is_some_and(|v| v.v) && h.sni.is_none() {
                    h.sni = Some(String::new());
                }
            }
            "sni_name" => h.sni = self.value(s, text).map(|v| v.v).or(h.sni.take()),
            "tls_compliant" => h.tls_compliant = self.flag(s).map_or(h.tls_compliant, |v| v.v),
            "nb_get_retry" => {
                self.d.warn_hint(
                    s.span(),
                    "`nb_get_retry` is deprecated",
                    "write `retry` (keepalived warns the same)",
                );
                let retry = self.value(s, |w| value::int(w, 0, i64::from(u32::MAX)));
                if let Some(v) = retry {
                    c.timing.retry = u32::try_from(v.v).ok();
                }
            }
            _ => self.unsupported(s, Block::HttpCheck),
        }
    }

    fn url_block(&mut self, st: &Stmt<'t>) -> Option<(UrlCheck, bool)> {
        let ctx = BlockCtx {
            name: "url",
            span: st.span(),
        };
        let mut u = UrlCheck::new("");
        let mut has_path = false;
        let mut tls_compliant = false;
        let mut seen = HashMap::new();
        while let Some(s) = self.lvs_stmt(&ctx, Block::Url, None, &mut seen) {
            let Some((s, _)) = s else { continue };
            match s.name {
                "path" => {
                    if let Some(v) = self.value(&s, text) {
                        u.path = v.v;
                        has_path = true;
                    }
                }
                "status_code" => {
                    let mut codes = Vec::new();
                    for t in &s.args {
                        match status(word(t)) {
                            Ok(r) => codes.push(r),
                            Err(reason) => self.d.error(
                                t.span,
                                format!("invalid status_code `{}`: {reason}", word(t)),
                            ),
                        }
                    }
                    if s.args.is_empty() {
                        self.d.error(s.span(), "`status_code` needs a value");
                    }
                    u.status_codes = codes;
                }
                "digest" => u.digest = self.value(&s, digest).map(|v| v.v).or(u.digest),
                "regex" => u.regex = self.value(&s, regex).map(|v| v.v).or(u.regex.take()),
                "regex_no_match" => {
                    u.regex_no_match = self.flag(&s).map_or(u.regex_no_match, |v| v.v)
                }
                "virtualhost" => {
                    u.virtualhost = self.value(&s, text).map(|v| v.v).or(u.virtualhost.take())
                }
                "tls_compliant" => tls_compliant = self.flag(&s).map_or(tls_compliant, |v| v.v),
                _ => self.unsupported(&s, Block::Url),
            }
        }
        if !has_path {
            self.d.error_hint(
                st.span(),
                "`url` has no `path`",
                "add `path /health` to the block",
            );
            return None;
        }
        if u.regex_no_match && u.regex.is_none() {
            self.d.error_hint(
                st.span(),
                "`regex_no_match` without `regex`",
                "add the `regex` the body must not match",
            );
            return None;
        }
        Some((u, tls_compliant))
    }

    fn smtp_stmt(&mut self, c: &mut RawChecker, s: &Stmt<'t>) {
        let CheckKind::Smtp { helo_name } = &mut c.kind else {
            return;
        };
        match s.name {
            "helo_name" | "host" => {
                *helo_name = self.value(s, text).map(|v| v.v).or(helo_name.take())
            }
            _ => self.unsupported(s, Block::SmtpCheck),
        }
    }

    fn dns_stmt(&mut self, c: &mut RawChecker, s: &Stmt<'t>) {
        let CheckKind::Dns(dns) = &mut c.kind else {
            return;
        };
        match s.name {
            "type" => {
                dns.qtype = self.value(s, dns_type).map_or(dns.qtype, |v| v.v);
            }
            "name" => {
                if let Some(v) = self.value(s, text) {
                    dns.name = v.v;
                }
            }
            _ => self.unsupported(s, Block::DnsCheck),
        }
    }

    fn misc_stmt(&mut self, c: &mut RawChecker, s: &Stmt<'t>) {
        let CheckKind::Misc(m) = &mut c.kind else {
            return;
        };
        match s.name {
            "misc_path" => {
                if let Some(cmd) = self.command(s, false) {
                    m.argv = cmd.argv.clone();
                    c.misc_command = Some(cmd);
                }
            }
            "misc_timeout" => {
                let v = self.value(s, |w| value::timer(w, MAX_LVS_TIMER));
                m.timeout = v.map(|v| v.v).filter(|d| !d.is_zero()).or(m.timeout);
            }
            "misc_dynamic" => m.dynamic = self.flag(s).map_or(m.dynamic, |v| v.v),
            "user" => {
                if let Some(u) = self.user_of(&s.args, "user", s.span()) {
                    m.user = Some((u.user.clone(), u.group.clone()));
                    c.misc_user = Some(u);
                }
            }
            _ => self.unsupported(s, Block::MiscCheck),
        }
    }

    fn udp_stmt(&mut self, c: &mut RawChecker, s: &Stmt<'t>) {
        let CheckKind::Udp(u) = &mut c.kind else {
            return;
        };
        let len = |w: &str| {
            value::int(w, 0, 65535)
                .map(|v| usize::try_from(v).unwrap_or(0))
                .map_err(|_| "must be a length between 0 and 65535".to_owned())
        };
        match s.name {
            "payload" => u.payload = self.value(s, hex_bytes).map_or(u.payload.clone(), |v| v.v),
            "require_reply" => {
                u.require_reply = self
                    .value(s, reply_bytes)
                    .map(|v| v.v)
                    .or(u.require_reply.take())
            }
            "min_reply_length" => {
                u.min_reply_length = self.value(s, len).map(|v| v.v).or(u.min_reply_length)
            }
            "max_reply_length" => {
                u.max_reply_length = self.value(s, len).map(|v| v.v).or(u.max_reply_length)
            }
            _ => self.unsupported(s, Block::UdpCheck),
        }
    }

    fn file_stmt(&mut self, c: &mut RawChecker, s: &Stmt<'t>) {
        let CheckKind::File(f) = &mut c.kind else {
            return;
        };
        match s.name {
            "track_file" => {
                if let Some(v) = self.value(s, text) {
                    f.track_file = v.v.clone();
                    c.track_file = Some(v);
                }
            }
            "weight" => {
                if let Some((w, r)) = self.weight_reverse(s, 254) {
                    f.weight = w;
                    f.reverse = r;
                }
            }
            _ => self.unsupported(s, Block::FileCheck),
        }
    }
}
