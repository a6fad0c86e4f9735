//! Reading files: `include` and its variants, line continuation, conditional lines (`@ID`),
//! parameters (`$NAME=value`, `$NAME`, `${NAME}`), `~SEQ`/`~LST` loops, and splitting the
//! resulting lines into tokens. Every character keeps the position it was written at, so
//! that errors in generated text point at the original file, line and column.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::diag::{Diags, SourceFile, SourceMap, Span};

/// How deep `include` may nest.
const MAX_INCLUDE_DEPTH: usize = 16;
/// Most patterns one brace expression may expand to.
const MAX_BRACE_EXPANSION: usize = 256;
/// Most lines that `~SEQ`/`~LST` loops and multi-line parameters may generate in all.
pub(crate) const MAX_GENERATED_LINES: usize = 100_000;
/// Most expansion steps (loop iterations and processed lines, also those that produce
/// nothing), so that nested loops cannot spin.
const MAX_WORK: usize = 300_000;
/// How deep loops and multi-line parameters may nest.
const MAX_NESTING: usize = 16;
/// Most substitutions in one line.
const MAX_SUBSTITUTIONS: usize = 1_000;
/// Longest line (in characters) that substitutions may produce.
const MAX_LINE_CHARS: usize = 65_536;
/// Most characters that substitutions may scan and move in all: each one goes over its
/// line, so long generated lines full of references would otherwise take minutes.
const MAX_COPIED_CHARS: usize = 200_000_000;
/// Names keepalived predefines (`${_PWD}`...); they cannot be redefined.
const PREDEFINED: &[&str] = &["_PWD", "_INSTANCE", "_RANDOM", "_ENV", "_HASH", "_BANG"];

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
    /// Tokens with the same `line_id` come from the same (logical) line.
    pub line_id: usize,
    /// The word had a `"..."` part: in script command lines its text is split again into
    /// arguments, with `'...'` grouping (as keepalived does).
    pub dq: bool,
}

impl Token {
    pub(crate) fn word(&self) -> Option<&str> {
        match &self.kind {
            TokKind::Word(w) => Some(w),
            _ => None,
        }
    }
}

/// One character of a line and where it was written. `lit` characters have no special
/// meaning (`${_HASH}` gives a `#` that does not start a comment).
#[derive(Debug, Clone, Copy)]
struct PChar {
    c: char,
    span: Span,
    lit: bool,
}

type PLine = Vec<PChar>;

fn pline(text: &str, file: usize, line: usize) -> PLine {
    text.chars()
        .enumerate()
        .map(|(i, c)| PChar {
            c,
            span: Span::new(file, line, i + 1),
            lit: false,
        })
        .collect()
}

fn text_of(line: &[PChar]) -> String {
    line.iter().map(|p| p.c).collect()
}

/// keepalived's `include_check` levels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct IncludeChecks {
    /// A match must be a readable file (a directory is an error, not a warning).
    readable: bool,
    /// A pattern without wildcard must match a file.
    matched: bool,
    /// Every pattern must match a file.
    wildcard: bool,
    /// Every alternative of a brace expression must match a file.
    brace: bool,
}

impl IncludeChecks {
    const ALL: IncludeChecks = IncludeChecks {
        readable: true,
        matched: true,
        wildcard: true,
        brace: true,
    };

    fn union(self, o: IncludeChecks) -> IncludeChecks {
        IncludeChecks {
            readable: self.readable || o.readable,
            matched: self.matched || o.matched,
            wildcard: self.wildcard || o.wildcard,
            brace: self.brace || o.brace,
        }
    }

    fn readable(self) -> bool {
        self.readable || self.matched || self.wildcard || self.brace
    }
}

/// The file being read.
struct FileCtx {
    /// Directory relative include patterns are resolved against.
    base: PathBuf,
    /// `${_PWD}`
    pwd: String,
    depth: usize,
    checks: IncludeChecks,
}

/// A `$NAME=...` definition (or a loop variable).
#[derive(Debug, Clone)]
struct Param {
    /// The value: one line, or several for a multi-line definition.
    lines: Vec<PLine>,
    multi: bool,
    /// Where `$NAME` was defined.
    at: Span,
    /// A `~SEQ`/`~LST` variable: its iteration note already tells the value.
    is_loop: bool,
}

/// A parameter reference found in a line.
struct Ref {
    start: usize,
    end: usize,
    name: String,
    /// Text after the name inside `${...}` (`${_ENV HOME}`).
    arg: String,
    braced: bool,
    in_quotes: bool,
    /// `$NAME` is followed by white space or the end of the line (keepalived substitutes
    /// only then; `${NAME}` always).
    delimited: bool,
    /// `${` without `}`.
    unclosed: bool,
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
    /// Compared with `@ID` lines; `${_INSTANCE}`.
    config_id: String,
    params: HashMap<String, Param>,
    /// Lines generated by loops and multi-line parameters so far.
    generated: usize,
    work: usize,
    /// Characters scanned and moved by substitutions so far (see [`MAX_COPIED_CHARS`]).
    copied: usize,
    /// Above 0 while expanding a loop or a multi-line parameter.
    expanding: usize,
    /// The expansion budget is spent: expand nothing more.
    exhausted: bool,
    /// Texts of the "from `$NAME` defined at" notes, by name, kind and place.
    note_texts: HashMap<(String, bool, usize, usize), Rc<str>>,
}

impl Loader {
    pub(crate) fn new(config_id: String) -> Loader {
        Loader {
            config_id,
            ..Loader::default()
        }
    }

    /// Reads the main file. Errors are recorded with line 0 when it cannot be read (at the
    /// first bad byte when it is not UTF-8).
    pub(crate) fn load_path(&mut self, path: &Path) {
        match read_text(path) {
            Ok(text) => {
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
                self.stack.push(canon);
                self.add_text(
                    path.to_path_buf(),
                    &text,
                    &base,
                    0,
                    IncludeChecks::default(),
                );
                self.stack.pop();
            }
            Err(Unreadable {
                message,
                bad_utf8: Some((text, line, column)),
            }) => self.bad_utf8(path, &text, line, column, message),
            Err(Unreadable { message, .. }) => {
                let file = self.new_file(path.to_path_buf(), "");
                self.diags.error(Span::new(file, 0, 0), message);
            }
        }
    }

