//! Reading files, following `include`, and splitting lines into tokens.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::diag::{Diags, SourceFile, SourceMap, Span};

/// How deep `include` may nest.
const MAX_INCLUDE_DEPTH: usize = 16;
/// Most patterns one brace expression may expand to.
const MAX_BRACE_EXPANSION: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokKind {
    Word(String),
    Open,
    Close,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub kind: TokKind,
    pub span: Span,
    /// Tokens with the same `line_id` come from the same physical line.
    pub line_id: usize,
}

impl Token {
    pub fn word(&self) -> Option<&str> {
        match &self.kind {
            TokKind::Word(w) => Some(w),
            _ => None,
        }
    }
}

/// Reads a file set into one token stream.
#[derive(Default)]
pub(crate) struct Loader {
    pub map: SourceMap,
    pub tokens: Vec<Token>,
    pub diags: Diags,
    /// Canonical paths of the files being read (include cycle detection).
    stack: Vec<PathBuf>,
    /// Canonical paths already reported as a cycle, to report each once.
    cycles: HashSet<PathBuf>,
    line_id: usize,
}

impl Loader {
    /// Reads the main file. Errors are recorded with line 0 when it cannot be read.
    pub fn load_path(&mut self, path: &Path) {
        match read_text(path) {
            Ok(text) => {
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
                self.stack.push(canon);
                self.add_text(path.to_path_buf(), &text, &base, 0);
                self.stack.pop();
            }
            Err(msg) => {
                let file = self.new_file(path.to_path_buf(), "");
                self.diags.error(
                    Span {
                        file,
                        line: 0,
                        col: 0,
                    },
                    msg,
                );
            }
        }
    }

    /// Reads text given in memory; includes are relative to the current directory.
    pub fn load_str(&mut self, name: &str, text: &str) {
        self.add_text(PathBuf::from(name), text, Path::new(""), 0);
    }

    fn new_file(&mut self, path: PathBuf, text: &str) -> usize {
        let lines = text.lines().map(str::to_owned).collect();
        self.map.files.push(SourceFile { path, lines });
        self.map.files.len() - 1
    }

    fn add_text(&mut self, path: PathBuf, text: &str, base: &Path, depth: usize) {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let file = self.new_file(path, text);
        for (n, line) in text.lines().enumerate() {
            self.line_id += 1;
            let line_no = n + 1;
            if let Some((col, rest)) = include_directive(line) {
                let span = Span {
                    file,
                    line: line_no,
                    col,
                };
                self.include(rest, span, base, depth);
            } else {
                self.lex_line(line, file, line_no);
            }
        }
    }

    fn include(&mut self, rest: &str, span: Span, base: &Path, depth: usize) {
        let pattern = match include_pattern(rest) {
            Ok(p) => p,
            Err(msg) => {
                self.diags.error(span, msg);
                return;
            }
        };
        if depth >= MAX_INCLUDE_DEPTH {
            self.diags.error_hint(
                span,
                format!("includes are nested more than {MAX_INCLUDE_DEPTH} deep"),
                "is there an include cycle through a symbolic link?",
            );
            return;
        }
        let mut matched = false;
        for alt in expand_braces(&pattern) {
            let full = if Path::new(&alt).is_absolute() || base.as_os_str().is_empty() {
                alt.clone()
            } else {
                format!("{}/{}", glob::Pattern::escape(&base.to_string_lossy()), alt)
            };
            let paths = match glob::glob(&full) {
                Ok(paths) => paths,
                Err(e) => {
                    self.diags
                        .error(span, format!("invalid include pattern `{pattern}`: {e}"));
                    return;
                }
            };
            for entry in paths {
                match entry {
                    Ok(path) if path.is_dir() => {
                        self.diags.warn(
                            span,
                            format!("include `{}` is a directory; skipped", path.display()),
                        );
                    }
                    Ok(path) => {
                        matched = true;
                        self.include_file(&path, span, depth);
                    }
                    Err(e) => {
                        matched = true;
                        self.diags.error(span, format!("cannot read include: {e}"));
                    }
                }
            }
        }
        if !matched {
            self.diags.warn_hint(
                span,
                format!("include `{pattern}` matches no file"),
                "as in keepalived this is not an error; the line is ignored",
            );
        }
    }

