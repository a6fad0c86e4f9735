//! Recursive descent over the token stream, keyword table by keyword table.
//!
//! The parser records what was written (with locations) in raw structures; defaults and the
//! cross-keyword rules are applied afterwards by `validate`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::diag::{Diags, Span};
use crate::keywords::{self, Block, Line};
use crate::model::{GlobalDefs, ScriptUser, TrackInterface, TrackRef, Vip, VirtualRoute};
use crate::source::{TokKind, Token};
use crate::value;

mod alerts;
mod checkers;
mod garp_group;
mod global_vrrp;
mod instance_extra;
mod lenient;
mod lvs;
mod lvs_global;
mod refusals;
mod sched;
mod statics;
mod tracking;
mod vs_group;

#[cfg(test)]
mod keyword_tests;

pub(crate) use alerts::{RawAlertObject, RawAlerts, finish as finish_alerts};
pub(crate) use checkers::RawChecker;
pub(crate) use garp_group::RawGarpGroup;
pub(crate) use instance_extra::RawInstanceExtra;
pub(crate) use lvs::{RawRs, RawTiming, RawVs, RawVsGroup, RawVsKey};
pub(crate) use statics::RawStatics;
pub(crate) use tracking::{
    RawCmd, RawFifo, RawGroup, RawNotify, RawProcess, RawRule, RawScript, RawTrackFile,
};

/// A value and where it was written.
#[derive(Debug, Clone)]
pub(crate) struct At<T> {
    pub v: T,
    pub span: Span,
}

/// `global_defs` as written.
#[derive(Debug, Default)]
pub(crate) struct RawGlobal {
    pub defs: GlobalDefs,
    pub lower_prio_delay_set: bool,
    pub lower_prio_repeat_set: bool,
    /// `notify_fifo` and `vrrp_notify_fifo` with their scripts.
    pub notify_fifo: RawFifo,
    pub vrrp_notify_fifo: RawFifo,
    pub lvs_notify_fifo: RawFifo,
    pub lvs_sync_span: Option<Span>,
    pub alerts: RawAlerts,
    seen: HashMap<String, Span>,
}

/// Initial state keyword values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateKw {
    Master,
    Backup,
    Observer,
}

/// `authentication { }` as written.
#[derive(Debug, Clone)]
pub(crate) struct RawAuth {
    pub span: Span,
    pub auth_type: Option<At<String>>,
    pub auth_pass: Option<At<String>>,
    /// `auth_type` / `auth_pass` written, even with a value refused (already reported).
    pub type_given: bool,
    pub pass_given: bool,
}

/// `vrrp_instance NAME { }` as written.
#[derive(Debug)]
pub(crate) struct RawInstance {
    pub name: String,
    pub span: Span,
    pub name_span: Span,
    /// Keywords present (even with an invalid value), with their first location.
    pub seen: HashMap<String, Span>,
    pub state: Option<At<StateKw>>,
    pub interface: Option<At<String>>,
    pub vrid: Option<At<u8>>,
    pub priority: Option<At<u8>>,
    pub advert_cs: Option<At<u16>>,
    pub version: Option<At<u8>>,
    pub vips: Vec<At<Vip>>,
    /// A `virtual_ipaddress` line was refused (already reported).
    pub vips_refused: bool,
    pub excluded: Vec<At<Vip>>,
    pub auth: Option<RawAuth>,
    pub nopreempt: Option<At<bool>>,
    pub preempt_delay: Option<At<Duration>>,
    pub unicast_src_ip: Option<At<IpAddr>>,
    pub unicast_peers: Vec<At<IpAddr>>,
    pub mcast_src_ip: Option<At<IpAddr>>,
    pub accept: Option<At<bool>>,
    pub use_vmac: Option<At<Option<String>>>,
    pub vmac_xmit_base: Option<At<bool>>,
    pub track: Vec<At<TrackInterface>>,
    pub dont_track_primary: bool,
    pub garp_master_delay: Option<Duration>,
    pub garp_master_repeat: Option<u32>,
    pub garp_master_refresh: Option<Option<Duration>>,
    pub garp_master_refresh_repeat: Option<u32>,
    pub garp_lower_prio_delay: Option<At<Duration>>,
    pub garp_lower_prio_repeat: Option<At<u32>>,
    pub lower_prio_no_advert: Option<At<bool>>,
    pub higher_prio_send_advert: Option<At<bool>>,
    pub v3_checksum_as_v2: Option<bool>,
    pub track_scripts: Vec<At<TrackRef>>,
    pub track_files: Vec<At<TrackRef>>,
    pub track_processes: Vec<At<TrackRef>>,
    pub notify: RawNotify,
    pub notify_master_change: Option<RawCmd>,
    pub routes: Vec<At<VirtualRoute>>,
    pub rules: Vec<At<RawRule>>,
    pub promote_secondaries: bool,
    /// The less common keywords (`instance_extra`).
    pub extra: RawInstanceExtra,
}

impl RawInstance {
    fn new(name: String, span: Span, name_span: Span) -> Self {
        RawInstance {
            name,
            span,
            name_span,
            seen: HashMap::new(),
            state: None,
            interface: None,
            vrid: None,
            priority: None,
            advert_cs: None,
            version: None,
            vips: Vec::new(),
            vips_refused: false,
            excluded: Vec::new(),
            auth: None,
            nopreempt: None,
            preempt_delay: None,
            unicast_src_ip: None,
            unicast_peers: Vec::new(),
            mcast_src_ip: None,
            accept: None,
            use_vmac: None,
            vmac_xmit_base: None,
            track: Vec::new(),
            dont_track_primary: false,
            garp_master_delay: None,
            garp_master_repeat: None,
            garp_master_refresh: None,
            garp_master_refresh_repeat: None,
            garp_lower_prio_delay: None,
            garp_lower_prio_repeat: None,
            lower_prio_no_advert: None,
            higher_prio_send_advert: None,
            v3_checksum_as_v2: None,
            track_scripts: Vec::new(),
            track_files: Vec::new(),
            track_processes: Vec::new(),
            notify: RawNotify::default(),
            notify_master_change: None,
            routes: Vec::new(),
            rules: Vec::new(),
            promote_secondaries: false,
            extra: RawInstanceExtra::default(),
        }
    }
}

