//! The exact times of a failure's detection, with keepalived's retry rules.

mod common;

use common::*;
use vrrp_lb::Event;

/// delay_loop 1 s, retry 2, delay_before_retry 0.5 s: a server that starts refusing at
/// 3.0 s fails its check at 3.0, its retries at 3.5 and 4.0, and leaves at 4.0 s.
#[test]
fn a_failing_server_leaves_after_its_retries() {
    let checker = tcp(1000, 2, 500, 0);
    let spec = one(service(vec![
        real_server(1, 1, vec![checker.clone()]),
        real_server(2, 1, vec![checker.clone()]),
        real_server(3, 1, vec![checker]),
    ]));
    let mut d = Driver::new(spec, 1);
    let bad = key(3);
    d.run_until(ms(3999), up_except(bad, ms(3000)));
    assert_eq!(d.weight(bad), Some(1), "still in before its last retry");
    let status = &d.b.status()[0].real_servers[2];
    assert_eq!(status.checkers[0].consecutive_failures, 2);
    d.run_until(ms(4000), up_except(bad, ms(3000)));
    assert_eq!(d.weight(bad), None, "gone at 4.0 s");
    let down: Vec<_> = d
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::RealServerDown { .. }))
        .collect();
    assert_eq!(down.len(), 1);
    assert_eq!(down[0].0, ms(4000));
    assert_eq!(
        d.fifo(),
        ["RS [10.99.1.3]:tcp:80 [10.99.0.100]:tcp:80 DOWN"]
    );
    // Back at the next regular check after it answers again: 5.0 s.
    d.run_until(ms(6000), |c, now| {
        if c.real_server == bad && now < ms(4500) {
            vrrp_lb::check::CheckOutcome::Down("connection refused".into())
        } else {
            vrrp_lb::check::CheckOutcome::Up
        }
    });
    assert_eq!(d.weight(bad), Some(1));
    let up = d
        .events
        .iter()
        .find(|(_, e)| matches!(e, Event::RealServerUp { .. }))
        .unwrap();
    assert_eq!(up.0, ms(5000));
}
