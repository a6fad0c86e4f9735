//! `vrrpctl genhash` against nginx in a lab (`vrrp-testlab`): the digest is the MD5 of the
//! file served (as `md5sum` computes it), over HTTP and HTTPS, with the URL or genhash's
//! `--server --port --url` form. Needs root, nginx and openssl; the lab removes what it made.

use std::path::PathBuf;
use std::time::Duration;

use vrrp_testlab::{Lab, Nginx, Node, require};

fn vrrpctl() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vrrpctl"))
}

/// `vrrpctl ARGS` in `node`: exit status and stdout.
fn genhash(node: &Node, args: &[&str]) -> (bool, String) {
    let bin = vrrpctl().to_string_lossy().into_owned();
    let mut all = vec!["genhash"];
    all.extend_from_slice(args);
    let out = node
        .run_timeout(&bin, &all, Duration::from_secs(30))
        .expect("vrrpctl genhash");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn digest_is_the_md5_of_the_served_file() {
    require!("nginx", "openssl", "md5sum");
    let mut lab = Lab::new("genhash").expect("lab");
    let server = lab.add_host("rs1").expect("rs1");
    let client = lab.add_host("client").expect("client");
    let web = Nginx::start_with(&server, "rs1", 8080, Some(8443)).expect("nginx");
    // Some kilobytes that are not text, so that a digest of the wrong bytes shows.
    let body: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
    web.put("page.bin", &body).expect("put");
    let file = lab.write_file("page.bin", "").expect("path");
    std::fs::write(&file, &body).expect("write");
    let md5sum = client
        .run_ok("md5sum", &[&file.to_string_lossy()])
        .expect("md5sum");
    let want = md5sum
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string();
    let ip = server.ipv4().to_string();

    let (ok, out) = genhash(&client, &[&format!("http://{ip}:8080/page.bin")]);
    assert!(ok, "{out}");
    assert_eq!(out.trim(), format!("MD5SUM = {want}"));

    let (ok, out) = genhash(
        &client,
        &[
            "--server",
            &ip,
            "--port",
            "8443",
            "--url",
            "/page.bin",
            "--ssl",
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(out.trim(), format!("MD5SUM = {want}"));

    // genhash's one-letter options, HTTP/1.1, and -v: the header and the digest last.
    let (ok, out) = genhash(
        &client,
        &[
            "-s",
            &ip,
            "-p",
            "8080",
            "-u",
            "/page.bin",
            "-P",
            "1.1",
            "-v",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("HTTP Header Ascii Buffer"), "{out}");
    assert!(out.contains("200 OK"), "{out}");
    assert_eq!(out.trim().lines().last(), Some(want.as_str()), "{out}");

    // The Host header goes where --vhost says.
    let (ok, out) = genhash(
        &client,
        &[
            &format!("http://{ip}:8080/host"),
            "--vhost",
            "www.example",
            "-v",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("www.example"), "{out}");

    // A server that does not answer: an error, not a digest.
    let (ok, out) = genhash(&client, &[&format!("http://{ip}:9/"), "--timeout", "2"]);
    assert!(!ok && !out.contains("MD5SUM"), "{out}");
    drop(lab);
}