struct Stmt<'t> {
    kw: &'t Token,
    name: &'t str,
    args: Vec<&'t Token>,
}

impl Stmt<'_> {
    fn span(&self) -> Span {
        self.kw.span
    }
}

/// The block being read, for "missing `}`" errors.
struct BlockCtx<'a> {
    name: &'a str,
    span: Span,
}

enum Next<'t> {
    Stmt(Stmt<'t>),
    End,
}

pub(crate) struct Parsed {
    pub global: RawGlobal,
    pub instances: Vec<RawInstance>,
    pub scripts: Vec<RawScript>,
    pub files: Vec<RawTrackFile>,
    pub processes: Vec<RawProcess>,
    pub groups: Vec<RawGroup>,
    pub delays: Vec<At<crate::model::InterfaceDelay>>,
    pub virtual_servers: Vec<RawVs>,
    pub vs_groups: Vec<RawVsGroup>,
    pub ssl: Option<vrrp_lb::check::TlsClient>,
    pub statics: RawStatics,
    pub garp_groups: Vec<RawGarpGroup>,
}

/// Parses the token stream; errors and warnings go to `d`.
pub(crate) fn parse(toks: &[Token], d: &mut Diags) -> Parsed {
    let mut p = Parser {
        toks,
        pos: 0,
        d,
        global: RawGlobal::default(),
        instances: Vec::new(),
        scripts: Vec::new(),
        files: Vec::new(),
        processes: Vec::new(),
        groups: Vec::new(),
        delays: Vec::new(),
        virtual_servers: Vec::new(),
        vs_groups: Vec::new(),
        ssl: None,
        statics: RawStatics::default(),
        garp_groups: Vec::new(),
        reported: std::collections::HashSet::new(),
        first_aliases: HashMap::new(),
    };
    p.top();
    Parsed {
        global: p.global,
        instances: p.instances,
        scripts: p.scripts,
        files: p.files,
        processes: p.processes,
        groups: p.groups,
        delays: p.delays,
        virtual_servers: p.virtual_servers,
        vs_groups: p.vs_groups,
        ssl: p.ssl,
        statics: p.statics,
        garp_groups: p.garp_groups,
    }
}

struct Parser<'t, 'd> {
    toks: &'t [Token],
    pos: usize,
    d: &'d mut Diags,
    global: RawGlobal,
    instances: Vec<RawInstance>,
    scripts: Vec<RawScript>,
    files: Vec<RawTrackFile>,
    processes: Vec<RawProcess>,
    groups: Vec<RawGroup>,
    delays: Vec<At<crate::model::InterfaceDelay>>,
    virtual_servers: Vec<RawVs>,
    vs_groups: Vec<RawVsGroup>,
    ssl: Option<vrrp_lb::check::TlsClient>,
    statics: RawStatics,
    garp_groups: Vec<RawGarpGroup>,
    /// Positions already reported as an unsupported keyword.
    reported: std::collections::HashSet<(usize, usize, usize)>,
    /// The alias a repeated setting was first written as, by the position of that first
    /// statement (the repeat's warning names it).
    first_aliases: HashMap<Span, &'t str>,
}

/// GARP delays: keepalived keeps them in microseconds in an `unsigned` (at most 4,294 s).
const MAX_GARP_DELAY: u64 = u32::MAX as u64 / 1_000_000;
/// `garp_master_refresh`: keepalived reads whole seconds up to `UINT_MAX`
/// (`vrrp_garp_refresh_handler`), so a refresh every 4 hours (14,400 s) is valid.
const MAX_GARP_REFRESH: u64 = u32::MAX as u64;

fn word(t: &Token) -> &str {
    t.word().unwrap_or("")
}

