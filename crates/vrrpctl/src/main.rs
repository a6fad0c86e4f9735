//! vrrpctl: status, operator actions and wire diagnosis for vrrpd.

fn main() {
    eprintln!("vrrpctl: not built yet; see README.md");
    std::process::exit(2);
}
