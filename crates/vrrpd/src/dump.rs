//! The state and statistics dumps written on SIGUSR1 and SIGUSR2 (keepalived's signals), as
//! JSON documents with a `version` field so their readers can evolve with them.

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};
use vrrp_core::Timestamp;

use crate::engine::{Engine, TimerLateness};

/// Version of the dump documents.
const DUMP_VERSION: u32 = 1;

/// SIGUSR1: what every instance is doing.
pub fn state(engine: &Engine, now: Timestamp) -> Value {
    let instances: Vec<Value> = engine
        .routers
        .iter()
        .map(|r| {
            let inst = &r.instance;
            let cfg = &r.plan.config;
            json!({
                "name": cfg.name,
                "interface": cfg.interface,
                "family": match r.plan.core.family {
                    vrrp_core::Family::Ipv4 => "ipv4",
                    vrrp_core::Family::Ipv6 => "ipv6",
                },
                "vrid": cfg.vrid,
                "version": cfg.version,
                "state": inst.state().name(),
                "priority": cfg.priority,
                "effective_priority": inst.effective_priority(),
                "source": r.plan.src.to_string(),
                "advert_interval_cs": cfg.advert_interval_cs,
                "master_adver_interval_cs": inst.master_adver_interval_cs(),
                "master_down_interval_us": u64::try_from(inst.master_down_interval().as_micros()).unwrap_or(u64::MAX),
                "skew_time_us": u64::try_from(inst.skew_time().as_micros()).unwrap_or(u64::MAX),
                "master": inst.master().map(|m| json!({
                    "address": m.address.to_string(),
                    "priority": m.priority,
                    "interval_cs": m.interval_cs,
                    "for_s": (now - m.since).as_secs_f64(),
                })),
                "vips": cfg.vips.iter().map(|v| format!("{}/{}", v.addr, v.prefix_len)).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "version": DUMP_VERSION, "instances": instances })
}

/// SIGUSR2: every instance's counters and the protocol timer's lateness.
pub fn stats(engine: &Engine) -> Value {
    let instances: Vec<Value> = engine
        .routers
        .iter()
        .map(|r| {
            let counters: serde_json::Map<String, Value> = r
                .instance
                .counters()
                .fields()
                .iter()
                .map(|(name, value)| ((*name).to_string(), json!(value)))
                .collect();
            json!({
                "name": r.plan.config.name,
                "state": r.instance.state().name(),
                "counters": counters,
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
    let mut buckets = serde_json::Map::new();
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
        "max_late_us": u64::try_from(l.max.as_micros()).unwrap_or(u64::MAX),
        "late_buckets": buckets,
    })
}

/// Writes `doc` to `path` atomically (a temporary file renamed over it), so a reader never
/// sees half a document.
pub fn write(path: &Path, doc: &Value) -> std::io::Result<()> {
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