    /// Reads text given in memory; includes are relative to the current directory.
    pub(crate) fn load_str(&mut self, name: &str, text: &str) {
        self.add_text(
            PathBuf::from(name),
            text,
            Path::new(""),
            0,
            IncludeChecks::default(),
        );
    }

    fn new_file(&mut self, path: PathBuf, text: &str) -> usize {
        let lines = text.lines().map(str::to_owned).collect();
        self.map.files.push(SourceFile { path, lines });
        self.map.files.len() - 1
    }

    fn add_text(
        &mut self,
        path: PathBuf,
        text: &str,
        base: &Path,
        depth: usize,
        checks: IncludeChecks,
    ) {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let file = self.new_file(path, text);
        let dir = if base.as_os_str().is_empty() {
            std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
        } else {
            base.canonicalize().unwrap_or_else(|_| base.to_path_buf())
        };
        let mut ctx = FileCtx {
            base: base.to_path_buf(),
            pwd: dir.to_string_lossy().into_owned(),
            depth,
            checks,
        };
        let lines: Vec<&str> = text.lines().collect();
        let mut n = 0;
        while let Some(first) = lines.get(n) {
            let mut line = pline(first, file, n + 1);
            n += 1;
            if multi_def_start(&line) {
                // `$NAME= \` and the following `\`-ended lines: one value line each.
                let mut body = Vec::new();
                while let Some(next) = lines.get(n) {
                    let mut l = pline(next, file, n + 1);
                    n += 1;
                    let more = match continuation(&l) {
                        Some(bs) => {
                            l.truncate(bs);
                            true
                        }
                        None => false,
                    };
                    if l.iter().any(|p| !p.c.is_whitespace()) {
                        body.push(l);
                    }
                    if !more {
                        break;
                    }
                }
                if let Some(bs) = continuation(&line) {
                    line.truncate(bs);
                }
                self.process(line, Some(body), &mut ctx, 0);
                continue;
            }
            while let Some(bs) = continuation(&line) {
                line.truncate(bs);
                let Some(next) = lines.get(n) else { break };
                let span = line.last().map_or(Span::new(file, n, 1), |p| p.span);
                line.push(PChar {
                    c: ' ',
                    span,
                    lit: false,
                });
                line.extend(pline(next, file, n + 1));
                n += 1;
            }
            self.process(line, None, &mut ctx, 0);
        }
    }

    fn spend(&mut self, span: Span) -> bool {
        if self.exhausted {
            return false;
        }
        self.work += 1;
        if self.work > MAX_WORK {
            self.exhaust(
                span,
                format!("the expansions take more than {MAX_WORK} steps"),
            );
            return false;
        }
        true
    }

    fn exhaust(&mut self, span: Span, msg: String) {
        if !self.exhausted {
            self.exhausted = true;
            self.diags.error_hint(
                span,
                msg,
                "check the bounds of `~SEQ`/`~LST` loops and parameters that expand to themselves",
            );
        }
    }