impl<'t> Parser<'t, '_> {
    fn peek(&self) -> Option<&'t Token> {
        self.toks.get(self.pos)
    }

    fn peek_open(&self) -> bool {
        matches!(self.peek().map(|t| &t.kind), Some(TokKind::Open))
    }

    /// Whether the token at `i` is the first of its line.
    fn starts_line(&self, i: usize) -> bool {
        match (
            i.checked_sub(1).and_then(|j| self.toks.get(j)),
            self.toks.get(i),
        ) {
            (Some(prev), Some(t)) => prev.line_id != t.line_id,
            _ => true,
        }
    }

    /// Reads the keyword `kw` (the current token) and the words after it on its line.
    fn stmt(&mut self, kw: &'t Token) -> Stmt<'t> {
        let toks = self.toks;
        self.pos += 1;
        let mut args = Vec::new();
        while let Some(t) = toks.get(self.pos) {
            if t.line_id != kw.line_id || t.word().is_none() {
                break;
            }
            args.push(t);
            self.pos += 1;
        }
        Stmt {
            kw,
            name: word(kw),
            args,
        }
    }

    fn top(&mut self) {
        while let Some(t) = self.peek() {
            match &t.kind {
                TokKind::Close => {
                    self.d.error_hint(
                        t.span,
                        "unmatched `}`",
                        "no block is open here; remove it or look for an extra `}` above",
                    );
                    self.pos += 1;
                }
                TokKind::Open => {
                    self.d.error_hint(
                        t.span,
                        "unexpected `{`",
                        "a block must follow a keyword such as `vrrp_instance NAME`",
                    );
                    self.skip_block();
                }
                TokKind::Word(_) => {
                    let st = self.stmt(t);
                    match st.name {
                        "global_defs" => {
                            self.no_args(&st);
                            if self.expect_top_open(&st) {
                                self.global_block(&st);
                            }
                        }
                        "vrrp_instance" => self.instance(&st),
                        "vrrp_script" => self.vrrp_script(&st),
                        "track_file" | "vrrp_track_file" => self.track_file_block(&st),
                        "vrrp_track_process" => self.track_process_block(&st),
                        "vrrp_sync_group" => self.sync_group(&st),
                        "interface_up_down_delays" => self.up_down_delays(&st),
                        "virtual_server" => self.virtual_server(&st),
                        "virtual_server_group" => self.vs_group(&st),
                        "SSL" => self.ssl_block(&st),
                        "garp_group" => self.garp_group(&st),
                        "static_ipaddress" | "static_routes" | "static_rules" => {
                            self.static_block(&st)
                        }
                        _ => self.unsupported(&st, Block::Top),
                    }
                }
            }
        }
    }

    /// Reports an unsupported keyword of `block` and skips its block, if any.
    fn unsupported(&mut self, st: &Stmt<'t>, block: Block) {
        // Text generated by a loop repeats the same keyword at one position: report it once.
        let at = st.span();
        if !self.reported.insert((at.file, at.line, at.col)) {
            if self.peek_open() {
                self.skip_block();
            }
            return;
        }
        let parents = keywords::block_parents(st.name);
        if !parents.is_empty() {
            self.misplaced_block(st, block, &parents);
            return;
        }
        let close = keywords::supported(block)
            .map(|k| (value::distance(st.name, k), k))
            .filter(|(dist, k)| *dist <= 2 && *dist < k.len() / 2 + 1)
            .min_by_key(|(dist, _)| *dist);
        let reason = (block == Block::Instance)
            .then(|| instance_extra::refusal(st.name))
            .flatten();
        let hint = if let Some(reason) = reason {
            Some(format!(
                "keepalived knows this keyword but vrrpd refuses it: {reason}"
            ))
        } else if keywords::keepalived_only(st.name) {
            Some(match refusals::reason(block, st.name) {
                Some(why) => format!("keepalived knows this keyword but vrrpd does not support it: {why}"),
                None => "keepalived knows this keyword but vrrpd does not support it (see docs/config.md)"
                    .to_owned(),
            })
        } else {
            close.map(|(_, k)| format!("did you mean `{k}`?"))
        };
        let msg = format!("unsupported keyword `{}`", st.name);
        match hint {
            Some(h) => self.d.error_hint(st.span(), msg, h),
            None => self.d.error(st.span(), msg),
        }
        if self.peek_open() {
            self.skip_block();
        }
    }

    /// Skips a `{ ... }` block (the current token is `{`) without reading its contents.
    fn skip_block(&mut self) {
        let Some(open) = self.peek() else { return };
        let open_span = open.span;
        let mut depth = 0usize;
        while let Some(t) = self.peek() {
            match &t.kind {
                TokKind::Open => depth += 1,
                TokKind::Close => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        self.pos += 1;
                        return;
                    }
                }
                TokKind::Word(w) => {
                    if keywords::top_level_only(w) && self.starts_line(self.pos) {
                        self.d.error_hint(
                            open_span,
                            "missing `}`: this block is not closed",
                            format!("`{w}` on line {} starts a new top-level block", t.span.line),
                        );
                        return;
                    }
                }
            }
            self.pos += 1;
        }
        self.d.error_hint(
            open_span,
            "missing `}`: this block is not closed",
            "the input ended inside the block",
        );
    }

    /// Consumes the `{` that must follow a top-level block keyword. When it is missing but a
    /// keyword follows, reports it and reads the block anyway (no cascade of errors).
    fn expect_top_open(&mut self, st: &Stmt<'t>) -> bool {
        if self.peek_open() {
            self.pos += 1;
            return true;
        }
        let body_follows = self
            .peek()
            .and_then(Token::word)
            .is_some_and(|w| !keywords::top_level_only(w));
        self.expect_open(st);
        body_follows
    }

    /// Consumes the `{` that must follow a block keyword.
    fn expect_open(&mut self, st: &Stmt<'t>) -> bool {
        if self.peek_open() {
            self.pos += 1;
            true
        } else {
            self.d.error_hint(
                st.span(),
                format!("expected `{{` after `{}`", st.name),
                format!("`{}` opens a block: `{} {{ ... }}`", st.name, st.name),
            );
            false
        }
    }

    /// The next statement of a block, or `End` at its `}` (or where it must have ended).
    fn next_in_block(&mut self, ctx: &BlockCtx<'_>) -> Next<'t> {
        loop {
            let Some(t) = self.peek() else {
                self.missing_close(ctx, None);
                return Next::End;
            };
            match &t.kind {
                TokKind::Close => {
                    self.pos += 1;
                    return Next::End;
                }
                TokKind::Open => {
                    self.d
                        .error_hint(t.span, "unexpected `{`", "a block must follow a keyword");
                    self.skip_block();
                }
                TokKind::Word(w) => {
                    if keywords::top_level_only(w) {
                        self.missing_close(ctx, Some(t));
                        return Next::End;
                    }
                    return Next::Stmt(self.stmt(t));
                }
            }
        }
    }

    /// The words of the next line of a list block, or `None` at its end.
    fn next_list_line(&mut self, ctx: &BlockCtx<'_>) -> Option<Vec<&'t Token>> {
        loop {
            let t = match self.peek() {
                None => {
                    self.missing_close(ctx, None);
                    return None;
                }
                Some(t) => t,
            };
            match &t.kind {
                TokKind::Close => {
                    self.pos += 1;
                    return None;
                }
                TokKind::Open => {
                    self.d.error_hint(
                        t.span,
                        "unexpected `{`",
                        format!("`{}` holds one entry per line", ctx.name),
                    );
                    self.skip_block();
                }
                TokKind::Word(w) => {
                    if keywords::top_level_only(w) {
                        self.missing_close(ctx, Some(t));
                        return None;
                    }
                    return Some(self.stmt_words(t));
                }
            }
        }
    }

    fn stmt_words(&mut self, first: &'t Token) -> Vec<&'t Token> {
        let st = self.stmt(first);
        let mut v = vec![st.kw];
        v.extend(st.args);
        v
    }

    fn missing_close(&mut self, ctx: &BlockCtx<'_>, next: Option<&Token>) {
        let hint = match next.and_then(|t| t.word().map(|w| (w, t.span.line))) {
            Some((w, line)) => format!("`{w}` on line {line} starts a new top-level block"),
            None => "the input ended inside the block".to_owned(),
        };
        self.d.error_hint(
            ctx.span,
            format!("missing `}}`: the `{}` block is not closed", ctx.name),
            hint,
        );
    }

    fn no_args(&mut self, st: &Stmt<'t>) {
        if let Some(extra) = st.args.first() {
            self.d.error(
                extra.span,
                format!("unexpected `{}` after `{}`", word(extra), st.name),
            );
        }
    }

    /// The rest of keyword `s` of `block` as the table shapes it: its `{` when it opens a
    /// block, no block otherwise, and a single setting recorded once. `false`: the
    /// statement is done with (its error reported).
    fn keyword_shape(
        &mut self,
        s: &Stmt<'t>,
        block: Block,
        seen: &mut HashMap<String, Span>,
    ) -> bool {
        if !self.first_time(s, block, seen) {
            return false;
        }
        if keywords::opens_block(block, s.name) {
            return self.expect_open(s);
        }
        if self.peek_open() {
            self.d
                .error(s.span(), format!("`{}` does not take a block", s.name));
            self.skip_block();
            return false;
        }
        true
    }

    /// The single argument of a keyword.
    fn one(&mut self, st: &Stmt<'t>) -> Option<&'t Token> {
        let Some(first) = st.args.first() else {
            self.d
                .error(st.span(), format!("`{}` needs a value", st.name));
            return None;
        };
        if let Some(extra) = st.args.get(1) {
            self.d.error_hint(
                extra.span,
                format!(
                    "unexpected `{}` after the value of `{}`",
                    word(extra),
                    st.name
                ),
                "quote the value if it contains spaces",
            );
            return None;
        }
        Some(first)
    }

    /// The single argument, parsed.
    fn value<T>(
        &mut self,
        st: &Stmt<'t>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<At<T>> {
        let tok = self.one(st)?;
        match parse(word(tok)) {
            Ok(v) => Some(At { v, span: tok.span }),
            Err(reason) => {
                self.d.error(
                    tok.span,
                    format!("invalid {} `{}`: {reason}", st.name, word(tok)),
                );
                None
            }
        }
    }

    /// A flag keyword with keepalived's optional `<BOOL>` after it.
    fn flag(&mut self, st: &Stmt<'t>) -> Option<At<bool>> {
        if st.args.is_empty() {
            return Some(At {
                v: true,
                span: st.span(),
            });
        }
        let v = self.value(st, value::boolean)?;
        self.flag_value_differs(st, &v);
        Some(v)
    }

    fn global_block(&mut self, st: &Stmt<'t>) {
        let ctx = BlockCtx {
            name: "global_defs",
            span: st.span(),
        };
        let mut seen = std::mem::take(&mut self.global.seen);
        while let Next::Stmt(s) = self.next_in_block(&ctx) {
            if keywords::lookup(Block::Global, s.name).is_none() {
                self.unsupported(&s, Block::Global);
                continue;
            }
            if !self.first_time(&s, Block::Global, &mut seen) {
                continue;
            }
            if self.peek_open() && !keywords::opens_block(Block::Global, s.name) {
                self.d
                    .error(s.span(), format!("`{}` does not take a block", s.name));
                self.skip_block();
                continue;
            }
            self.global_stmt(&s);
        }
        self.global.seen = seen;
    }

    fn global_stmt(&mut self, s: &Stmt<'t>) {
        const MAX_TIMER: u64 = u32::MAX as u64 / 1000;
        match s.name {
            "router_id" => {
                if let Some(v) = self.value(s, |w| Ok(w.to_owned())) {
                    self.global.defs.router_id = Some(v.v);
                }
            }
            // vrrpd: the Prometheus endpoint, `ADDR:PORT` (IPv6 as `[ADDR]:PORT`).
            "metrics_listen" => {
                if let Some(v) = self.value(s, |w| {
                    w.parse::<std::net::SocketAddr>().map_err(|_| {
                        format!(
                            "`{w}` is not an address and port such as 127.0.0.1:9650 or [::1]:9650"
                        )
                    })
                }) {
                    self.global.defs.metrics_listen = Some(v.v);
                }
            }
            "vrrp_version" => {
                if let Some(v) = self.value(s, |w| value::int(w, 2, 3)) {
                    self.global.defs.vrrp_version = if v.v == 3 { 3 } else { 2 };
                }
            }
            "vrrp_garp_master_delay" => {
                if let Some(v) = self.value(s, |w| value::whole_secs(w, MAX_GARP_DELAY)) {
                    self.global.defs.garp.master_delay = v.v;
                }
            }
            "vrrp_garp_master_repeat" => {
                if let Some(v) = self.repeat(s, 1) {
                    self.global.defs.garp.master_repeat = v;
                }
            }
            "vrrp_garp_master_refresh" => {
                if let Some(v) = self.value(s, |w| value::whole_secs(w, MAX_GARP_REFRESH)) {
                    self.global.defs.garp.master_refresh = Some(v.v).filter(|d| !d.is_zero());
                }
            }
            "vrrp_garp_master_refresh_repeat" => {
                if let Some(v) = self.repeat(s, 1) {
                    self.global.defs.garp.master_refresh_repeat = v;
                }
            }
            "vrrp_garp_interval" => {
                if let Some(v) = self.value(s, |w| value::timer(w, MAX_TIMER)) {
                    self.global.defs.garp.interval = v.v;
                }
            }
            "vrrp_garp_extra_if" => self.global_garp_extra_if(s),
            "vrrp_gna_interval" => {
                if let Some(v) = self.value(s, |w| value::timer(w, MAX_TIMER)) {
                    self.global.defs.garp.gna_interval = v.v;
                }
            }
            "vrrp_garp_lower_prio_delay" => {
                if let Some(v) = self.value(s, |w| value::whole_secs(w, MAX_GARP_DELAY)) {
                    self.global.defs.garp.lower_prio_delay = v.v;
                    self.global.lower_prio_delay_set = true;
                }
            }
            "vrrp_garp_lower_prio_repeat" => {
                if let Some(v) = self.repeat(s, 0) {
                    self.global.defs.garp.lower_prio_repeat = v;
                    self.global.lower_prio_repeat_set = true;
                }
            }
            "vrrp_check_unicast_src" => {
                if let Some(v) = self.flag(s) {
                    self.global.defs.check_unicast_src = v.v;
                }
            }
            "vrrp_skip_check_adv_addr" => {
                if let Some(v) = self.flag(s) {
                    self.global.defs.skip_check_adv_addr = v.v;
                }
            }
            "vrrp_strict" => {
                if let Some(v) = self.flag(s) {
                    self.global.defs.strict = v.v;
                }
            }
            "vrrp_startup_delay" => {
                if let Some(v) = self.value(s, |w| value::timer(w, MAX_TIMER)) {
                    self.global.defs.startup_delay = v.v;
                }
            }
            "enable_script_security" => {
                if let Some(v) = self.flag(s) {
                    self.global.defs.enable_script_security = v.v;
                }
            }
            "script_user" => self.script_user(s),
            "notify_fifo" | "vrrp_notify_fifo" => self.fifo(s),
            "notify_fifo_script" | "vrrp_notify_fifo_script" => self.fifo_script(s),
            "lb_dataplane"
            | "lb_nat_masquerade"
            | "bgp_announce_table"
            | "bgp_announce_drain"
            | "bgp_frr_config"
            | "lvs_notify_fifo"
            | "lvs_notify_fifo_script"
            | "lvs_flush"
            | "lvs_flush_on_stop"
            | "lvs_flush_onstop"
            | "lvs_timeouts"
            | "lvs_sync_daemon"
            | "checker_log_all_failures"
            | "rs_init_notifies" => self.lvs_global(s),
            "notification_email"
            | "notification_email_from"
            | "smtp_server"
            | "smtp_helo_name"
            | "smtp_connect_timeout"
            | "smtp_alert"
            | "smtp_alert_vrrp"
            | "smtp_alert_checker"
            | "no_email_faults"
            | "no_checker_emails" => self.alerts_global(s),
            "vrrp_mcast_group4" | "vrrp_mcast_group6" | "default_interface"
            | "max_auto_priority" | "dynamic_interfaces" => self.global_vrrp_net(s),
            "vrrp_priority" | "vrrp_rt_priority" | "vrrp_rlimit_rttime" | "vrrp_rlimit_rtime"
            | "vrrp_no_swap" | "vrrp_cpu_affinity" | "checker_priority" | "checker_no_swap" => {
                self.vrrp_sched(s)
            }
            "vrrp_iptables" | "vrrp_ipsets" | "nftables" => {
                self.d.warn_hint(
                    s.span(),
                    format!("`{}` is accepted and ignored", s.name),
                    "vrrpd keeps its own nftables table (`inet vrrpd`) for no_accept; these are not needed",
                );
            }
            "vrrp_lower_prio_no_advert" => {
                if let Some(v) = self.flag(s) {
                    self.global.defs.lower_prio_no_advert = v.v;
                }
            }
            "vrrp_higher_prio_send_advert" => {
                if let Some(v) = self.flag(s) {
                    self.global.defs.higher_prio_send_advert = v.v;
                }
            }
            "v3_checksum_as_v2" => {
                if let Some(v) = self.flag(s) {
                    self.global.defs.v3_checksum_as_v2 = v.v;
                }
            }
            _ => self.unsupported(s, Block::Global),
        }
    }

    /// A GARP repeat count; below `min`, keepalived warns and uses `min`.
    fn repeat(&mut self, s: &Stmt<'t>, min: u32) -> Option<u32> {
        let v = self.value(s, |w| value::int(w, 0, i64::from(u32::MAX)))?;
        let n = u32::try_from(v.v).unwrap_or(u32::MAX);
        if n < min {
            self.d.warn(
                v.span,
                format!("`{}` must be at least {min}; using {min}", s.name),
            );
            return Some(min);
        }
        Some(n)
    }

    fn script_user(&mut self, s: &Stmt<'t>) {
        let (user, group) = match s.args.as_slice() {
            [] => {
                self.d.error(s.span(), "`script_user` needs a user name");
                return;
            }
            [u] => match word(u).split_once(':') {
                Some((u, g)) => (u.to_owned(), Some(g.to_owned())),
                None => (word(u).to_owned(), None),
            },
            [u, g] => (
                word(u).to_owned(),
                Some(word(g).trim_start_matches(':').to_owned()),
            ),
            [_, _, extra, ..] => {
                self.d.error(
                    extra.span,
                    format!(
                        "unexpected `{}` after `script_user USER GROUP`",
                        word(extra)
                    ),
                );
                return;
            }
        };
        if user.is_empty() || group.as_deref() == Some("") {
            self.d.error(s.span(), "`script_user` needs `USER [GROUP]`");
            return;
        }
        self.global.defs.script_user = Some(ScriptUser { user, group });
    }

    fn instance(&mut self, st: &Stmt<'t>) {
        let (name, name_span) = match st.args.as_slice() {
            [] => {
                self.d.error_hint(
                    st.span(),
                    "`vrrp_instance` needs a name",
                    "write `vrrp_instance NAME {`",
                );
                (String::new(), st.span())
            }
            [n] => (word(n).to_owned(), n.span),
            [n, extra, ..] => {
                self.d.error(
                    extra.span,
                    format!("unexpected `{}`: an instance name is one word", word(extra)),
                );
                (word(n).to_owned(), n.span)
            }
        };
        if !self.expect_top_open(st) {
            return;
        }
        let mut inst = RawInstance::new(name, st.span(), name_span);
        let ctx = BlockCtx {
            name: "vrrp_instance",
            span: st.span(),
        };
        while let Next::Stmt(s) = self.next_in_block(&ctx) {
            if keywords::lookup(Block::Instance, s.name).is_none() {
                self.unsupported(&s, Block::Instance);
                continue;
            }
            if !self.first_time(&s, Block::Instance, &mut inst.seen) {
                continue;
            }
            let wants_block = keywords::opens_block(Block::Instance, s.name);
            if !wants_block && self.peek_open() {
                self.d
                    .error(s.span(), format!("`{}` does not take a block", s.name));
                self.skip_block();
                continue;
            }
            if wants_block {
                self.no_args(&s);
                if !self.expect_open(&s) {
                    continue;
                }
            }
            self.instance_stmt(&mut inst, &s);
        }
        self.instances.push(inst);
    }

    fn instance_stmt(&mut self, inst: &mut RawInstance, s: &Stmt<'t>) {
        match s.name {
            "state" => inst.state = self.value(s, parse_state).or(inst.state.take()),
            "interface" => inst.interface = self.value(s, value::ifname).or(inst.interface.take()),
            "virtual_router_id" => {
                if let Some(v) = self.value(s, |w| value::int(w, 1, 255)) {
                    inst.vrid = Some(At {
                        v: u8::try_from(v.v).unwrap_or(u8::MAX),
                        span: v.span,
                    });
                }
            }
            "priority" => {
                if let Some(v) = self.value(s, |w| value::int(w, 1, 255)) {
                    inst.priority = Some(At {
                        v: u8::try_from(v.v).unwrap_or(u8::MAX),
                        span: v.span,
                    });
                }
            }
            "advert_int" => {
                inst.advert_cs = self.value(s, value::advert_cs).or(inst.advert_cs.take())
            }
            "version" => {
                if let Some(v) = self.value(s, |w| value::int(w, 2, 3)) {
                    inst.version = Some(At {
                        v: if v.v == 3 { 3 } else { 2 },
                        span: v.span,
                    });
                }
            }
            "virtual_ipaddress" => {
                let errors = self.d.errors.len();
                let list = self.vip_block(s);
                inst.vips_refused |= self.d.errors.len() > errors;
                inst.vips.extend(list);
            }
            "virtual_ipaddress_excluded" => {
                let list = self.vip_block(s);
                inst.excluded.extend(list);
            }
            "authentication" => inst.auth = Some(self.auth_block(s)),
            "nopreempt" => {
                if let Some(v) = self.flag(s) {
                    inst.nopreempt = Some(v);
                }
            }
            "preempt" => {
                if let Some(v) = self.flag(s) {
                    inst.nopreempt = Some(At {
                        v: !v.v,
                        span: v.span,
                    });
                }
            }
            "preempt_delay" => {
                inst.preempt_delay = self
                    .value(s, |w| value::timer(w, 1000))
                    .or(inst.preempt_delay.take());
            }
            "unicast_src_ip" => {
                inst.unicast_src_ip = self.value(s, value::ip).or(inst.unicast_src_ip.take())
            }
            "mcast_src_ip" => {
                inst.mcast_src_ip = self.value(s, value::ip).or(inst.mcast_src_ip.take())
            }
            "unicast_peer" => {
                let list = self.peer_block(s);
                inst.unicast_peers.extend(list);
            }
            "accept" => {
                if let Some(v) = self.flag(s) {
                    inst.accept = Some(v);
                }
            }
            "no_accept" => {
                if let Some(v) = self.flag(s) {
                    inst.accept = Some(At {
                        v: !v.v,
                        span: v.span,
                    });
                }
            }
            "use_vmac" => self.use_vmac(inst, s),
            "vmac_xmit_base" => {
                if let Some(v) = self.flag(s) {
                    inst.vmac_xmit_base = Some(v);
                }
            }
            "track_interface" => {
                let list = self.track_block(s);
                inst.track.extend(list);
            }
            "dont_track_primary" => {
                if let Some(v) = self.flag(s) {
                    inst.dont_track_primary = v.v;
                }
            }
            "garp_master_delay" => {
                if let Some(v) = self.value(s, |w| value::whole_secs(w, MAX_GARP_DELAY)) {
                    inst.garp_master_delay = Some(v.v);
                }
            }
            "garp_master_repeat" => {
                if let Some(v) = self.repeat(s, 1) {
                    inst.garp_master_repeat = Some(v);
                }
            }
            "garp_master_refresh" => {
                if let Some(v) = self.value(s, |w| value::whole_secs(w, MAX_GARP_REFRESH)) {
                    inst.garp_master_refresh = Some(Some(v.v).filter(|d| !d.is_zero()));
                }
            }
            "garp_master_refresh_repeat" => {
                if let Some(v) = self.repeat(s, 1) {
                    inst.garp_master_refresh_repeat = Some(v);
                }
            }
            "garp_lower_prio_delay" => {
                inst.garp_lower_prio_delay = self
                    .value(s, |w| value::whole_secs(w, MAX_GARP_DELAY))
                    .or(inst.garp_lower_prio_delay.take());
            }
            "garp_lower_prio_repeat" => {
                if let Some(v) = self.repeat(s, 0) {
                    inst.garp_lower_prio_repeat = Some(At { v, span: s.span() });
                }
            }
            "lower_prio_no_advert" => {
                if let Some(v) = self.flag(s) {
                    inst.lower_prio_no_advert = Some(v);
                }
            }
            "higher_prio_send_advert" => {
                if let Some(v) = self.flag(s) {
                    inst.higher_prio_send_advert = Some(v);
                }
            }
            "v3_checksum_as_v2" => {
                if let Some(v) = self.flag(s) {
                    inst.v3_checksum_as_v2 = Some(v.v);
                }
            }
            "track_script" => {
                let list = self.track_refs(s, tracking::TrackKind::Script);
                inst.track_scripts.extend(list);
            }
            "track_file" => {
                let list = self.track_refs(s, tracking::TrackKind::File);
                inst.track_files.extend(list);
            }
            "track_process" => {
                let list = self.track_refs(s, tracking::TrackKind::Process);
                inst.track_processes.extend(list);
            }
            "notify"
            | "notify_master"
            | "notify_backup"
            | "notify_fault"
            | "notify_stop"
            | "notify_master_rx_lower_pri" => {
                if let Some(c) = self.command(s, true) {
                    inst.notify.set(s.name, c);
                }
            }
            "notify_master_change" => {
                if let Some(c) = self.command(s, true) {
                    inst.notify_master_change = Some(c);
                }
            }
            "virtual_routes" => {
                let list = self.routes_block(s);
                inst.routes.extend(list);
            }
            "virtual_rules" => {
                let list = self.rules_block(s);
                inst.rules.extend(list);
            }
            "promote_secondaries" => {
                if let Some(v) = self.flag(s) {
                    inst.promote_secondaries = v.v;
                }
            }
            "smtp_alert" => self.smtp_alert_switch(s, RawAlertObject::Instance(inst.name.clone())),
            name if instance_extra::KEYWORDS.contains(&name) => {
                self.instance_extra(&mut inst.extra, s)
            }
            _ => self.unsupported(s, Block::Instance),
        }
    }

    fn use_vmac(&mut self, inst: &mut RawInstance, s: &Stmt<'t>) {
        let name = match s.args.as_slice() {
            [] => None,
            [n] => match value::ifname(word(n)) {
                Ok(n) => Some(n),
                Err(reason) => {
                    self.d
                        .error(n.span, format!("invalid use_vmac `{}`: {reason}", word(n)));
                    return;
                }
            },
            [_, extra, ..] => {
                self.d.error_hint(
                    extra.span,
                    format!("unsupported `use_vmac` option `{}`", word(extra)),
                    "vrrpd supports `use_vmac [NAME]` only",
                );
                return;
            }
        };
        inst.use_vmac = Some(At {
            v: name,
            span: s.span(),
        });
    }

    fn vip_block(&mut self, s: &Stmt<'t>) -> Vec<At<Vip>> {
        let ctx = BlockCtx {
            name: s.name,
            span: s.span(),
        };
        let mut out = Vec::new();
        while let Some(words) = self.next_list_line(&ctx) {
            if let Some(vip) = self.vip_line(s.name, &words) {
                out.push(vip);
            }
        }
        out
    }

    fn vip_line(&mut self, kw: &str, words: &[&'t Token]) -> Option<At<Vip>> {
        let (first, rest) = words.split_first()?;
        let (addr, prefix_len) = match value::ip_prefix(word(first)) {
            Ok(v) => v,
            Err(reason) => {
                self.d.error_hint(
                    first.span,
                    format!("invalid address `{}` in `{kw}`: {reason}", word(first)),
                    "one address per line: ADDR[/LEN] [brd ADDR] [dev IF] [scope SCOPE] [label LABEL]",
                );
                return None;
            }
        };
        let mut vip = Vip {
            addr,
            prefix_len,
            broadcast: None,
            dev: None,
            scope: None,
            label: None,
        };
        let mut it = rest.iter();
        while let Some(opt) = it.next() {
            let o = word(opt);
            if !matches!(o, "brd" | "broadcast" | "dev" | "scope" | "label") {
                if keywords::refused_option(Line::VirtualIpaddress, o) {
                    self.d
                        .error(opt.span, format!("unsupported `{kw}` option `{o}`"));
                } else {
                    self.d.error_hint(
                        opt.span,
                        format!("unexpected `{o}` in `{kw}`"),
                        "one address per line: ADDR[/LEN] [brd ADDR] [dev IF] [scope SCOPE] [label LABEL]",
                    );
                }
                return None;
            }
            let Some(val) = it.next() else {
                self.d.error(opt.span, format!("`{o}` needs a value"));
                return None;
            };
            let v = word(val);
            let res = match o {
                "brd" | "broadcast" => match (addr, v.parse()) {
                    (IpAddr::V4(_), Ok(b)) => {
                        vip.broadcast = Some(b);
                        Ok(())
                    }
                    (IpAddr::V4(_), Err(_)) => Err("is not an IPv4 address".to_owned()),
                    (IpAddr::V6(_), _) => Err("`brd` is only for IPv4 addresses".to_owned()),
                },
                "dev" => value::ifname(v).map(|n| vip.dev = Some(n)),
                "scope" => value::scope(v).map(|n| vip.scope = Some(n)),
                _ => {
                    if v.is_empty() || v.len() > 15 {
                        Err("must be 1 to 15 characters".to_owned())
                    } else {
                        vip.label = Some(v.to_owned());
                        Ok(())
                    }
                }
            };
            if let Err(reason) = res {
                self.d
                    .error(val.span, format!("invalid {o} `{v}` in `{kw}`: {reason}"));
                return None;
            }
        }
        Some(At {
            v: vip,
            span: first.span,
        })
    }

    fn peer_block(&mut self, s: &Stmt<'t>) -> Vec<At<IpAddr>> {
        let ctx = BlockCtx {
            name: s.name,
            span: s.span(),
        };
        let mut out = Vec::new();
        while let Some(words) = self.next_list_line(&ctx) {
            let Some((first, rest)) = words.split_first() else {
                continue;
            };
            match value::ip(word(first)) {
                Ok(a) => {
                    if let Some(extra) = rest.first() {
                        let w = word(extra);
                        if keywords::refused_option(Line::UnicastPeer, w) {
                            self.d.error(
                                extra.span,
                                format!("unsupported `unicast_peer` option `{w}`"),
                            );
                        } else {
                            self.d.error_hint(
                                extra.span,
                                format!("unexpected `{w}` in `unicast_peer`"),
                                "one peer address per line",
                            );
                        }
                        continue;
                    }
                    out.push(At {
                        v: a,
                        span: first.span,
                    });
                }
                Err(reason) => self.d.error(
                    first.span,
                    format!(
                        "invalid address `{}` in `unicast_peer`: {reason}",
                        word(first)
                    ),
                ),
            }
        }
        out
    }

    fn track_block(&mut self, s: &Stmt<'t>) -> Vec<At<TrackInterface>> {
        let ctx = BlockCtx {
            name: s.name,
            span: s.span(),
        };
        let mut out = Vec::new();
        while let Some(words) = self.next_list_line(&ctx) {
            let Some((first, rest)) = words.split_first() else {
                continue;
            };
            let name = match value::ifname(word(first)) {
                Ok(n) => n,
                Err(reason) => {
                    self.d.error(
                        first.span,
                        format!(
                            "invalid interface `{}` in `track_interface`: {reason}",
                            word(first)
                        ),
                    );
                    continue;
                }
            };
            let (weight, reverse) = match rest {
                [] => (0, false),
                [w, n] | [w, n, _] if word(w) == "weight" => {
                    let reverse = match rest.get(2) {
                        None => false,
                        Some(r) if word(r) == "reverse" => true,
                        Some(r) if word(r) == "noreverse" => false,
                        Some(extra) => {
                            self.d.error_hint(
                                extra.span,
                                format!("unexpected `{}` in `track_interface`", word(extra)),
                                "one interface per line: IF [weight N [reverse]]",
                            );
                            continue;
                        }
                    };
                    match value::int(word(n), -253, 253) {
                        Ok(v) => (i32::try_from(v).unwrap_or(0), reverse),
                        Err(reason) => {
                            self.d
                                .error(n.span, format!("invalid weight `{}`: {reason}", word(n)));
                            continue;
                        }
                    }
                }
                [w] if word(w) == "weight" => {
                    self.d.error(w.span, "`weight` needs a value");
                    continue;
                }
                [w, _, _, extra, ..] if word(w) == "weight" => {
                    self.d.error(
                        extra.span,
                        format!("unexpected `{}` in `track_interface`", word(extra)),
                    );
                    continue;
                }
                [other, ..] => {
                    self.d.error_hint(
                        other.span,
                        format!("unexpected `{}` in `track_interface`", word(other)),
                        "one interface per line: IF [weight N [reverse]]",
                    );
                    continue;
                }
            };
            out.push(At {
                v: TrackInterface {
                    name,
                    weight,
                    reverse,
                },
                span: first.span,
            });
        }
        out
    }

    fn auth_block(&mut self, s: &Stmt<'t>) -> RawAuth {
        let ctx = BlockCtx {
            name: s.name,
            span: s.span(),
        };
        let mut auth = RawAuth {
            span: s.span(),
            auth_type: None,
            auth_pass: None,
            type_given: false,
            pass_given: false,
        };
        let mut seen = HashMap::new();
        while let Next::Stmt(a) = self.next_in_block(&ctx) {
            if keywords::lookup(Block::Auth, a.name).is_none() {
                self.unsupported(&a, Block::Auth);
                continue;
            }
            if !self.first_time(&a, Block::Auth, &mut seen) {
                continue;
            }
            if self.peek_open() {
                self.d
                    .error(a.span(), format!("`{}` does not take a block", a.name));
                self.skip_block();
                continue;
            }
            self.auth_stmt(&mut auth, &a);
        }
        auth
    }

    fn auth_stmt(&mut self, auth: &mut RawAuth, a: &Stmt<'t>) {
        match a.name {
            "auth_type" => {
                auth.type_given = true;
                if let [t] = a.args.as_slice()
                    && word(t) == "AH"
                {
                    self.d.error_hint(
                        t.span,
                        "auth_type AH is not supported",
                        "use `auth_type PASS`, or no authentication",
                    );
                    return;
                }
                if let Some(v) = self.value(a, |w| match w {
                    "PASS" => Ok("PASS".to_owned()),
                    "AH" => Err("auth_type AH is not supported".to_owned()),
                    _ => Err("must be PASS".to_owned()),
                }) {
                    auth.auth_type = Some(v);
                }
            }
            "auth_pass" => {
                auth.pass_given = true;
                if let Some(v) = self.value(a, |w| {
                    if w.is_empty() {
                        Err("must not be empty".to_owned())
                    } else {
                        Ok(w.to_owned())
                    }
                }) {
                    auth.auth_pass = Some(v);
                }
            }
            _ => self.unsupported(a, Block::Auth),
        }
    }
}

fn parse_state(w: &str) -> Result<StateKw, String> {
    match w.to_ascii_uppercase().as_str() {
        "MASTER" => Ok(StateKw::Master),
        "BACKUP" => Ok(StateKw::Backup),
        "OBSERVER" | "SLAVE" => Ok(StateKw::Observer),
        _ => Err("must be MASTER, BACKUP, OBSERVER or SLAVE".into()),
    }
}
