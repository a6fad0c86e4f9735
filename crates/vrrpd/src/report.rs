//! What the daemon tells about itself, as JSON: `vrrpctl status` / `show` answers and the
//! dumps written on SIGUSR1 (state) and SIGUSR2 (statistics). Every document carries a
//! `version` so its readers can evolve with it (`docs/control.md`).

use std::io::Write;
use std::path::Path;
use std::time::UNIX_EPOCH;

use serde_json::{Map, Value, json};
use vrrp_core::{Family, State, Timestamp};

use crate::engine::{Engine, Router, TimerLateness};

/// Version of the dump documents.
pub(crate) const DUMP_VERSION: u32 = 1;

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn family(r: &Router) -> &'static str {
    match r.plan.core.family {
        Family::Ipv4 => "ipv4",
        Family::Ipv6 => "ipv6",
    }
}

/// One line of `vrrpctl status`.
pub(crate) fn status_line(engine: &Engine, r: &Router, now: Timestamp) -> Value {
    let inst = engine.instance(r);
    let cfg = &r.plan.config;
    let holds_vips = inst.state() == State::Master;
    json!({
        "name": cfg.name,
        "interface": cfg.interface,
        "family": family(r),
        "vrid": cfg.vrid,
        "version": cfg.version,
        "state": inst.state().name(),
        "priority": inst.effective_priority(),
        "configured_priority": cfg.priority,
        "operator_priority": engine.node.operator_priority(r.id),
        "maintenance": inst.maintenance(),
        "master": inst.master().map(|m| json!({
            "address": m.address.to_string(),
            "priority": m.priority,
        })),
        "in_state_s": (now - r.state_since).as_secs_f64(),
        "vips": if holds_vips {
            cfg.vips.iter().chain(&cfg.excluded_vips).map(|v| format!("{}/{}", v.addr, v.prefix_len)).collect::<Vec<_>>()
        } else {
            Vec::new()
        },
    })
}

/// `vrrpctl status`: one line per instance.
pub(crate) fn status(engine: &Engine, now: Timestamp) -> Value {
    let instances: Vec<Value> = engine
        .routers
        .iter()
        .map(|r| status_line(engine, r, now))
        .collect();
    json!({ "instances": instances })
}

/// `vrrpctl show INSTANCE`: everything the daemon knows about one instance.
pub(crate) fn show(engine: &Engine, i: usize, now: Timestamp) -> Value {
    let Some(r) = engine.routers.get(i) else {
        return Value::Null;
    };
    let inst = engine.instance(r);
    let cfg = &r.plan.config;
    let mut doc = status_line(engine, r, now);
    let extra = json!({
        "source": r.plan.src.to_string(),
        "preempt": cfg.preempt,
        "preempt_delay_s": cfg.preempt_delay.as_secs_f64(),
        "accept": cfg.accept,
        "auth": if cfg.auth.is_some() { "PASS" } else { "none" },
        "unicast_peers": cfg.unicast_peers.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "virtual_mac_interface": r.plan.vmac.as_ref().map(|v| v.name.clone()),
        "checksum_form": r.plan.core.checksum_form.name(),
        "configured_vips": cfg.vips.iter().map(|v| format!("{}/{}", v.addr, v.prefix_len)).collect::<Vec<_>>(),
        "excluded_vips": cfg.excluded_vips.iter().map(|v| format!("{}/{}", v.addr, v.prefix_len)).collect::<Vec<_>>(),
        "timers": {
            "advert_interval_cs": cfg.advert_interval_cs,
            "master_adver_interval_cs": inst.master_adver_interval_cs(),
            "master_down_interval_us": micros(inst.master_down_interval()),
            "skew_time_us": micros(inst.skew_time()),
            "next_deadline_in_us": inst.poll_timeout().map(|t| micros(t - now)),
        },
        "master_since_s": inst.master().map(|m| (now - m.since).as_secs_f64()),
        "trackers": trackers(engine, r),
        "master_changes": r.master_changes,
        "counters": counters(engine, r),
        "transitions": r.history.iter().map(|t| json!({
            "ago_s": (now - t.at).as_secs_f64(),
            "unix_time": t.wall.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
            "from": t.from.name(),
            "to": t.to.name(),
            "reason": t.reason.name(),
        })).collect::<Vec<_>>(),
        "protocol_timer": lateness(&engine.lateness),
    });
    if let (Value::Object(base), Value::Object(more)) = (&mut doc, extra) {
        base.extend(more);
    }
    doc
}