    /// Conditional lines, definitions, loops and substitutions; finished lines go on to
    /// `emit`. `body` holds the further lines of a multi-line definition.
    fn process(
        &mut self,
        mut line: PLine,
        body: Option<Vec<PLine>>,
        ctx: &mut FileCtx,
        nest: usize,
    ) {
        let Some(first) = line.first() else { return };
        if !self.spend(first.span) {
            return;
        }
        let mut substitutions = 0;
        let mut body = body;
        loop {
            let Some(start) = line.iter().position(|p| !p.c.is_whitespace()) else {
                return;
            };
            let head = line[start];
            if head.c == '@' && !head.lit {
                let end = word_end(&line, start);
                let word = text_of(&line[start + 1..end]);
                let (negate, id) = match word.strip_prefix('^') {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                if id.is_empty() {
                    self.diags.error_hint(
                        head.span,
                        "a conditional line needs a configuration id right after `@`",
                        "write `@ID keyword ...` (or `@^ID ...` for every node except ID)",
                    );
                    return;
                }
                if (id == self.config_id) == negate {
                    return;
                }
                line.drain(..end);
                continue;
            }
            if let Some((name, value_at)) = def_head(&line, start) {
                self.define(name, &line, value_at, body.take(), head.span);
                return;
            }
            if head.c == '~' && !head.lit && loop_keyword(&line, start).is_some() {
                self.expand_loop(line, start, ctx, nest);
                return;
            }
            let Some(r) = find_ref(&line) else {
                self.emit(line, ctx);
                return;
            };
            let at = line[r.start].span;
            substitutions += 1;
            if substitutions > MAX_SUBSTITUTIONS {
                self.diags.error_hint(
                    at,
                    format!("more than {MAX_SUBSTITUTIONS} parameter substitutions in one line"),
                    "is a parameter defined in terms of itself?",
                );
                return;
            }
            self.copied += line.len();
            if self.copied > MAX_COPIED_CHARS {
                let msg = format!("the substitutions copy more than {MAX_COPIED_CHARS} characters");
                self.exhaust(at, msg);
                return;
            }
            if r.unclosed {
                if !r.in_quotes {
                    self.diags
                        .error_hint(at, "`${` without a closing `}`", "write `${NAME}`");
                }
                for p in &mut line[r.start..r.end] {
                    p.lit = true;
                }
                continue;
            }
            if !r.braced && !r.delimited {
                // keepalived leaves `$NAME` followed by other text as it is.
                let defined = self.params.contains_key(&r.name);
                if r.in_quotes {
                    if defined {
                        self.diags.warn_hint(
                            at,
                            format!("`${}` is not substituted here", r.name),
                            format!(
                                "a parameter is substituted when white space follows it; write `${{{}}}`",
                                r.name
                            ),
                        );
                    }
                } else if defined {
                    self.diags.error_hint(
                        at,
                        format!("`${}` is followed by other text", r.name),
                        format!(
                            "write `${{{}}}`: `$NAME` is substituted only when white space follows it",
                            r.name
                        ),
                    );
                } else {
                    self.undefined(&r, at);
                }
                line[r.start].lit = true;
                continue;
            }
            match self.value_of(&r, ctx, at) {
                Lookup::Found(param) => {
                    if param.multi && param.lines.len() != 1 {
                        self.expand_multi(line, &r, &param, ctx, nest);
                        return;
                    }
                    let value = param.lines.first().cloned().unwrap_or_default();
                    let chars = self.relocate(&value, &r.name, &param, at, false);
                    line.splice(r.start..r.end, chars);
                    if line.len() > MAX_LINE_CHARS {
                        self.diags.error_hint(
                            at,
                            format!("parameter substitution makes a line longer than {MAX_LINE_CHARS} characters"),
                            "is a parameter defined in terms of itself?",
                        );
                        return;
                    }
                }
                Lookup::Text(text, lit) => {
                    let chars: Vec<PChar> =
                        text.chars().map(|c| PChar { c, span: at, lit }).collect();
                    line.splice(r.start..r.end, chars);
                }
                Lookup::Failed => {
                    // Kept as plain text: its braces must not open or close a block.
                    for p in &mut line[r.start..r.end] {
                        p.lit = true;
                    }
                }
            }
        }
    }

    fn undefined(&mut self, r: &Ref, at: Span) {
        self.diags.error_hint(
            at,
            format!("undefined parameter `${}`", r.name),
            format!(
                "define it first with `${}=VALUE` (keepalived would keep the text as written)",
                r.name
            ),
        );
    }

    /// The value of a reference; reports the errors.
    fn value_of(&mut self, r: &Ref, ctx: &FileCtx, at: Span) -> Lookup {
        if let Some(p) = self.params.get(&r.name) {
            if !r.arg.is_empty() {
                self.diags.error(
                    at,
                    format!(
                        "unexpected `{}` after the parameter name `{}`",
                        r.arg, r.name
                    ),
                );
                return Lookup::Failed;
            }
            return Lookup::Found(p.clone());
        }
        let no_arg = |this: &mut Loader, v: String, lit: bool| {
            if r.arg.is_empty() {
                Lookup::Text(v, lit)
            } else {
                this.diags.error(
                    at,
                    format!("`${{{}}}` takes no argument (found `{}`)", r.name, r.arg),
                );
                Lookup::Failed
            }
        };
        match r.name.as_str() {
            "_PWD" => no_arg(self, ctx.pwd.clone(), false),
            "_INSTANCE" => no_arg(self, self.config_id.clone(), false),
            "_HASH" => no_arg(self, "#".into(), true),
            "_BANG" => no_arg(self, "!".into(), true),
            "_ENV" => {
                if r.arg.is_empty() || r.arg.contains(char::is_whitespace) {
                    self.diags
                        .error(at, "`${_ENV VAR}` needs one environment variable name");
                    return Lookup::Failed;
                }
                match std::env::var(&r.arg) {
                    Ok(v) => Lookup::Text(v, false),
                    Err(_) => {
                        self.diags.error(
                            at,
                            format!("environment variable `{}` is not set (or not UTF-8)", r.arg),
                        );
                        Lookup::Failed
                    }
                }
            }
            "_RANDOM" => {
                self.diags.error_hint(
                    at,
                    "`${_RANDOM}` is not supported",
                    "vrrpd reads the same configuration every time; write the value out",
                );
                Lookup::Failed
            }
            _ => {
                if r.in_quotes {
                    self.diags.warn_hint(
                        at,
                        format!("`${}` is not a defined parameter; kept as written", r.name),
                        "as keepalived does inside quotes; define it to substitute it",
                    );
                } else {
                    self.undefined(r, at);
                }
                Lookup::Failed
            }
        }
    }

    /// The value's characters, placed at the reference `at` (with a note telling where the
    /// value comes from).
    fn relocate(
        &mut self,
        value: &[PChar],
        name: &str,
        param: &Param,
        at: Span,
        per_line: bool,
    ) -> Vec<PChar> {
        let via = if param.is_loop {
            at.via
        } else {
            let (line_of, def) = match value.first().filter(|_| per_line) {
                Some(p) => (true, p.span),
                None => (false, param.at),
            };
            let key = (name.to_owned(), line_of, def.file, def.line);
            let text = match self.note_texts.get(&key) {
                Some(t) => t.clone(),
                None => {
                    let path = self.map.path(def.file);
                    let t: Rc<str> = if line_of {
                        format!("from the `${name}` line at {}:{}", path.display(), def.line)
                    } else {
                        format!("from `${name}` defined at {}:{}", path.display(), def.line)
                    }
                    .into();
                    self.note_texts.insert(key, t.clone());
                    t
                }
            };
            self.map.note_after(at.via, text)
        };
        let span = Span { via, ..at };
        value
            .iter()
            .map(|p| PChar {
                c: p.c,
                span,
                lit: p.lit,
            })
            .collect()
    }

    /// A multi-line parameter: one line per value line, the first after the text before
    /// the reference and the last before the text after it.
    fn expand_multi(
        &mut self,
        line: PLine,
        r: &Ref,
        param: &Param,
        ctx: &mut FileCtx,
        nest: usize,
    ) {
        let at = line[r.start].span;
        if nest >= MAX_NESTING {
            self.diags.error_hint(
                at,
                format!("multi-line parameters and loops are nested more than {MAX_NESTING} deep"),
                "is a parameter defined in terms of itself?",
            );
            return;
        }
        let last = param.lines.len().saturating_sub(1);
        self.expanding += 1;
        for (i, value) in param.lines.iter().enumerate() {
            if self.exhausted {
                break;
            }
            let mut piece = Vec::new();
            if i == 0 {
                piece.extend_from_slice(&line[..r.start]);
            }
            piece.extend(self.relocate(value, &r.name, param, at, true));
            if i == last {
                piece.extend_from_slice(&line[r.end..]);
            }
            self.process(piece, None, ctx, nest + 1);
        }
        self.expanding -= 1;
    }

    fn define(
        &mut self,
        name: String,
        line: &[PChar],
        value_at: usize,
        body: Option<Vec<PLine>>,
        at: Span,
    ) {
        if PREDEFINED.contains(&name.as_str()) {
            self.diags.error(
                at,
                format!("`${name}` is predefined and cannot be redefined"),
            );
            return;
        }
        let end = comment_start(line).unwrap_or(line.len()).max(value_at);
        let mut value: PLine = line.get(value_at..end).unwrap_or_default().to_vec();
        while value.last().is_some_and(|p| p.c.is_whitespace()) {
            value.pop();
        }
        let lead = value.iter().take_while(|p| p.c.is_whitespace()).count();
        value.drain(..lead);
        let (lines, multi) = match body {
            Some(body) => {
                let mut lines = Vec::new();
                if !value.is_empty() {
                    lines.push(value);
                }
                lines.extend(body);
                (lines, true)
            }
            None => (vec![value], false),
        };
        self.params.insert(
            name,
            Param {
                lines,
                multi,
                at,
                is_loop: false,
            },
        );
    }

    /// `~SEQ(...)`, `~SEQx(...)` or `~LST(...)` at `start`: the rest of the line once per value.
    fn expand_loop(&mut self, line: PLine, start: usize, ctx: &mut FileCtx, nest: usize) {
        let at = line[start].span;
        let Some((kw, open)) = loop_keyword(&line, start) else {
            return;
        };
        let Some(close) = line[open..]
            .iter()
            .position(|p| p.c == ')' && !p.lit)
            .map(|i| open + i)
        else {
            self.diags.error_hint(
                at,
                format!("`{kw}(` is not closed"),
                format!("write `{kw}(VAR, ...) rest of the line`"),
            );
            return;
        };
        if nest >= MAX_NESTING {
            self.diags.error(
                at,
                format!("loops and multi-line parameters are nested more than {MAX_NESTING} deep"),
            );
            return;
        }
        let raw = text_of(&line[open + 1..close]);
        let args = match self.subst_plain(&raw) {
            Ok(a) => a,
            Err(msg) => {
                self.diags.error(at, format!("in `{kw}(...)`: {msg}"));
                return;
            }
        };
        let plan = match kw {
            "~LST" => parse_lst(&args),
            _ => parse_seq(&args, kw == "~SEQx"),
        };
        let plan = match plan {
            Ok(p) => p,
            Err(msg) => {
                self.diags.error_hint(
                    at,
                    format!("invalid `{kw}`: {msg}"),
                    if kw == "~LST" {
                        "write `~LST(VAR, A, B, ...)` or `~LST({V1, V2}, {A1, A2}, ...)`"
                    } else {
                        "write `~SEQ(VAR, END)`, `~SEQ(VAR, START, END)` or `~SEQ(VAR, START, STEP, END)`"
                    },
                );
                return;
            }
        };
        if plan.len() > MAX_GENERATED_LINES as u128 {
            self.diags.error_hint(
                at,
                format!(
                    "`{kw}` has {} iterations; at most {MAX_GENERATED_LINES} lines can be generated",
                    plan.len()
                ),
                "split the configuration, or check the loop bounds",
            );
            return;
        }
        let rest: PLine = line[close + 1..].to_vec();
        if !rest.iter().any(|p| !p.c.is_whitespace()) {
            self.diags
                .warn(at, format!("`{kw}(...)` is followed by nothing to repeat"));
            return;
        }
        let vars = plan.vars().to_vec();
        let saved: Vec<Option<Param>> = vars.iter().map(|v| self.params.get(v).cloned()).collect();
        self.expanding += 1;
        let mut i: u128 = 0;
        while i < plan.len() {
            if !self.spend(at) {
                break;
            }
            let values = plan.values(i);
            i += 1;
            let desc: Vec<String> = vars
                .iter()
                .zip(&values)
                .map(|(v, x)| format!("{v} = {x}"))
                .collect();
            let note = format!("in the `{kw}` iteration with {}", desc.join(", "));
            for (v, x) in vars.iter().zip(&values) {
                self.params.insert(
                    v.clone(),
                    Param {
                        lines: vec![
                            x.chars()
                                .map(|c| PChar {
                                    c,
                                    span: at,
                                    lit: false,
                                })
                                .collect(),
                        ],
                        multi: false,
                        at,
                        is_loop: true,
                    },
                );
            }
            let note: Rc<str> = note.into();
            let mut vias: Vec<(u32, u32)> = Vec::new();
            let mut piece = rest.clone();
            for p in &mut piece {
                let old = p.span.via;
                let new = match vias.iter().find(|(o, _)| *o == old) {
                    Some(&(_, n)) => n,
                    None => {
                        let n = self.map.note_after(old, note.clone());
                        vias.push((old, n));
                        n
                    }
                };
                p.span.via = new;
            }
            self.process(piece, None, ctx, nest + 1);
        }
        self.expanding -= 1;
        for (v, old) in vars.into_iter().zip(saved) {
            match old {
                Some(p) => {
                    self.params.insert(v, p);
                }
                None => {
                    self.params.remove(&v);
                }
            }
        }
    }

    /// Substitutes single-line parameters in loop heads (`~SEQ(i, 1, $COUNT)`).
    fn subst_plain(&self, text: &str) -> Result<String, String> {
        let mut s = text.to_owned();
        for _ in 0..MAX_SUBSTITUTIONS {
            let chars: Vec<char> = s.chars().collect();
            let Some(pos) = chars.iter().position(|&c| c == '$') else {
                return Ok(s);
            };
            let (name, end) = if chars.get(pos + 1) == Some(&'{') {
                let Some(close) = chars[pos..].iter().position(|&c| c == '}') else {
                    return Err("`${` without `}`".into());
                };
                (
                    chars[pos + 2..pos + close]
                        .iter()
                        .collect::<String>()
                        .trim()
                        .to_owned(),
                    pos + close + 1,
                )
            } else {
                let n = chars[pos + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                    .count();
                (chars[pos + 1..pos + 1 + n].iter().collect(), pos + 1 + n)
            };
            let value = match self.params.get(&name) {
                Some(p) if p.lines.len() <= 1 => {
                    p.lines.first().map(|l| text_of(l)).unwrap_or_default()
                }
                Some(_) => return Err(format!("`${name}` is a multi-line parameter")),
                None if name == "_INSTANCE" => self.config_id.clone(),
                None => return Err(format!("undefined parameter `${name}`")),
            };
            let mut out: String = chars[..pos].iter().collect();
            out.push_str(&value);
            out.extend(&chars[end..]);
            if out.len() > MAX_LINE_CHARS {
                return Err("parameter substitution makes the text too long".into());
            }
            s = out;
        }
        Err("too many parameter substitutions".into())
    }

    /// A finished line: an include directive, or tokens.
    fn emit(&mut self, line: PLine, ctx: &mut FileCtx) {
        self.line_id += 1;
        let Some(start) = line.iter().position(|p| !p.c.is_whitespace()) else {
            return;
        };
        let span = line[start].span;
        if self.expanding > 0 {
            self.generated += 1;
            if self.generated > MAX_GENERATED_LINES {
                self.exhaust(
                    span,
                    format!("the expansions generate more than {MAX_GENERATED_LINES} lines"),
                );
                return;
            }
        }
        let end = word_end(&line, start);
        let plain = line[start..end].iter().all(|p| !p.lit);
        let word = text_of(&line[start..end]);
        if plain {
            let extra = match word.as_str() {
                "include" => Some(IncludeChecks::default()),
                "includer" => Some(IncludeChecks {
                    readable: true,
                    ..IncludeChecks::default()
                }),
                "includem" => Some(IncludeChecks {
                    matched: true,
                    ..IncludeChecks::default()
                }),
                "includew" => Some(IncludeChecks {
                    wildcard: true,
                    ..IncludeChecks::default()
                }),
                "includeb" => Some(IncludeChecks {
                    brace: true,
                    ..IncludeChecks::default()
                }),
                "includea" => Some(IncludeChecks::ALL),
                _ => None,
            };
            if let Some(extra) = extra {
                let rest = text_of(&line[end..]);
                let checks = ctx.checks.union(extra);
                self.include(&word, &rest, span, ctx, checks);
                return;
            }
            if word == "include_check" {
                let rest = text_of(&line[end..]);
                self.include_check(&rest, span, ctx);
                return;
            }
        }
        self.lex_line(&line);
    }

    fn include_check(&mut self, rest: &str, span: Span, ctx: &mut FileCtx) {
        let rest = match rest.find(['#', '!']) {
            Some(i) => &rest[..i],
            None => rest,
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        if words.is_empty() {
            ctx.checks = IncludeChecks::ALL;
            return;
        }
        let mut checks = if words[0].starts_with(['+', '-']) {
            ctx.checks
        } else {
            IncludeChecks::default()
        };
        for w in words {
            let (on, name) = match w.strip_prefix('-') {
                Some(n) => (false, n),
                None => (true, w.strip_prefix('+').unwrap_or(w)),
            };
            match name {
                "readable" => checks.readable = on,
                "match" => checks.matched = on,
                "wildcard_match" => checks.wildcard = on,
                "brace_match" => checks.brace = on,
                _ => {
                    self.diags.error_hint(
                        span,
                        format!("unknown `include_check` option `{w}`"),
                        "the options are readable, match, wildcard_match and brace_match, each optionally after + or -",
                    );
                    return;
                }
            }
        }
        ctx.checks = checks;
    }

    fn include(&mut self, kw: &str, rest: &str, span: Span, ctx: &FileCtx, checks: IncludeChecks) {
        let pattern = match include_pattern(kw, rest) {
            Ok(p) => p,
            Err(msg) => {
                self.diags.error(span, msg);
                return;
            }
        };
        if ctx.depth >= MAX_INCLUDE_DEPTH {
            self.diags.error_hint(
                span,
                format!("includes are nested more than {MAX_INCLUDE_DEPTH} deep"),
                "is there an include cycle through a symbolic link?",
            );
            return;
        }
        let mut matched = false;
        let alternatives = expand_braces(&pattern);
        let braces = alternatives.len() > 1;
        for alt in alternatives {
            let full = if Path::new(&alt).is_absolute() || ctx.base.as_os_str().is_empty() {
                alt.clone()
            } else {
                format!(
                    "{}/{}",
                    glob::Pattern::escape(&ctx.base.to_string_lossy()),
                    alt
                )
            };
            let paths = match glob::glob(&full) {
                Ok(paths) => paths,
                Err(e) => {
                    self.diags
                        .error(span, format!("invalid include pattern `{pattern}`: {e}"));
                    return;
                }
            };
            let mut alt_matched = false;
            for entry in paths {
                match entry {
                    Ok(path) if path.is_dir() => {
                        let msg = format!("include `{}` is a directory", path.display());
                        if checks.readable() {
                            alt_matched = true;
                            self.diags.error_hint(
                                span,
                                msg,
                                format!("`{kw}` requires readable files"),
                            );
                        } else {
                            self.diags.warn(span, format!("{msg}; skipped"));
                        }
                    }
                    Ok(path) => {
                        alt_matched = true;
                        self.include_file(&path, span, ctx, checks);
                    }
                    Err(e) => {
                        alt_matched = true;
                        self.diags.error(span, format!("cannot read include: {e}"));
                    }
                }
            }
            if !alt_matched && braces && checks.brace {
                self.diags.error_hint(
                    span,
                    format!("include alternative `{alt}` of `{pattern}` matches no file"),
                    format!("`{kw}` requires every brace alternative to match (include_check brace_match)"),
                );
            }
            matched |= alt_matched;
        }
        if !matched {
            let wildcard = pattern.contains(['*', '?', '[']);
            if checks.wildcard || (checks.matched && !wildcard) {
                self.diags.error_hint(
                    span,
                    format!("include `{pattern}` matches no file"),
                    format!(
                        "`{kw}` requires a match (include_check {})",
                        if checks.wildcard {
                            "wildcard_match"
                        } else {
                            "match"
                        }
                    ),
                );
            } else {
                self.diags.warn_hint(
                    span,
                    format!("include `{pattern}` matches no file"),
                    "as in keepalived this is not an error for `include`; the line is ignored",
                );
            }
        }
    }

    fn include_file(&mut self, path: &Path, span: Span, ctx: &FileCtx, checks: IncludeChecks) {
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
                // The included file starts with the includer's include_check level; its
                // own changes end with it.
                let _ = checks;
                self.add_text(path.to_path_buf(), &text, &base, ctx.depth + 1, ctx.checks);
                self.stack.pop();
            }
            Err(Unreadable {
                message,
                bad_utf8: Some((text, line, column)),
            }) => self.bad_utf8(path, &text, line, column, message),
            Err(Unreadable { message, .. }) => self.diags.error(span, message),
        }
    }

    /// A file that is not UTF-8: the error points at its first bad byte, in the file.
    fn bad_utf8(&mut self, path: &Path, text: &str, line: usize, column: usize, msg: String) {
        let file = self.new_file(path.to_path_buf(), text);
        self.diags.error(Span::new(file, line, column), msg);
    }

    fn push(&mut self, kind: TokKind, span: Span, dq: bool) {
        self.tokens.push(Token {
            kind,
            span,
            line_id: self.line_id,
            dq,
        });
    }

    /// Splits one line into tokens. Errors drop the rest of the line.
    fn lex_line(&mut self, chars: &[PChar]) {
        let mut i = 0;
        let special = |p: &PChar| !p.lit && matches!(p.c, '{' | '}' | '#' | '!');
        while let Some(&p) = chars.get(i) {
            if p.c.is_whitespace() {
                i += 1;
                continue;
            }
            if !p.lit && (p.c == '#' || p.c == '!') {
                return;
            }
            if !p.lit && (p.c == '{' || p.c == '}') {
                let kind = if p.c == '{' {
                    TokKind::Open
                } else {
                    TokKind::Close
                };
                self.push(kind, p.span, false);
                i += 1;
                continue;
            }
            let span = p.span;
            let mut word = String::new();
            let mut dq = false;
            while let Some(&q) = chars.get(i) {
                if q.c.is_whitespace() || special(&q) {
                    break;
                }
                if !q.lit && (q.c == '"' || q.c == '\'') {
                    let quote = q.c;
                    dq |= quote == '"';
                    i += 1;
                    let mut closed = false;
                    while let Some(&d) = chars.get(i) {
                        i += 1;
                        if d.c == quote && !d.lit {
                            closed = true;
                            break;
                        }
                        if quote == '"'
                            && d.c == '\\'
                            && !d.lit
                            && let Some(&e) = chars.get(i)
                        {
                            i += 1;
                            word.push(unescape(e.c));
                            continue;
                        }
                        word.push(d.c);
                    }
                    if !closed {
                        self.diags.error_hint(
                            q.span,
                            "unterminated quoted string",
                            format!("add the closing {quote} on the same line"),
                        );
                        return;
                    }
                    continue;
                }
                word.push(q.c);
                i += 1;
            }
            self.push(TokKind::Word(word), span, dq);
        }
    }
}

enum Lookup {
    Found(Param),
    Text(String, bool),
    Failed,
}

/// Index of the first character after the word starting at `start`.
fn word_end(line: &[PChar], start: usize) -> usize {
    line[start..]
        .iter()
        .position(|p| p.c.is_whitespace())
        .map_or(line.len(), |i| start + i)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `$NAME=` at `start`: the name and the index of the value.
fn def_head(line: &[PChar], start: usize) -> Option<(String, usize)> {
    let dollar = line.get(start)?;
    if dollar.c != '$' || dollar.lit {
        return None;
    }
    let first = line.get(start + 1)?;
    if !is_name_start(first.c) || first.lit {
        return None;
    }
    let n = line[start + 1..]
        .iter()
        .take_while(|p| is_name_char(p.c) && !p.lit)
        .count();
    let eq = line.get(start + 1 + n)?;
    if eq.c != '=' || eq.lit {
        return None;
    }
    Some((text_of(&line[start + 1..start + 1 + n]), start + 2 + n))
}

/// A line that starts a multi-line definition: `[@ID] $NAME= ... \`.
fn multi_def_start(line: &[PChar]) -> bool {
    let Some(mut start) = line.iter().position(|p| !p.c.is_whitespace()) else {
        return false;
    };
    if line[start].c == '@' {
        let end = word_end(line, start);
        match line[end..].iter().position(|p| !p.c.is_whitespace()) {
            Some(i) => start = end + i,
            None => return false,
        }
    }
    def_head(line, start).is_some() && continuation(line).is_some()
}

/// Scans quotes: the index where a comment starts (outside quotes), if any.
fn comment_start(line: &[PChar]) -> Option<usize> {
    scan(line).0
}

/// (comment start, inside a quote at the end)
fn scan(line: &[PChar]) -> (Option<usize>, bool) {
    let mut quote: Option<char> = None;
    let mut i = 0;
    while let Some(p) = line.get(i) {
        i += 1;
        if p.lit {
            continue;
        }
        match quote {
            Some('"') => {
                if p.c == '\\' {
                    i += 1;
                } else if p.c == '"' {
                    quote = None;
                }
            }
            Some(q) => {
                if p.c == q {
                    quote = None;
                }
            }
            None => match p.c {
                '"' | '\'' => quote = Some(p.c),
                '#' | '!' => return (Some(i - 1), false),
                _ => {}
            },
        }
    }
    (None, quote.is_some())
}

/// The index of a trailing `\` (outside quotes, before any comment) that continues the
/// line on the next one.
fn continuation(line: &[PChar]) -> Option<usize> {
    let (comment, in_quote) = scan(line);
    if in_quote && comment.is_none() {
        return None;
    }
    let end = comment.unwrap_or(line.len());
    let last = line[..end].iter().rposition(|p| !p.c.is_whitespace())?;
    let p = line[last];
    (p.c == '\\' && !p.lit).then_some(last)
}

/// The first parameter reference of a line (comments excluded).
fn find_ref(line: &[PChar]) -> Option<Ref> {
    let mut quote: Option<char> = None;
    let mut i = 0;
    while let Some(p) = line.get(i) {
        i += 1;
        if p.lit {
            continue;
        }
        match (quote, p.c) {
            (Some('"'), '\\') => {
                i += 1;
                continue;
            }
            (Some(q), c) if c == q => {
                quote = None;
                continue;
            }
            (None, '"' | '\'') => {
                quote = Some(p.c);
                continue;
            }
            (None, '#' | '!') => return None,
            (_, '$') => {}
            _ => continue,
        }
        let start = i - 1;
        let in_quotes = quote.is_some();
        let next = line.get(i);
        if next.is_some_and(|n| n.c == '{' && !n.lit) {
            let Some(close) = line[i..].iter().position(|n| n.c == '}' && !n.lit) else {
                return Some(Ref {
                    start,
                    end: i + 1,
                    name: String::new(),
                    arg: String::new(),
                    braced: true,
                    in_quotes,
                    delimited: true,
                    unclosed: true,
                });
            };
            let inner = text_of(&line[i + 1..i + close]);
            let inner = inner.trim();
            let (name, arg) = match inner.split_once(char::is_whitespace) {
                Some((n, a)) => (n, a.trim()),
                None => (inner, ""),
            };
            if !name.starts_with(is_name_start) || !name.chars().all(is_name_char) {
                i += close + 1;
                continue;
            }
            return Some(Ref {
                start,
                end: i + close + 1,
                name: name.to_owned(),
                arg: arg.to_owned(),
                braced: true,
                in_quotes,
                delimited: true,
                unclosed: false,
            });
        }
        if !next.is_some_and(|n| is_name_start(n.c) && !n.lit) {
            continue;
        }
        let n = line[i..]
            .iter()
            .take_while(|p| is_name_char(p.c) && !p.lit)
            .count();
        let end = i + n;
        return Some(Ref {
            start,
            end,
            name: text_of(&line[i..end]),
            arg: String::new(),
            braced: false,
            in_quotes,
            delimited: line.get(end).is_none_or(|p| p.c.is_whitespace()),
            unclosed: false,
        });
    }
    None
}

/// `~SEQ`, `~SEQx` or `~LST` at `start`, followed by `(`: the keyword and the index of `(`.
fn loop_keyword(line: &[PChar], start: usize) -> Option<(&'static str, usize)> {
    let rest: String = line[start..].iter().take(6).map(|p| p.c).collect();
    let (kw, len) = if rest.starts_with("~SEQx") {
        ("~SEQx", 5)
    } else if rest.starts_with("~SEQ") {
        ("~SEQ", 4)
    } else if rest.starts_with("~LST") {
        ("~LST", 4)
    } else {
        return None;
    };
    let open = line[start + len..]
        .iter()
        .position(|p| !p.c.is_whitespace())
        .map(|i| start + len + i)?;
    (line[open].c == '(').then_some((kw, open))
}

/// The values a loop takes.
enum Plan {
    Seq {
        var: String,
        start: i128,
        step: i128,
        count: u128,
        hex: bool,
    },
    Lst {
        vars: Vec<String>,
        values: Vec<Vec<String>>,
    },
}

impl Plan {
    fn len(&self) -> u128 {
        match self {
            Plan::Seq { count, .. } => *count,
            Plan::Lst { values, .. } => values.len() as u128,
        }
    }

    fn vars(&self) -> &[String] {
        match self {
            Plan::Seq { var, .. } => std::slice::from_ref(var),
            Plan::Lst { vars, .. } => vars,
        }
    }

    fn values(&self, i: u128) -> Vec<String> {
        match self {
            Plan::Seq {
                start, step, hex, ..
            } => {
                let v = start + step * i128::try_from(i).unwrap_or(0);
                vec![if *hex {
                    format!("{v:x}")
                } else {
                    v.to_string()
                }]
            }
            Plan::Lst { values, .. } => usize::try_from(i)
                .ok()
                .and_then(|i| values.get(i))
                .cloned()
                .unwrap_or_default(),
        }
    }
}

fn parse_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.starts_with(is_name_start) && s.chars().all(is_name_char) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "`{s}` is not a variable name (letters, digits and _, not starting with a digit)"
        ))
    }
}

