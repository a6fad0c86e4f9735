//! The keepalived.conf configuration language, as vrrpd reads it.
//!
//! [`load`] reads a file (following `include`), [`parse_str`] parses text in memory; the
//! `_with` variants take [`LoadOptions`] (the configuration id of `@ID` lines). All return
//! the typed [`Config`] with keepalived's defaults applied and the warnings, or every error
//! found in the file set, each located at the offending token. keepalived's preprocessing
//! (`@ID` lines, `$NAME` parameters, `~SEQ`/`~LST` loops, line continuation, the `include`
//! variants) is applied first; errors in generated text point at the text that generated it.
//!
//! Supported keywords, refusals and differences from keepalived: `docs/config.md`.

// A parser has no business with unsafe code.
#![forbid(unsafe_code)]

mod diag;
mod keywords;
mod model;
mod parser;
mod source;
mod validate;
mod value;

use std::collections::{HashMap, HashSet};
use std::path::Path;

pub use diag::{ConfigError, Warning};
pub use model::{
    AlertObject, AlertSwitch, Alerts, BgpGlobal, CheckerSched, Command, Config, Family,
    FlushOnStop, FrrProblem, Garp, GarpExtraIf, GlobalDefs, InitFile, InitialState, InterfaceDelay,
    LbDataplane, Location, LvsGlobal, LvsSyncDaemon, LvsTimeouts, Notify, NotifyFifo, ParamMatch,
    Prefix, RealServerHooks, Role, RouteType, ScriptUser, Site, SmtpServer, StaticAddress, Statics,
    SyncGroup, TrackFile, TrackInterface, TrackProcess, TrackRef, TrackScript, Vip, VirtualRoute,
    VirtualRule, VirtualServer, VirtualServerGroup, VrrpInstance, VrrpNetDefs, VrrpSched,
    VrrpScript, address_of, announced_addrs, frr_problems,
};

/// A parsed configuration and the warnings found while reading it.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Usable but suspicious settings.
    pub warnings: Vec<Warning>,
}

/// Everything found in one pass over a configuration, for `vrrpd -t`: the configuration as
/// far as it could be read (with errors, the parts in error are missing or defaulted, so it
/// serves only to check more of it, never to run), every error and every warning.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The configuration read; not to be used when `errors` is not empty.
    pub config: Config,
    /// Every error, in file order.
    pub errors: Vec<ConfigError>,
    /// Every warning, in file order.
    pub warnings: Vec<Warning>,
}

impl Checked {
    /// The configuration and its warnings when there is no error, else the errors.
    pub fn into_result(self) -> Result<Loaded, Vec<ConfigError>> {
        if self.errors.is_empty() {
            Ok(Loaded {
                config: self.config,
                warnings: self.warnings,
            })
        } else {
            Err(self.errors)
        }
    }
}

/// How to read a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The configuration id that `@ID` lines are compared with, and `${_INSTANCE}`
    /// (keepalived's `-i`). `None`: the host name up to its first dot, from
    /// `/proc/sys/kernel/hostname`.
    pub config_id: Option<String>,
}

impl LoadOptions {
    /// The configuration id in force: the given one, else [`default_config_id`].
    pub fn resolved_config_id(&self) -> String {
        self.config_id.clone().unwrap_or_else(default_config_id)
    }
}

/// keepalived's default configuration id: the first part of the host name (before any
/// `.`), read from `/proc/sys/kernel/hostname`; empty when it cannot be read.
pub fn default_config_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .and_then(|h| h.trim().split('.').next().map(str::to_owned))
        .unwrap_or_default()
}

/// Reads and checks the configuration at `path`; `include` patterns are relative to the
/// directory of the file that contains them. `@ID` lines use the default configuration id.
pub fn load(path: &Path) -> Result<Loaded, Vec<ConfigError>> {
    load_with(path, &LoadOptions::default())
}

/// [`load`] with options (the configuration id).
pub fn load_with(path: &Path, options: &LoadOptions) -> Result<Loaded, Vec<ConfigError>> {
    check_with(path, options).into_result()
}

/// Reads the configuration at `path` and reports everything found, errors and warnings
/// alike, with the configuration read so far ([`Checked`]).
pub fn check_with(path: &Path, options: &LoadOptions) -> Checked {
    let mut loader = source::Loader::new(options.resolved_config_id());
    loader.load_path(path);
    finish(loader)
}

/// Parses configuration text named `name` (used in diagnostics); `include` patterns are
/// relative to the current directory.
pub fn parse_str(name: &str, text: &str) -> Result<Loaded, Vec<ConfigError>> {
    parse_str_with(name, text, &LoadOptions::default())
}

/// [`parse_str`] with options (the configuration id).
pub fn parse_str_with(
    name: &str,
    text: &str,
    options: &LoadOptions,
) -> Result<Loaded, Vec<ConfigError>> {
    let mut loader = source::Loader::new(options.resolved_config_id());
    loader.load_str(name, text);
    finish(loader).into_result()
}

/// Most errors reported at one position (text generated by a loop repeats them).
const MAX_ERRORS_PER_POSITION: usize = 3;

fn finish(loader: source::Loader) -> Checked {
    let source::Loader {
        map,
        tokens,
        mut diags,
        ..
    } = loader;
    // A line the lexer gave up on yields no further errors (they would only be echoes).
    let lexed: HashSet<(usize, usize)> = diags
        .errors
        .iter()
        .map(|e| (e.span.file, e.span.line))
        .collect();
    let from_lexer = diags.errors.len();
    let parsed = parser::parse(&tokens, &mut diags);
    let config = validate::finish(parsed, &map, &mut diags);
    let mut i = 0;
    diags.errors.retain(|e| {
        i += 1;
        i <= from_lexer || !lexed.contains(&(e.span.file, e.span.line))
    });
    let key = |s: &diag::Span| (s.file, s.line, s.col);
    diags.errors.sort_by_key(|e| key(&e.span));
    diags.warnings.sort_by_key(|w| key(&w.span));
    // Text generated by loops and parameters repeats its errors at one original position.
    for list in [&mut diags.errors, &mut diags.warnings] {
        let mut seen = HashSet::new();
        let mut per_position: HashMap<(usize, usize, usize), usize> = HashMap::new();
        list.retain(|d| {
            if !seen.insert((key(&d.span), d.message.clone())) {
                return false;
            }
            let n = per_position.entry(key(&d.span)).or_insert(0);
            *n += 1;
            *n <= MAX_ERRORS_PER_POSITION
        });
    }
    // With `lb_dataplane nftables` there is no later choice: its refusals are errors now.
    let data_path = match config.global.lvs.dataplane {
        LbDataplane::Nftables => {
            config.data_path_errors(vrrp_lb::dataplane::DataPathKind::Nftables)
        }
        LbDataplane::Auto | LbDataplane::Ipvs => Vec::new(),
    };
    let mut errors: Vec<ConfigError> = diags.errors.into_iter().map(|e| map.error(e)).collect();
    if !data_path.is_empty() {
        errors.extend(data_path);
        errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    }
    Checked {
        config,
        errors,
        warnings: diags.warnings.into_iter().map(|w| map.warning(w)).collect(),
    }
}
