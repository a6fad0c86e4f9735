//! Real servers for the load-balancer tests, in lab nodes: nginx, dnsmasq, aiosmtpd, socat.
//!
//! nginx runs in the foreground with one process (`master_process off`), so that the lab
//! stops it by the PID it started, like every other process of a lab.

use std::path::PathBuf;
use std::time::Duration;

use crate::{Error, Node, Proc, Result, find_tool, wait_until};

/// An nginx web server in a node: `/` answers with the server's name and a newline,
/// `/health` with `ok`, `/host` with the request's Host and `/sni` with the TLS server
/// name (each and a newline), and every other path is served from its document root.
#[derive(Debug)]
pub struct Nginx {
    proc: Proc,
    root: PathBuf,
    /// The plain HTTP port.
    pub port: u16,
    /// The HTTPS port, when started with TLS (a certificate made by `openssl`).
    pub tls_port: Option<u16>,
    ca: Option<PathBuf>,
}

impl Nginx {
    /// Starts nginx on `node`, listening on every address of the node on `port` (IPv4 and
    /// IPv6), answering `name` on `/`.
    pub fn start(node: &Node, name: &str, port: u16) -> Result<Nginx> {
        Self::start_with(node, name, port, None)
    }

    /// [`Nginx::start`], also serving HTTPS on `tls_port`.
    pub fn start_with(node: &Node, name: &str, port: u16, tls_port: Option<u16>) -> Result<Nginx> {
        let nginx = find_tool("nginx").ok_or_else(|| Error::msg("nginx is not installed"))?;
        let tag = format!("nginx-{}-{port}", node.name());
        let root = node.lab_path(&format!("{tag}-root"));
        std::fs::create_dir_all(root.join("tmp"))?;
        std::fs::write(root.join("index.html"), format!("{name}\n"))?;
        let (tls, ca) = match tls_port {
            Some(p) => {
                let (block, ca) = tls_server_block(node, &tag, p)?;
                (block, Some(ca))
            }
            None => (String::new(), None),
        };
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {root}/nginx.pid;\n\
             error_log stderr warn;\nevents {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {root}/tmp;\n  \
             proxy_temp_path {root}/tmp;\n  fastcgi_temp_path {root}/tmp;\n  \
             uwsgi_temp_path {root}/tmp;\n  scgi_temp_path {root}/tmp;\n  \
             keepalive_requests 100000;\n  \
             server {{\n    listen {port} reuseport;\n    listen [::]:{port} reuseport;\n    \
             {tls}root {root};\n    location = / {{ return 200 \"{name}\\n\"; }}\n    \
             location = /health {{ return 200 \"ok\\n\"; }}\n    \
             location = /host {{ return 200 \"$http_host\\n\"; }}\n    \
             location = /sni {{ return 200 \"$ssl_server_name\\n\"; }}\n  }}\n}}\n",
            root = root.display(),
        );
        let conf_path = node.write_file(&format!("{tag}.conf"), &conf)?;
        let conf_arg = conf_path.to_string_lossy().into_owned();
        let proc = node.spawn(
            &nginx.to_string_lossy(),
            &["-c", &conf_arg, "-e", "stderr"],
            &[],
        )?;
        let server = Nginx {
            proc,
            root,
            port,
            tls_port,
            ca,
        };
        let addr = node.ipv4().to_string();
        let up = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
            node.run("bash", &["-c", &format!("exec 3<>/dev/tcp/{addr}/{port}")])
                .is_ok_and(|o| o.status.success())
        });
        if !up {
            return Err(Error::msg(format!(
                "nginx on {} did not listen on port {port}: {}",
                node.name(),
                server.proc.tail(20)
            )));
        }
        Ok(server)
    }

    /// Writes a file under the document root (served at `/NAME`).
    pub fn put(&self, name: &str, body: &[u8]) -> Result<()> {
        std::fs::write(self.root.join(name), body)?;
        Ok(())
    }

    /// Deletes a file under the document root (`/NAME` then answers 404).
    pub fn remove(&self, name: &str) -> Result<()> {
        std::fs::remove_file(self.root.join(name))?;
        Ok(())
    }

    /// The process.
    pub fn proc(&self) -> &Proc {
        &self.proc
    }

    /// The certificate of the CA that signed the HTTPS certificate (PEM), when started with
    /// TLS.
    pub fn ca(&self) -> Option<&std::path::Path> {
        self.ca.as_deref()
    }

    /// Stops it (SIGKILL) and waits for it to exit.
    pub fn kill(&self) -> Result<()> {
        self.proc.kill_and_wait()
    }
}

/// The `listen ... ssl` lines and certificate of an HTTPS server, and the path of its CA:
/// `openssl` makes a CA and a certificate for the node's name (CN and subjectAltName)
/// signed by it, in the lab directory (a verifying client needs a real chain: WebPKI
/// refuses a self-signed CA certificate as a server's).
fn tls_server_block(node: &Node, tag: &str, port: u16) -> Result<(String, PathBuf)> {
    let ca = node.lab_path(&format!("{tag}-ca.crt"));
    let ca_key = node.lab_path(&format!("{tag}-ca.key"));
    let cert = node.lab_path(&format!("{tag}.crt"));
    let key = node.lab_path(&format!("{tag}.key"));
    let (ca_s, ca_key_s) = (ca.to_string_lossy(), ca_key.to_string_lossy());
    let (cert_s, key_s) = (cert.to_string_lossy(), key.to_string_lossy());
    node.run_ok(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=vrrpd lab CA",
            "-keyout",
            &ca_key_s,
            "-out",
            &ca_s,
        ],
    )?;
    let subject = format!("/CN={}", node.name());
    let san = format!("subjectAltName=DNS:{}", node.name());
    node.run_ok(
        "openssl",
        &[
            "req",
            "-x509",
            "-CA",
            &ca_s,
            "-CAkey",
            &ca_key_s,
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &subject,
            "-addext",
            &san,
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
            &key_s,
            "-out",
            &cert_s,
        ],
    )?;
    let block = format!(
        "listen {port} ssl reuseport;\n    listen [::]:{port} ssl reuseport;\n    \
         ssl_certificate {cert_s};\n    ssl_certificate_key {key_s};\n    "
    );
    Ok((block, ca))
}

/// Waits until something in `node` listens on `port` (`ss`; `udp` or `tcp`), or fails
/// with the tail of `proc`'s output.
fn wait_listening(node: &Node, proc: &Proc, what: &str, proto: &str, port: u16) -> Result<()> {
    let flag = if proto == "udp" { "-Hlun" } else { "-Hltn" };
    let filter = format!("sport = :{port}");
    let up = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        node.run("ss", &[flag, &filter])
            .is_ok_and(|o| !o.stdout.is_empty())
    });
    if up {
        return Ok(());
    }
    Err(Error::msg(format!(
        "{what} on {} did not listen on {proto} port {port}: {}",
        node.name(),
        proc.tail(20)
    )))
}

