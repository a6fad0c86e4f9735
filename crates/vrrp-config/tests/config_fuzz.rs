//! The configuration language with all its preprocessing (`include` with globs and brace
//! lists, `@ID` conditionals, `$NAME` definitions and substitution, `~SEQ`/`~LST` loops,
//! continuation, nesting) under seeded mutation (vrrp-fuzz), mutated as bytes and as
//! tokens. Each corpus entry (tests/corpus, see its README) is a set of files written into
//! a fresh directory, so that includes resolve.
//!
//! Properties: loading never panics nor hangs (the runner aborts on an input running over
//! `VRRPD_FUZZ_HANG_SECS`); every error and warning points at a line and column that exist
//! in a file of the input; each renders.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use vrrp_config::{LoadOptions, check_with};
use vrrp_fuzz::{Campaign, Mutator, read_corpus};

/// Mutants in the ordinary suite (a few seconds in a debug build).
const MUTANTS: u64 = 2_000;

/// The tokens of the language and of its preprocessor.
const DICTIONARY: &[&[u8]] = &[
    b"include ",
    b"includea ",
    b"includem ",
    b"include_check ",
    b"inc/*.conf",
    b"more/{a,b}.conf",
    b"[0-9]",
    b"?",
    b"*",
    b"self.conf",
    b"@node1 ",
    b"@^node1 ",
    b"@",
    b"$X=",
    b"$X=${X}${X}",
    b"${X}",
    b"$X",
    b"${",
    b"$",
    b"${_PWD}",
    b"${_INSTANCE}",
    b"${_ENV HOME}",
    b"~SEQ(i, 1, 3) ",
    b"~SEQ(i, 0, 0, 0) ",
    b"~SEQ(i, 4294967295) ",
    b"~SEQx(h, 0x0, 0xffff) ",
    b"~LST(x, a, b) ",
    b"~LST({x, y}, {1, 2}) ",
    b"(",
    b")",
    b",",
    b"{",
    b"}",
    b"\\\n",
    b"\"",
    b"'",
    b"!",
    b"#",
    b"\n#=== inc/x.conf\n",
    b"vrrp_instance VI_9 {\n",
    b"virtual_ipaddress {",
    b"virtual_server 10.99.0.1 80 {",
    b"real_server",
    b"priority",
    b"-1",
    b"99999999999999999999",
    b"0x7fffffff",
    b"fd99::1/64",
    b"\xc3\xa9",
    b"\t",
    b"\r",
];

/// The files of a corpus entry: (relative path, content), the main file first.
fn files_of(entry: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![("main.conf".to_string(), Vec::new())];
    for line in entry.split_inclusive(|&b| b == b'\n') {
        let name = line.strip_prefix(b"#=== ").map(|n| n.trim_ascii());
        match name.and_then(|n| std::str::from_utf8(n).ok()) {
            Some(n) if allowed(n) && files.len() < 8 => files.push((n.to_string(), Vec::new())),
            _ => files.last_mut().map_or((), |f| f.1.extend_from_slice(line)),
        }
    }
    files
}

