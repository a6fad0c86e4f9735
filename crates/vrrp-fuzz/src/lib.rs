//! Seeded, bounded fuzzing of vrrpd's parsers, on stable Rust, as ordinary tests
//! (cargo-fuzz needs nightly). A target is a corpus committed beside its crate's tests, a
//! dictionary of its format's tokens and a check that runs one input and states its
//! properties (panicking when one fails); [`Campaign::run`] replays the corpus, then runs
//! the check on seeded mutants of it ([`Mutator`]) within a count and a time cap.
//!
//! Environment (docs/reliability.md, "Fuzzing"):
//! - `VRRPD_FUZZ_SEED`: the seed (decimal or `0x` hex), mixed with the target's name;
//! - `VRRPD_FUZZ_SCALE`: multiplies each target's count and time cap (default 1: a few
//!   seconds per target in a debug build);
//! - `VRRPD_FUZZ_HANG_SECS`: how long one input may run before the process aborts with it
//!   (default 60);
//! - `VRRPD_FUZZ_SHOW_SLOWEST`: print the slowest input in hex.
//!
//! A failing input is printed in hex with the seed, ready to be added to the corpus.

mod mutate;
mod rng;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use mutate::Mutator;
pub use rng::Rng;

/// The seed when `VRRPD_FUZZ_SEED` is not set.
pub const DEFAULT_SEED: u64 = 0x5eed_1e55_c0de_0013;

/// One fuzz target's run: its name, count and time cap.
#[derive(Clone, Debug)]
pub struct Campaign {
    /// The target's name (it also varies the seed between targets).
    pub name: String,
    /// The seed, after mixing with the name.
    pub seed: u64,
    /// How many mutants to run.
    pub mutants: u64,
    /// When to stop even if not all mutants ran.
    pub time_cap: Duration,
    /// How long one input may run.
    pub hang: Duration,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Inputs run: the corpus, then the mutants.
    pub executions: u64,
    /// How often each outcome (the checks' labels) was reached.
    pub outcomes: BTreeMap<String, u64>,
    /// Whether the time cap stopped the run before its count.
    pub capped: bool,
    /// How long it took.
    pub elapsed: Duration,
    /// The longest time one input took, and that input (a slow input may be a near-hang).
    pub slowest: (Duration, Vec<u8>),
}

impl Report {
    /// How often the outcome `label` was reached.
    pub fn count(&self, label: &str) -> u64 {
        self.outcomes.get(label).copied().unwrap_or(0)
    }

    /// How often an outcome starting with `prefix` was reached.
    pub fn count_prefix(&self, prefix: &str) -> u64 {
        self.outcomes
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }
}

impl Campaign {
    /// A target named `name` running `mutants` mutants (times `VRRPD_FUZZ_SCALE`), capped
    /// at `secs` seconds (times the scale too).
    pub fn new(name: &str, mutants: u64, secs: u64) -> Campaign {
        let scale = env_f64("VRRPD_FUZZ_SCALE").unwrap_or(1.0).max(0.0);
        let base = std::env::var("VRRPD_FUZZ_SEED")
            .ok()
            .and_then(|s| parse_seed(&s))
            .unwrap_or(DEFAULT_SEED);
        Campaign {
            name: name.to_string(),
            seed: base ^ fnv1a(name.as_bytes()),
            mutants: (mutants as f64 * scale) as u64,
            time_cap: Duration::from_secs_f64(secs as f64 * scale.max(1.0)),
            hang: Duration::from_secs_f64(env_f64("VRRPD_FUZZ_HANG_SECS").unwrap_or(60.0)),
        }
    }

