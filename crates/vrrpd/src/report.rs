//! What the daemon tells about itself: `vrrpctl status` / `show` answers, the metrics
//! snapshot and the dumps written on SIGUSR1 (state) and SIGUSR2 (statistics), built as the
//! typed documents of `vrrp_control` (`docs/control.md`). Every dump carries a `version` so
//! its readers can evolve with it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::UNIX_EPOCH;

use serde::Serialize;
use vrrp_control::{
    Auth, Counters, DUMP_VERSION, InstanceStats, MasterSeen, ProtocolTimer, Show, Snapshot,
    SnapshotInstance, StateDump, StatsDump, StatusLine, StatusList, Timers, Tracker, TrackerType,
    TransitionRecord,
};
use vrrp_core::{State, Timestamp};

use crate::engine::{Engine, Router, TimerLateness};

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn cidrs(vips: &[vrrp_config::Vip]) -> Vec<String> {
    vips.iter()
        .map(|v| format!("{}/{}", v.addr, v.prefix_len))
        .collect()
}

/// One line of `vrrpctl status`.
pub(crate) fn status_line(engine: &Engine, r: &Router, now: Timestamp) -> StatusLine {
    let inst = engine.instance(r);
    let cfg = &r.plan.config;
    let holds_vips = inst.state() == State::Master;
    StatusLine {
        name: cfg.name.clone(),
        interface: cfg.interface.clone(),
        family: r.plan.core.family.into(),
        vrid: cfg.vrid,
        version: cfg.version,
        state: inst.state().into(),
        priority: inst.effective_priority(),
        configured_priority: cfg.priority,
        operator_priority: engine.node.operator_priority(r.id),
        maintenance: inst.maintenance(),
        master: inst.master().map(|m| MasterSeen {
            address: m.address,
            priority: m.priority,
        }),
        in_state_s: (now - r.state_since).as_secs_f64(),
        vips: if holds_vips {
            cfg.vips
                .iter()
                .chain(&cfg.excluded_vips)
                .map(|v| format!("{}/{}", v.addr, v.prefix_len))
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// `vrrpctl status`: one line per instance.
pub(crate) fn status(engine: &Engine, now: Timestamp) -> StatusList {
    StatusList {
        instances: engine
            .routers
            .iter()
            .map(|r| status_line(engine, r, now))
            .collect(),
    }
}

/// `vrrpctl show INSTANCE`: everything the daemon knows about one instance.
pub(crate) fn show(engine: &Engine, r: &Router, now: Timestamp) -> Show {
    let inst = engine.instance(r);
    let cfg = &r.plan.config;
    Show {
        status: status_line(engine, r, now),
        source: r.plan.src,
        preempt: cfg.preempt,
        preempt_delay_s: cfg.preempt_delay.as_secs_f64(),
        accept: cfg.accept,
        auth: if cfg.auth.is_some() {
            Auth::Pass
        } else {
            Auth::None
        },
        unicast_peers: cfg.unicast_peers.clone(),
        virtual_mac_interface: r.plan.vmac.as_ref().map(|v| v.name.clone()),
        checksum_form: r.plan.core.checksum_form.into(),
        configured_vips: cidrs(&cfg.vips),
        excluded_vips: cidrs(&cfg.excluded_vips),
        timers: Timers {
            advert_interval_cs: cfg.advert_interval_cs,
            master_adver_interval_cs: inst.master_adver_interval_cs(),
            master_down_interval_us: micros(inst.master_down_interval()),
            skew_time_us: micros(inst.skew_time()),
            next_deadline_in_us: inst.poll_timeout().map(|t| micros(t - now)),
        },
        master_since_s: inst.master().map(|m| (now - m.since).as_secs_f64()),
        trackers: trackers(engine, r),
        master_changes: r.master_changes,
        counters: counters(engine, r),
        transitions: r
            .history
            .iter()
            .map(|t| TransitionRecord {
                ago_s: (now - t.at).as_secs_f64(),
                unix_time: t
                    .wall
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0),
                from: t.from.into(),
                to: t.to.into(),
                reason: t.reason.name().to_string(),
            })
            .collect(),
        protocol_timer: lateness(&engine.lateness),
    }
}

fn counters(engine: &Engine, r: &Router) -> Counters {
    *engine.instance(r).counters()
}

/// The metrics endpoint's snapshot: `status` lines with counters, trackers and master changes.
pub(crate) fn metrics(engine: &Engine, now: Timestamp) -> Snapshot {
    Snapshot {
        instances: engine
            .routers
            .iter()
            .map(|r| SnapshotInstance {
                status: status_line(engine, r, now),
                counters: counters(engine, r),
                master_changes: r.master_changes,
                trackers: trackers(engine, r),
            })
            .collect(),
    }
}

fn trackers(engine: &Engine, r: &Router) -> Vec<Tracker> {
    let interfaces = engine
        .node
        .tracked_interfaces(r.id)
        .into_iter()
        .map(|(t, up)| Tracker {
            kind: TrackerType::Interface,
            name: t.name.clone(),
            weight: t.weight,
            reverse: t.reverse,
            up: Some(up),
            value: None,
        });
    let others = r.plan.trackers.iter().map(|t| {
        let (up, value) = match engine.node.tracker_state(&t.key) {
            vrrp_track::TrackState::Up => (Some(true), None),
            vrrp_track::TrackState::Down => (Some(false), None),
            vrrp_track::TrackState::Value(v) => (Some(v == 0), Some(v)),
            vrrp_track::TrackState::Pending => (None, None),
            vrrp_track::TrackState::Missing => (Some(false), None),
        };
        Tracker {
            kind: t.key.kind.into(),
            name: t.key.name.clone(),
            weight: t.weight,
            reverse: t.reverse,
            up,
            value: Some(value),
        }
    });
    interfaces.chain(others).collect()
}

/// SIGUSR1: the `show` document of every instance.
pub(crate) fn state(engine: &Engine, now: Timestamp) -> StateDump {
    StateDump {
        version: DUMP_VERSION,
        instances: engine
            .routers
            .iter()
            .map(|r| show(engine, r, now))
            .collect(),
    }
}

/// SIGUSR2: every instance's counters and the protocol timer's lateness.
pub(crate) fn stats(engine: &Engine) -> StatsDump {
    StatsDump {
        version: DUMP_VERSION,
        instances: engine
            .routers
            .iter()
            .map(|r| InstanceStats {
                name: r.plan.config.name.clone(),
                state: engine.instance(r).state().into(),
                counters: counters(engine, r),
            })
            .collect(),
        protocol_timer: lateness(&engine.lateness),
    }
}

fn lateness(l: &TimerLateness) -> ProtocolTimer {
    let mean_us = if l.fired == 0 {
        0.0
    } else {
        l.total.as_secs_f64() * 1e6 / l.fired as f64
    };
    let mut buckets = BTreeMap::new();
    for (i, count) in l.buckets.iter().enumerate() {
        let label = match TimerLateness::BOUNDS_MICROS.get(i) {
            Some(bound) => format!("le_{bound}us"),
            None => "more".to_string(),
        };
        buckets.insert(label, *count);
    }
    let busy = crate::busy::snapshot();
    let mut busy_buckets = BTreeMap::new();
    for (i, count) in busy.buckets.iter().enumerate() {
        let label = match crate::busy::BUCKETS.get(i) {
            Some(bound) => format!("le_{}us", (bound * 1e6).round()),
            None => "more".to_string(),
        };
        busy_buckets.insert(label, *count);
    }
    ProtocolTimer {
        fired: l.fired,
        mean_late_us: mean_us,
        max_late_us: micros(l.max),
        late_buckets: buckets,
        busy_spans: busy.spans,
        max_busy_cpu_us: micros(busy.max_cpu),
        max_busy_wall_us: micros(busy.max_wall),
        busy_buckets,
        busy_breaths: busy.breaths,
    }
}

/// Writes `doc` to `path` atomically (a temporary file renamed over it), so a reader never
/// sees half a document.
pub(crate) fn write(path: &Path, doc: &impl Serialize) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let written = (|| {
        // Buffered: one write per token would be thousands of system calls.
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        serde_json::to_writer_pretty(&mut f, doc)?;
        f.write_all(b"\n")?;
        f.flush()
    })();
    match written {
        Ok(()) => std::fs::rename(&tmp, path),
        Err(e) => {
            // A partial file would keep what space a full disk has left.
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}