/// An integer as C's strtol with base 0 reads it: decimal, `0x` hex, `0` octal.
fn parse_number(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let parsed = if let Some(h) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
        i64::from_str_radix(h, 16)
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8)
    } else {
        digits.parse::<i64>()
    };
    match parsed {
        Ok(v)
            if !digits.is_empty()
                && digits
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == 'x' || c == 'X') =>
        {
            Ok(if neg { -v } else { v })
        }
        _ => Err(format!("`{t}` is not an integer")),
    }
}

fn parse_seq(args: &str, hex: bool) -> Result<Plan, String> {
    let parts: Vec<&str> = args.split(',').collect();
    let (var, nums) = parts.split_first().ok_or("no variable")?;
    let var = parse_name(var)?;
    let nums = nums
        .iter()
        .map(|n| parse_number(n))
        .collect::<Result<Vec<i64>, String>>()?;
    let (start, step, end) = match nums.as_slice() {
        [end] => {
            let start = if *end < 0 { -1 } else { 1 };
            (start, if *end < start { -1 } else { 1 }, *end)
        }
        [start, end] => (*start, if end < start { -1 } else { 1 }, *end),
        [start, step, end] => {
            if *step == 0 || (start < end && *step < 0) || (start > end && *step > 0) {
                return Err(format!("step {step} does not lead from {start} to {end}"));
            }
            (*start, *step, *end)
        }
        _ => return Err("give 1 to 3 numbers after the variable".into()),
    };
    if hex && (start < 0 || end < 0) {
        return Err("`~SEQx` is for non-negative numbers only".into());
    }
    let (start, step, end) = (i128::from(start), i128::from(step), i128::from(end));
    let count = if (step > 0 && start > end) || (step < 0 && start < end) {
        0
    } else {
        ((end - start) / step).unsigned_abs() + 1
    };
    Ok(Plan::Seq {
        var,
        start,
        step,
        count,
        hex,
    })
}

