//! Trackers, notify hooks, sync groups, virtual routes and rules: the keywords that the
//! tracking and notify runtime uses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{At, BlockCtx, Next, Parser, Stmt, word};
use crate::diag::Span;
use crate::keywords::{self, Block, Line};
use crate::model::{
    Family, InitFile, InterfaceDelay, Location, ParamMatch, Prefix, RouteType, ScriptUser,
    TrackInterface, TrackRef, VirtualRoute, VirtualRule,
};
use crate::source::Token;
use crate::value;

/// Longest timer of the tracker keywords (seconds).
const MAX_TRACK_TIMER: u64 = u32::MAX as u64 / 1000;

/// A command as written.
#[derive(Debug, Clone)]
pub(crate) struct RawCmd {
    pub argv: Vec<String>,
    pub user: Option<ScriptUser>,
    pub span: Span,
}

/// `notify*` as written.
#[derive(Debug, Default)]
pub(crate) struct RawNotify {
    pub master: Option<RawCmd>,
    pub backup: Option<RawCmd>,
    pub fault: Option<RawCmd>,
    pub stop: Option<RawCmd>,
    pub any: Option<RawCmd>,
    pub master_rx_lower_pri: Option<RawCmd>,
}

impl RawNotify {
    pub(crate) fn set(&mut self, kw: &str, c: RawCmd) {
        let slot = match kw {
            "notify_master" => &mut self.master,
            "notify_backup" => &mut self.backup,
            "notify_fault" => &mut self.fault,
            "notify_stop" => &mut self.stop,
            "notify_master_rx_lower_pri" => &mut self.master_rx_lower_pri,
            _ => &mut self.any,
        };
        *slot = Some(c);
    }
}

/// `notify_fifo` (or `vrrp_notify_fifo`) and its script, as written.
#[derive(Debug, Default)]
pub(crate) struct RawFifo {
    pub fifo: Option<(PathBuf, Option<ScriptUser>, Span)>,
    pub script: Option<RawCmd>,
}

/// `vrrp_script NAME { }` as written.
#[derive(Debug)]
pub(crate) struct RawScript {
    pub name: String,
    pub span: Span,
    pub name_span: Span,
    pub command: Option<RawCmd>,
    /// `script` written, even with a value refused (already reported).
    pub script_given: bool,
    pub user: Option<ScriptUser>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub weight: i32,
    pub reverse: bool,
    pub rise: u32,
    pub fall: u32,
    pub init_fail: bool,
}

/// `track_file NAME { }` as written.
#[derive(Debug)]
pub(crate) struct RawTrackFile {
    pub name: String,
    pub span: Span,
    pub name_span: Span,
    pub path: Option<PathBuf>,
    pub weight: i32,
    pub reverse: bool,
    pub init: Option<InitFile>,
}

/// `vrrp_track_process NAME { }` as written.
#[derive(Debug)]
pub(crate) struct RawProcess {
    pub name: String,
    pub span: Span,
    pub name_span: Span,
    pub process: Option<(String, Vec<String>)>,
    pub param_match: Option<ParamMatch>,
    pub full_command: bool,
    pub weight: i32,
    pub reverse: bool,
    pub quorum: u32,
    pub quorum_max: Option<At<u32>>,
    pub delay: Option<Duration>,
    pub fork_delay: Option<Duration>,
    pub terminate_delay: Option<Duration>,
}

/// `vrrp_sync_group NAME { }` as written.
#[derive(Debug)]
pub(crate) struct RawGroup {
    pub name: String,
    pub span: Span,
    pub name_span: Span,
    pub members: Vec<At<String>>,
    pub group_seen: bool,
    pub track_interfaces: Vec<At<TrackInterface>>,
    pub track_scripts: Vec<At<TrackRef>>,
    pub track_files: Vec<At<TrackRef>>,
    pub track_processes: Vec<At<TrackRef>>,
    pub notify: RawNotify,
    pub tracking_weight: bool,
}

/// A `virtual_rules` line; the family is the instance's when no address tells it.
#[derive(Debug, Clone)]
pub(crate) struct RawRule {
    pub rule: VirtualRule,
    pub family_known: bool,
}

/// What a `track_*` list refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrackKind {
    Script,
    File,
    Process,
}

impl TrackKind {
    fn keyword(self) -> &'static str {
        match self {
            TrackKind::Script => "track_script",
            TrackKind::File => "track_file",
            TrackKind::Process => "track_process",
        }
    }

    fn max_weight(self) -> i64 {
        match self {
            TrackKind::Script => 253,
            TrackKind::File | TrackKind::Process => 254,
        }
    }
}