fn counters(engine: &Engine, r: &Router) -> Map<String, Value> {
    engine
        .instance(r)
        .counters()
        .fields()
        .iter()
        .map(|(name, value)| ((*name).to_string(), json!(value)))
        .collect()
}

/// The metrics endpoint's snapshot: `status` lines with counters, trackers and master changes.
pub(crate) fn metrics(engine: &Engine, now: Timestamp) -> Value {
    let instances: Vec<Value> = engine
        .routers
        .iter()
        .map(|r| {
            let mut doc = status_line(engine, r, now);
            if let Value::Object(map) = &mut doc {
                map.insert("counters".into(), Value::Object(counters(engine, r)));
                map.insert("master_changes".into(), json!(r.master_changes));
                map.insert("trackers".into(), trackers(engine, r));
            }
            doc
        })
        .collect();
    json!({ "instances": instances })
}

fn trackers(engine: &Engine, r: &Router) -> Value {
    let interfaces = engine
        .node
        .tracked_interfaces(r.id)
        .into_iter()
        .map(|(t, up)| {
            json!({"type": "interface", "name": t.name, "weight": t.weight, "reverse": t.reverse, "up": up})
        });
    let others = r.plan.trackers.iter().map(|t| {
        let (up, value) = match engine.node.tracker_state(&t.key) {
            vrrp_track::TrackState::Up => (Some(true), None),
            vrrp_track::TrackState::Down => (Some(false), None),
            vrrp_track::TrackState::Value(v) => (Some(v == 0), Some(v)),
            vrrp_track::TrackState::Pending => (None, None),
        };
        json!({"type": t.key.kind.name(), "name": t.key.name, "weight": t.weight, "reverse": t.reverse, "up": up, "value": value})
    });
    interfaces.chain(others).collect::<Vec<_>>().into()
}

/// SIGUSR1: the `show` document of every instance.
pub(crate) fn state(engine: &Engine, now: Timestamp) -> Value {
    let instances: Vec<Value> = (0..engine.routers.len())
        .map(|i| show(engine, i, now))
        .collect();
    json!({ "version": DUMP_VERSION, "instances": instances })
}

/// SIGUSR2: every instance's counters and the protocol timer's lateness.
pub(crate) fn stats(engine: &Engine) -> Value {
    let instances: Vec<Value> = engine
        .routers
        .iter()
        .map(|r| {
            json!({
                "name": r.plan.config.name,
                "state": engine.instance(r).state().name(),
                "counters": counters(engine, r),
            })
        })
        .collect();
    json!({
        "version": DUMP_VERSION,
        "instances": instances,
        "protocol_timer": lateness(&engine.lateness),
    })
}

fn lateness(l: &TimerLateness) -> Value {
    let mean_us = if l.fired == 0 {
        0.0
    } else {
        l.total.as_secs_f64() * 1e6 / l.fired as f64
    };
    let mut buckets = Map::new();
    for (i, count) in l.buckets.iter().enumerate() {
        let label = match TimerLateness::BOUNDS_MICROS.get(i) {
            Some(bound) => format!("le_{bound}us"),
            None => "more".to_string(),
        };
        buckets.insert(label, json!(count));
    }
    json!({
        "fired": l.fired,
        "mean_late_us": mean_us,
        "max_late_us": micros(l.max),
        "late_buckets": buckets,
    })
}

/// Writes `doc` to `path` atomically (a temporary file renamed over it), so a reader never
/// sees half a document.
pub(crate) fn write(path: &Path, doc: &Value) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        serde_json::to_writer_pretty(&mut f, doc)?;
        f.write_all(b"\n")?;
    }
    std::fs::rename(&tmp, path)
}
