//! Trackers, notify hooks and sync groups: defaults, references and membership.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::diag::{Diags, SourceMap, Span};
use crate::model::{
    Command, InterfaceDelay, Notify, NotifyFifo, ParamMatch, SyncGroup, TrackFile, TrackProcess,
    TrackRef, VrrpScript,
};
use crate::parser::{
    At, Parsed, RawCmd, RawFifo, RawGlobal, RawGroup, RawNotify, RawProcess, RawScript,
    RawTrackFile, StateKw,
};
use crate::value;

pub(crate) fn command(c: &RawCmd, map: &SourceMap) -> Command {
    Command {
        argv: c.argv.clone(),
        user: c.user.clone(),
        location: map.location(c.span),
    }
}

pub(crate) fn notify(n: &RawNotify, map: &SourceMap) -> Notify {
    let c = |o: &Option<RawCmd>| o.as_ref().map(|c| command(c, map));
    Notify {
        master: c(&n.master),
        backup: c(&n.backup),
        fault: c(&n.fault),
        stop: c(&n.stop),
        any: c(&n.any),
        master_rx_lower_pri: c(&n.master_rx_lower_pri),
    }
}

pub(crate) fn fifo(
    raw: &mut RawFifo,
    kw: &str,
    map: &SourceMap,
    d: &mut Diags,
) -> Option<NotifyFifo> {
    let script = raw.script.take();
    match raw.fifo.take() {
        Some((path, owner, _)) => Some(NotifyFifo {
            path,
            owner,
            script: script.map(|c| command(&c, map)),
        }),
        None => {
            if let Some(c) = script {
                d.error_hint(
                    c.span,
                    format!("`{kw}_script` without `{kw}`"),
                    format!("the script reads the FIFO given with `{kw} PATH`"),
                );
            }
            None
        }
    }
}

/// `notify_fifo` and `vrrp_notify_fifo` with their scripts.
pub(crate) fn fifos(
    g: &mut RawGlobal,
    map: &SourceMap,
    d: &mut Diags,
) -> (Option<NotifyFifo>, Option<NotifyFifo>) {
    let span = g.vrrp_notify_fifo.fifo.as_ref().map(|f| f.2);
    let a = fifo(&mut g.notify_fifo, "notify_fifo", map, d);
    let b = fifo(&mut g.vrrp_notify_fifo, "vrrp_notify_fifo", map, d);
    if let (Some(x), Some(y), Some(span)) = (&a, &b, span)
        && x.path == y.path
    {
        d.error_hint(
            span,
            format!(
                "`vrrp_notify_fifo` {} is also the `notify_fifo`",
                y.path.display()
            ),
            "the FIFOs must differ",
        );
    }
    (a, b)
}

pub(crate) fn did_you_mean(name: &str, known: &[&str]) -> Option<String> {
    known
        .iter()
        .map(|k| (value::distance(name, k), k))
        .filter(|(dist, k)| *dist <= 2 && *dist < k.len() / 2 + 1)
        .min_by_key(|(dist, _)| *dist)
        .map(|(_, k)| format!("did you mean `{k}`?"))
}

fn check_refs(refs: &[At<TrackRef>], known: &[&str], block: &str, d: &mut Diags) {
    for r in refs {
        if !known.contains(&r.v.name.as_str()) {
            let msg = format!("unknown {block} `{}`", r.v.name);
            match did_you_mean(&r.v.name, known) {
                Some(h) => d.error_hint(r.span, msg, h),
                None => d.error_hint(
                    r.span,
                    msg,
                    format!("define it with `{block} {} {{ ... }}`", r.v.name),
                ),
            }
        }
    }
}

/// Every `track_script`/`track_file`/`track_process` line names a defined tracker.
pub(crate) fn check_references(p: &Parsed, _map: &SourceMap, d: &mut Diags) {
    let scripts: Vec<&str> = p.scripts.iter().map(|s| s.name.as_str()).collect();
    let files: Vec<&str> = p.files.iter().map(|s| s.name.as_str()).collect();
    let procs: Vec<&str> = p.processes.iter().map(|s| s.name.as_str()).collect();
    for i in &p.instances {
        check_refs(&i.track_scripts, &scripts, "vrrp_script", d);
        check_refs(&i.track_files, &files, "track_file", d);
        check_refs(&i.track_processes, &procs, "vrrp_track_process", d);
    }
    for g in &p.groups {
        check_refs(&g.track_scripts, &scripts, "vrrp_script", d);
        check_refs(&g.track_files, &files, "track_file", d);
        check_refs(&g.track_processes, &procs, "vrrp_track_process", d);
    }
}

fn unique(
    names: &mut HashMap<String, Span>,
    name: &str,
    at: Span,
    kw: &str,
    map: &SourceMap,
    d: &mut Diags,
) -> bool {
    if name.is_empty() {
        return false;
    }
    if let Some(first) = names.get(name) {
        d.error_hint(
            at,
            format!("duplicate {kw} name `{name}`"),
            format!(
                "first defined at {}:{}:{}",
                map.path(first.file).display(),
                first.line,
                first.col
            ),
        );
        return false;
    }
    names.insert(name.to_owned(), at);
    true
}