/// A script string split as keepalived does: at white space, `'...'` keeps spaces.
pub(crate) fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(d) => cur.push(d),
                        None => return Err("unterminated `'` in the command".into()),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// A routing table: a number or `main`, `local`, `default`.
fn table(s: &str) -> Result<u32, String> {
    match s {
        "main" => Ok(254),
        "local" => Ok(255),
        "default" => Ok(253),
        _ => value::int(s, 1, i64::from(u32::MAX))
            .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
            .map_err(|_| {
                "must be a table number or main, local, default (names from rt_tables are not supported)"
                    .to_owned()
            }),
    }
}

/// A route protocol: a number or a usual name.
fn proto(s: &str) -> Result<String, String> {
    const NAMES: &[&str] = &[
        "redirect",
        "kernel",
        "boot",
        "static",
        "ra",
        "dhcp",
        "keepalived",
        "bird",
        "zebra",
        "babel",
        "bgp",
        "isis",
        "ospf",
        "rip",
        "eigrp",
    ];
    if NAMES.contains(&s) || value::int(s, 0, 255).is_ok() {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "must be a number 0-255 or one of {}",
            NAMES.join(", ")
        ))
    }
}

fn u32_value(s: &str) -> Result<u32, String> {
    value::int(s, 0, i64::from(u32::MAX))
        .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
        .map_err(|_| format!("must be an integer between 0 and {}", u32::MAX))
}

/// A number as `ip` reads it (decimal or `0x` hex).
fn mark(s: &str) -> Result<u32, String> {
    match s.strip_prefix("0x").or(s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).map_err(|_| "is not a 32-bit number".to_owned()),
        None => u32_value(s),
    }
}

fn placeholder_location() -> Location {
    Location {
        file: PathBuf::new(),
        line: 0,
        column: 0,
    }
}