    fn include_file(&mut self, path: &Path, span: Span, depth: usize) {
        let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if self.stack.contains(&canon) {
            if self.cycles.insert(canon.clone()) {
                self.diags.error_hint(
                    span,
                    format!("include cycle: `{}` is already being read", path.display()),
                    "a file must not include itself, directly or through other files",
                );
            }
            return;
        }
        match read_text(path) {
            Ok(text) => {
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                self.stack.push(canon);
                self.add_text(path.to_path_buf(), &text, &base, depth + 1);
                self.stack.pop();
            }
            Err(msg) => self.diags.error(span, msg),
        }
    }

    fn push(&mut self, kind: TokKind, file: usize, line: usize, col: usize) {
        self.tokens.push(Token {
            kind,
            span: Span { file, line, col },
            line_id: self.line_id,
        });
    }

    /// Splits one line into tokens. Errors drop the rest of the line.
    fn lex_line(&mut self, line: &str, file: usize, line_no: usize) {
        let chars: Vec<char> = line.chars().collect();
        let n = chars.len();
        let mut i = 0;
        let mut first = true;
        let span = |col: usize| Span {
            file,
            line: line_no,
            col,
        };
        while let Some(&c) = chars.get(i) {
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            if c == '#' || c == '!' {
                return;
            }
            let col = i + 1;
            if c == '{' || c == '}' {
                let kind = if c == '{' {
                    TokKind::Open
                } else {
                    TokKind::Close
                };
                self.push(kind, file, line_no, col);
                i += 1;
                first = false;
                continue;
            }
            let mut word = String::new();
            let mut quoted = false;
            while let Some(&c) = chars.get(i) {
                if c.is_whitespace() || matches!(c, '{' | '}' | '#' | '!') {
                    break;
                }
                if c == '"' || c == '\'' {
                    quoted = true;
                    let quote_col = i + 1;
                    i += 1;
                    let mut closed = false;
                    while let Some(&d) = chars.get(i) {
                        i += 1;
                        if d == c {
                            closed = true;
                            break;
                        }
                        if c == '"'
                            && d == '\\'
                            && let Some(&e) = chars.get(i)
                        {
                            i += 1;
                            word.push(unescape(e));
                            continue;
                        }
                        word.push(d);
                    }
                    if !closed {
                        self.diags.error_hint(
                            span(quote_col),
                            "unterminated quoted string",
                            format!("add the closing {c} on the same line"),
                        );
                        return;
                    }
                    continue;
                }
                if c == '\\'
                    && chars
                        .get(i + 1..n)
                        .is_some_and(|r| r.iter().all(|c| c.is_whitespace()))
                {
                    self.diags.error_hint(
                        span(i + 1),
                        "line continuation is not supported yet",
                        "join the continued lines into one line",
                    );
                    return;
                }
                word.push(c);
                i += 1;
            }
            if !quoted {
                if first && word.starts_with('@') {
                    self.diags.error_hint(
                        span(col),
                        "conditional configuration lines (`@ID ...`) are not supported",
                        "give each node its own configuration file",
                    );
                    return;
                }
                if word.starts_with('$') || word.contains("${") {
                    self.diags.error_hint(
                        span(col),
                        "parameter definitions and substitutions (`$NAME`) are not supported",
                        "write the value out, or quote the word if the `$` is meant literally",
                    );
                    return;
                }
                if first && (word.starts_with("~SEQ") || word.starts_with("~LST")) {
                    self.diags
                        .error(span(col), "`~SEQ` / `~LST` line loops are not supported");
                    return;
                }
            }
            self.push(TokKind::Word(word), file, line_no, col);
            first = false;
        }
    }
}

