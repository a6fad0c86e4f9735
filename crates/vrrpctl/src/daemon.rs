//! The daemon commands: a client of vrrpd's control socket (`docs/control.md`) and the
//! text rendering of its answers. `--json` prints the daemon's `result` as it came.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

/// The protocol version this client speaks.
pub const PROTOCOL_VERSION: u64 = 1;

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

/// Sends one request and returns the daemon's `result`, or its error.
pub fn request(socket: &Path, mut body: Value) -> Result<Value, Failure> {
    if let Value::Object(map) = &mut body {
        map.insert("v".into(), json!(PROTOCOL_VERSION));
    }
    let mut stream = connect(socket)?;
    let line = body.to_string() + "\n";
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
    let value: Value = serde_json::from_str(answer.trim())
        .map_err(|e| Failure(format!("unreadable answer from vrrpd: {e}")))?;
    if value.get("ok").and_then(Value::as_bool) == Some(true) {
        Ok(value.get("result").cloned().unwrap_or(Value::Null))
    } else {
        let error = value
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown error");
        Err(Failure(error.to_string()))
    }
}

/// Streams events until the daemon goes away; each event line goes to `out`.
pub fn watch(socket: &Path, json_output: bool, mut out: impl Write) -> Result<(), Failure> {
    let mut stream = connect(socket)?;
    stream
        .set_read_timeout(None)
        .map_err(|e| Failure(e.to_string()))?;
    stream
        .write_all(format!("{{\"v\":{PROTOCOL_VERSION},\"command\":\"watch\"}}\n").as_bytes())
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

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("-")
}

