//! vrrpd: the VRRP daemon.

fn main() {
    eprintln!("vrrpd: the daemon is not built yet; see README.md");
    std::process::exit(2);
}