fn unescape(c: char) -> char {
    match c {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        other => other,
    }
}

fn read_text(path: &Path) -> Result<String, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "`{}` is not valid UTF-8 (at byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// If the line is an `include` directive, the column of `include` and the rest of the line.
fn include_directive(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start();
    let rest = trimmed.strip_prefix("include")?;
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    let col = line[..line.len() - trimmed.len()].chars().count() + 1;
    Some((col, rest))
}

/// The pattern of an include line: one word, possibly quoted, then only a comment.
fn include_pattern(rest: &str) -> Result<String, String> {
    let rest = rest.trim_start();
    let mut chars = rest.chars();
    let (pattern, after) = match chars.next() {
        None | Some('#') | Some('!') => {
            return Err("`include` needs a file name or pattern".into());
        }
        Some(q @ ('"' | '\'')) => {
            let body = chars.as_str();
            let Some(end) = body.find(q) else {
                return Err("unterminated quoted string".into());
            };
            (body[..end].to_owned(), &body[end + 1..])
        }
        Some(_) => {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '#' || c == '!')
                .unwrap_or(rest.len());
            (rest[..end].to_owned(), &rest[end..])
        }
    };
    let after = after.trim_start();
    if !(after.is_empty() || after.starts_with('#') || after.starts_with('!')) {
        return Err("`include` takes a single pattern (quote it if it contains spaces)".into());
    }
    if pattern.is_empty() {
        return Err("`include` needs a file name or pattern".into());
    }
    Ok(pattern)
}

/// csh-style brace expansion: `a{b,c}d` gives `abd`, `acd` (nested braces allowed).
pub(crate) fn expand_braces(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    expand_into(pattern, &mut out);
    out
}

fn expand_into(pattern: &str, out: &mut Vec<String>) {
    if out.len() >= MAX_BRACE_EXPANSION {
        return;
    }
    let Some((open, close, alts)) = first_brace_group(pattern) else {
        out.push(pattern.to_owned());
        return;
    };
    let (prefix, suffix) = (&pattern[..open], &pattern[close + 1..]);
    for alt in alts {
        expand_into(&format!("{prefix}{alt}{suffix}"), out);
    }
}

/// Byte offsets of the first `{...}` group containing a top-level comma, and its parts.
fn first_brace_group(p: &str) -> Option<(usize, usize, Vec<&str>)> {
    let bytes = p.as_bytes();
    let mut search = 0;
    while let Some(rel) = p.get(search..)?.find('{') {
        let open = search + rel;
        let mut depth = 0usize;
        let mut parts = Vec::new();
        let mut part_start = open + 1;
        for (i, &b) in bytes.iter().enumerate().skip(open) {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        parts.push(&p[part_start..i]);
                        if parts.len() > 1 {
                            return Some((open, i, parts));
                        }
                        break;
                    }
                }
                b',' if depth == 1 => {
                    parts.push(&p[part_start..i]);
                    part_start = i + 1;
                }
                _ => {}
            }
        }
        search = open + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces() {
        assert_eq!(expand_braces("a{b,c}d"), vec!["abd", "acd"]);
        assert_eq!(
            expand_braces("x/{a,{b,c}}.conf"),
            vec!["x/a.conf", "x/b.conf", "x/c.conf"]
        );
        assert_eq!(expand_braces("plain"), vec!["plain"]);
        assert_eq!(expand_braces("{single}"), vec!["{single}"]);
    }

    #[test]
    fn include_lines() {
        assert_eq!(include_directive("  include a.conf"), Some((3, " a.conf")));
        assert_eq!(include_directive("includes x"), None);
        assert_eq!(
            include_pattern(" \"a b.conf\" # c").as_deref(),
            Ok("a b.conf")
        );
        assert!(include_pattern(" a b").is_err());
    }
}
