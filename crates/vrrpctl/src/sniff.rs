//! The `sniff` command: read frames (live or from a file), decode VRRP, print.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use crate::capture::{CaptureReader, Timestamp};
use crate::frame::parse_frame;
use crate::live::{self, LiveCapture};
use crate::record::Record;
use crate::summary::Summary;

/// Where frames come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A live capture on this interface.
    Interface(String),
    /// A capture file; `-` is standard input.
    Pcap(PathBuf),
}

/// What `vrrpctl sniff` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where frames come from.
    pub source: Source,
    /// `--json`
    pub json: bool,
    /// `--summary`
    pub summary: bool,
    /// Stop after this many VRRP packets.
    pub count: Option<u64>,
    /// Stop a live capture after this many seconds.
    pub duration: Option<f64>,
    /// Print VRRPv2 passwords in text output.
    pub show_password: bool,
}

/// Why `sniff` failed (exit code 1).
#[derive(Debug)]
pub struct Failure(pub String);

/// Writes the per-packet lines and collects the summary.
struct Printer<W: Write> {
    out: W,
    opts: Options,
    summary: Summary,
    seen: u64,
    /// The reader of the output went away (`| head`): stop quietly.
    closed: bool,
}

impl<W: Write> Printer<W> {
    fn frame(&mut self, time: Timestamp, linktype: u32, data: &[u8]) {
        let Some(pkt) = parse_frame(linktype, data) else {
            return;
        };
        let rec = Record::from_packet(time, &pkt);
        self.seen += 1;
        if self.opts.summary {
            self.summary.add(&rec);
            return;
        }
        let line = if self.opts.json {
            serde_json::to_string(&rec.to_json()).unwrap_or_default()
        } else {
            rec.to_text(self.opts.show_password)
        };
        if writeln!(self.out, "{line}")
            .and_then(|()| self.out.flush())
            .is_err()
        {
            self.closed = true;
        }
    }

    fn done(&self) -> bool {
        self.closed || self.opts.count.is_some_and(|c| self.seen >= c)
    }

    fn finish(mut self) -> Result<(), Failure> {
        if self.opts.summary && !self.closed {
            let text = if self.opts.json {
                let doc = self.summary.to_json(self.opts.show_password);
                serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
            } else {
                self.summary.to_text(self.opts.show_password)
            };
            let _ = self
                .out
                .write_all(text.as_bytes())
                .and_then(|()| self.out.flush());
        }
        Ok(())
    }
}

/// Runs `sniff`, writing to `out` and warnings to stderr.
pub fn run<W: Write>(opts: Options, out: W) -> Result<(), Failure> {
    let mut printer = Printer {
        out,
        opts: opts.clone(),
        summary: Summary::default(),
        seen: 0,
        closed: false,
    };
    match &opts.source {
        Source::Pcap(path) => {
            let name = path.display().to_string();
            let input: Box<dyn Read> = if name == "-" {
                Box::new(io::stdin().lock())
            } else {
                let f =
                    File::open(path).map_err(|e| Failure(format!("cannot open {name}: {e}")))?;
                Box::new(f)
            };
            let mut reader = CaptureReader::new(BufReader::with_capacity(1 << 16, input))
                .map_err(|e| Failure(format!("cannot read {name}: {e}")))?;
            let mut failure = None;
            while !printer.done() {
                match reader.next_frame() {
                    Ok(Some(f)) => printer.frame(f.time, f.linktype, &f.data),
                    Ok(None) => break,
                    // A file still being written (or a killed tcpdump) ends mid-record:
                    // what came before is good.
                    Err(e) if e.is_truncated() => {
                        eprintln!("vrrpctl: warning: {name}: {e}; stopping there");
                        break;
                    }
                    Err(e) => {
                        failure = Some(Failure(format!("{name}: {e}")));
                        break;
                    }
                }
            }
            printer.finish()?;
            failure.map_or(Ok(()), Err)
        }
        Source::Interface(ifname) => {
            let mut cap = LiveCapture::open(ifname).map_err(|e| Failure(e.to_string()))?;
            live::install_stop_handlers().map_err(|e| Failure(format!("signal handlers: {e}")))?;
            let deadline = live::deadline(opts.duration);
            let linktype = cap.linktype;
            while !printer.done() && !live::stop_requested() {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                match cap.next_frame() {
                    Ok(Some(data)) => printer.frame(Timestamp::now(), linktype, data),
                    Ok(None) => {}
                    Err(e) => {
                        printer.finish()?;
                        return Err(Failure(format!("capture on {ifname}: {e}")));
                    }
                }
            }
            printer.finish()
        }
    }
}
