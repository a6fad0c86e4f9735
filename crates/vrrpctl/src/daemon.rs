//! The daemon commands: a client of vrrpd's control socket (`docs/control.md`, the contract
//! in `vrrp_control`) and the text rendering of its answers. `--json` prints the daemon's
//! `result` as it came.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use vrrp_control::{Answer, Event, Reply, Request, Show, StatusLine, StatusList, WatchLine};

/// A failed daemon command, with the message for the user.
#[derive(Debug)]
pub struct Failure(pub String);

fn connect(socket: &Path) -> Result<UnixStream, Failure> {
    let stream = UnixStream::connect(socket).map_err(|e| {
        Failure(format!(
            "cannot reach vrrpd at {}: {e} (is it running? use --socket for another path)",
            socket.display()
        ))
    })?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| Failure(e.to_string()))?;
    Ok(stream)
}

/// Sends one request and returns the daemon's `result` as it came, or its error.
pub fn request(socket: &Path, request: &Request) -> Result<Value, Failure> {
    let mut stream = connect(socket)?;
    let line = request.to_line() + "\n";
    stream
        .write_all(line.as_bytes())
        .map_err(|e| Failure(format!("cannot send to vrrpd: {e}")))?;
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    reader
        .read_line(&mut answer)
        .map_err(|e| Failure(format!("no answer from vrrpd: {e}")))?;
    parse_answer(&answer)
}

fn parse_answer(answer: &str) -> Result<Value, Failure> {
    let answer: Answer<Value> = serde_json::from_str(answer.trim())
        .map_err(|e| Failure(format!("unreadable answer from vrrpd: {e}")))?;
    answer.into_result().map_err(Failure)
}

/// Reads the `result` of an answer to `request`.
pub fn decode(request: &Request, result: Value) -> Result<Reply, Failure> {
    Reply::decode(request, result)
        .map_err(|e| Failure(format!("unreadable answer from vrrpd: {e}")))
}

/// The text of a decoded reply.
pub fn reply_text(reply: &Reply) -> String {
    match reply {
        Reply::Status(list) => status_text(list),
        Reply::Show(show) => show_text(show),
        Reply::Instance(line) => status_text(&StatusList {
            instances: vec![line.clone()],
        }),
        Reply::Reloaded(summary) => summary.to_string(),
        Reply::Watching => "watching".into(),
        Reply::Lvs(status) => crate::lvs::status_text(status),
        Reply::RealServer(rs) => crate::lvs::real_server_text(rs),
        Reply::Announce(a) => crate::lvs::announcement_line(a),
    }
}