/// A DNS server in a node: dnsmasq, authoritative for `lab.test` (so SOA queries for it are
/// answered), with `www.lab.test` pointing at the node; with no upstream, other names are
/// refused.
#[derive(Debug)]
pub struct Dnsmasq {
    proc: Proc,
    /// The port (UDP and TCP).
    pub port: u16,
}

impl Dnsmasq {
    /// The zone it serves.
    pub const ZONE: &'static str = "lab.test";

    /// Starts dnsmasq on `node`'s IPv4 address, `port`.
    pub fn start(node: &Node, port: u16) -> Result<Dnsmasq> {
        let dnsmasq = find_tool("dnsmasq").ok_or_else(|| Error::msg("dnsmasq is not installed"))?;
        let ip = node.ipv4().to_string();
        let args = [
            "--keep-in-foreground".to_string(),
            "--log-facility=-".to_string(),
            "--conf-file=/dev/null".to_string(),
            "--no-resolv".to_string(),
            "--no-hosts".to_string(),
            "--pid-file=".to_string(),
            "--user=root".to_string(),
            "--bind-interfaces".to_string(),
            format!("--listen-address={ip}"),
            format!("--port={port}"),
            format!("--auth-server=ns.{},{ip}", Self::ZONE),
            format!("--auth-zone={}", Self::ZONE),
            format!("--host-record=www.{},{ip}", Self::ZONE),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let proc = node.spawn(&dnsmasq.to_string_lossy(), &args, &[])?;
        wait_listening(node, &proc, "dnsmasq", "udp", port)?;
        Ok(Dnsmasq { proc, port })
    }

    /// The process.
    pub fn proc(&self) -> &Proc {
        &self.proc
    }

    /// Stops it (SIGKILL) and waits for it to exit.
    pub fn kill(&self) -> Result<()> {
        self.proc.kill_and_wait()
    }
}

/// An SMTP server in a node: `python3 -m aiosmtpd` (Debian's python3-aiosmtpd), which
/// accepts and discards mail, or, started with [`Smtpd::start_recording`], keeps each
/// message for [`Smtpd::mails`].
#[derive(Debug)]
pub struct Smtpd {
    proc: Proc,
    /// The port.
    pub port: u16,
}

/// A message an [`Smtpd::start_recording`] server took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The name the client gave in HELO/EHLO.
    pub helo: String,
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The envelope recipients (`RCPT TO`).
    pub rcpt_to: Vec<String>,
    /// The message (headers, blank line, body), lines ending in `\n`.
    pub data: String,
}