fn n(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::Null) | None => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn master_text(v: &Value) -> String {
    match v.get("master") {
        Some(m) if !m.is_null() => format!("{} ({})", s(m, "address"), n(m, "priority")),
        _ => "-".into(),
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
pub fn status_text(result: &Value) -> String {
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
    let empty = Vec::new();
    for i in result
        .get("instances")
        .and_then(Value::as_array)
        .unwrap_or(&empty)
    {
        let mut state = s(i, "state").to_string();
        if i.get("maintenance").and_then(Value::as_bool) == Some(true) {
            state.push('*');
        }
        let priority = if n(i, "priority") == n(i, "configured_priority") {
            n(i, "priority")
        } else {
            format!("{}/{}", n(i, "priority"), n(i, "configured_priority"))
        };
        let vips: Vec<&str> = i
            .get("vips")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        lines.push(format!(
            "{:<16} {:<10} {:<4} {:>4} {:>2} {:<8} {:>9} {:<24} {:>8}  {}",
            s(i, "name"),
            s(i, "interface"),
            if s(i, "family") == "ipv6" { "v6" } else { "v4" },
            n(i, "vrid"),
            n(i, "version"),
            state,
            priority,
            master_text(i),
            duration_text(i.get("in_state_s").and_then(Value::as_f64).unwrap_or(0.0)),
            if vips.is_empty() {
                "-".into()
            } else {
                vips.join(" ")
            },
        ));
    }
    lines.push("(PRIO: effective/configured when they differ; * = maintenance)".into());
    lines.join("\n")
}

/// `vrrpctl show INSTANCE`: everything, in sections.
pub fn show_text(i: &Value) -> String {
    let mut out = Vec::new();
    let list = |key: &str| -> String {
        let items: Vec<String> = i
            .get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
        if items.is_empty() {
            "-".into()
        } else {
            items.join(" ")
        }
    };
    out.push(format!("Instance {}", s(i, "name")));
    out.push(format!(
        "  state            {}{} for {}",
        s(i, "state"),
        if i.get("maintenance").and_then(Value::as_bool) == Some(true) {
            " (maintenance)"
        } else {
            ""
        },
        duration_text(i.get("in_state_s").and_then(Value::as_f64).unwrap_or(0.0))
    ));
    out.push(format!(
        "  interface        {} ({}), VRID {}, VRRPv{}, source {}",
        s(i, "interface"),
        s(i, "family"),
        n(i, "vrid"),
        n(i, "version"),
        s(i, "source")
    ));
    out.push(format!(
        "  priority         {} (configured {}, operator {})",
        n(i, "priority"),
        n(i, "configured_priority"),
        n(i, "operator_priority")
    ));
    out.push(format!(
        "  master           {}{}",
        master_text(i),
        i.get("master_since_s")
            .and_then(Value::as_f64)
            .map(|t| format!(" for {}", duration_text(t)))
            .unwrap_or_default()
    ));
    out.push(format!("  VIPs held        {}", list("vips")));
    out.push(format!(
        "  VIPs configured  {} (excluded: {})",
        list("configured_vips"),
        list("excluded_vips")
    ));
    out.push(format!(
        "  preempt          {} (delay {}s), accept {}, auth {}, checksum {}",
        n(i, "preempt"),
        n(i, "preempt_delay_s"),
        n(i, "accept"),
        s(i, "auth"),
        s(i, "checksum_form")
    ));
    out.push(format!("  unicast peers    {}", list("unicast_peers")));
    if let Some(v) = i.get("virtual_mac_interface").and_then(Value::as_str) {
        out.push(format!("  virtual MAC if   {v}"));
    }
    if let Some(t) = i.get("timers") {
        out.push("Timers".into());
        let us = |k: &str| {
            t.get(k)
                .and_then(Value::as_u64)
                .map(|v| format!("{:.3} ms", v as f64 / 1000.0))
                .unwrap_or("-".into())
        };
        out.push(format!(
            "  advert interval          {} cs",
            n(t, "advert_interval_cs")
        ));
        out.push(format!(
            "  master adver interval    {} cs (learned)",
            n(t, "master_adver_interval_cs")
        ));
        out.push(format!(
            "  master down interval     {}",
            us("master_down_interval_us")
        ));
        out.push(format!("  skew time                {}", us("skew_time_us")));
        out.push(format!(
            "  next deadline in         {}",
            us("next_deadline_in_us")
        ));
    }
    if let Some(trackers) = i.get("trackers").and_then(Value::as_array) {
        out.push("Trackers".into());
        for t in trackers {
            out.push(format!(
                "  {:<9} {:<16} weight {:>4}  {}",
                s(t, "type"),
                s(t, "name"),
                n(t, "weight"),
                if t.get("up").and_then(Value::as_bool) == Some(true) {
                    "up"
                } else {
                    "DOWN"
                }
            ));
        }
    }
    if let Some(Value::Object(counters)) = i.get("counters") {
        out.push("Counters (RFC 6527 names)".into());
        for (k, v) in counters {
            out.push(format!("  {k:<32} {v}"));
        }
    }
    if let Some(transitions) = i.get("transitions").and_then(Value::as_array) {
        out.push("Last transitions".into());
        for t in transitions.iter().rev() {
            out.push(format!(
                "  {:>10} ago  {} -> {}  ({})",
                duration_text(t.get("ago_s").and_then(Value::as_f64).unwrap_or(0.0)),
                s(t, "from"),
                s(t, "to"),
                s(t, "reason")
            ));
        }
    }
    if let Some(p) = i.get("protocol_timer") {
        out.push(format!(
            "Protocol timer: {} wake-ups, mean {:.1} µs late, max {} µs",
            n(p, "fired"),
            p.get("mean_late_us").and_then(Value::as_f64).unwrap_or(0.0),
            n(p, "max_late_us")
        ));
    }
    out.join("\n")
}

/// One `watch` event as a line of text.
pub fn event_line(line: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return line.to_string();
    };
    let Some(e) = v.get("event") else {
        return line.to_string();
    };
    match s(e, "type") {
        "transition" => format!(
            "{}: {} -> {} ({}), priority {}",
            s(e, "instance"),
            s(e, "from"),
            s(e, "to"),
            s(e, "reason"),
            n(e, "priority")
        ),
        "master_changed" => format!("{}: master is {}", s(e, "instance"), master_text(e)),
        "priority" => format!(
            "{}: operator priority {} (by {})",
            s(e, "instance"),
            n(e, "priority"),
            s(e, "by")
        ),
        "maintenance" => format!(
            "{}: maintenance {} (by {})",
            s(e, "instance"),
            n(e, "on"),
            s(e, "by")
        ),
        "lagged" => format!("(missed {} events)", n(e, "missed")),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_status_and_events() {
        let result = json!({"instances": [{
            "name": "VI_1", "interface": "eth0", "family": "ipv4", "vrid": 51, "version": 3,
            "state": "BACKUP", "priority": 90, "configured_priority": 100, "maintenance": true,
            "master": {"address": "10.99.0.2", "priority": 150}, "in_state_s": 75.0, "vips": []
        }]});
        let text = status_text(&result);
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
        assert!(parse_answer(r#"{"v":1,"ok":false,"error":"no instance named \"x\""}"#).is_err());
        assert_eq!(
            parse_answer(r#"{"v":1,"ok":true,"result":"done"}"#).ok(),
            Some(json!("done"))
        );
    }
}
