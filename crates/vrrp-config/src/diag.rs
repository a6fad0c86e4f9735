//! Diagnostics: located errors and warnings, rendered with the offending line and a caret.

use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use unicode_width::UnicodeWidthChar;

use crate::model::Location;

/// A configuration error, located at the offending token.
///
/// `line` and `column` are 1-based; they are 0 when the error has no position in a file
/// (for example when the main file cannot be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the error is in.
    pub file: PathBuf,
    /// 1-based line, 0 when there is no position.
    pub line: usize,
    /// 1-based column in characters, 0 when there is no position.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// The text of the offending line (empty when there is none).
    pub snippet: String,
    /// How to fix it, when there is an obvious way.
    pub hint: Option<String>,
}

/// A warning: the configuration is usable, but something deserves attention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file the warning is about.
    pub file: PathBuf,
    /// 1-based line, 0 when there is no position.
    pub line: usize,
    /// 1-based column in characters, 0 when there is no position.
    pub column: usize,
    /// What deserves attention.
    pub message: String,
    /// The text of the line it is about (empty when there is none).
    pub snippet: String,
    /// What to do about it, when there is an obvious answer.
    pub hint: Option<String>,
}

impl ConfigError {
    /// Where the error is.
    pub fn location(&self) -> Location {
        Location {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
        }
    }
}

impl Warning {
    /// Where the warning points.
    pub fn location(&self) -> Location {
        Location {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render(f, "error", self.as_parts())
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render(f, "warning", self.as_parts())
    }
}

impl std::error::Error for ConfigError {}

struct Parts<'a> {
    file: &'a Path,
    line: usize,
    column: usize,
    message: &'a str,
    snippet: &'a str,
    hint: Option<&'a str>,
}

impl ConfigError {
    fn as_parts(&self) -> Parts<'_> {
        Parts {
            file: &self.file,
            line: self.line,
            column: self.column,
            message: &self.message,
            snippet: &self.snippet,
            hint: self.hint.as_deref(),
        }
    }
}

impl Warning {
    fn as_parts(&self) -> Parts<'_> {
        Parts {
            file: &self.file,
            line: self.line,
            column: self.column,
            message: &self.message,
            snippet: &self.snippet,
            hint: self.hint.as_deref(),
        }
    }
}

fn render(f: &mut fmt::Formatter<'_>, severity: &str, p: Parts<'_>) -> fmt::Result {
    if p.line == 0 {
        write!(f, "{}: {severity}: {}", p.file.display(), p.message)?;
    } else {
        write!(
            f,
            "{}:{}:{}: {severity}: {}",
            p.file.display(),
            p.line,
            p.column,
            p.message
        )?;
        if !p.snippet.is_empty() {
            write!(f, "\n{:>5} | {}", p.line, p.snippet)?;
            let chars: Vec<char> = p.snippet.chars().collect();
            let start = p.column.saturating_sub(1).min(chars.len());
            // Keep tabs, and pad wide characters (CJK: 2 columns), so that the caret lines
            // up under the token as a terminal shows it.
            let pad: String = chars
                .iter()
                .take(start)
                .map(|&c| match c {
                    '\t' => "\t".to_owned(),
                    c => " ".repeat(c.width().unwrap_or(0)),
                })
                .collect();
            let token = chars.get(start..).unwrap_or_default();
            let len: usize = token
                .iter()
                .take(token_len(token))
                .map(|c| c.width().unwrap_or(1))
                .sum();
            write!(f, "\n{:>5} | {pad}{}", "", "^".repeat(len.max(1)))?;
        }
    }
    if let Some(hint) = p.hint {
        write!(f, "\n   = hint: {hint}")?;
    }
    Ok(())
}

/// Length in characters of the token that starts `rest` (at least 1).
fn token_len(rest: &[char]) -> usize {
    let Some(&first) = rest.first() else {
        return 1;
    };
    if first == '{' || first == '}' {
        return 1;
    }
    if first == '"' || first == '\'' {
        return match rest.iter().skip(1).position(|&c| c == first) {
            Some(end) => end + 2,
            None => rest.len(),
        };
    }
    rest.iter()
        .position(|&c| c.is_whitespace() || matches!(c, '{' | '}' | '#' | '!'))
        .unwrap_or(rest.len())
        .max(1)
}

/// A position inside the loaded file set: index into the source map, 1-based line and column.
/// `via` (when not 0) names a note of the source map that tells through which expansion
/// (`$NAME` substitution, `~SEQ`/`~LST` iteration) the text at this position was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Span {
    pub file: usize,
    pub line: usize,
    pub col: usize,
    pub via: u32,
}

impl Span {
    pub(crate) fn new(file: usize, line: usize, col: usize) -> Span {
        Span {
            file,
            line,
            col,
            via: 0,
        }
    }
}