impl Mail {
    /// The first header `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut lines = self.data.lines().take_while(|l| !l.is_empty()).peekable();
        while let Some(l) = lines.next() {
            let Some((key, value)) = l.split_once(':') else {
                continue;
            };
            if key.eq_ignore_ascii_case(name) {
                let mut v = value.trim().to_owned();
                while let Some(more) = lines.next_if(|l| l.starts_with([' ', '\t'])) {
                    v.push(' ');
                    v.push_str(more.trim());
                }
                return Some(v);
            }
        }
        None
    }

    /// The body: what follows the blank line after the headers.
    pub fn body(&self) -> &str {
        self.data.split_once("\n\n").map_or("", |(_, b)| b)
    }
}

/// The recording handler: each message on stdout, flushed, ended by `MAIL_END`.
const RECORDER: &str = r#"
import sys, time
from aiosmtpd.controller import Controller
class Recorder:
    async def handle_DATA(self, server, session, envelope):
        text = envelope.content.decode("utf-8", "replace").replace("\r\n", "\n")
        sys.stdout.write("HELO %s\nFROM %s\nTO %s\n%s\n%s\n" % (
            session.host_name, envelope.mail_from, " ".join(envelope.rcpt_tos), text, "MAIL_END"))
        sys.stdout.flush()
        return "250 OK"
Controller(Recorder(), hostname=sys.argv[1], port=int(sys.argv[2])).start()
while True:
    time.sleep(3600)
"#;

fn python() -> Result<PathBuf> {
    // Debian's python3, which has the module (a python3 earlier in PATH may not).
    ["/usr/bin/python3"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| find_tool("python3"))
        .ok_or_else(|| Error::msg("python3 is not installed"))
}

impl Smtpd {
    /// Starts aiosmtpd on `node`'s IPv4 address, `port`.
    pub fn start(node: &Node, port: u16) -> Result<Smtpd> {
        let listen = format!("{}:{port}", node.ipv4());
        let proc = node.spawn(
            &python()?.to_string_lossy(),
            &["-m", "aiosmtpd", "-n", "-l", &listen],
            &[],
        )?;
        wait_listening(node, &proc, "aiosmtpd", "tcp", port)?;
        Ok(Smtpd { proc, port })
    }

    /// Starts an aiosmtpd server on `node`'s IPv4 address, `port`, that keeps every
    /// message it takes (see [`Smtpd::mails`]).
    pub fn start_recording(node: &Node, port: u16) -> Result<Smtpd> {
        let (addr, port_text) = (node.ipv4().to_string(), port.to_string());
        let proc = node.spawn(
            &python()?.to_string_lossy(),
            &["-c", RECORDER, &addr, &port_text],
            &[],
        )?;
        wait_listening(node, &proc, "aiosmtpd", "tcp", port)?;
        Ok(Smtpd { proc, port })
    }

    /// The messages a recording server took so far, in order.
    pub fn mails(&self) -> Vec<Mail> {
        let out = std::fs::read_to_string(self.proc.stdout_path()).unwrap_or_default();
        out.split("MAIL_END\n")
            .filter_map(|chunk| {
                let chunk = chunk.trim_start_matches('\n');
                let (helo, rest) = chunk.strip_prefix("HELO ")?.split_once('\n')?;
                let (from, rest) = rest.strip_prefix("FROM ")?.split_once('\n')?;
                let (to, data) = rest.strip_prefix("TO ")?.split_once('\n')?;
                Some(Mail {
                    helo: helo.to_owned(),
                    mail_from: from.to_owned(),
                    rcpt_to: to.split(' ').map(str::to_owned).collect(),
                    data: data.to_owned(),
                })
            })
            .collect()
    }

    /// The process.
    pub fn proc(&self) -> &Proc {
        &self.proc
    }

    /// Stops it (SIGKILL) and waits for it to exit.
    pub fn kill(&self) -> Result<()> {
        self.proc.kill_and_wait()
    }
}

/// A UDP echo server in a node: `socat UDP4-RECVFROM:PORT,fork PIPE`, each datagram echoed
/// by a child that exits at once, so nothing outlives the stopped parent for long.
#[derive(Debug)]
pub struct UdpEcho {
    proc: Proc,
    /// The port.
    pub port: u16,
}

impl UdpEcho {
    /// Starts the echo server on `node`'s IPv4 address, `port`.
    pub fn start(node: &Node, port: u16) -> Result<UdpEcho> {
        let socat = find_tool("socat").ok_or_else(|| Error::msg("socat is not installed"))?;
        let listen = format!("UDP4-RECVFROM:{port},bind={},fork", node.ipv4());
        let proc = node.spawn(&socat.to_string_lossy(), &[&listen, "PIPE"], &[])?;
        wait_listening(node, &proc, "socat", "udp", port)?;
        Ok(UdpEcho { proc, port })
    }

    /// The process.
    pub fn proc(&self) -> &Proc {
        &self.proc
    }

    /// Stops it (SIGKILL) and waits for it to exit.
    pub fn kill(&self) -> Result<()> {
        self.proc.kill_and_wait()
    }
}
