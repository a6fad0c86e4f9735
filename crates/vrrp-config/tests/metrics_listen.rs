//! `metrics_listen` (a vrrpd keyword in global_defs).

#[test]
fn metrics_listen_parses_and_rejects_garbage() {
    let ok = vrrp_config::parse_str(
        "m.conf",
        "global_defs {\n    metrics_listen 127.0.0.1:9650\n}\n",
    )
    .expect("valid");
    assert_eq!(
        ok.config.global.metrics_listen,
        Some("127.0.0.1:9650".parse().expect("address"))
    );
    let errors =
        vrrp_config::parse_str("m.conf", "global_defs {\n    metrics_listen localhost\n}\n")
            .expect_err("invalid");
    assert_eq!((errors[0].line, errors[0].column), (2, 20));
    assert!(
        errors[0].message.contains("metrics_listen"),
        "{}",
        errors[0]
    );
}