pub(crate) fn scripts(raw: Vec<RawScript>, map: &SourceMap, d: &mut Diags) -> Vec<VrrpScript> {
    let mut names = HashMap::new();
    let mut out = Vec::new();
    for s in raw {
        if !unique(&mut names, &s.name, s.name_span, "vrrp_script", map, d) {
            continue;
        }
        let Some(c) = &s.command else {
            // A refused `script` line was reported where it is written: one error.
            if s.script_given {
                continue;
            }
            d.error_hint(
                s.span,
                format!("vrrp_script `{}` has no `script`", s.name),
                "add `script \"/path/to/check arg...\"`",
            );
            continue;
        };
        let mut command = command(c, map);
        if s.user.is_some() {
            command.user = s.user.clone();
        }
        let interval = s.interval.unwrap_or(Duration::from_secs(1));
        out.push(VrrpScript {
            name: s.name,
            command,
            interval,
            timeout: s.timeout.unwrap_or(interval),
            weight: s.weight,
            reverse: s.reverse,
            rise: s.rise,
            fall: s.fall,
            init_fail: s.init_fail,
            location: map.location(s.span),
        });
    }
    out
}

pub(crate) fn files(raw: Vec<RawTrackFile>, map: &SourceMap, d: &mut Diags) -> Vec<TrackFile> {
    let mut names = HashMap::new();
    let mut out = Vec::new();
    for f in raw {
        if !unique(&mut names, &f.name, f.name_span, "track_file", map, d) {
            continue;
        }
        let Some(path) = f.path else {
            d.error_hint(
                f.span,
                format!("track_file `{}` has no `file`", f.name),
                "add `file \"/path/to/file\"`",
            );
            continue;
        };
        out.push(TrackFile {
            name: f.name,
            path,
            weight: f.weight,
            reverse: f.reverse,
            init: f.init,
            location: map.location(f.span),
        });
    }
    out
}

pub(crate) fn processes(raw: Vec<RawProcess>, map: &SourceMap, d: &mut Diags) -> Vec<TrackProcess> {
    let mut names = HashMap::new();
    let mut out = Vec::new();
    for p in raw {
        if !unique(
            &mut names,
            &p.name,
            p.name_span,
            "vrrp_track_process",
            map,
            d,
        ) {
            continue;
        }
        let Some((process, args)) = p.process else {
            d.error_hint(
                p.span,
                format!("vrrp_track_process `{}` has no `process`", p.name),
                "add `process NAME [ARGS...]`",
            );
            continue;
        };
        if let Some(m) = &p.quorum_max
            && m.v < p.quorum
        {
            d.error(
                m.span,
                format!("quorum_max {} is below quorum {}", m.v, p.quorum),
            );
            continue;
        }
        let args = if args.is_empty() && p.param_match.is_none() {
            None
        } else {
            Some(args)
        };
        let delay = p.delay.unwrap_or(Duration::ZERO);
        out.push(TrackProcess {
            name: p.name,
            process,
            args,
            param_match: p.param_match.unwrap_or(ParamMatch::Exact),
            full_command: p.full_command,
            weight: p.weight,
            reverse: p.reverse,
            quorum: p.quorum,
            quorum_max: p.quorum_max.map(|m| m.v),
            fork_delay: p.fork_delay.unwrap_or(delay),
            terminate_delay: p.terminate_delay.unwrap_or(delay),
            location: map.location(p.span),
        });
    }
    out
}

/// Sync groups: members exist, an instance is in one group at most.
pub(crate) fn groups(
    raw: Vec<RawGroup>,
    instances: &[String],
    map: &SourceMap,
    d: &mut Diags,
) -> Vec<SyncGroup> {
    let mut names = HashMap::new();
    let mut member_of: HashMap<String, (String, Span)> = HashMap::new();
    let mut out = Vec::new();
    for g in raw {
        if !unique(&mut names, &g.name, g.name_span, "vrrp_sync_group", map, d) {
            continue;
        }
        let errors_before = d.errors.len();
        if g.members.is_empty() {
            d.error_hint(
                g.span,
                format!("vrrp_sync_group `{}` has no members", g.name),
                "add `group { INSTANCE INSTANCE... }`",
            );
        }
        let mut mine = HashSet::new();
        for m in &g.members {
            if !instances.contains(&m.v) {
                let known: Vec<&str> = instances.iter().map(String::as_str).collect();
                let msg = format!("unknown vrrp_instance `{}` in sync group `{}`", m.v, g.name);
                match did_you_mean(&m.v, &known) {
                    Some(h) => d.error_hint(m.span, msg, h),
                    None => d.error(m.span, msg),
                }
            } else if !mine.insert(m.v.clone()) {
                d.error(m.span, format!("instance `{}` is listed twice", m.v));
            } else if let Some((other, at)) = member_of.get(&m.v) {
                d.error_hint(
                    m.span,
                    format!("instance `{}` is already in sync group `{other}`", m.v),
                    format!(
                        "an instance belongs to one sync group at most (see {}:{})",
                        map.path(at.file).display(),
                        at.line
                    ),
                );
            } else {
                member_of.insert(m.v.clone(), (g.name.clone(), m.span));
            }
        }
        if d.errors.len() > errors_before {
            continue;
        }
        if g.members.len() == 1 {
            d.warn(
                g.span,
                format!(
                    "vrrp_sync_group `{}` has only one instance; a group is for several",
                    g.name
                ),
            );
        }
        let refs = |v: &[At<TrackRef>]| v.iter().map(|t| t.v.clone()).collect::<Vec<_>>();
        out.push(SyncGroup {
            name: g.name.clone(),
            members: g.members.iter().map(|m| m.v.clone()).collect(),
            track_interfaces: g.track_interfaces.iter().map(|t| t.v.clone()).collect(),
            track_scripts: refs(&g.track_scripts),
            track_files: refs(&g.track_files),
            track_processes: refs(&g.track_processes),
            notify: notify(&g.notify, map),
            tracking_weight: g.tracking_weight,
            location: map.location(g.span),
        });
    }
    out
}

