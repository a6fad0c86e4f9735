//! Writes what the Debian package ships besides the binaries: the man pages vrrpd(8),
//! vrrpctl(8) and vrrpd.conf(5), and the bash, zsh and fish completions.
//!
//! `vrrp-pkg OUTDIR` writes `OUTDIR/man/`, `OUTDIR/bash/`, `OUTDIR/zsh/` and `OUTDIR/fish/`
//! (`scripts/package.sh` runs it). The pages and completions come from the code itself, so
//! they cannot drift: the two binaries' clap definitions and the parser's keyword table are
//! included here by path rather than depended on, which keeps clap_mangen and clap_complete
//! out of the daemon's dependency tree and adds no hidden subcommand to either binary.

#![forbid(unsafe_code)]

// vrrpd's command line (it names `crate::logging::LogFormat`, hence logging.rs too).
#[allow(dead_code, unreachable_pub)]
#[path = "../../vrrpd/src/cli.rs"]
mod cli;
#[allow(dead_code, unreachable_pub)]
#[path = "../../vrrpd/src/logging.rs"]
mod logging;
// vrrpctl's command line: its cli.rs holds only the clap definitions.
#[allow(dead_code, unreachable_pub)]
#[path = "../../vrrpctl/src/cli.rs"]
mod vrrpctl_cli;
// The parser's keyword table (it uses nothing else of its crate).
#[allow(dead_code, unreachable_pub)]
#[path = "../../vrrp-config/src/keywords.rs"]
mod keywords;

mod conf_page;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Command, CommandFactory};
use clap_complete::Shell;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        eprintln!("usage: vrrp-pkg OUTDIR");
        return ExitCode::from(2);
    };
    match write_all(Path::new(&out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vrrp-pkg: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The two commands as their binaries build them.
fn commands() -> std::io::Result<[Command; 2]> {
    let about = vrrpctl_description().ok_or_else(|| {
        std::io::Error::other("crates/vrrpctl/Cargo.toml has no `description = \"...\"` line")
    })?;
    // `about` without a value is the package description, which here would be ours.
    let vrrpctl = vrrpctl_cli::Cli::command().about(about);
    Ok([cli::Args::command(), vrrpctl])
}

/// The page of `cmd` and, as `NAME-SUB`, those of its subcommands (the page lists them so).
fn write_pages(dir: &Path, mut cmd: Command) -> std::io::Result<()> {
    cmd.build();
    let name = cmd.get_name().to_string();
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        // Leaked: clap takes a `&'static str` name without its `string` feature, which would
        // reach the binaries' clap through feature unification.
        let sub_name: &'static str = format!("{name}-{}", sub.get_name()).leak();
        write_pages(dir, sub.clone().name(sub_name))?;
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd)
        .section("8")
        .manual("System Administration")
        .source(format!("vrrpd {}", env!("CARGO_PKG_VERSION")))
        .render(&mut page)?;
    page.extend_from_slice(trailer(&name).as_bytes());
    std::fs::write(dir.join(format!("{name}.8")), page)
}

/// What clap does not know: the files, and the other pages.
fn trailer(name: &str) -> &'static str {
    match name {
        "vrrpd" => concat!(
            ".SH FILES\n.TP\n.I /etc/vrrpd/vrrpd.conf\n",
            "The configuration (else /etc/keepalived/keepalived.conf); see vrrpd.conf(5).\n",
            ".TP\n.I /run/vrrpd/\nPid file, control socket and dumps.\n",
            ".SH SIGNALS\nSIGHUP reloads the configuration, SIGUSR1 and SIGUSR2 write the state ",
            "and statistics dumps, SIGTERM stops (a Master hands over first).\n",
            ".SH \"SEE ALSO\"\n.BR vrrpctl (8),\n.BR vrrpd.conf (5),\n.BR keepalived (8)\n",
        ),
        "vrrpctl" => ".SH \"SEE ALSO\"\n.BR vrrpd (8),\n.BR vrrpd.conf (5)\n",
        _ => ".SH \"SEE ALSO\"\n.BR vrrpctl (8)\n",
    }
}

/// `description` of crates/vrrpctl/Cargo.toml, which `vrrpctl --help` shows.
fn vrrpctl_description() -> Option<&'static str> {
    include_str!("../../vrrpctl/Cargo.toml")
        .lines()
        .find_map(|l| l.strip_prefix("description = \"")?.strip_suffix('"'))
        // The man page's NAME line already starts with the name.
        .map(|d| d.strip_prefix("vrrpctl: ").unwrap_or(d))
}

fn write_all(out: &Path) -> std::io::Result<()> {
    let dir = |sub: &str| -> std::io::Result<PathBuf> {
        let d = out.join(sub);
        std::fs::create_dir_all(&d)?;
        Ok(d)
    };
    let (man, bash, zsh, fish) = (dir("man")?, dir("bash")?, dir("zsh")?, dir("fish")?);
    for mut cmd in commands()? {
        let name = cmd.get_name().to_string();
        write_pages(&man, cmd.clone())?;
        // Where Debian's bash-completion, zsh and fish look (see scripts/package.sh).
        for (shell, path) in [
            (Shell::Bash, bash.join(&name)),
            (Shell::Zsh, zsh.join(format!("_{name}"))),
            (Shell::Fish, fish.join(format!("{name}.fish"))),
        ] {
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd, name.clone(), &mut text);
            std::fs::write(path, text)?;
        }
    }
    std::fs::write(man.join("vrrpd.conf.5"), conf_page::render())
}
