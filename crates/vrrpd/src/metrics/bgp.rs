//! The series of `bgp_announce`: one gauge per VIP (1 while its route is installed for FRR to
//! announce) and its transitions, from the `announcements` of the `lvs` document.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use vrrp_control::BgpAnnouncement;

use super::Labels;

/// Adds `vrrpd_bgp_announced{vip}` and `vrrpd_bgp_transitions_total{vip}`.
pub(super) fn register(registry: &mut Registry, announcements: &[BgpAnnouncement]) {
    if announcements.is_empty() {
        return;
    }
    let announced = Family::<Labels, Gauge>::default();
    let transitions = Family::<Labels, Counter>::default();
    for a in announcements {
        let vip: Labels = vec![("vip".into(), a.vip.clone())];
        transitions.get_or_create(&vip).inc_by(a.transitions);
        announced.get_or_create(&vip).set(i64::from(a.announced));
    }
    registry.register(
        "vrrpd_bgp_announced",
        "Whether the VIP's route is installed for FRR to announce (bgp_announce)",
        announced,
    );
    registry.register(
        "vrrpd_bgp_transitions",
        "Times the VIP was announced or withdrawn",
        transitions,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_gauge_per_vip_with_the_reason() {
        let a = |vip: &str, announced: bool, why: Option<&str>| BgpAnnouncement {
            vip: vip.into(),
            announced,
            withheld: why.map(Into::into),
            services: vec![],
            transitions: 3,
            error: None,
        };
        let mut registry = Registry::default();
        register(
            &mut registry,
            &[
                a("10.0.0.1", true, None),
                a("10.0.0.2", false, Some("no-quorum")),
            ],
        );
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        for want in [
            r#"vrrpd_bgp_announced{vip="10.0.0.1"} 1"#,
            r#"vrrpd_bgp_announced{vip="10.0.0.2"} 0"#,
            r#"vrrpd_bgp_transitions_total{vip="10.0.0.1"} 3"#,
        ] {
            assert!(text.contains(want), "{want} in\n{text}");
        }
    }
}
