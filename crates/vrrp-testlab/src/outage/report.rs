//! The outage table (markdown) and the raw samples (CSV).

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::Path;

use super::{Case, Sample};
use crate::Daemon;
use crate::benchkit::{Res, Stats, err, fmt_secs, ms, stats};

/// The samples of one case, with the load average before and after.
pub struct CaseResult {
    /// The case.
    pub case: Case,
    /// Every repetition of every daemon.
    pub samples: Vec<Sample>,
    /// Load averages (1/5/15 min) at the start and end of the case.
    pub load: (String, String),
}

fn ms2(ns: i64) -> String {
    format!("{:.2}", ms(ns))
}

/// "med [min–max]".
fn med_range(s: &Option<Stats>) -> String {
    s.as_ref().map_or("-".into(), |s| {
        format!("{} [{}–{}]", ms2(s.med), ms2(s.min), ms2(s.max))
    })
}

fn med(s: &Option<Stats>) -> String {
    s.as_ref().map_or("-".into(), |s| ms2(s.med))
}

/// The markdown table: one row per case and daemon. The outage runs from the old
/// Master's reference advertisement to the last of the three first answers; the
/// steps after the takeover advertisement show where the time goes.
pub fn table(results: &[CaseResult], daemons: &[Daemon]) -> String {
    let mut t = String::from(
        "| case | daemon | n | bound, ms | outage, ms (med [min–max]) | outage − bound, ms (med [min–max]) | takeover advert − bound (med) | after the takeover advert: GARP/NA · ARP/ND · echo · TCP answered, ms (medians) | vrrpd − keepalived, outage medians |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in results {
        let of = |name: &str| -> Vec<&Sample> {
            r.samples.iter().filter(|s| s.daemon == name).collect()
        };
        let outage_med = |name: &str| stats(of(name).iter().map(|s| s.outage())).map(|s| s.med);
        let diff = match (outage_med("vrrpd"), outage_med("keepalived")) {
            (Some(a), Some(k)) => format!("{:+.2}", ms(a - k)),
            _ => "-".into(),
        };
        for d in daemons {
            let v = of(d.name());
            let col = |f: &dyn Fn(&Sample) -> Option<i64>| stats(v.iter().map(|s| f(s)));
            let after =
                |f: &dyn Fn(&Sample) -> Option<i64>| med(&col(&|s| Some(f(s)? - s.advert?)));
            let steps = [
                after(&|s| s.announce),
                after(&|s| s.resolved),
                after(&|s| s.echo),
                after(&|s| s.tcp),
            ]
            .join(" · ");
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.case.label(),
                d.name(),
                v.len(),
                med(&col(&|s| Some(s.bound))),
                med_range(&col(&|s| s.outage())),
                med_range(&col(&|s| Some(s.outage()? - s.bound))),
                med(&col(&|s| Some(s.advert? - s.bound))),
                steps,
                if d.name() == "vrrpd" {
                    diff.as_str()
                } else {
                    ""
                }
            );
        }
    }
    t
}

/// Writes `outage.csv` into `dir`.
pub fn write_csv(dir: &Path, results: &[CaseResult]) -> Res<()> {
    std::fs::create_dir_all(dir).map_err(err(&dir.display().to_string()))?;
    let p = dir.join("outage.csv");
    let mut f = File::create(&p).map_err(err(&p.display().to_string()))?;
    let _ = writeln!(
        f,
        "case,version,family,advert_int_s,cut,use_vmac,daemon,rep,bound_ms,advert_ms,announce_ms,resolved_ms,echo_ms,tcp_ms,outage_ms,outage_minus_bound_ms,ref_to_cut_ms,reference_unix_ns,load1,note"
    );
    let o = |v: Option<i64>| v.map_or(String::new(), |v| format!("{:.3}", ms(v)));
    for r in results {
        let c = &r.case;
        for s in &r.samples {
            let _ = writeln!(
                f,
                "{},{},{},{},{:?},{},{},{},{:.3},{},{},{},{},{},{},{},{},{},{:.2},\"{}\"",
                c.key(),
                c.family.version(),
                if c.family.ipv6() { "ipv6" } else { "ipv4" },
                fmt_secs(c.int_cs),
                c.cut,
                c.vmac,
                s.daemon,
                s.rep,
                ms(s.bound),
                o(s.advert),
                o(s.announce),
                o(s.resolved),
                o(s.echo),
                o(s.tcp),
                o(s.outage()),
                o(s.outage().map(|x| x - s.bound)),
                o(s.ref_to_cut),
                s.reference.map_or(String::new(), |t| t.to_string()),
                s.load1,
                s.note.trim()
            );
        }
    }
    Ok(())
}