/// Splits at commas outside `{...}`.
fn split_top(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '{' => {
                depth += 1;
                cur.push(c);
            }
            '}' => {
                depth = depth.checked_sub(1).ok_or("unmatched `}`")?;
                cur.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if depth != 0 {
        return Err("unclosed `{`".into());
    }
    out.push(cur);
    Ok(out)
}

/// `{a, b}` or `a`: the items.
fn group(s: &str) -> Vec<String> {
    let t = s.trim();
    match t.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        Some(inner) => inner.split(',').map(|x| x.trim().to_owned()).collect(),
        None => vec![t.to_owned()],
    }
}

fn parse_lst(args: &str) -> Result<Plan, String> {
    let parts = split_top(args)?;
    let (vars, values) = parts.split_first().ok_or("no variable")?;
    let vars = group(vars)
        .iter()
        .map(|v| parse_name(v))
        .collect::<Result<Vec<String>, String>>()?;
    if values.is_empty() {
        return Err("no values".into());
    }
    let mut out = Vec::new();
    for v in values {
        let items = group(v);
        if items.len() != vars.len() {
            return Err(format!(
                "`{}` has {} value(s) for {} variable(s)",
                v.trim(),
                items.len(),
                vars.len()
            ));
        }
        out.push(items);
    }
    Ok(Plan::Lst { vars, values: out })
}