pub(crate) fn delays(
    raw: Vec<At<InterfaceDelay>>,
    _map: &SourceMap,
    d: &mut Diags,
) -> Vec<InterfaceDelay> {
    let mut seen: HashMap<String, Span> = HashMap::new();
    let mut out = Vec::new();
    for r in raw {
        if let Some(first) = seen.insert(r.v.interface.clone(), r.span) {
            d.warn_hint(
                r.span,
                format!(
                    "interface `{}` has up/down delays twice; the last are used",
                    r.v.interface
                ),
                format!("also on line {}", first.line),
            );
            out.retain(|x: &InterfaceDelay| x.interface != r.v.interface);
        }
        out.push(r.v);
    }
    out
}

/// Trackers of sync group members (unless the group has `sync_group_tracking_weight`) and
/// of address owners cannot change the priority. keepalived drops such a tracker with a
/// log line, so that a check the user relies on silently stops acting; vrrpd keeps it with
/// weight 0 (Fault while it fails) and says so where it is written (docs/differences.md).
pub(crate) fn check_weights(p: &mut Parsed, d: &mut Diags) {
    // The first definition of a name is the one used.
    let mut script_w: HashMap<String, i32> = HashMap::new();
    for s in &p.scripts {
        script_w.entry(s.name.clone()).or_insert(s.weight);
    }
    let mut file_w: HashMap<String, i32> = HashMap::new();
    for s in &p.files {
        file_w.entry(s.name.clone()).or_insert(s.weight);
    }
    let mut proc_w: HashMap<String, i32> = HashMap::new();
    for s in &p.processes {
        proc_w.entry(s.name.clone()).or_insert(s.weight);
    }
    let groups = &p.groups;
    for i in &mut p.instances {
        let owner = match (&i.priority, &i.state) {
            (Some(pr), _) => pr.v == 255,
            (None, Some(s)) => s.v == StateKw::Master,
            (None, None) => false,
        };
        let group = groups
            .iter()
            .find(|g| !g.tracking_weight && g.members.iter().any(|m| m.v == i.name));
        let why = if owner {
            format!(
                "instance `{}` is the address owner (priority 255), whose priority cannot change",
                i.name
            )
        } else if let Some(g) = group {
            format!(
                "instance `{}` is in sync group `{}`, whose members' trackers need weight 0",
                i.name, g.name
            )
        } else {
            continue;
        };
        let hint = if owner {
            "write `weight 0`, or give the instance a priority below 255 for a priority change"
        } else {
            "write `weight 0`, or add `sync_group_tracking_weight` to the group"
        };
        let mut zeroed: Vec<(Span, String, i32)> = Vec::new();
        for t in &mut i.track {
            if t.v.weight != 0 {
                zeroed.push((
                    t.span,
                    format!("track_interface `{}`", t.v.name),
                    t.v.weight,
                ));
                t.v.weight = 0;
            }
        }
        for (refs, table, kind) in [
            (&mut i.track_scripts, &script_w, "track_script"),
            (&mut i.track_files, &file_w, "track_file"),
            (&mut i.track_processes, &proc_w, "track_process"),
        ] {
            for r in refs.iter_mut() {
                let w = r.v.weight.or(table.get(r.v.name.as_str()).copied());
                if let Some(w) = w.filter(|w| *w != 0) {
                    zeroed.push((r.span, format!("{kind} `{}`", r.v.name), w));
                    r.v.weight = Some(0);
                }
            }
        }
        for (span, what, w) in zeroed {
            d.warn_hint(
                span,
                format!(
                    "{what} has weight {w} but {why}: it is used with weight 0 (Fault while it \
                     fails), where keepalived would ignore it"
                ),
                hint,
            );
        }
    }
}