/// An error or warning before it is resolved against the source map.
#[derive(Debug, Clone)]
pub(crate) struct Diag {
    pub span: Span,
    pub message: String,
    pub hint: Option<String>,
}

/// Collected errors and warnings.
#[derive(Debug, Default)]
pub(crate) struct Diags {
    pub errors: Vec<Diag>,
    pub warnings: Vec<Diag>,
}

impl Diags {
    pub(crate) fn error(&mut self, span: Span, message: impl Into<String>) {
        self.errors.push(Diag {
            span,
            message: message.into(),
            hint: None,
        });
    }

    pub(crate) fn error_hint(
        &mut self,
        span: Span,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.errors.push(Diag {
            span,
            message: message.into(),
            hint: Some(hint.into()),
        });
    }

    pub(crate) fn warn(&mut self, span: Span, message: impl Into<String>) {
        self.warnings.push(Diag {
            span,
            message: message.into(),
            hint: None,
        });
    }

    pub(crate) fn warn_hint(
        &mut self,
        span: Span,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.warnings.push(Diag {
            span,
            message: message.into(),
            hint: Some(hint.into()),
        });
    }
}

/// The text of every file read, to locate and quote diagnostics.
#[derive(Debug, Default)]
pub(crate) struct SourceMap {
    pub files: Vec<SourceFile>,
    /// Expansion notes (`Span::via` - 1 indexes this): each is a text and the note of the
    /// expansion it happened in (0: none).
    pub notes: Vec<(u32, Rc<str>)>,
}

#[derive(Debug)]
pub(crate) struct SourceFile {
    pub path: PathBuf,
    pub lines: Vec<String>,
}

impl SourceMap {
    pub(crate) fn path(&self, file: usize) -> PathBuf {
        self.files
            .get(file)
            .map(|f| f.path.clone())
            .unwrap_or_default()
    }

    pub(crate) fn location(&self, span: Span) -> Location {
        Location {
            file: self.path(span.file),
            line: span.line,
            column: span.col,
        }
    }

    pub(crate) fn snippet(&self, span: Span) -> String {
        self.files
            .get(span.file)
            .and_then(|f| f.lines.get(span.line.wrapping_sub(1)))
            .cloned()
            .unwrap_or_default()
    }

    /// A new expansion note inside the expansion `via` (0: none).
    pub(crate) fn note_after(&mut self, via: u32, text: Rc<str>) -> u32 {
        self.notes.push((via, text));
        u32::try_from(self.notes.len()).unwrap_or(0)
    }

    /// The text of a note with those of the expansions around it, outermost first.
    pub(crate) fn note_text(&self, via: u32) -> Option<String> {
        let mut parts = Vec::new();
        let mut cur = via;
        // Parents are always older notes, so this ends; the bound is a safety net.
        while cur != 0 && parts.len() < 64 {
            let (parent, text) = self.notes.get(usize::try_from(cur).ok()?.checked_sub(1)?)?;
            parts.push(text.clone());
            cur = if *parent < cur { *parent } else { 0 };
        }
        if parts.is_empty() {
            return None;
        }
        parts.reverse();
        Some(parts.join("; "))
    }

    /// The hint, with the expansion note of the span appended.
    fn full_hint(&self, span: Span, hint: Option<String>) -> Option<String> {
        match (hint, self.note_text(span.via)) {
            (Some(h), Some(n)) => Some(format!("{h} ({n})")),
            (None, Some(n)) => Some(n.to_owned()),
            (h, None) => h,
        }
    }

    pub(crate) fn error(&self, d: Diag) -> ConfigError {
        ConfigError {
            file: self.path(d.span.file),
            line: d.span.line,
            column: d.span.col,
            snippet: self.snippet(d.span),
            message: d.message,
            hint: self.full_hint(d.span, d.hint),
        }
    }

    pub(crate) fn warning(&self, d: Diag) -> Warning {
        Warning {
            file: self.path(d.span.file),
            line: d.span.line,
            column: d.span.col,
            snippet: self.snippet(d.span),
            message: d.message,
            hint: self.full_hint(d.span, d.hint),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn underline(snippet: &str, column: usize) -> String {
        let e = ConfigError {
            file: PathBuf::from("k.conf"),
            line: 3,
            column,
            message: "m".into(),
            snippet: snippet.into(),
            hint: None,
        };
        e.to_string().lines().nth(2).unwrap_or_default().to_owned()
    }

    #[test]
    fn caret_lines_up_under_wide_characters_and_tabs() {
        // `路由器` takes 6 terminal columns: the caret starts after them.
        assert_eq!(underline("路由器 prio", 5), "      |        ^^^^");
        // A wide token is underlined over its full width.
        assert_eq!(
            underline("router_id 路由器", 11),
            "      |           ^^^^^^"
        );
        // Tabs are kept so that the terminal expands them alike.
        assert_eq!(underline("\tpriority x", 11), "      | \t         ^");
    }
}
