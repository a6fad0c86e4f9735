//! The outcome of a reload.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a reload applied; on the wire (the `result` of `reload`) and in the log as one
/// sentence: `"1 unchanged, 1 updated in place, 0 re-created, 0 removed, 0 added"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    /// Instances whose settings did not change.
    pub unchanged: usize,
    /// Instances updated in place.
    pub updated: usize,
    /// Instances re-created (a new virtual router under the same name).
    pub recreated: usize,
    /// Instances removed.
    pub removed: usize,
    /// Instances added.
    pub added: usize,
}

const PARTS: [&str; 5] = [
    " unchanged",
    " updated in place",
    " re-created",
    " removed",
    " added",
];

impl fmt::Display for ReloadSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts = [
            self.unchanged,
            self.updated,
            self.recreated,
            self.removed,
            self.added,
        ];
        for (i, (count, part)) in counts.iter().zip(PARTS).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{count}{part}")?;
        }
        Ok(())
    }
}

impl FromStr for ReloadSummary {
    type Err = String;

    fn from_str(s: &str) -> Result<ReloadSummary, String> {
        let bad = || format!("not a reload summary: {s:?}");
        let items: Vec<&str> = s.split(", ").collect();
        if items.len() != PARTS.len() {
            return Err(bad());
        }
        let mut counts = [0usize; 5];
        for ((count, item), part) in counts.iter_mut().zip(items).zip(PARTS) {
            *count = item
                .strip_suffix(part)
                .and_then(|n| n.parse().ok())
                .ok_or_else(bad)?;
        }
        let [unchanged, updated, recreated, removed, added] = counts;
        Ok(ReloadSummary {
            unchanged,
            updated,
            recreated,
            removed,
            added,
        })
    }
}

impl Serialize for ReloadSummary {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ReloadSummary {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ReloadSummary, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a reload did not apply, or not all of it. On the wire it is the answer's `error`
/// (its [`Display`](fmt::Display) text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadError {
    /// Nothing changed: the running configuration stays (the configuration does not load,
    /// needs a restart, a reload is already running, ...).
    Refused(String),
    /// The new configuration is running, except for what `failures` names (instances
    /// that could not start, the `no_accept` filter, ...).
    Partial {
        /// What was applied.
        summary: ReloadSummary,
        /// What failed, one sentence each.
        failures: Vec<String>,
    },
}

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadError::Refused(why) => f.write_str(why),
            ReloadError::Partial { failures, .. } => {
                write!(f, "applied, except: {}", failures.join("; "))
            }
        }
    }
}

impl std::error::Error for ReloadError {}

/// A sentence on its own is a refusal.
impl From<String> for ReloadError {
    fn from(why: String) -> ReloadError {
        ReloadError::Refused(why)
    }
}