impl<'t> Parser<'t, '_> {
    /// `KEYWORD NAME {`: the name, when the block can be read.
    pub(super) fn named_block(&mut self, st: &Stmt<'t>) -> Option<(String, Span)> {
        let (name, name_span) = match st.args.as_slice() {
            [] => {
                self.d.error_hint(
                    st.span(),
                    format!("`{}` needs a name", st.name),
                    format!("write `{} NAME {{`", st.name),
                );
                (String::new(), st.span())
            }
            [n] => (word(n).to_owned(), n.span),
            [n, extra, ..] => {
                self.d.error(
                    extra.span,
                    format!(
                        "unexpected `{}`: a {} name is one word",
                        word(extra),
                        st.name
                    ),
                );
                (word(n).to_owned(), n.span)
            }
        };
        if !self.expect_top_open(st) {
            return None;
        }
        Some((name, name_span))
    }

    /// The next statement of a tracker block: a keyword of `block`, opening a block when the
    /// table says so, a single setting recorded once.
    pub(super) fn block_stmt(
        &mut self,
        ctx: &BlockCtx<'_>,
        block: Block,
        seen: &mut HashMap<String, Span>,
    ) -> Option<Option<Stmt<'t>>> {
        let Next::Stmt(s) = self.next_in_block(ctx) else {
            return None;
        };
        if keywords::lookup(block, s.name).is_none() {
            self.unsupported(&s, block);
            return Some(None);
        }
        if keywords::opens_block(block, s.name) {
            self.no_args(&s);
        }
        if !self.keyword_shape(&s, block, seen) {
            return Some(None);
        }
        Some(Some(s))
    }

    /// `USER [GROUP]`, `USER:GROUP` or `USER :GROUP`.
    pub(super) fn user_of(&mut self, toks: &[&'t Token], kw: &str, at: Span) -> Option<ScriptUser> {
        let (user, group) = match toks {
            [] => {
                self.d.error(at, format!("`{kw}` needs a user name"));
                return None;
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
                    format!("unexpected `{}` after `{kw} USER GROUP`", word(extra)),
                );
                return None;
            }
        };
        if user.is_empty() || group.as_deref() == Some("") {
            self.d.error(at, format!("`{kw}` needs `USER [GROUP]`"));
            return None;
        }
        Some(ScriptUser { user, group })
    }

    /// `KW SCRIPT [USER [GROUP]]` (`with_user`), or `KW COMMAND WORDS...`.
    pub(super) fn command(&mut self, s: &Stmt<'t>, with_user: bool) -> Option<RawCmd> {
        let Some((first, rest)) = s.args.split_first() else {
            self.d.error_hint(
                s.span(),
                format!("`{}` needs a command", s.name),
                format!("write `{} \"/path/to/script arg...\"`", s.name),
            );
            return None;
        };
        let words: &[&Token] = if with_user {
            std::slice::from_ref(first)
        } else {
            &s.args
        };
        let mut argv = Vec::new();
        for t in words {
            if t.dq {
                match shell_split(word(t)) {
                    Ok(v) => argv.extend(v),
                    Err(msg) => {
                        self.d.error(t.span, msg);
                        return None;
                    }
                }
            } else {
                argv.push(word(t).to_owned());
            }
        }
        if argv.first().is_none_or(String::is_empty) {
            self.d.error(
                first.span,
                format!("`{}` needs a non-empty command", s.name),
            );
            return None;
        }
        let user = if with_user && !rest.is_empty() {
            if let Some(extra) = rest.get(2) {
                self.d.error_hint(
                    extra.span,
                    format!("unexpected `{}` after `{} SCRIPT USER GROUP`", word(extra), s.name),
                    format!(
                        "quote the script with its arguments: `{} \"/path/script arg\" [USER [GROUP]]`",
                        s.name
                    ),
                );
                return None;
            }
            Some(self.user_of(rest, s.name, s.span())?)
        } else {
            None
        };
        Some(RawCmd {
            argv,
            user,
            span: s.span(),
        })
    }

    /// `weight N [reverse]` in a tracker block.
    pub(super) fn weight_reverse(&mut self, s: &Stmt<'t>, max: i64) -> Option<(i32, bool)> {
        let (n, reverse) = match s.args.as_slice() {
            [] => {
                self.d.error(s.span(), "`weight` needs a value");
                return None;
            }
            [n] => (n, false),
            [n, r] if matches!(word(r), "reverse" | "noreverse") => (n, word(r) == "reverse"),
            [_, extra, ..] => {
                self.d.error_hint(
                    extra.span,
                    format!("unexpected `{}` after the weight", word(extra)),
                    "write `weight N [reverse]`",
                );
                return None;
            }
        };
        match value::int(word(n), -max, max) {
            Ok(v) => Some((i32::try_from(v).unwrap_or(0), reverse)),
            Err(reason) => {
                self.d
                    .error(n.span, format!("invalid weight `{}`: {reason}", word(n)));
                None
            }
        }
    }

    pub(super) fn count(&mut self, s: &Stmt<'t>, min: i64) -> Option<u32> {
        self.value(s, |w| value::int(w, min, i64::from(u32::MAX)))
            .map(|v| u32::try_from(v.v).unwrap_or(u32::MAX))
    }

    fn track_timer(&mut self, s: &Stmt<'t>, positive: bool) -> Option<Duration> {
        let v = self.value(s, |w| value::timer(w, MAX_TRACK_TIMER))?;
        if positive && v.v.is_zero() {
            self.d.error(
                v.span,
                format!("invalid {} `0`: must be more than 0", s.name),
            );
            return None;
        }
        Some(v.v)
    }

    pub(super) fn vrrp_script(&mut self, st: &Stmt<'t>) {
        let Some((name, name_span)) = self.named_block(st) else {
            return;
        };
        let mut raw = RawScript {
            name,
            span: st.span(),
            name_span,
            command: None,
            script_given: false,
            user: None,
            interval: None,
            timeout: None,
            weight: 0,
            reverse: false,
            rise: 1,
            fall: 1,
            init_fail: false,
        };
        let ctx = BlockCtx {
            name: "vrrp_script",
            span: st.span(),
        };
        let mut seen = HashMap::new();
        while let Some(s) = self.block_stmt(&ctx, Block::Script, &mut seen) {
            let Some(s) = s else { continue };
            match s.name {
                "script" => {
                    raw.script_given = true;
                    if let Some(c) = self.command(&s, false) {
                        raw.command = Some(c);
                    }
                }
                "interval" => raw.interval = self.track_timer(&s, true).or(raw.interval),
                "timeout" => raw.timeout = self.track_timer(&s, true).or(raw.timeout),
                "weight" => {
                    if let Some((w, r)) = self.weight_reverse(&s, 253) {
                        raw.weight = w;
                        raw.reverse = r;
                    }
                }
                "rise" => raw.rise = self.count(&s, 1).unwrap_or(raw.rise),
                "fall" => raw.fall = self.count(&s, 1).unwrap_or(raw.fall),
                "user" => {
                    if let Some(u) = self.user_of(&s.args, "user", s.span()) {
                        raw.user = Some(u);
                    }
                }
                "init_fail" => {
                    if let Some(v) = self.flag(&s) {
                        raw.init_fail = v.v;
                    }
                }
                _ => self.unsupported(&s, Block::Script),
            }
        }
        self.scripts.push(raw);
    }

    pub(super) fn track_file_block(&mut self, st: &Stmt<'t>) {
        let Some((name, name_span)) = self.named_block(st) else {
            return;
        };
        let mut raw = RawTrackFile {
            name,
            span: st.span(),
            name_span,
            path: None,
            weight: 1,
            reverse: false,
            init: None,
        };
        let ctx = BlockCtx {
            name: st.name,
            span: st.span(),
        };
        let mut seen = HashMap::new();
        while let Some(s) = self.block_stmt(&ctx, Block::TrackFile, &mut seen) {
            let Some(s) = s else { continue };
            match s.name {
                "file" => {
                    if let Some(v) = self.value(&s, |w| {
                        if w.is_empty() {
                            Err("must not be empty".to_owned())
                        } else {
                            Ok(PathBuf::from(w))
                        }
                    }) {
                        raw.path = Some(v.v);
                    }
                }
                "weight" => {
                    if let Some((w, r)) = self.weight_reverse(&s, 254) {
                        raw.weight = w;
                        raw.reverse = r;
                    }
                }
                "init_file" => {
                    let mut init = InitFile {
                        value: 0,
                        overwrite: false,
                    };
                    let mut ok = true;
                    for (i, a) in s.args.iter().enumerate() {
                        let w = word(a);
                        if w == "overwrite" {
                            init.overwrite = true;
                        } else if i == 0 {
                            match value::int(w, i64::from(i32::MIN), i64::from(i32::MAX)) {
                                Ok(v) => init.value = v,
                                Err(reason) => {
                                    self.d.error(
                                        a.span,
                                        format!("invalid init_file value `{w}`: {reason}"),
                                    );
                                    ok = false;
                                }
                            }
                        } else {
                            self.d.error_hint(
                                a.span,
                                format!("unexpected `{w}` in `init_file`"),
                                "write `init_file [VALUE] [overwrite]`",
                            );
                            ok = false;
                        }
                    }
                    if ok {
                        raw.init = Some(init);
                    }
                }
                _ => self.unsupported(&s, Block::TrackFile),
            }
        }
        self.files.push(raw);
    }

    pub(super) fn track_process_block(&mut self, st: &Stmt<'t>) {
        let Some((name, name_span)) = self.named_block(st) else {
            return;
        };
        let mut raw = RawProcess {
            name,
            span: st.span(),
            name_span,
            process: None,
            param_match: None,
            full_command: false,
            weight: 0,
            reverse: false,
            quorum: 1,
            quorum_max: None,
            delay: None,
            fork_delay: None,
            terminate_delay: None,
        };
        let ctx = BlockCtx {
            name: "vrrp_track_process",
            span: st.span(),
        };
        let mut seen = HashMap::new();
        while let Some(s) = self.block_stmt(&ctx, Block::Process, &mut seen) {
            let Some(s) = s else { continue };
            match s.name {
                "process" => match s.args.split_first() {
                    Some((p, args)) if !word(p).is_empty() => {
                        raw.process = Some((
                            word(p).to_owned(),
                            args.iter().map(|a| word(a).to_owned()).collect(),
                        ));
                    }
                    _ => self.d.error(s.span(), "`process` needs a process name"),
                },
                "param_match" => {
                    if let Some(v) = self.value(&s, |w| match w {
                        "initial" => Ok(ParamMatch::Initial),
                        "partial" => Ok(ParamMatch::Partial),
                        _ => Err("must be initial or partial".to_owned()),
                    }) {
                        raw.param_match = Some(v.v);
                    }
                }
                "full_command" => {
                    if let Some(v) = self.flag(&s) {
                        raw.full_command = v.v;
                    }
                }
                "weight" => {
                    if let Some((w, r)) = self.weight_reverse(&s, 254) {
                        raw.weight = w;
                        raw.reverse = r;
                    }
                }
                "quorum" => raw.quorum = self.count(&s, 1).unwrap_or(raw.quorum),
                "quorum_max" => {
                    if let Some(v) = self.count(&s, 0) {
                        raw.quorum_max = Some(At {
                            v,
                            span: s.args.first().map_or(s.span(), |a| a.span),
                        });
                    }
                }
                "delay" => raw.delay = self.track_timer(&s, false).or(raw.delay),
                "fork_delay" => raw.fork_delay = self.track_timer(&s, false).or(raw.fork_delay),
                "terminate_delay" => {
                    raw.terminate_delay = self.track_timer(&s, false).or(raw.terminate_delay);
                }
                _ => self.unsupported(&s, Block::Process),
            }
        }
        self.processes.push(raw);
    }

    pub(super) fn sync_group(&mut self, st: &Stmt<'t>) {
        let Some((name, name_span)) = self.named_block(st) else {
            return;
        };
        let mut raw = RawGroup {
            name,
            span: st.span(),
            name_span,
            members: Vec::new(),
            group_seen: false,
            track_interfaces: Vec::new(),
            track_scripts: Vec::new(),
            track_files: Vec::new(),
            track_processes: Vec::new(),
            notify: RawNotify::default(),
            tracking_weight: false,
        };
        let ctx = BlockCtx {
            name: "vrrp_sync_group",
            span: st.span(),
        };
        let mut seen = HashMap::new();
        while let Some(s) = self.block_stmt(&ctx, Block::SyncGroup, &mut seen) {
            let Some(s) = s else { continue };
            match s.name {
                "group" => {
                    raw.group_seen = true;
                    let inner = BlockCtx {
                        name: "group",
                        span: s.span(),
                    };
                    while let Some(words) = self.next_list_line(&inner) {
                        raw.members.extend(words.iter().map(|t| At {
                            v: word(t).to_owned(),
                            span: t.span,
                        }));
                    }
                }
                "track_interface" => {
                    let list = self.track_block(&s);
                    raw.track_interfaces.extend(list);
                }
                "track_script" => {
                    let list = self.track_refs(&s, TrackKind::Script);
                    raw.track_scripts.extend(list);
                }
                "track_file" => {
                    let list = self.track_refs(&s, TrackKind::File);
                    raw.track_files.extend(list);
                }
                "track_process" => {
                    let list = self.track_refs(&s, TrackKind::Process);
                    raw.track_processes.extend(list);
                }
                "sync_group_tracking_weight" => {
                    if let Some(v) = self.flag(&s) {
                        raw.tracking_weight = v.v;
                    }
                }
                "smtp_alert" => {
                    let group = super::RawAlertObject::SyncGroup(raw.name.clone());
                    self.smtp_alert_switch(&s, group);
                }
                "global_tracking" => self.d.warn_hint(
                    s.span(),
                    "`global_tracking` is deprecated and ignored",
                    "keepalived ignores it too; use `sync_group_tracking_weight`",
                ),
                "notify" | "notify_master" | "notify_backup" | "notify_fault" | "notify_stop" => {
                    if let Some(c) = self.command(&s, true) {
                        raw.notify.set(s.name, c);
                    }
                }
                _ => self.unsupported(&s, Block::SyncGroup),
            }
        }
        self.groups.push(raw);
    }

    /// `track_script|track_file|track_process { NAME [weight N] [reverse|noreverse] }`
    pub(super) fn track_refs(&mut self, s: &Stmt<'t>, kind: TrackKind) -> Vec<At<TrackRef>> {
        let kw = kind.keyword();
        let ctx = BlockCtx {
            name: kw,
            span: s.span(),
        };
        let mut out = Vec::new();
        let syntax = if kind == TrackKind::Script {
            "one per line: NAME [weight N] [reverse|noreverse]"
        } else {
            "one per line: NAME [weight N [reverse]]"
        };
        'lines: while let Some(words) = self.next_list_line(&ctx) {
            let Some((first, rest)) = words.split_first() else {
                continue;
            };
            let mut r = TrackRef {
                name: word(first).to_owned(),
                weight: None,
                reverse: None,
            };
            let mut it = rest.iter();
            while let Some(t) = it.next() {
                match word(t) {
                    "weight" if r.weight.is_none() && r.reverse.is_none() => {
                        let Some(n) = it.next() else {
                            self.d.error(t.span, "`weight` needs a value");
                            continue 'lines;
                        };
                        let max = kind.max_weight();
                        match value::int(word(n), -max, max) {
                            Ok(v) => r.weight = Some(i32::try_from(v).unwrap_or(0)),
                            Err(reason) => {
                                self.d.error(
                                    n.span,
                                    format!("invalid weight `{}`: {reason}", word(n)),
                                );
                                continue 'lines;
                            }
                        }
                    }
                    w @ ("reverse" | "noreverse")
                        if r.reverse.is_none()
                            && (kind == TrackKind::Script || r.weight.is_some()) =>
                    {
                        r.reverse = Some(w == "reverse");
                    }
                    w => {
                        self.d
                            .error_hint(t.span, format!("unexpected `{w}` in `{kw}`"), syntax);
                        continue 'lines;
                    }
                }
            }
            out.push(At {
                v: r,
                span: first.span,
            });
        }
        out
    }

    pub(super) fn fifo(&mut self, s: &Stmt<'t>) {
        let Some((path, rest)) = s.args.split_first() else {
            self.d
                .error(s.span(), format!("`{}` needs a FIFO path", s.name));
            return;
        };
        let owner = if rest.is_empty() {
            None
        } else {
            match self.user_of(rest, s.name, s.span()) {
                Some(u) => Some(u),
                None => return,
            }
        };
        let fifo = (PathBuf::from(word(path)), owner, s.span());
        if s.name == "notify_fifo" {
            self.global.notify_fifo.fifo = Some(fifo);
        } else if s.name == "lvs_notify_fifo" {
            self.global.lvs_notify_fifo.fifo = Some(fifo);
        } else {
            self.global.vrrp_notify_fifo.fifo = Some(fifo);
        }
    }

    pub(super) fn fifo_script(&mut self, s: &Stmt<'t>) {
        let Some(c) = self.command(s, true) else {
            return;
        };
        if s.name == "notify_fifo_script" {
            self.global.notify_fifo.script = Some(c);
        } else if s.name == "lvs_notify_fifo_script" {
            self.global.lvs_notify_fifo.script = Some(c);
        } else {
            self.global.vrrp_notify_fifo.script = Some(c);
        }
    }

    pub(super) fn up_down_delays(&mut self, st: &Stmt<'t>) {
        self.no_args(st);
        if !self.expect_top_open(st) {
            return;
        }
        let ctx = BlockCtx {
            name: "interface_up_down_delays",
            span: st.span(),
        };
        while let Some(words) = self.next_list_line(&ctx) {
            let Some((first, rest)) = words.split_first() else {
                continue;
            };
            let interface = match value::ifname(word(first)) {
                Ok(n) => n,
                Err(reason) => {
                    self.d.error(
                        first.span,
                        format!("invalid interface `{}`: {reason}", word(first)),
                    );
                    continue;
                }
            };
            let mut delays = [Duration::ZERO; 2];
            if rest.is_empty() || rest.len() > 2 {
                let at = rest.get(2).map_or(first.span, |t| t.span);
                self.d.error_hint(
                    at,
                    "`interface_up_down_delays` lines are `IF DOWN_SECS [UP_SECS]`",
                    "one interface per line",
                );
                continue;
            }
            let mut ok = true;
            for (slot, t) in delays.iter_mut().zip(rest) {
                match value::timer(word(t), 255) {
                    Ok(d) => *slot = d,
                    Err(reason) => {
                        self.d
                            .error(t.span, format!("invalid delay `{}`: {reason}", word(t)));
                        ok = false;
                    }
                }
            }
            if ok {
                self.delays.push(At {
                    v: InterfaceDelay {
                        interface,
                        down: delays[0],
                        up: delays[1],
                    },
                    span: first.span,
                });
            }
        }
    }

    /// `virtual_routes { }` or `static_routes { }` (named `s.name` in errors).
    pub(super) fn routes_block(&mut self, s: &Stmt<'t>) -> Vec<At<VirtualRoute>> {
        let ctx = BlockCtx {
            name: s.name,
            span: s.span(),
        };
        let mut out = Vec::new();
        while let Some(words) = self.next_list_line(&ctx) {
            if let Some(r) = self.route_line(s.name, &words) {
                out.push(r);
            }
        }
        out
    }

    fn opt_value(
        &mut self,
        kw: &str,
        opt: &'t Token,
        val: Option<&&'t Token>,
    ) -> Option<&'t Token> {
        match val {
            Some(v) => Some(v),
            None => {
                self.d
                    .error(opt.span, format!("`{}` needs a value in `{kw}`", word(opt)));
                None
            }
        }
    }

    fn route_line(&mut self, kw: &str, words: &[&'t Token]) -> Option<At<VirtualRoute>> {
        let first = words.first()?;
        let mut kind = RouteType::Unicast;
        let mut dst: Option<(Prefix, Span)> = None;
        let mut default_at: Option<Span> = None;
        let mut via: Option<At<IpAddr>> = None;
        let mut src: Option<At<IpAddr>> = None;
        let mut r = VirtualRoute {
            kind,
            dst: Prefix {
                addr: IpAddr::from([0, 0, 0, 0]),
                len: 0,
            },
            via: None,
            dev: None,
            src: None,
            metric: None,
            table: None,
            scope: None,
            proto: None,
            location: placeholder_location(),
        };
        let mut it = words.iter().enumerate();
        while let Some((i, t)) = it.next() {
            let w = word(t);
            match w {
                "blackhole" | "unreachable" | "prohibit" if i == 0 => {
                    kind = match w {
                        "blackhole" => RouteType::Blackhole,
                        "unreachable" => RouteType::Unreachable,
                        _ => RouteType::Prohibit,
                    };
                }
                "unicast" if i == 0 => {}
                "to" | "via" | "gw" | "src" | "dev" | "oif" | "metric" | "priority"
                | "preference" | "table" | "scope" | "proto" | "protocol" => {
                    let v = self.opt_value(kw, t, it.next().map(|(_, v)| v))?;
                    let vw = word(v);
                    let res: Result<(), String> = match w {
                        "to" => match self.dst_prefix(vw) {
                            Ok(p) => {
                                if vw == "default" {
                                    default_at = Some(v.span);
                                }
                                dst = Some((p, v.span));
                                Ok(())
                            }
                            Err(e) => Err(e),
                        },
                        "via" | "gw" => value::ip(vw).map(|a| {
                            via = Some(At { v: a, span: v.span });
                        }),
                        "src" => value::ip(vw).map(|a| {
                            src = Some(At { v: a, span: v.span });
                        }),
                        "dev" | "oif" => value::ifname(vw).map(|n| r.dev = Some(n)),
                        "metric" | "priority" | "preference" => {
                            u32_value(vw).map(|n| r.metric = Some(n))
                        }
                        "table" => table(vw).map(|n| r.table = Some(n)),
                        "scope" => value::scope(vw).map(|n| r.scope = Some(n)),
                        _ => proto(vw).map(|n| r.proto = Some(n)),
                    };
                    if let Err(reason) = res {
                        self.d
                            .error(v.span, format!("invalid {w} `{vw}` in `{kw}`: {reason}"));
                        return None;
                    }
                }
                _ if keywords::refused_option(Line::VirtualRoutes, w) => {
                    self.d
                        .error(t.span, format!("unsupported `{kw}` option `{w}`"));
                    return None;
                }
                _ if dst.is_none() && (w == "default" || w.contains(['.', ':'])) => {
                    match self.dst_prefix(w) {
                        Ok(p) => {
                            if w == "default" {
                                default_at = Some(t.span);
                            }
                            dst = Some((p, t.span));
                        }
                        Err(reason) => {
                            self.d.error(
                                t.span,
                                format!("invalid destination `{w}` in `{kw}`: {reason}"),
                            );
                            return None;
                        }
                    }
                }
                _ => {
                    self.d.error_hint(
                        t.span,
                        format!("unexpected `{w}` in `{kw}`"),
                        "one route per line: [blackhole|unreachable|prohibit] [to] PREFIX [via ADDR] [dev IF] [src ADDR] [metric N] [table T] [scope S] [proto P]",
                    );
                    return None;
                }
            }
        }
        let Some((mut prefix, dst_span)) = dst else {
            self.d.error_hint(
                first.span,
                "a virtual route needs a destination",
                "write `PREFIX [via ADDR] [dev IF] ...` or `default via ADDR`",
            );
            return None;
        };
        // `default` takes the family of the gateway or the source address.
        if default_at.is_some()
            && let Some(a) = via.as_ref().or(src.as_ref())
            && a.v.is_ipv6()
        {
            prefix.addr = IpAddr::from([0u16; 8]);
        }
        let family = prefix.family();
        for (name, a) in [("via", &via), ("src", &src)] {
            if let Some(a) = a
                && Family::of(&a.v) != family
            {
                self.d.error(
                    a.span,
                    format!(
                        "`{name}` {} is not of the family of the destination {}",
                        a.v, prefix.addr
                    ),
                );
                return None;
            }
        }
        if kind != RouteType::Unicast
            && let Some(v) = &via
        {
            self.d.error(
                v.span,
                "a blackhole, unreachable or prohibit route has no gateway",
            );
            return None;
        }
        r.kind = kind;
        r.dst = prefix;
        r.via = via.map(|a| a.v);
        r.src = src.map(|a| a.v);
        let _ = dst_span;
        Some(At {
            v: r,
            span: first.span,
        })
    }

    fn dst_prefix(&self, w: &str) -> Result<Prefix, String> {
        if w == "default" {
            return Ok(Prefix {
                addr: IpAddr::from([0, 0, 0, 0]),
                len: 0,
            });
        }
        let (addr, len) = value::ip_prefix(w)?;
        Ok(Prefix { addr, len })
    }

    /// `virtual_rules { }` or `static_rules { }` (named `s.name` in errors).
    pub(super) fn rules_block(&mut self, s: &Stmt<'t>) -> Vec<At<RawRule>> {
        let ctx = BlockCtx {
            name: s.name,
            span: s.span(),
        };
        let mut out = Vec::new();
        while let Some(words) = self.next_list_line(&ctx) {
            if let Some(r) = self.rule_line(s.name, &words) {
                out.push(r);
            }
        }
        out
    }

    fn rule_line(&mut self, kw: &str, words: &[&'t Token]) -> Option<At<RawRule>> {
        let first = words.first()?;
        let mut rule = VirtualRule {
            from: None,
            to: None,
            table: 0,
            priority: None,
            iif: None,
            oif: None,
            fwmark: None,
            fwmask: None,
            family: Family::Ipv4,
            location: placeholder_location(),
        };
        let mut table_set = false;
        let mut family: Option<(Family, Span)> = None;
        let mut it = words.iter();
        while let Some(t) = it.next() {
            let w = word(t);
            match w {
                "from" | "to" | "table" | "lookup" | "priority" | "preference" | "pref" | "iif"
                | "dev" | "oif" | "fwmark" => {
                    let v = self.opt_value(kw, t, it.next())?;
                    let vw = word(v);
                    let res: Result<(), String> = match w {
                        "from" | "to" => {
                            if vw == "all" {
                                Ok(())
                            } else {
                                value::ip_prefix(vw).and_then(|(addr, len)| {
                                    let f = Family::of(&addr);
                                    match family {
                                        Some((g, _)) if g != f => {
                                            Err("is not of the family of the other address"
                                                .to_owned())
                                        }
                                        _ => {
                                            family = Some((f, v.span));
                                            let p = Some(Prefix { addr, len });
                                            if w == "from" {
                                                rule.from = p;
                                            } else {
                                                rule.to = p;
                                            }
                                            Ok(())
                                        }
                                    }
                                })
                            }
                        }
                        "table" | "lookup" => table(vw).map(|n| {
                            rule.table = n;
                            table_set = true;
                        }),
                        "priority" | "preference" | "pref" => {
                            u32_value(vw).map(|n| rule.priority = Some(n))
                        }
                        "iif" | "dev" => value::ifname(vw).map(|n| rule.iif = Some(n)),
                        "oif" => value::ifname(vw).map(|n| rule.oif = Some(n)),
                        _ => {
                            let (m, mask) = match vw.split_once('/') {
                                Some((m, k)) => (m, Some(k)),
                                None => (vw, None),
                            };
                            mark(m).and_then(|m| {
                                rule.fwmark = Some(m);
                                match mask {
                                    Some(k) => mark(k).map(|k| rule.fwmask = Some(k)),
                                    None => Ok(()),
                                }
                            })
                        }
                    };
                    if let Err(reason) = res {
                        self.d
                            .error(v.span, format!("invalid {w} `{vw}` in `{kw}`: {reason}"));
                        return None;
                    }
                }
                _ if keywords::refused_option(Line::VirtualRules, w) => {
                    self.d
                        .error(t.span, format!("unsupported `{kw}` option `{w}`"));
                    return None;
                }
                _ => {
                    self.d.error_hint(
                        t.span,
                        format!("unexpected `{w}` in `{kw}`"),
                        "one rule per line: [from PREFIX] [to PREFIX] table T [priority N] [iif IF] [oif IF] [fwmark M[/MASK]]",
                    );
                    return None;
                }
            }
        }
        if !table_set {
            self.d.error_hint(
                first.span,
                "a virtual rule needs `table`",
                "vrrpd supports rules that look up a table: `... table N`",
            );
            return None;
        }
        if let Some((f, _)) = family {
            rule.family = f;
        }
        Some(At {
            v: RawRule {
                rule,
                family_known: family.is_some(),
            },
            span: first.span,
        })
    }
}
