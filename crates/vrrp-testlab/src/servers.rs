//! Real servers for the load-balancer tests: Debian's nginx in a lab node.
//!
//! nginx runs in the foreground with one process (`master_process off`), so that the lab
//! stops it by the PID it started, like every other process of a lab.

use std::path::PathBuf;
use std::time::Duration;

use crate::{Error, Node, Proc, Result, find_tool, wait_until};

/// An nginx web server in a node: `/` answers with the server's name and a newline,
/// `/health` with `ok`, and every other path is served from its document root.
#[derive(Debug)]
pub struct Nginx {
    proc: Proc,
    root: PathBuf,
    /// The plain HTTP port.
    pub port: u16,
    /// The HTTPS port, when started with TLS (a self-signed certificate made by `openssl`).
    pub tls_port: Option<u16>,
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
        let tls = match tls_port {
            Some(p) => tls_server_block(node, &tag, p)?,
            None => String::new(),
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
             location = /health {{ return 200 \"ok\\n\"; }}\n  }}\n}}\n",
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

    /// The process.
    pub fn proc(&self) -> &Proc {
        &self.proc
    }

    /// Stops it (SIGKILL) and waits for it to exit.
    pub fn kill(&self) -> Result<()> {
        self.proc.kill_and_wait()
    }
}

/// The `listen ... ssl` lines and certificate of an HTTPS server, with a self-signed
/// certificate for the node's name made by `openssl` in the lab directory.
fn tls_server_block(node: &Node, tag: &str, port: u16) -> Result<String> {
    let cert = node.lab_path(&format!("{tag}.crt"));
    let key = node.lab_path(&format!("{tag}.key"));
    let (cert_s, key_s) = (cert.to_string_lossy(), key.to_string_lossy());
    let subject = format!("/CN={}", node.name());
    node.run_ok(
        "openssl",
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", &subject,
            "-keyout", &key_s, "-out", &cert_s,
        ],
    )?;
    Ok(format!(
        "listen {port} ssl reuseport;\n    listen [::]:{port} ssl reuseport;\n    \
         ssl_certificate {cert_s};\n    ssl_certificate_key {key_s};\n    "
    ))
}
