//! The demo's client: a bash loop in the client's namespace, one curl (one connection)
//! after another to the VIP, each logged with its start and end (wall clock) and who
//! answered. The demo reads the log to count per phase.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use vrrp_testlab::{Node, Proc};

/// Requests at most, so that a forgotten client stops on its own (about 2 minutes).
const MAX_REQUESTS: u32 = 4000;

/// One request of the log, in demo time.
struct Request {
    start: f64,
    end: f64,
    /// The real server's name, `None` when the request failed.
    server: Option<String>,
}

/// What the client saw between two demo times.
pub(crate) struct Phase {
    name: String,
    seconds: f64,
    pub(crate) requests: usize,
    pub(crate) failed: usize,
    per_server: BTreeMap<String, usize>,
}

impl Phase {
    fn shares(&self) -> String {
        let ok = self.requests - self.failed;
        self.per_server
            .iter()
            .map(|(s, n)| format!("{s} {n} ({:.0}%)", 100.0 * *n as f64 / ok.max(1) as f64))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A sentence for the timeline.
    pub(crate) fn describe(&self) -> String {
        format!(
            "client, {} ({:.1} s): {} requests, {} failed; answered by {}",
            self.name,
            self.seconds,
            self.requests,
            self.failed,
            self.shares()
        )
    }

    /// A line of the summary.
    pub(crate) fn row(&self) -> String {
        format!(
            "{:<32} {:>5.1} s {:>5} req {:>4} failed  {}",
            self.name,
            self.seconds,
            self.requests,
            self.failed,
            self.shares()
        )
    }
}

pub(crate) struct Client {
    proc: Proc,
    t0_epoch: f64,
}

impl Client {
    /// Starts the loop in `node`; `t0_epoch` is the wall clock of demo time 0.
    pub(crate) fn start(node: &Node, vip: Ipv4Addr, t0_epoch: f64) -> Result<Client, String> {
        let script = format!(
            "for i in $(seq {MAX_REQUESTS}); do s=$EPOCHREALTIME; \
             r=$(curl -s --max-time 1 http://{vip}/ 2>/dev/null) || r=FAILED; \
             echo \"$s $EPOCHREALTIME ${{r:-FAILED}}\"; sleep 0.02; done"
        );
        let proc = node
            .spawn("bash", &["-c", &script], &[("LC_ALL", "C")])
            .map_err(|e| e.to_string())?;
        Ok(Client { proc, t0_epoch })
    }

    fn log(&self) -> Vec<Request> {
        let text = std::fs::read_to_string(self.proc.stdout_path()).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let mut f = line.split_whitespace();
                let start = f.next()?.parse::<f64>().ok()? - self.t0_epoch;
                let end = f.next()?.parse::<f64>().ok()? - self.t0_epoch;
                let server = f.next().filter(|s| *s != "FAILED").map(str::to_string);
                Some(Request { start, end, server })
            })
            .collect()
    }

    /// The requests that started in `[from, to)` (demo time); waits for the last of them
    /// to end.
    pub(crate) fn phase(&self, name: &str, from: f64, to: f64) -> Result<Phase, String> {
        // A request started before `to` ends within curl's timeout.
        std::thread::sleep(Duration::from_millis(1100));
        let mut phase = Phase {
            name: name.to_string(),
            seconds: to - from,
            requests: 0,
            failed: 0,
            per_server: BTreeMap::new(),
        };
        for r in self
            .log()
            .iter()
            .filter(|r| r.start >= from && r.start < to)
        {
            phase.requests += 1;
            match &r.server {
                Some(s) => *phase.per_server.entry(s.clone()).or_default() += 1,
                None => phase.failed += 1,
            }
        }
        Ok(phase)
    }

    /// When the first request that started after `t` was answered.
    pub(crate) fn first_success_after(&self, t: f64) -> Option<f64> {
        self.log()
            .iter()
            .find(|r| r.start >= t && r.server.is_some())
            .map(|r| r.end)
    }

    /// When `server` first answered a request started after `t`.
    pub(crate) fn first_answer_from(&self, server: &str, t: f64) -> Option<f64> {
        self.log()
            .iter()
            .find(|r| r.start >= t && r.server.as_deref() == Some(server))
            .map(|r| r.end)
    }

    /// The longest time without an answer between the last answer before `t` and `until`
    /// (demo times): answers are compared in the order they came.
    pub(crate) fn gap_around(&self, t: f64, until: f64) -> Option<Duration> {
        let mut answers: Vec<f64> = self
            .log()
            .iter()
            .filter(|r| r.server.is_some() && r.end <= until)
            .map(|r| r.end)
            .collect();
        answers.sort_by(f64::total_cmp);
        let first = answers.iter().rposition(|&e| e <= t)?;
        answers[first..]
            .windows(2)
            .map(|w| w[1] - w[0])
            .max_by(f64::total_cmp)
            .map(|g| Duration::from_secs_f64(g.max(0.0)))
    }

    /// Stops the loop (by its PID); the whole run as one phase.
    pub(crate) fn stop(self) -> Result<Phase, String> {
        self.proc.kill_and_wait().map_err(|e| e.to_string())?;
        self.phase("whole run", f64::MIN, f64::MAX)
    }
}