/// Streams events until the daemon goes away; each event line goes to `out`.
pub fn watch(socket: &Path, json_output: bool, mut out: impl Write) -> Result<(), Failure> {
    let mut stream = connect(socket)?;
    stream
        .set_read_timeout(None)
        .map_err(|e| Failure(e.to_string()))?;
    stream
        .write_all((Request::Watch.to_line() + "\n").as_bytes())
        .map_err(|e| Failure(format!("cannot send to vrrpd: {e}")))?;
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    reader
        .read_line(&mut first)
        .map_err(|e| Failure(format!("no answer from vrrpd: {e}")))?;
    parse_answer(&first)?;
    for line in reader.lines() {
        let line = line.map_err(|e| Failure(format!("lost vrrpd: {e}")))?;
        let text = if json_output {
            match serde_json::from_str::<Value>(&line) {
                Ok(v) => v.get("event").cloned().unwrap_or(v).to_string(),
                Err(_) => line,
            }
        } else {
            event_line(&line)
        };
        if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

fn master_text(master: Option<(std::net::IpAddr, u8)>) -> String {
    match master {
        Some((address, priority)) => format!("{address} ({priority})"),
        None => "-".into(),
    }
}

fn line_master(i: &StatusLine) -> String {
    master_text(i.master.as_ref().map(|m| (m.address, m.priority)))
}

fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

fn list<T: ToString>(items: &[T]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.iter().map(T::to_string).collect::<Vec<_>>().join(" ")
    }
}

fn duration_text(seconds: f64) -> String {
    let secs = seconds.max(0.0) as u64;
    match secs {
        0..=59 => format!("{seconds:.1}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..=86_399 => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d{:02}h", secs / 86_400, (secs % 86_400) / 3600),
    }
}

/// `vrrpctl status`: one line per instance.
pub fn status_text(result: &StatusList) -> String {
    let mut lines = vec![format!(
        "{:<16} {:<10} {:<4} {:>4} {:>2} {:<8} {:>9} {:<24} {:>8}  {}",
        "INSTANCE",
        "INTERFACE",
        "FAM",
        "VRID",
        "V",
        "STATE",
        "PRIO",
        "MASTER (PRIO)",
        "FOR",
        "VIPS"
    )];
    for i in &result.instances {
        let mut state = i.state.name().to_string();
        if i.maintenance {
            state.push('*');
        }
        let priority = if i.priority == i.configured_priority {
            i.priority.to_string()
        } else {
            format!("{}/{}", i.priority, i.configured_priority)
        };
        lines.push(format!(
            "{:<16} {:<10} {:<4} {:>4} {:>2} {:<8} {:>9} {:<24} {:>8}  {}",
            i.name,
            i.interface,
            match i.family {
                vrrp_control::IpFamily::Ipv6 => "v6",
                vrrp_control::IpFamily::Ipv4 => "v4",
            },
            i.vrid,
            i.version,
            state,
            priority,
            line_master(i),
            duration_text(i.in_state_s),
            list(&i.vips),
        ));
    }
    lines.push("(PRIO: effective/configured when they differ; * = maintenance)".into());
    lines.join("\n")
}

/// `vrrpctl show INSTANCE`: everything, in sections.
pub fn show_text(show: &Show) -> String {
    let i = &show.status;
    let mut out = Vec::new();
    out.push(format!("Instance {}", i.name));
    out.push(format!(
        "  state            {}{} for {}",
        i.state.name(),
        if i.maintenance { " (maintenance)" } else { "" },
        duration_text(i.in_state_s)
    ));
    out.push(format!(
        "  interface        {} ({}), VRID {}, VRRPv{}, source {}",
        i.interface,
        i.family.name(),
        i.vrid,
        i.version,
        show.source
    ));
    out.push(format!(
        "  priority         {} (configured {}, operator {})",
        i.priority,
        i.configured_priority,
        or_dash(i.operator_priority)
    ));
    out.push(format!(
        "  master           {}{}",
        line_master(i),
        show.master_since_s
            .map(|t| format!(" for {}", duration_text(t)))
            .unwrap_or_default()
    ));
    out.push(format!("  VIPs held        {}", list(&i.vips)));
    out.push(format!(
        "  VIPs configured  {} (excluded: {})",
        list(&show.configured_vips),
        list(&show.excluded_vips)
    ));
    out.push(format!(
        "  preempt          {} (delay {:?}s), accept {}, auth {}, checksum {}",
        show.preempt,
        show.preempt_delay_s,
        show.accept,
        show.auth.name(),
        show.checksum_form.name()
    ));
    out.push(format!("  unicast peers    {}", list(&show.unicast_peers)));
    if let Some(v) = &show.virtual_mac_interface {
        out.push(format!("  virtual MAC if   {v}"));
    }
    let t = &show.timers;
    out.push("Timers".into());
    let us = |v: Option<u64>| {
        v.map(|v| format!("{:.3} ms", v as f64 / 1000.0))
            .unwrap_or("-".into())
    };
    out.push(format!(
        "  advert interval          {} cs",
        t.advert_interval_cs
    ));
    out.push(format!(
        "  master adver interval    {} cs (learned)",
        t.master_adver_interval_cs
    ));
    out.push(format!(
        "  master down interval     {}",
        us(Some(t.master_down_interval_us))
    ));
    out.push(format!(
        "  skew time                {}",
        us(Some(t.skew_time_us))
    ));
    out.push(format!(
        "  next deadline in         {}",
        us(t.next_deadline_in_us)
    ));
    out.push("Trackers".into());
    for t in &show.trackers {
        out.push(format!(
            "  {:<9} {:<16} weight {:>4}  {}",
            t.kind.name(),
            t.name,
            t.weight,
            if t.up == Some(true) { "up" } else { "DOWN" }
        ));
    }
    out.push("Counters (RFC 6527 names)".into());
    for (k, v) in show.counters.fields() {
        out.push(format!("  {k:<32} {v}"));
    }
    out.push("Last transitions".into());
    for t in show.transitions.iter().rev() {
        out.push(format!(
            "  {:>10} ago  {} -> {}  ({})",
            duration_text(t.ago_s),
            t.from,
            t.to,
            t.reason
        ));
    }
    let p = &show.protocol_timer;
    out.push(format!(
        "Protocol timer: {} wake-ups, mean {:.1} µs late, max {} µs",
        p.fired, p.mean_late_us, p.max_late_us
    ));
    out.push(format!(
        "Protocol thread: {} busy spans, longest {} µs of CPU ({} µs of wall time)",
        p.busy_spans, p.max_busy_cpu_us, p.max_busy_wall_us
    ));
    out.join("\n")
}

/// One `watch` event as a line of text (an event this vrrpctl does not know: its JSON).
pub fn event_line(line: &str) -> String {
    let Ok(WatchLine { event, .. }) = serde_json::from_str::<WatchLine>(line) else {
        return match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(mut v)) => v
                .remove("event")
                .map_or(line.to_string(), |e| e.to_string()),
            _ => line.to_string(),
        };
    };
    match event {
        Event::Transition {
            instance,
            from,
            to,
            reason,
            priority,
        } => format!("{instance}: {from} -> {to} ({reason}), priority {priority}"),
        Event::MasterChanged { instance, master } => format!(
            "{instance}: master is {}",
            master_text(master.map(|m| (m.address, m.priority)))
        ),
        Event::Priority {
            instance,
            priority,
            by,
        } => format!(
            "{instance}: operator priority {} (by {by})",
            or_dash(priority)
        ),
        Event::Maintenance { instance, on, by } => {
            format!("{instance}: maintenance {on} (by {by})")
        }
        Event::RealServer {
            service,
            real_server,
            up,
            reason,
        } => format!(
            "{service}: real server {real_server} {} ({reason})",
            if up { "up" } else { "down" }
        ),
        Event::Quorum {
            service,
            up,
            live_weight,
        } => format!(
            "{service}: quorum {} (live weight {live_weight})",
            if up { "up" } else { "lost" }
        ),
        Event::Lagged { missed } => format!("(missed {missed} events)"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn renders_status_and_events() {
        let result = json!({"instances": [{
            "name": "VI_1", "interface": "eth0", "family": "ipv4", "vrid": 51, "version": 3,
            "state": "BACKUP", "priority": 90, "configured_priority": 100,
            "operator_priority": null, "maintenance": true,
            "master": {"address": "10.99.0.2", "priority": 150}, "in_state_s": 75.0, "vips": []
        }]});
        let reply = decode(&Request::Status, result).expect("a status list");
        let text = reply_text(&reply);
        assert!(text.contains("VI_1"), "{text}");
        assert!(text.contains("BACKUP*"), "{text}");
        assert!(text.contains("90/100"), "{text}");
        assert!(text.contains("10.99.0.2 (150)"), "{text}");
        assert!(text.contains("1m15s"), "{text}");
        let line = event_line(
            r#"{"v":1,"event":{"type":"transition","instance":"VI_1","from":"BACKUP","to":"MASTER","reason":"master down timer expired","priority":100}}"#,
        );
        assert_eq!(
            line,
            "VI_1: BACKUP -> MASTER (master down timer expired), priority 100"
        );
        assert_eq!(
            event_line(
                r#"{"v":1,"event":{"type":"priority","instance":"VI_1","priority":null,"by":"uid 0 pid 7"}}"#
            ),
            "VI_1: operator priority - (by uid 0 pid 7)"
        );
        // An event this vrrpctl does not know is shown as it came.
        assert_eq!(
            event_line(r#"{"v":1,"event":{"type":"new","x":1}}"#),
            r#"{"type":"new","x":1}"#
        );
        assert!(parse_answer(r#"{"v":1,"ok":false,"error":"no instance named \"x\""}"#).is_err());
        assert_eq!(
            parse_answer(r#"{"v":1,"ok":true,"result":"done"}"#).ok(),
            Some(json!("done"))
        );
        let reload = decode(
            &Request::Reload,
            json!("1 unchanged, 0 updated in place, 0 re-created, 0 removed, 0 added"),
        )
        .expect("a summary");
        assert_eq!(
            reply_text(&reload),
            "1 unchanged, 0 updated in place, 0 re-created, 0 removed, 0 added"
        );
    }
}
