//! Admission of clients to the control socket and the metrics endpoint, and the count of
//! every client refused or cut off (`vrrpd_clients_refused_total{endpoint,reason}`).
//!
//! Each endpoint serves at most a fixed number of clients at once, so that idle or hostile
//! clients cannot exhaust the daemon's file descriptors or memory. When it is full, the
//! client that has been idle longest (waiting for a request, or for its reader) makes room
//! for the newcomer: a thousand idle connections cannot lock an operator out. Only when no
//! client is idle (all busy, or watching) is the newcomer refused.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::sync::Notify;

/// Which listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Control,
    Metrics,
}

impl Endpoint {
    const ALL: [Endpoint; 2] = [Endpoint::Control, Endpoint::Metrics];

    fn name(self) -> &'static str {
        match self {
            Endpoint::Control => "control",
            Endpoint::Metrics => "metrics",
        }
    }
}

/// Why a client was refused, or its request or connection dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The endpoint was full and no client was idle.
    Busy,
    /// Closed to make room for a newcomer (it was the longest idle).
    Evicted,
    /// No complete request within the time allowed.
    Idle,
    /// Did not read its answer within the time allowed.
    SlowReader,
    /// A request longer than allowed.
    TooLong,
    /// A request that does not parse (answered with the error; the connection stays).
    Malformed,
    /// A peer that is neither root nor the daemon's user.
    Permission,
}

impl Refusal {
    const ALL: [Refusal; 7] = [
        Refusal::Busy,
        Refusal::Evicted,
        Refusal::Idle,
        Refusal::SlowReader,
        Refusal::TooLong,
        Refusal::Malformed,
        Refusal::Permission,
    ];

    fn name(self) -> &'static str {
        match self {
            Refusal::Busy => "busy",
            Refusal::Evicted => "evicted",
            Refusal::Idle => "idle",
            Refusal::SlowReader => "slow_reader",
            Refusal::TooLong => "too_long",
            Refusal::Malformed => "malformed",
            Refusal::Permission => "permission",
        }
    }
}

const N_REASONS: usize = Refusal::ALL.len();

static REFUSED: [AtomicU64; 2 * N_REASONS] = [const { AtomicU64::new(0) }; 2 * N_REASONS];

fn slot(endpoint: Endpoint, reason: Refusal) -> &'static AtomicU64 {
    let e = Endpoint::ALL
        .iter()
        .position(|x| *x == endpoint)
        .unwrap_or(0);
    let r = Refusal::ALL.iter().position(|x| *x == reason).unwrap_or(0);
    &REFUSED[e * N_REASONS + r]
}

/// Counts one refusal.
pub(crate) fn count(endpoint: Endpoint, reason: Refusal) {
    slot(endpoint, reason).fetch_add(1, Ordering::Relaxed);
}

/// Adds `vrrpd_clients_refused_total{endpoint,reason}` to a scrape.
pub(crate) fn register_metrics(registry: &mut Registry) {
    let family = Family::<Vec<(String, String)>, Counter>::default();
    for endpoint in Endpoint::ALL {
        for reason in Refusal::ALL {
            let labels = vec![
                ("endpoint".to_string(), endpoint.name().to_string()),
                ("reason".to_string(), reason.name().to_string()),
            ];
            family
                .get_or_create(&labels)
                .inc_by(slot(endpoint, reason).load(Ordering::Relaxed));
        }
    }
    registry.register(
        "vrrpd_clients_refused",
        "Clients of the control socket or metrics endpoint refused or cut off, by reason",
        family,
    );
}

/// The clients of one endpoint.
pub(crate) struct Gate {
    endpoint: Endpoint,
    cap: usize,
    clients: Mutex<Clients>,
}

#[derive(Default)]
struct Clients {
    active: usize,
    next_id: u64,
    /// Idle clients, longest idle first, with what tells each to go.
    idle: VecDeque<(u64, Arc<Notify>)>,
}

impl Gate {
    pub(crate) fn new(endpoint: Endpoint, cap: usize) -> Arc<Gate> {
        Arc::new(Gate {
            endpoint,
            cap,
            clients: Mutex::default(),
        })
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    fn lock(&self) -> MutexGuard<'_, Clients> {
        // The lists stay consistent between statements: a panic elsewhere cannot break them.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a newcomer (idle, until [`Ticket::busy`]), making room if needed; `None`
    /// (counted) when the endpoint is full of busy clients.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<Ticket> {
        let mut clients = self.lock();
        if clients.active >= self.cap {
            let Some((_, leave)) = clients.idle.pop_front() else {
                drop(clients);
                count(self.endpoint, Refusal::Busy);
                return None;
            };
            // A stored permit: the client sees it at its next wait.
            leave.notify_one();
        }
        clients.active += 1;
        clients.next_id += 1;
        let ticket = Ticket {
            gate: Arc::clone(self),
            id: clients.next_id,
            leave: Arc::new(Notify::new()),
        };
        clients
            .idle
            .push_back((ticket.id, Arc::clone(&ticket.leave)));
        Some(ticket)
    }
}

/// One admitted client; leaving frees its place.
pub(crate) struct Ticket {
    gate: Arc<Gate>,
    id: u64,
    leave: Arc<Notify>,
}

impl Ticket {
    /// Waiting for the client (its request, or its reading): it may be asked to make room.
    pub(crate) fn idle(&self) {
        let mut clients = self.gate.lock();
        if !clients.idle.iter().any(|(id, _)| *id == self.id) {
            clients.idle.push_back((self.id, Arc::clone(&self.leave)));
        }
    }

    /// Serving the client: it keeps its place.
    pub(crate) fn busy(&self) {
        self.gate.lock().idle.retain(|(id, _)| *id != self.id);
    }

    /// Resolves when the client must make room for a newcomer (counted here).
    pub(crate) async fn evicted(&self) {
        self.leave.notified().await;
        count(self.gate.endpoint, Refusal::Evicted);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut clients = self.gate.lock();
        clients.idle.retain(|(id, _)| *id != self.id);
        clients.active = clients.active.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_gate_evicts_the_longest_idle_and_refuses_when_all_are_busy() {
        let gate = Gate::new(Endpoint::Control, 2);
        let first = gate.admit().expect("room");
        let second = gate.admit().expect("room");
        second.busy();
        let busy_before = slot(Endpoint::Control, Refusal::Busy).load(Ordering::Relaxed);
        // Full: the idle `first` makes room.
        let third = gate.admit().expect("evicts the idle one");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(1), first.evicted())
                .await
                .expect("first is told to go");
        });
        drop(first);
        third.busy();
        // Full of busy clients: refused and counted.
        assert!(gate.admit().is_none());
        let busy_after = slot(Endpoint::Control, Refusal::Busy).load(Ordering::Relaxed);
        assert!(busy_after > busy_before);
        drop(second);
        assert!(gate.admit().is_some());
    }
}
