//! The example configurations in docs/examples load.

use std::path::Path;

#[test]
fn load_sharing_examples_load_with_opposite_homes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples");
    let a = vrrp_config::load(&dir.join("router-a.conf")).expect("router-a.conf");
    let b = vrrp_config::load(&dir.join("router-b.conf")).expect("router-b.conf");
    let prio = |c: &vrrp_config::Config, name: &str| c.instance(name).expect(name).priority;
    assert_eq!((prio(&a.config, "GW1"), prio(&a.config, "GW2")), (200, 100));
    assert_eq!((prio(&b.config, "GW1"), prio(&b.config, "GW2")), (100, 200));
}