fn unescape(c: char) -> char {
    match c {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        other => other,
    }
}

/// Why a file cannot be read as text.
struct Unreadable {
    message: String,
    /// Invalid UTF-8: the text read as far as possible and the 1-based line and column of
    /// the first bad byte, so that the error points into the file.
    bad_utf8: Option<(String, usize, usize)>,
}

fn read_text(path: &Path) -> Result<String, Unreadable> {
    let bytes = std::fs::read(path).map_err(|e| Unreadable {
        message: format!("cannot read `{}`: {e}", path.display()),
        bad_utf8: None,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let bytes = e.into_bytes();
        let before = String::from_utf8_lossy(&bytes[..valid]);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Unreadable {
            message: format!("`{}` is not valid UTF-8 (at byte {valid})", path.display()),
            bad_utf8: Some((String::from_utf8_lossy(&bytes).into_owned(), line, column)),
        }
    })
}

/// The pattern of an include line: one word, possibly quoted, then only a comment.
fn include_pattern(kw: &str, rest: &str) -> Result<String, String> {
    let rest = rest.trim_start();
    let mut chars = rest.chars();
    let (pattern, after) = match chars.next() {
        None | Some('#') | Some('!') => {
            return Err(format!("`{kw}` needs a file name or pattern"));
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
        return Err(format!(
            "`{kw}` takes a single pattern (quote it if it contains spaces)"
        ));
    }
    if pattern.is_empty() {
        return Err(format!("`{kw}` needs a file name or pattern"));
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
        assert_eq!(
            include_pattern("include", " \"a b.conf\" # c").as_deref(),
            Ok("a b.conf")
        );
        assert!(include_pattern("include", " a b").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("10"), Ok(10));
        assert_eq!(parse_number("-3"), Ok(-3));
        assert_eq!(parse_number("0x1f"), Ok(31));
        assert_eq!(parse_number("010"), Ok(8));
        assert!(parse_number("1.5").is_err());
        assert!(parse_number("").is_err());
        assert!(parse_number("99999999999999999999").is_err());
    }

    #[test]
    fn seq_plans() {
        let p = parse_seq("i, 3", false).expect("seq");
        assert_eq!(p.len(), 3);
        assert_eq!(p.values(0), vec!["1"]);
        let p = parse_seq("i, -2", false).expect("seq");
        assert_eq!((p.len(), p.values(1)), (2, vec!["-2".to_owned()]));
        let p = parse_seq("i, 5, 1", false).expect("seq");
        assert_eq!((p.len(), p.values(4)), (5, vec!["1".to_owned()]));
        let p = parse_seq("x, 0x90, 0x10, 0xc0", true).expect("seq");
        assert_eq!(p.len(), 4);
        assert_eq!(p.values(1), vec!["a0"]);
        assert!(parse_seq("i, 1, 0, 5", false).is_err());
        assert!(parse_seq("i, 1, -1, 5", false).is_err());
        assert!(parse_seq("1i, 5", false).is_err());
        assert!(parse_seq("i", false).is_err());
        assert!(parse_seq("x, -1, 5", true).is_err());
        let big = parse_seq("i, 0, 1, 9223372036854775807", false).expect("seq");
        assert!(big.len() > MAX_GENERATED_LINES as u128);
    }

    #[test]
    fn lst_plans() {
        let p = parse_lst("IP, 1, 2, 3").expect("lst");
        assert_eq!(p.len(), 3);
        assert_eq!(p.values(2), vec!["3"]);
        let p = parse_lst("{A, B}, {10,1},{20,4}").expect("lst");
        assert_eq!(p.vars(), ["A".to_owned(), "B".to_owned()]);
        assert_eq!(p.values(1), vec!["20", "4"]);
        assert!(parse_lst("{A, B}, {10}").is_err());
        assert!(parse_lst("A").is_err());
        assert!(parse_lst("{A, 1}").is_err());
    }
}