/// Paths the test writes: under `inc/` or `more/`, no way out.
fn allowed(name: &str) -> bool {
    (name.starts_with("inc/") || name.starts_with("more/"))
        && !name.contains("..")
        && (6..64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
}

/// A mutant that could name a file outside the test's directory is not run: the loader
/// would read whatever is there. That is an absolute path or more than one `..` on a line
/// that includes or defines (a definition may become an include pattern).
fn leaves_the_directory(input: &[u8]) -> bool {
    let absolute =
        |w: &[u8]| w[1] == b'/' && !(w[0].is_ascii_alphanumeric() || b".*]}_-?".contains(&w[0]));
    input.split(|&b| b == b'\n').any(|line| {
        let risky = line.windows(7).any(|w| w == b"include") || line.contains(&b'$');
        let line = [&b" "[..], line].concat();
        risky && (line.windows(2).any(absolute) || line.windows(4).any(|w| w == b"../."))
    })
}

/// A fresh directory per mutant, four levels below the test's own, removed at the end.
struct Scratch {
    root: PathBuf,
    work: PathBuf,
}

impl Scratch {
    fn new(test: &str) -> Scratch {
        let root =
            std::env::temp_dir().join(format!("vrrp-config-fuzz-{}-{test}", std::process::id()));
        let work = root.join("a/b/c/work");
        Scratch { root, work }
    }

    /// Writes the files; returns the main file's path. A file whose name is taken by a
    /// directory of another (`inc/a` and `inc/a/b`) is left out.
    fn write(&self, files: &[(String, Vec<u8>)]) -> PathBuf {
        let _ = std::fs::remove_dir_all(&self.work);
        for (name, content) in files {
            let path = self.work.join(name);
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = std::fs::write(&path, content);
        }
        self.work.join("main.conf")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Whether `line:column` exists in `file` (the line after the last one too: an error at
/// the end of the input, such as a missing `}`, points there).
fn located(
    file: &Path,
    line: usize,
    column: usize,
    cache: &mut HashMap<PathBuf, Vec<usize>>,
) -> Result<(), String> {
    let widths = cache.entry(file.to_path_buf()).or_insert_with(|| {
        let bytes = std::fs::read(file).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| l.chars().count())
            .collect()
    });
    if line == 0 || column == 0 {
        return Err("no position".into());
    }
    let width = widths.get(line - 1).copied().unwrap_or(0);
    if line > widths.len() + 1 || column > width + 1 {
        return Err(format!(
            "beyond the text ({} lines, line {line} has {width} characters)",
            widths.len()
        ));
    }
    Ok(())
}

/// Runs one input; returns its outcome (`ok`, `warnings`, `errors`, `skipped`).
fn check(scratch: &Scratch, input: &[u8]) -> String {
    if leaves_the_directory(input) {
        return "skipped".into();
    }
    let mut files = files_of(input);
    // Mostly text (to get past the UTF-8 check), raw bytes one time in eight and for
    // corpus entries that start with `#raw`.
    if !input.len().is_multiple_of(8) && !input.starts_with(b"#raw") {
        for (_, content) in &mut files {
            *content = String::from_utf8_lossy(content).into_owned().into_bytes();
        }
    }
    let main = scratch.write(&files);
    let options = LoadOptions {
        config_id: Some("node1".into()),
    };
    let checked = check_with(&main, &options);
    let mut cache = HashMap::new();
    let errors = checked
        .errors
        .iter()
        .map(|e| (&e.file, e.line, e.column, e.to_string()));
    let warnings = checked
        .warnings
        .iter()
        .map(|w| (&w.file, w.line, w.column, w.to_string()));
    for (i, (file, line, column, shown)) in errors.chain(warnings).enumerate() {
        assert!(
            file.starts_with(&scratch.work),
            "outside the input: {shown}"
        );
        // A warning about the whole configuration ("no vrrp_instance") has no position.
        if i >= checked.errors.len() && (line, column) == (0, 0) {
            continue;
        }
        if let Err(why) = located(file, line, column, &mut cache) {
            panic!("at {}:{line}:{column}, {why}: {shown}", file.display());
        }
    }
    match (checked.errors.is_empty(), checked.warnings.is_empty()) {
        (false, _) => "errors",
        (true, false) => "warnings",
        (true, true) => "ok",
    }
    .into()
}

fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    read_corpus(&dir)
        .into_iter()
        .filter(|f| !f.starts_with(b"Corpus of"))
        .collect()
}

#[test]
fn corpus_entries_load_without_errors() {
    let scratch = Scratch::new("corpus");
    for entry in corpus()
        .iter()
        .filter(|e| !e.starts_with(b"! found") && !e.starts_with(b"#raw found"))
    {
        let text = String::from_utf8_lossy(entry);
        assert!(!leaves_the_directory(entry), "{text}");
        let main = scratch.write(&files_of(entry));
        let options = LoadOptions {
            config_id: Some("node1".into()),
        };
        let checked = check_with(&main, &options);
        assert!(checked.errors.is_empty(), "{:#?}\n{text}", checked.errors);
    }
}

#[test]
fn config_mutants_never_panic_and_every_error_is_located() {
    let corpus = corpus();
    let scratch = Scratch::new("mutants");
    let mutator = Mutator::new(corpus.clone(), DICTIONARY);
    let report =
        Campaign::new("config", MUTANTS, 10).run(&corpus, &mutator, |input| check(&scratch, input));
    assert!(
        report.count("ok") + report.count("warnings") > report.executions / 50,
        "{report:?}"
    );
    assert!(report.count("errors") > report.executions / 4, "{report:?}");
}
