//! The keepalived.conf configuration language, as vrrpd reads it.
//!
//! [`load`] reads a file (following `include`), [`parse_str`] parses text in memory. Both
//! return the typed [`Config`] with keepalived's defaults applied and the warnings, or every
//! error found in the file set, each located at the offending token.
//!
//! Supported keywords, refusals and differences from keepalived: `docs/config.md`.

mod diag;
mod model;
mod parser;
mod source;
mod validate;
mod value;

use std::collections::HashSet;
use std::path::Path;

pub use diag::{ConfigError, Warning};
pub use model::{
    Config, Family, Garp, GlobalDefs, InitialState, Location, Role, ScriptUser, TrackInterface,
    Vip, VrrpInstance,
};

/// A parsed configuration and the warnings found while reading it.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Warning>,
}

/// Reads and checks the configuration at `path`; `include` patterns are relative to the
/// directory of the file that contains them.
pub fn load(path: &Path) -> Result<Loaded, Vec<ConfigError>> {
    let mut loader = source::Loader::default();
    loader.load_path(path);
    finish(loader)
}

/// Parses configuration text named `name` (used in diagnostics); `include` patterns are
/// relative to the current directory.
pub fn parse_str(name: &str, text: &str) -> Result<Loaded, Vec<ConfigError>> {
    let mut loader = source::Loader::default();
    loader.load_str(name, text);
    finish(loader)
}

fn finish(loader: source::Loader) -> Result<Loaded, Vec<ConfigError>> {
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
    if diags.errors.is_empty() {
        Ok(Loaded {
            config,
            warnings: diags.warnings.into_iter().map(|w| map.warning(w)).collect(),
        })
    } else {
        Err(diags.errors.into_iter().map(|e| map.error(e)).collect())
    }
}