    /// Runs `check` on every corpus entry, then on mutants of them, and returns what it
    /// did. `check` returns a label for the outcome (`"ok"`, an error kind) and panics
    /// when a property fails; the panic is re-raised after the input is printed.
    pub fn run(
        &self,
        corpus: &[Vec<u8>],
        mutator: &Mutator,
        mut check: impl FnMut(&[u8]) -> String,
    ) -> Report {
        assert!(!corpus.is_empty(), "{}: empty corpus", self.name);
        eprintln!(
            "fuzz {}: seed {:#018x}, {} corpus entries, {} mutants, cap {:?}",
            self.name,
            self.seed,
            corpus.len(),
            self.mutants,
            self.time_cap
        );
        let watch = Watchdog::start(self);
        let started = Instant::now();
        let mut report = Report::default();
        let mut rng = Rng::new(self.seed);
        let replay = corpus.iter().map(|c| (c.clone(), None));
        let mutants = (0..self.mutants).map(|i| {
            let at = (i % corpus.len() as u64) as usize;
            (mutator.mutate(&mut rng, &corpus[at]), Some((i, at)))
        });
        for (input, origin) in replay.chain(mutants) {
            if origin.is_some() && started.elapsed() > self.time_cap {
                report.capped = true;
                break;
            }
            watch.enter(&input);
            let one = Instant::now();
            match catch_unwind(AssertUnwindSafe(|| check(&input))) {
                Ok(label) => *report.outcomes.entry(label).or_default() += 1,
                Err(panic) => {
                    eprintln!("{}", self.failure(&input, origin));
                    resume_unwind(panic);
                }
            }
            report.executions += 1;
            if one.elapsed() > report.slowest.0 {
                report.slowest = (one.elapsed(), input);
            }
        }
        watch.stop();
        report.elapsed = started.elapsed();
        eprintln!(
            "fuzz {}: {} executions in {:.1?}{}, slowest {:.1?} ({} bytes), outcomes {:?}",
            self.name,
            report.executions,
            report.elapsed,
            if report.capped { " (time cap)" } else { "" },
            report.slowest.0,
            report.slowest.1.len(),
            report.outcomes
        );
        if std::env::var_os("VRRPD_FUZZ_SHOW_SLOWEST").is_some() {
            eprintln!(
                "fuzz {}: slowest input:\n{}",
                self.name,
                hex(&report.slowest.1)
            );
        }
        report
    }

    fn failure(&self, input: &[u8], origin: Option<(u64, usize)>) -> String {
        let what = match origin {
            Some((i, at)) => format!("mutant {i} of corpus entry {at}"),
            None => "corpus entry".to_string(),
        };
        format!(
            "fuzz {}: FAILED on {what}, VRRPD_FUZZ_SEED={:#018x} (before mixing), {} bytes:\n{}\nas text: {:?}",
            self.name,
            self.seed ^ fnv1a(self.name.as_bytes()),
            input.len(),
            hex(input),
            String::from_utf8_lossy(&input[..input.len().min(4096)]),
        )
    }
}

/// Aborts the process, printing the input, when one input runs longer than the hang limit
/// (a hang cannot be caught in the thread that hangs).
struct Watchdog {
    progress: Arc<AtomicU64>,
    current: Arc<Mutex<Vec<u8>>>,
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(c: &Campaign) -> Watchdog {
        let progress = Arc::new(AtomicU64::new(0));
        let current = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicBool::new(false));
        let (p, cur, d) = (progress.clone(), current.clone(), done.clone());
        let (name, hang) = (c.name.clone(), c.hang);
        let thread = std::thread::spawn(move || {
            let (mut seen, mut since) = (0, Instant::now());
            while !d.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let now = p.load(Ordering::Relaxed);
                if now != seen {
                    (seen, since) = (now, Instant::now());
                } else if since.elapsed() > hang {
                    let input = cur.lock().unwrap_or_else(PoisonError::into_inner);
                    eprintln!("fuzz {name}: HANG over {hang:?} on {}", hex(&input));
                    std::process::abort();
                }
            }
        });
        Watchdog {
            progress,
            current,
            done,
            thread: Some(thread),
        }
    }

    fn enter(&self, input: &[u8]) {
        let mut cur = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        cur.clear();
        cur.extend_from_slice(input);
        self.progress.fetch_add(1, Ordering::Relaxed);
    }

    fn stop(mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Also when the check panicked: the thread must not outlive the run.
        self.done.store(true, Ordering::Relaxed);
    }
}

/// The files of a corpus directory, in name order (stable across machines).
pub fn read_corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

/// Lower-case hex, 32 bytes a line.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2 + bytes.len() / 32);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 32 == 0 {
            s.push('\n');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The bytes of [`hex`] (whitespace ignored), for corpus entries written as hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

fn env_f64(name: &str) -> Option<f64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

fn parse_seed(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(&h.replace('_', ""), 16).ok(),
        None => s.parse().ok(),
    }
}

/// FNV-1a, to give each target its own sequence under one seed.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex("0g"), None);
    }

    #[test]
    fn seeds_parse() {
        assert_eq!(parse_seed("0x10"), Some(16));
        assert_eq!(parse_seed("0x5eed_0001"), Some(0x5eed_0001));
        assert_eq!(parse_seed("12"), Some(12));
        assert_eq!(parse_seed("x"), None);
    }

    #[test]
    fn a_run_counts_and_reports() {
        let c = Campaign {
            name: "t".into(),
            seed: 1,
            mutants: 100,
            time_cap: Duration::from_secs(60),
            hang: Duration::from_secs(60),
        };
        let m = Mutator::new(vec![b"ab".to_vec()], &[]);
        let r = c.run(&[b"ab".to_vec()], &m, |i| {
            if i == b"ab" { "same" } else { "other" }.into()
        });
        assert_eq!(r.executions, 101);
        assert!(r.count("same") >= 1);
        assert_eq!(r.count_prefix(""), 101);
    }
}
