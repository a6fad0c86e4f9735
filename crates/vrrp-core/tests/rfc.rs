//! One test per normative sentence of RFC 3768, RFC 5798 and RFC 9568 that the protocol
//! core implements (plus keepalived behaviour vrrpd keeps), driven through the public API
//! of [`vrrp_core::Instance`] with explicit time stamps. `docs/rfc-coverage.md` maps each
//! test to its section.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use vrrp_core::{
    Advertisement, Auth, ChecksumForm, DecodeError, Input, Instance, InstanceConfig, MasterInfo,
    Output, ReceiveError, Role, State, Timestamp, TransitionReason, Version,
};

// ---- helpers ---------------------------------------------------------------------------

const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const LOWER_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 5);
const HIGHER_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 20);
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn ip(a: Ipv4Addr) -> IpAddr {
    IpAddr::V4(a)
}

fn t(micros: u64) -> Timestamp {
    Timestamp::from_micros(micros)
}

fn us(micros: u64) -> Duration {
    Duration::from_micros(micros)
}

fn config_v3(priority: u8) -> InstanceConfig {
    let mut c = InstanceConfig::new("vi", 7, ip(LOCAL));
    c.priority = priority;
    c.addresses = vec![ip(VIP)];
    c
}

fn config_v2(priority: u8) -> InstanceConfig {
    let mut c = config_v3(priority);
    c.version = Version::V2;
    c.checksum_form = ChecksumForm::MessageOnly;
    c
}

/// An advertisement as a peer with the same configuration as `config` would send it.
fn adv_for(config: &InstanceConfig, priority: u8) -> Advertisement {
    Advertisement {
        version: config.version,
        vrid: config.vrid,
        priority,
        interval_cs: config.advert_interval_cs,
        auth: config.auth.clone(),
        addresses: config.addresses.clone(),
    }
}

/// The advertisement `inst` itself sends with `priority`.
fn own_adv(inst: &Instance, priority: u8) -> Advertisement {
    adv_for(inst.config(), priority)
}

/// The output of an advertisement dropped by a receive check.
fn discarded(error: ReceiveError) -> Output {
    Output::ReceiveError {
        error,
        discard: true,
    }
}

fn drain(inst: &mut Instance) -> Vec<Output> {
    std::iter::from_fn(|| inst.poll_output()).collect()
}

fn recv(inst: &mut Instance, now: Timestamp, src: Ipv4Addr, adv: &Advertisement) -> Vec<Output> {
    inst.handle(
        now,
        Input::Advertisement {
            src: ip(src),
            advertisement: adv,
            checksum_form: None,
        },
    );
    drain(inst)
}

fn fire(inst: &mut Instance, now: Timestamp) -> Vec<Output> {
    inst.handle(now, Input::Timeout);
    drain(inst)
}

fn started(config: InstanceConfig, now: Timestamp) -> Instance {
    let mut inst = Instance::new(config);
    inst.handle(now, Input::Startup);
    drain(&mut inst);
    inst
}

/// A non-owner started at 0 and made Master by its down timer.
fn master(config: InstanceConfig) -> (Instance, Timestamp) {
    let mut inst = started(config, Timestamp::ZERO);
    let at = inst.poll_timeout().expect("down timer");
    fire(&mut inst, at);
    assert_eq!(inst.state(), State::Master);
    (inst, at)
}

fn state_changed(from: State, to: State, reason: TransitionReason) -> Output {
    Output::StateChanged { from, to, reason }
}

fn self_master(inst: &Instance, since: Timestamp) -> Output {
    Output::MasterChanged(Some(MasterInfo {
        address: inst.config().primary_address,
        priority: inst.effective_priority(),
        interval_cs: inst.config().advert_interval_cs,
        since,
    }))
}

fn peer_master(address: Ipv4Addr, priority: u8, interval_cs: u16, since: Timestamp) -> Output {
    Output::MasterChanged(Some(MasterInfo {
        address: ip(address),
        priority,
        interval_cs,
        since,
    }))
}

// ---- RFC 5798 / RFC 9568 §6.4.1 Initialize ----------------------------------------------

/// RFC 5798 §6.4.1: "If the Priority = 255 (i.e., the router owns the IPvX address(es)
/// associated with the virtual router), then: Send an ADVERTISEMENT ... Set the Adver_Timer
/// to Advertisement_Interval ... Transition to the {Master} state".
#[test]
fn rfc5798_6_4_1_owner_startup_becomes_master() {
    let mut inst = Instance::new(config_v3(255));
    let now = t(1_000_000);
    inst.handle(now, Input::Startup);
    assert_eq!(
        drain(&mut inst),
        vec![
            Output::AddAddresses,
            Output::Send(own_adv(&inst, 255)),
            Output::Announce,
            state_changed(
                State::Initialize,
                State::Master,
                TransitionReason::StartupOwner
            ),
            self_master(&inst, now),
        ]
    );
    assert_eq!(inst.poll_timeout(), Some(t(2_000_000)));
    assert_eq!(inst.counters().master_transitions, 1);
    assert_eq!(inst.counters().sent_advertisements, 1);
}

/// RFC 5798 §6.4.1: "else // Router is not the address owner: Set Master_Adver_Interval
/// to Advertisement_Interval; Set the Master_Down_Timer to Master_Down_Interval;
/// Transition to the {Backup} state".
#[test]
fn rfc5798_6_4_1_non_owner_startup_becomes_backup() {
    let mut inst = Instance::new(config_v3(100));
    inst.handle(t(1_000_000), Input::Startup);
    assert_eq!(
        drain(&mut inst),
        vec![state_changed(
            State::Initialize,
            State::Backup,
            TransitionReason::Startup
        )]
    );
    assert_eq!(inst.master_adver_interval_cs(), 100);
    // 3 × 100 cs + (256 - 100) × 100 / 256 cs = 3.609375 s.
    assert_eq!(inst.master_down_interval(), us(3_609_375));
    assert_eq!(inst.poll_timeout(), Some(t(4_609_375)));
    assert_eq!(inst.master(), None);
}

/// RFC 3768 §6.4.1: "else: Set the Master_Down_Timer to Master_Down_Interval; Transition
/// to the {Backup} state" (VRRPv2, Skew_Time = (256 - Priority) / 256 seconds).
#[test]
fn rfc3768_6_4_1_non_owner_startup_becomes_backup() {
    let mut inst = Instance::new(config_v2(200));
    inst.handle(t(0), Input::Startup);
    assert_eq!(
        drain(&mut inst),
        vec![state_changed(
            State::Initialize,
            State::Backup,
            TransitionReason::Startup
        )]
    );
    // 3 s + 56/256 s.
    assert_eq!(inst.poll_timeout(), Some(t(3_218_750)));
}

/// RFC 3768 §6.4.1: "If the Priority = 255 ... Send an ADVERTISEMENT ... Set the
/// Adver_Timer to Advertisement_Interval; Transition to the {Master} state" (VRRPv2).
#[test]
fn rfc3768_6_4_1_owner_startup_becomes_master() {
    let mut inst = Instance::new(config_v2(255));
    inst.handle(t(5), Input::Startup);
    let out = drain(&mut inst);
    assert_eq!(out[1], Output::Send(own_adv(&inst, 255)));
    assert_eq!(inst.state(), State::Master);
    assert_eq!(inst.poll_timeout(), Some(t(1_000_005)));
}

/// vrrpd observer role: on Startup an observer listens, with a Master_Down_Timer computed
/// as for a priority-1 Backup, and never advertises.
#[test]
fn vrrpd_observer_startup_listens() {
    let mut config = config_v3(100);
    config.role = Role::Observer;
    let mut inst = Instance::new(config);
    inst.handle(t(0), Input::Startup);
    assert_eq!(
        drain(&mut inst),
        vec![state_changed(
            State::Initialize,
            State::Observer,
            TransitionReason::Startup
        )]
    );
    // 3 s + 255/256 s.
    assert_eq!(inst.poll_timeout(), Some(t(3_996_093)));
    // Nobody was ever heard: silence changes nothing.
    assert_eq!(fire(&mut inst, t(3_996_093)), vec![]);
    assert_eq!(inst.poll_timeout(), None);
}

// ---- §6.4.2 Backup ---------------------------------------------------------------------

/// RFC 5798 §6.4.2: a Backup "MUST NOT respond to ARP requests for the IPv4 address(es)
/// associated with the virtual router" and "MUST NOT accept packets addressed to the IPvX
/// address(es)": it holds no addresses, announces nothing and sends no advertisement.
#[test]
fn rfc5798_6_4_2_backup_must_not_send() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    let mut out = Vec::new();
    for i in 1..=10u64 {
        out.extend(recv(
            &mut inst,
            t(i * 1_000_000),
            HIGHER_ADDR,
            &adv_for(&config, 150),
        ));
        out.extend(fire(&mut inst, t(i * 1_000_000 + 1)));
    }
    assert_eq!(out, vec![peer_master(HIGHER_ADDR, 150, 100, t(1_000_000))]);
    assert_eq!(inst.state(), State::Backup);
    assert_eq!(inst.counters().sent_advertisements, 0);
}

/// RFC 5798 §6.4.2: "If the Master_Down_Timer fires, then: Send an ADVERTISEMENT;
/// broadcast a gratuitous ARP ... Set the Adver_Timer to Advertisement_Interval;
/// Transition to the {Master} state".
#[test]
fn rfc5798_6_4_2_backup_down_timer_fires_becomes_master() {
    let mut inst = started(config_v3(100), t(0));
    // A spurious early wake-up does nothing.
    assert_eq!(fire(&mut inst, t(3_609_374)), vec![]);
    assert_eq!(inst.state(), State::Backup);
    let out = fire(&mut inst, t(3_609_375));
    assert_eq!(
        out,
        vec![
            Output::AddAddresses,
            Output::Send(own_adv(&inst, 100)),
            Output::Announce,
            state_changed(
                State::Backup,
                State::Master,
                TransitionReason::MasterDownTimer
            ),
            self_master(&inst, t(3_609_375)),
        ]
    );
    assert_eq!(inst.poll_timeout(), Some(t(4_609_375)));
    assert_eq!(inst.counters().master_transitions, 1);
}

/// RFC 5798 §6.4.2: "If the Priority in the ADVERTISEMENT is zero, then: Set the
/// Master_Down_Timer to Skew_Time".
#[test]
fn rfc5798_6_4_2_backup_priority_zero_sets_down_timer_to_skew_time() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv_for(&config, 200));
    assert_eq!(
        recv(&mut inst, t(2_000_000), HIGHER_ADDR, &adv_for(&config, 0)),
        vec![]
    );
    // Skew_Time = 156 × 100 / 256 cs.
    assert_eq!(inst.poll_timeout(), Some(t(2_609_375)));
    assert_eq!(inst.counters().rcvd_pri_zero_packets, 1);
}

/// RFC 5798 §6.4.2: after a priority-0 advertisement the Backup takes over when Skew_Time
/// runs out ("If the Master_Down_Timer fires ... Transition to the {Master} state").
#[test]
fn rfc5798_6_4_2_backup_takes_over_after_skew_time_on_priority_zero() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    recv(&mut inst, t(2_000_000), HIGHER_ADDR, &adv_for(&config, 0));
    let out = fire(&mut inst, t(2_609_375));
    assert_eq!(
        out[3],
        state_changed(
            State::Backup,
            State::Master,
            TransitionReason::PriorityZeroReceived
        )
    );
}

/// RFC 5798 §6.4.2: "If Preempt_Mode is False, or if the Priority in the ADVERTISEMENT is
/// greater than or equal to the local Priority, then: ... Reset the Master_Down_Timer to
/// Master_Down_Interval" (higher priority).
#[test]
fn rfc5798_6_4_2_backup_higher_priority_resets_down_timer() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    recv(&mut inst, t(2_500_000), HIGHER_ADDR, &adv_for(&config, 101));
    assert_eq!(inst.poll_timeout(), Some(t(6_109_375)));
}

/// RFC 5798 §6.4.2: "... greater than or equal to the local Priority ... Reset the
/// Master_Down_Timer" (equal priority).
#[test]
fn rfc5798_6_4_2_backup_equal_priority_resets_down_timer() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    recv(&mut inst, t(2_500_000), LOWER_ADDR, &adv_for(&config, 100));
    assert_eq!(inst.poll_timeout(), Some(t(6_109_375)));
}

/// RFC 5798 §6.4.2: "else // preempt was true and priority was less than the local
/// priority: Discard the ADVERTISEMENT" (the down timer runs out: preemption).
#[test]
fn rfc5798_6_4_2_backup_preempts_lower_priority_master() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    for i in 1..=3u64 {
        recv(
            &mut inst,
            t(i * 1_000_000),
            HIGHER_ADDR,
            &adv_for(&config, 50),
        );
        assert_eq!(inst.poll_timeout(), Some(t(3_609_375)));
    }
    fire(&mut inst, t(3_609_375));
    assert_eq!(inst.state(), State::Master);
}

/// RFC 5798 §6.1 / §6.4.2: "If Preempt_Mode is False ... Reset the Master_Down_Timer":
/// without preemption a lower-priority Master is kept.
#[test]
fn rfc5798_6_4_2_backup_preempt_off_keeps_lower_priority_master() {
    let mut config = config_v3(100);
    config.preempt = false;
    let mut inst = started(config.clone(), t(0));
    for i in 1..=10u64 {
        recv(
            &mut inst,
            t(i * 1_000_000),
            HIGHER_ADDR,
            &adv_for(&config, 50),
        );
        assert_eq!(inst.poll_timeout(), Some(t(i * 1_000_000 + 3_609_375)));
    }
    assert_eq!(inst.state(), State::Backup);
}

/// RFC 5798 §6.4.2: "Set Master_Adver_Interval to Adver Interval contained in the
/// ADVERTISEMENT; Recompute the Master_Down_Interval".
#[test]
fn rfc5798_6_4_2_backup_learns_master_adver_interval() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    let mut adv = adv_for(&config, 200);
    adv.interval_cs = 50;
    assert_eq!(
        recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv),
        vec![peer_master(HIGHER_ADDR, 200, 50, t(1_000_000))]
    );
    assert_eq!(inst.master_adver_interval_cs(), 50);
    // 3 × 50 cs + 156 × 50 / 256 cs = 1.5 s + 304.6875 ms (rounded down to the µs).
    assert_eq!(inst.master_down_interval(), us(1_804_687));
    assert_eq!(inst.poll_timeout(), Some(t(2_804_687)));
    assert_eq!(inst.counters().adv_interval_errors, 0);
}

/// RFC 9568 §6.4.2: "Set the Active_Adver_Interval to the Max Advertise Interval contained
/// in the ADVERTISEMENT; Recompute the Skew_Time; Recompute the Active_Down_Interval".
#[test]
fn rfc9568_6_4_2_backup_recomputes_skew_time_from_learned_interval() {
    let config = config_v3(200);
    let mut inst = started(config.clone(), t(0));
    assert_eq!(inst.skew_time(), us(218_750));
    let mut adv = adv_for(&config, 250);
    adv.interval_cs = 400;
    recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv);
    // 56 × 400 / 256 cs = 875 ms.
    assert_eq!(inst.skew_time(), us(875_000));
    assert_eq!(inst.master_down_interval(), us(12_875_000));
    assert_eq!(inst.poll_timeout(), Some(t(13_875_000)));
    // A later Master with another interval is learned again.
    adv.interval_cs = 10;
    recv(&mut inst, t(2_000_000), HIGHER_ADDR, &adv);
    assert_eq!(inst.skew_time(), us(21_875));
    assert_eq!(inst.poll_timeout(), Some(t(2_321_875)));
}

/// RFC 3768 §6.1: "Skew_Time: Time to skew Master_Down_Interval in seconds. Calculated as:
/// ( (256 - Priority) / 256 )" — in VRRPv2 it does not depend on the interval.
#[test]
fn rfc3768_6_1_backup_skew_independent_of_interval() {
    let mut config = config_v2(100);
    config.advert_interval_cs = 300;
    let inst = started(config, t(0));
    assert_eq!(inst.skew_time(), us(609_375));
    assert_eq!(inst.master_down_interval(), us(9_609_375));
    assert_eq!(inst.poll_timeout(), Some(t(9_609_375)));
}

/// RFC 3768 §6.4.2: "If the Priority in the ADVERTISEMENT is Zero, then: Set the
/// Master_Down_Timer to Skew_Time" (VRRPv2: seconds, whatever the interval).
#[test]
fn rfc3768_6_4_2_backup_priority_zero_sets_down_timer_to_skew_time() {
    let mut config = config_v2(100);
    config.advert_interval_cs = 500;
    let mut inst = started(config.clone(), t(0));
    recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv_for(&config, 0));
    assert_eq!(inst.poll_timeout(), Some(t(1_609_375)));
}

/// RFC 5798 §6.1: the Advertisement_Interval is in centiseconds; down to 1 cs the timers
/// keep microsecond precision (3 × 1 cs + 156/256 cs).
#[test]
fn rfc5798_6_1_centisecond_interval_one_cs() {
    let mut config = config_v3(100);
    config.advert_interval_cs = 1;
    let mut inst = started(config, t(0));
    assert_eq!(inst.skew_time(), us(6_093));
    assert_eq!(inst.poll_timeout(), Some(t(36_093)));
    fire(&mut inst, t(36_093));
    assert_eq!(inst.state(), State::Master);
    assert_eq!(inst.poll_timeout(), Some(t(46_093)));
    let out = fire(&mut inst, t(46_093));
    assert_eq!(out, vec![Output::Send(own_adv(&inst, 100))]);
    assert_eq!(inst.poll_timeout(), Some(t(56_093)));
}

/// RFC 5798 §6.4.2: "If a Shutdown event is received, then: Cancel the Master_Down_Timer;
/// Transition to the {Initialize} state".
#[test]
fn rfc5798_6_4_2_backup_shutdown_cancels_down_timer() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv_for(&config, 200));
    inst.handle(t(1_500_000), Input::Shutdown);
    assert_eq!(
        drain(&mut inst),
        vec![
            state_changed(State::Backup, State::Initialize, TransitionReason::Shutdown),
            Output::MasterChanged(None),
        ]
    );
    assert_eq!(inst.poll_timeout(), None);
    assert_eq!(inst.master(), None);
}

/// vrrpd: a Backup reports the Master it hears (address, priority, interval, since when),
/// and every change of it.
#[test]
fn vrrpd_backup_reports_master_changes() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    let adv = adv_for(&config, 200);
    assert_eq!(
        recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv),
        vec![peer_master(HIGHER_ADDR, 200, 100, t(1_000_000))]
    );
    assert_eq!(recv(&mut inst, t(2_000_000), HIGHER_ADDR, &adv), vec![]);
    // Same Master, new priority: `since` is kept.
    assert_eq!(
        recv(&mut inst, t(3_000_000), HIGHER_ADDR, &adv_for(&config, 180)),
        vec![peer_master(HIGHER_ADDR, 180, 100, t(1_000_000))]
    );
    // A router that would lose the election is not the Master.
    assert_eq!(
        recv(&mut inst, t(3_100_000), LOWER_ADDR, &adv_for(&config, 150)),
        vec![]
    );
    assert_eq!(
        inst.master(),
        Some(MasterInfo {
            address: ip(HIGHER_ADDR),
            priority: 180,
            interval_cs: 100,
            since: t(1_000_000),
        })
    );
}

// ---- keepalived preempt_delay ----------------------------------------------------------

/// keepalived `preempt_delay`: "Seconds after startup or seeing a lower priority master
/// until preemption". Counted here from startup: lower-priority advertisements keep the
/// Master alive until the delay has passed, then are discarded (RFC 5798 §6.4.2).
#[test]
fn keepalived_preempt_delay_counts_from_startup() {
    let mut config = config_v3(100);
    config.preempt_delay = Duration::from_secs(10);
    let mut inst = started(config.clone(), t(0));
    assert_eq!(inst.preempt_deadline(), Some(t(10_000_000)));
    let low = adv_for(&config, 50);
    for i in 1..=9u64 {
        recv(&mut inst, t(i * 1_000_000), HIGHER_ADDR, &low);
        assert_eq!(inst.poll_timeout(), Some(t(i * 1_000_000 + 3_609_375)));
    }
    // From 10 s on the lower-priority Master is discarded.
    for i in 10..=12u64 {
        recv(&mut inst, t(i * 1_000_000), HIGHER_ADDR, &low);
        assert_eq!(inst.poll_timeout(), Some(t(12_609_375)));
    }
    fire(&mut inst, t(12_609_375));
    assert_eq!(inst.state(), State::Master);
}

/// keepalived `preempt_delay` after "seeing a lower priority master": a higher-priority
/// Master stops the delay; the first lower-priority advertisement after it starts it again.
#[test]
fn keepalived_preempt_delay_counts_from_first_lower_priority_master() {
    let mut config = config_v3(100);
    config.preempt_delay = Duration::from_secs(10);
    let mut inst = started(config.clone(), t(0));
    for i in 1..=20u64 {
        recv(
            &mut inst,
            t(i * 1_000_000),
            HIGHER_ADDR,
            &adv_for(&config, 200),
        );
    }
    assert_eq!(inst.preempt_deadline(), None);
    let low = adv_for(&config, 50);
    recv(&mut inst, t(21_000_000), HIGHER_ADDR, &low);
    assert_eq!(inst.preempt_deadline(), Some(t(31_000_000)));
    for i in 22..=30u64 {
        recv(&mut inst, t(i * 1_000_000), HIGHER_ADDR, &low);
    }
    assert_eq!(inst.poll_timeout(), Some(t(33_609_375)));
    recv(&mut inst, t(31_000_000), HIGHER_ADDR, &low);
    assert_eq!(inst.poll_timeout(), Some(t(33_609_375)));
    fire(&mut inst, t(33_609_375));
    assert_eq!(inst.state(), State::Master);
}

// ---- §6.4.3 Master ---------------------------------------------------------------------

/// RFC 5798 §6.4.3: "If the Adver_Timer fires, then: Send an ADVERTISEMENT; Reset the
/// Adver_Timer to Advertisement_Interval".
#[test]
fn rfc5798_6_4_3_master_adver_timer_sends_and_rearms() {
    let (mut inst, at) = master(config_v3(100));
    let next = at + Duration::from_secs(1);
    assert_eq!(inst.poll_timeout(), Some(next));
    assert_eq!(fire(&mut inst, at + us(999_999)), vec![]);
    assert_eq!(
        fire(&mut inst, next),
        vec![Output::Send(own_adv(&inst, 100))]
    );
    assert_eq!(inst.poll_timeout(), Some(next + Duration::from_secs(1)));
    assert_eq!(inst.counters().sent_advertisements, 2);
}

/// RFC 5798 §6.4.3: "If the Priority in the ADVERTISEMENT is zero, then: Send an
/// ADVERTISEMENT; Reset the Adver_Timer to Advertisement_Interval".
#[test]
fn rfc5798_6_4_3_master_priority_zero_sends_advertisement() {
    let config = config_v3(100);
    let (mut inst, at) = master(config.clone());
    let now = at + us(300_000);
    assert_eq!(
        recv(&mut inst, now, HIGHER_ADDR, &adv_for(&config, 0)),
        vec![Output::Send(own_adv(&inst, 100))]
    );
    assert_eq!(inst.poll_timeout(), Some(now + Duration::from_secs(1)));
    assert_eq!(inst.state(), State::Master);
}

/// RFC 5798 §6.4.3: "If the Priority in the ADVERTISEMENT is greater than the local
/// Priority ... Cancel Adver_Timer; Set Master_Adver_Interval to Adver Interval contained in
/// the ADVERTISEMENT; Recompute the Skew_Time; Recompute the Master_Down_Interval; Set
/// Master_Down_Timer to Master_Down_Interval; Transition to the {Backup} state".
#[test]
fn rfc5798_6_4_3_master_higher_priority_becomes_backup() {
    let config = config_v3(100);
    let (mut inst, at) = master(config.clone());
    let now = at + us(100_000);
    let mut adv = adv_for(&config, 150);
    adv.interval_cs = 200;
    assert_eq!(
        recv(&mut inst, now, HIGHER_ADDR, &adv),
        vec![
            Output::RemoveAddresses,
            state_changed(
                State::Master,
                State::Backup,
                TransitionReason::HigherPriorityAdvertisement
            ),
            peer_master(HIGHER_ADDR, 150, 200, now),
        ]
    );
    assert_eq!(inst.master_adver_interval_cs(), 200);
    // 6 s + 156 × 200 / 256 cs.
    assert_eq!(inst.poll_timeout(), Some(now + us(7_218_750)));
    assert_eq!(inst.counters().master_releases, 1);
}

/// RFC 5798 §6.4.3: "... or the Priority in the ADVERTISEMENT is equal to the local
/// Priority and the primary IPvX Address of the sender is greater than the local primary
/// IPvX Address, then: ... Transition to the {Backup} state".
#[test]
fn rfc5798_6_4_3_master_equal_priority_greater_address_becomes_backup() {
    let config = config_v3(100);
    let (mut inst, at) = master(config.clone());
    recv(&mut inst, at + us(1), HIGHER_ADDR, &adv_for(&config, 100));
    assert_eq!(inst.state(), State::Backup);
}

/// RFC 5798 §6.4.3: the tie-break compares the addresses "as unsigned integers" in network
/// byte order: 200.0.0.1 is greater than 10.0.0.1 (a signed comparison would say less).
#[test]
fn rfc5798_6_4_3_tie_break_compares_unsigned() {
    let mut config = config_v3(100);
    config.primary_address = ip(Ipv4Addr::new(10, 0, 0, 1));
    let (mut inst, at) = master(config.clone());
    recv(
        &mut inst,
        at + us(1),
        Ipv4Addr::new(200, 0, 0, 1),
        &adv_for(&config, 100),
    );
    assert_eq!(inst.state(), State::Backup);

    // IPv6 link-local sources, where the high bit differs in the interface identifier.
    let local: IpAddr = "fe80::1".parse().expect("address");
    let mut config6 = InstanceConfig::new("v6", 7, local);
    config6.addresses = vec![local];
    let (mut inst6, at) = master(config6.clone());
    let higher = IpAddr::V6("fe80::8000:0:0:1".parse::<Ipv6Addr>().expect("address"));
    inst6.handle(
        at + us(1),
        Input::Advertisement {
            src: higher,
            advertisement: &adv_for(&config6, 100),
            checksum_form: None,
        },
    );
    assert_eq!(inst6.state(), State::Backup);
}

/// RFC 5798 §6.4.3: an advertisement of equal priority from a lower address is not from a
/// better Master: it is discarded (and answered, RFC 9568).
#[test]
fn rfc5798_6_4_3_master_equal_priority_lower_address_stays_master() {
    let mut config = config_v3(100);
    config.readvertise_on_lower_priority = false;
    let (mut inst, at) = master(config.clone());
    assert_eq!(
        recv(&mut inst, at + us(1), LOWER_ADDR, &adv_for(&config, 100)),
        vec![Output::LowerPriorityHeard]
    );
    assert_eq!(inst.state(), State::Master);
}

/// RFC 9568 §6.4.3: "else // new Active Router logic: Discard the ADVERTISEMENT; Send an
/// ADVERTISEMENT immediately to assert the {Active} state to the sending VRRP Router and to
/// update any learning bridges with the correct Active VRRP Router path".
#[test]
fn rfc9568_6_4_3_master_lower_priority_readvertises() {
    let config = config_v3(100);
    let (mut inst, at) = master(config.clone());
    let now = at + us(250_000);
    assert_eq!(
        recv(&mut inst, now, LOWER_ADDR, &adv_for(&config, 50)),
        vec![
            Output::LowerPriorityHeard,
            Output::Send(own_adv(&inst, 100)),
            Output::Announce
        ]
    );
    assert_eq!(inst.poll_timeout(), Some(now + Duration::from_secs(1)));
    assert_eq!(inst.state(), State::Master);
    assert_eq!(inst.counters().rcvd_lower_priority_as_master, 1);
}

/// RFC 5798 §6.4.3: "else: Discard the ADVERTISEMENT" (RFC 5798 behaviour, keepalived's
/// `lower_prio_no_advert`).
#[test]
fn rfc5798_6_4_3_master_lower_priority_discarded() {
    let mut config = config_v3(100);
    config.readvertise_on_lower_priority = false;
    let (mut inst, at) = master(config.clone());
    assert_eq!(
        recv(&mut inst, at + us(1), HIGHER_ADDR, &adv_for(&config, 50)),
        vec![Output::LowerPriorityHeard]
    );
    assert_eq!(inst.poll_timeout(), Some(at + Duration::from_secs(1)));
}

/// RFC 5798 §6.4.3: "If a Shutdown event is received, then: Cancel the Adver_Timer; Send
/// an ADVERTISEMENT with Priority = 0; Transition to the {Initialize} state".
#[test]
fn rfc5798_6_4_3_master_shutdown_sends_priority_zero() {
    let (mut inst, at) = master(config_v3(100));
    inst.handle(at + us(10), Input::Shutdown);
    assert_eq!(
        drain(&mut inst),
        vec![
            Output::Send(own_adv(&inst, 0)),
            Output::RemoveAddresses,
            state_changed(State::Master, State::Initialize, TransitionReason::Shutdown),
            Output::MasterChanged(None),
        ]
    );
    assert_eq!(inst.poll_timeout(), None);
    assert_eq!(inst.counters().sent_pri_zero_packets, 1);
    // Startup again works.
    inst.handle(at + us(20), Input::Startup);
    assert_eq!(inst.state(), State::Backup);
}

/// RFC 3768 §6.4.3: "If a Shutdown event is received, then: Cancel the Adver_Timer; Send
/// an ADVERTISEMENT with Priority = 0; Transition to the {Initialize} state" (VRRPv2).
#[test]
fn rfc3768_6_4_3_master_shutdown_sends_priority_zero() {
    let mut config = config_v2(100);
    config.auth = Auth::simple_password("secret");
    let (mut inst, _) = master(config.clone());
    inst.handle(t(10_000_000), Input::Shutdown);
    let out = drain(&mut inst);
    assert_eq!(out[0], Output::Send(adv_for(&config, 0)));
}

/// RFC 3768 §7.2 / RFC 5798 §7.2: "Fill in the VRRP packet fields with the appropriate
/// virtual router configuration state" (VRID, version, priority, interval, auth,
/// addresses).
#[test]
fn rfc3768_7_2_advertisement_carries_configuration() {
    let mut config = config_v2(254);
    config.vrid = 42;
    config.advert_interval_cs = 300;
    config.auth = Auth::simple_password("pw");
    config.addresses = vec![ip(VIP), ip(Ipv4Addr::new(192, 0, 2, 2))];
    let (mut inst, at) = master(config.clone());
    let out = fire(&mut inst, at + Duration::from_secs(3));
    assert_eq!(
        out,
        vec![Output::Send(Advertisement {
            version: Version::V2,
            vrid: 42,
            priority: 254,
            interval_cs: 300,
            auth: Auth::simple_password("pw"),
            addresses: vec![ip(VIP), ip(Ipv4Addr::new(192, 0, 2, 2))],
        })]
    );
}

// ---- owner ---------------------------------------------------------------------------

/// RFC 9568 §7.1 (erratum 8298 softens "the local router is not the IPvX address owner" to
/// log only) with §6.4.3: two owners settle by the address tie-break; vrrpd keeps
/// priority 255 (keepalived drops to 254, issue #1835).
#[test]
fn rfc9568_6_4_3_owner_tie_break_by_address() {
    let config = config_v3(255);
    let mut inst = started(config.clone(), t(0));
    assert_eq!(
        recv(&mut inst, t(100), LOWER_ADDR, &adv_for(&config, 255)),
        vec![
            Output::LowerPriorityHeard,
            Output::Send(own_adv(&inst, 255)),
            Output::Announce
        ]
    );
    assert_eq!(inst.state(), State::Master);
    recv(&mut inst, t(200), HIGHER_ADDR, &adv_for(&config, 255));
    assert_eq!(inst.state(), State::Backup);
    assert_eq!(inst.effective_priority(), 255);
    // 3 s + 1/256 s.
    assert_eq!(inst.poll_timeout(), Some(t(3_003_906 + 200)));
}

/// RFC 5798 §6.1: "The priority value for the VRRP router that owns the IPvX address(es)
/// associated with the virtual router MUST be 255": SetPriority never changes it.
#[test]
fn rfc5798_6_1_owner_priority_stays_255() {
    let mut inst = started(config_v3(255), t(0));
    inst.handle(t(1), Input::SetPriority(10));
    assert_eq!(drain(&mut inst), vec![]);
    assert_eq!(inst.effective_priority(), 255);
}

// ---- SetPriority -----------------------------------------------------------------------

/// vrrpd: a priority change in Backup recomputes Skew_Time and moves the running
/// Master_Down_Timer, keeping its start (the last advertisement).
#[test]
fn vrrpd_set_priority_backup_recomputes_down_timer() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    recv(&mut inst, t(2_000_000), HIGHER_ADDR, &adv_for(&config, 250));
    assert_eq!(inst.poll_timeout(), Some(t(5_609_375)));
    inst.handle(t(3_000_000), Input::SetPriority(200));
    assert_eq!(drain(&mut inst), vec![]);
    assert_eq!(inst.effective_priority(), 200);
    assert_eq!(inst.poll_timeout(), Some(t(5_218_750)));
}

/// vrrpd: a Master whose priority drops advertises it at once (a higher Backup can preempt
/// without waiting for the Adver_Timer); a rise waits for the next advertisement.
#[test]
fn vrrpd_set_priority_master_drop_advertises_at_once() {
    let (mut inst, at) = master(config_v3(100));
    let now = at + us(400_000);
    inst.handle(now, Input::SetPriority(50));
    assert_eq!(
        drain(&mut inst),
        vec![Output::Send(own_adv(&inst, 50)), self_master(&inst, at)]
    );
    assert_eq!(inst.poll_timeout(), Some(now + Duration::from_secs(1)));
    inst.handle(now + us(1), Input::SetPriority(120));
    assert_eq!(drain(&mut inst), vec![self_master(&inst, at)]);
    assert_eq!(inst.poll_timeout(), Some(now + Duration::from_secs(1)));
}

/// RFC 5798 §5.2.4: priorities of non-owners are 1-254; SetPriority clamps to that range.
#[test]
fn rfc5798_5_2_4_set_priority_clamped_for_non_owners() {
    let mut inst = started(config_v3(100), t(0));
    inst.handle(t(1), Input::SetPriority(255));
    assert_eq!(inst.effective_priority(), 254);
    inst.handle(t(2), Input::SetPriority(0));
    assert_eq!(inst.effective_priority(), 1);
}

// ---- Fault -----------------------------------------------------------------------------

/// vrrpd Fault: the interface going down stops a Master (addresses removed, no
/// advertisement: the link cannot carry it) with no timers.
#[test]
fn vrrpd_fault_link_down_master() {
    let (mut inst, at) = master(config_v3(100));
    inst.handle(at + us(1), Input::LinkDown);
    assert_eq!(
        drain(&mut inst),
        vec![
            Output::RemoveAddresses,
            state_changed(State::Master, State::Fault, TransitionReason::LinkDown),
            Output::MasterChanged(None),
        ]
    );
    assert_eq!(inst.poll_timeout(), None);
    assert_eq!(fire(&mut inst, at + Duration::from_secs(60)), vec![]);
}

/// keepalived Fault: a Master whose tracked object fails sends priority 0 first, so the
/// Backups take over after Skew_Time (RFC 5798 §6.4.2).
#[test]
fn keepalived_fault_track_master_sends_priority_zero() {
    let (mut inst, at) = master(config_v3(100));
    inst.handle(at + us(1), Input::TrackFault(true));
    assert_eq!(
        drain(&mut inst),
        vec![
            Output::Send(own_adv(&inst, 0)),
            Output::RemoveAddresses,
            state_changed(State::Master, State::Fault, TransitionReason::TrackFault),
            Output::MasterChanged(None),
        ]
    );
    assert_eq!(inst.counters().sent_pri_zero_packets, 1);
}

/// vrrpd Fault: link and track faults are separate causes; only when both clear does the
/// instance start again as at Startup (RFC 5798 §6.4.1).
#[test]
fn vrrpd_fault_recovers_when_all_causes_clear() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    inst.handle(t(1_000_000), Input::LinkDown);
    assert_eq!(
        drain(&mut inst),
        vec![state_changed(
            State::Backup,
            State::Fault,
            TransitionReason::LinkDown
        )]
    );
    inst.handle(t(2_000_000), Input::TrackFault(true));
    inst.handle(t(3_000_000), Input::LinkUp);
    assert_eq!(drain(&mut inst), vec![]);
    assert_eq!(inst.state(), State::Fault);
    // Advertisements are not acted upon in Fault.
    assert_eq!(
        recv(&mut inst, t(3_500_000), HIGHER_ADDR, &adv_for(&config, 200)),
        vec![]
    );
    assert_eq!(inst.poll_timeout(), None);
    inst.handle(t(4_000_000), Input::TrackFault(false));
    assert_eq!(
        drain(&mut inst),
        vec![state_changed(
            State::Fault,
            State::Backup,
            TransitionReason::TrackRecovered
        )]
    );
    assert_eq!(inst.poll_timeout(), Some(t(7_609_375)));
}

/// vrrpd Fault: an owner recovering from Fault becomes Master at once (RFC 5798 §6.4.1).
#[test]
fn vrrpd_fault_owner_recovers_as_master() {
    let mut inst = started(config_v3(255), t(0));
    inst.handle(t(1_000_000), Input::LinkDown);
    drain(&mut inst);
    inst.handle(t(2_000_000), Input::LinkUp);
    let out = drain(&mut inst);
    assert_eq!(
        out[3],
        state_changed(State::Fault, State::Master, TransitionReason::LinkUp)
    );
    assert_eq!(inst.poll_timeout(), Some(t(3_000_000)));
    assert_eq!(inst.counters().master_transitions, 2);
}

/// vrrpd Fault: Startup while the link is down goes straight to Fault.
#[test]
fn vrrpd_fault_startup_with_link_down() {
    let mut inst = Instance::new(config_v3(255));
    inst.handle(t(0), Input::LinkDown);
    inst.handle(t(1), Input::Startup);
    assert_eq!(
        drain(&mut inst),
        vec![state_changed(
            State::Initialize,
            State::Fault,
            TransitionReason::LinkDown
        )]
    );
    inst.handle(t(2), Input::Shutdown);
    assert_eq!(
        drain(&mut inst),
        vec![state_changed(
            State::Fault,
            State::Initialize,
            TransitionReason::Shutdown
        )]
    );
}

// ---- §7.1 receive checks ---------------------------------------------------------------

/// RFC 5798 §7.1: "It MUST verify that the VRRP version is 3" (the configured version);
/// "If any one of the above checks fails, the receiver MUST discard the packet".
#[test]
fn rfc5798_7_1_version_mismatch_discarded() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    let mut adv = adv_for(&config, 200);
    adv.version = Version::V2;
    assert_eq!(
        recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv),
        vec![discarded(ReceiveError::Version)]
    );
    assert_eq!(inst.poll_timeout(), Some(t(3_609_375)));
    assert_eq!(inst.counters().version_errors, 1);
    assert_eq!(inst.counters().rcvd_advertisements, 0);
}

/// RFC 5798 §7.1: "It MUST verify that the VRID is configured on the receiving interface".
#[test]
fn rfc5798_7_1_vrid_mismatch_discarded() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    let mut adv = adv_for(&config, 200);
    adv.vrid = 8;
    assert_eq!(
        recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv),
        vec![discarded(ReceiveError::Vrid)]
    );
    assert_eq!(inst.poll_timeout(), Some(t(3_609_375)));
    assert_eq!(inst.counters().vrid_errors, 1);
}

/// RFC 3768 §7.1: "MUST verify that the Auth Type matches the locally configured
/// authentication method for the virtual router"; otherwise discard.
#[test]
fn rfc3768_7_1_auth_type_mismatch_discarded() {
    let mut config = config_v2(100);
    config.auth = Auth::simple_password("secret");
    let mut inst = started(config.clone(), t(0));
    let mut adv = adv_for(&config, 200);
    adv.auth = Auth::None;
    assert_eq!(
        recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv),
        vec![discarded(ReceiveError::AuthTypeMismatch)]
    );
    assert_eq!(inst.poll_timeout(), Some(t(3_609_375)));
    assert_eq!(inst.counters().auth_type_mismatch, 1);
}

/// RFC 3768 §7.1: "MUST perform authentication specified by Auth Type"; a wrong simple
/// password fails it and the packet is discarded.
#[test]
fn rfc3768_7_1_auth_failure_discarded() {
    let mut config = config_v2(100);
    config.auth = Auth::simple_password("secret");
    let mut inst = started(config.clone(), t(0));
    let mut adv = adv_for(&config, 200);
    adv.auth = Auth::simple_password("wrong");
    assert_eq!(
        recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv),
        vec![discarded(ReceiveError::AuthFailure)]
    );
    assert_eq!(inst.counters().auth_failures, 1);
    assert_eq!(
        recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv_for(&config, 200)).len(),
        1
    );
    assert_eq!(inst.counters().rcvd_advertisements, 1);
}

/// RFC 3768 §7.1: "MUST verify that the Adver Interval in the packet is the same as the
/// locally configured for this virtual router. If the above check fails, the receiver MUST
/// discard the packet".
#[test]
fn rfc3768_7_1_interval_mismatch_discarded() {
    let config = config_v2(100);
    let mut inst = started(config.clone(), t(0));
    let mut adv = adv_for(&config, 200);
    adv.interval_cs = 200;
    assert_eq!(
        recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv),
        vec![discarded(ReceiveError::AdvInterval)]
    );
    assert_eq!(inst.poll_timeout(), Some(t(3_609_375)));
    assert_eq!(inst.counters().adv_interval_errors, 1);
}

/// RFC 5798 §7.1 / §6.4.2: in VRRPv3 a differing interval is not an error to discard on;
/// the Backup adopts the Master's.
#[test]
fn rfc5798_7_1_v3_interval_mismatch_accepted() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    let mut adv = adv_for(&config, 200);
    adv.interval_cs = 300;
    recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv);
    assert_eq!(inst.counters().adv_interval_errors, 0);
    assert_eq!(inst.counters().rcvd_advertisements, 1);
    assert_eq!(inst.master_adver_interval_cs(), 300);
}

/// RFC 5798 §7.1: "MAY verify that the IPvX address(es) associated with the VRID are
/// valid. If the above check fails, the receiver SHOULD log the event" — counted, not
/// discarded (unlike RFC 3768, RFC 5798 has no drop here).
#[test]
fn rfc5798_7_1_address_list_mismatch_logged_not_discarded() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    let mut adv = adv_for(&config, 200);
    adv.addresses = vec![ip(Ipv4Addr::new(192, 0, 2, 99))];
    recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv);
    assert_eq!(inst.counters().address_list_errors, 1);
    assert_eq!(inst.poll_timeout(), Some(t(4_609_375)));
    // The same addresses in another order are the same set.
    let mut config2 = config_v3(100);
    config2.addresses = vec![ip(VIP), ip(Ipv4Addr::new(192, 0, 2, 2))];
    let mut inst2 = started(config2.clone(), t(0));
    let mut adv2 = adv_for(&config2, 200);
    adv2.addresses.reverse();
    recv(&mut inst2, t(1_000_000), HIGHER_ADDR, &adv2);
    assert_eq!(inst2.counters().address_list_errors, 0);
}

/// RFC 3768 §7.1: "MAY verify that the IP address(es) associated with the VRID are valid
/// ... If the packet was not generated by the address owner (Priority does not equal 255
/// (decimal)), the receiver MUST drop the packet, otherwise continue processing".
#[test]
fn rfc3768_7_1_address_list_mismatch_dropped_unless_owner() {
    let config = config_v2(100);
    let mut inst = started(config.clone(), t(0));
    let mut adv = adv_for(&config, 200);
    adv.addresses = vec![ip(Ipv4Addr::new(192, 0, 2, 99))];
    assert_eq!(
        recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv),
        vec![discarded(ReceiveError::AddressList)]
    );
    assert_eq!(inst.counters().address_list_errors, 1);
    assert_eq!(inst.counters().rcvd_advertisements, 0);
    assert_eq!(inst.poll_timeout(), Some(t(3_609_375)));
    // From an owner: counted, then processed.
    adv.priority = 255;
    assert_eq!(
        recv(&mut inst, t(2_000_000), HIGHER_ADDR, &adv),
        vec![
            Output::ReceiveError {
                error: ReceiveError::AddressList,
                discard: false
            },
            peer_master(HIGHER_ADDR, 255, 100, t(2_000_000))
        ]
    );
    assert_eq!(inst.counters().address_list_errors, 2);
    assert_eq!(inst.poll_timeout(), Some(t(5_609_375)));
}

/// RFC 6527 `vrrpv3StatisticsRcvdAdvertisements`, `...RcvdPriZeroPackets`, and the
/// checksum form each accepted IPv4 VRRPv3 advertisement used.
#[test]
fn rfc6527_received_counters() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    let adv = adv_for(&config, 200);
    for (i, form) in [
        Some(ChecksumForm::PseudoHeader),
        Some(ChecksumForm::MessageOnly),
        Some(ChecksumForm::PseudoHeader),
        None,
    ]
    .into_iter()
    .enumerate()
    {
        inst.handle(
            t(i as u64),
            Input::Advertisement {
                src: ip(HIGHER_ADDR),
                advertisement: &adv,
                checksum_form: form,
            },
        );
    }
    recv(&mut inst, t(10), HIGHER_ADDR, &adv_for(&config, 0));
    let c = inst.counters();
    assert_eq!(c.rcvd_advertisements, 5);
    assert_eq!(c.rcvd_pri_zero_packets, 1);
    assert_eq!(c.rcvd_checksum_pseudo_header, 2);
    assert_eq!(c.rcvd_checksum_message_only, 1);
}

/// RFC 5798 §7.1: packets failing the checks the decoder makes (TTL 255, type, length,
/// checksum, version, count, interval, link-local first address; RFC 3768 auth type) are
/// discarded and counted against the instance.
#[test]
fn rfc5798_7_1_decode_errors_counted() {
    let mut inst = Instance::new(config_v3(100));
    let errors = [
        DecodeError::TtlNot255 { ttl: 1 },
        DecodeError::Truncated { len: 3 },
        DecodeError::LengthMismatch { count: 2, len: 12 },
        DecodeError::BadType { packet_type: 2 },
        DecodeError::BadChecksum { received: 1 },
        DecodeError::BadVersion { version: 4 },
        DecodeError::VersionFamilyMismatch,
        DecodeError::ZeroCount,
        DecodeError::ZeroInterval,
        DecodeError::FirstAddressNotLinkLocal,
        DecodeError::AuthHeaderUnsupported,
        DecodeError::BadAuthType { auth_type: 9 },
    ];
    for e in &errors {
        inst.record_decode_error(e);
    }
    let c = inst.counters();
    assert_eq!(c.ip_ttl_errors, 1);
    assert_eq!(c.packet_length_errors, 2);
    assert_eq!(c.rcvd_invalid_type_packets, 1);
    assert_eq!(c.checksum_errors, 1);
    assert_eq!(c.version_errors, 2);
    assert_eq!(c.proto_errors, 3);
    assert_eq!(c.invalid_auth_type, 2);
    assert_eq!(drain(&mut inst), vec![]);
}

/// vrrpd: our own advertisement looped back (source = our primary address) is ignored; a
/// Master answering it as "lower priority" would advertise in a loop.
#[test]
fn vrrpd_own_advertisement_ignored() {
    let config = config_v3(100);
    let (mut inst, at) = master(config.clone());
    assert_eq!(
        recv(&mut inst, at + us(1), LOCAL, &adv_for(&config, 100)),
        vec![]
    );
    assert_eq!(inst.counters().rcvd_advertisements, 0);
}

// ---- observer --------------------------------------------------------------------------

fn observer_config() -> InstanceConfig {
    let mut c = config_v3(100);
    c.role = Role::Observer;
    c.addresses = Vec::new();
    c
}

/// vrrpd observer: never sends, never holds or announces the addresses, whatever it hears.
#[test]
fn vrrpd_observer_never_sends() {
    let config = observer_config();
    let mut inst = started(config.clone(), t(0));
    let mut out = Vec::new();
    let mut now = 0;
    for (src, prio) in [
        (HIGHER_ADDR, 50),
        (LOWER_ADDR, 200),
        (LOWER_ADDR, 0),
        (HIGHER_ADDR, 255),
    ] {
        now += 1_000_000;
        out.extend(recv(&mut inst, t(now), src, &adv_for(&config, prio)));
        if let Some(at) = inst.poll_timeout() {
            out.extend(fire(&mut inst, at));
        }
    }
    inst.handle(t(now + 1), Input::SetPriority(200));
    inst.handle(t(now + 2), Input::Shutdown);
    out.extend(drain(&mut inst));
    assert!(
        out.iter()
            .all(|o| matches!(o, Output::MasterChanged(_) | Output::StateChanged { .. })),
        "{out:?}"
    );
    assert_eq!(inst.counters().sent_advertisements, 0);
    assert_eq!(inst.counters().address_list_errors, 0);
}

/// vrrpd observer: the Master is the sender that would win the election; every change
/// of it is reported with the time it became Master.
#[test]
fn vrrpd_observer_reports_master_changes() {
    let config = observer_config();
    let mut inst = started(config.clone(), t(0));
    assert_eq!(
        recv(&mut inst, t(1_000_000), LOWER_ADDR, &adv_for(&config, 100)),
        vec![peer_master(LOWER_ADDR, 100, 100, t(1_000_000))]
    );
    // Equal priority, higher address: that one wins.
    assert_eq!(
        recv(&mut inst, t(1_500_000), HIGHER_ADDR, &adv_for(&config, 100)),
        vec![peer_master(HIGHER_ADDR, 100, 100, t(1_500_000))]
    );
    // The loser is ignored; the winner's priority change is reported, `since` kept.
    assert_eq!(
        recv(&mut inst, t(2_000_000), LOWER_ADDR, &adv_for(&config, 100)),
        vec![]
    );
    let mut adv = adv_for(&config, 120);
    adv.interval_cs = 50;
    assert_eq!(
        recv(&mut inst, t(2_500_000), HIGHER_ADDR, &adv),
        vec![peer_master(HIGHER_ADDR, 120, 50, t(1_500_000))]
    );
    // The observer follows the Master's interval: 3 × 50 cs + 255 × 50 / 256 cs.
    assert_eq!(inst.poll_timeout(), Some(t(2_500_000 + 1_998_046)));
}

/// vrrpd observer: when the Master falls silent for a Master_Down_Interval (computed for
/// priority 1), the observer reports that no Master is known.
#[test]
fn vrrpd_observer_reports_silence() {
    let config = observer_config();
    let mut inst = started(config.clone(), t(0));
    recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv_for(&config, 200));
    assert_eq!(inst.poll_timeout(), Some(t(4_996_093)));
    assert_eq!(fire(&mut inst, t(4_996_092)), vec![]);
    assert_eq!(
        fire(&mut inst, t(4_996_093)),
        vec![Output::MasterChanged(None)]
    );
    assert_eq!(inst.poll_timeout(), None);
    assert_eq!(inst.master(), None);
}

/// vrrpd observer: a priority-0 advertisement from the Master marks it as leaving; the
/// next Master heard replaces it whatever its priority, and silence is reported after
/// Skew_Time (priority 1) plus one interval.
#[test]
fn vrrpd_observer_master_leaving_priority_zero() {
    let config = observer_config();
    let mut inst = started(config.clone(), t(0));
    recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv_for(&config, 200));
    assert_eq!(
        recv(&mut inst, t(2_000_000), HIGHER_ADDR, &adv_for(&config, 0)),
        vec![]
    );
    assert_eq!(
        inst.poll_timeout(),
        Some(t(2_000_000 + 996_093 + 1_000_000))
    );
    assert_eq!(
        recv(&mut inst, t(2_600_000), LOWER_ADDR, &adv_for(&config, 100)),
        vec![peer_master(LOWER_ADDR, 100, 100, t(2_600_000))]
    );
    // Same again, with nobody taking over.
    recv(&mut inst, t(3_000_000), LOWER_ADDR, &adv_for(&config, 0));
    assert_eq!(
        fire(&mut inst, t(4_996_093)),
        vec![Output::MasterChanged(None)]
    );
}

// ---- more VRRPv2 -----------------------------------------------------------------------

/// RFC 3768 §6.4.2: "If the Master_Down_Timer fires, then: Send an ADVERTISEMENT;
/// Broadcast a gratuitous ARP request ... Set the Adver_Timer to Advertisement_Interval;
/// Transition to the {Master} state" (VRRPv2).
#[test]
fn rfc3768_6_4_2_backup_down_timer_fires_becomes_master() {
    let mut config = config_v2(100);
    config.advert_interval_cs = 200;
    let mut inst = started(config, t(0));
    // 6 s + 156/256 s.
    assert_eq!(inst.poll_timeout(), Some(t(6_609_375)));
    let out = fire(&mut inst, t(6_609_375));
    assert_eq!(
        out,
        vec![
            Output::AddAddresses,
            Output::Send(own_adv(&inst, 100)),
            Output::Announce,
            state_changed(
                State::Backup,
                State::Master,
                TransitionReason::MasterDownTimer
            ),
            self_master(&inst, t(6_609_375)),
        ]
    );
    assert_eq!(inst.poll_timeout(), Some(t(8_609_375)));
}

/// RFC 3768 §6.4.2: "If Preempt_Mode is False, or if the Priority in the ADVERTISEMENT is
/// greater than or equal to the local Priority, then: Reset the Master_Down_Timer to
/// Master_Down_Interval; else: Discard the ADVERTISEMENT" (VRRPv2).
#[test]
fn rfc3768_6_4_2_backup_resets_or_discards() {
    let config = config_v2(100);
    let mut inst = started(config.clone(), t(0));
    recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv_for(&config, 100));
    assert_eq!(inst.poll_timeout(), Some(t(4_609_375)));
    recv(&mut inst, t(2_000_000), HIGHER_ADDR, &adv_for(&config, 99));
    assert_eq!(inst.poll_timeout(), Some(t(4_609_375)));
}

/// RFC 3768 §6.4.3: "If the Priority in the ADVERTISEMENT is Zero, then: Send an
/// ADVERTISEMENT; Reset the Adver_Timer to Advertisement_Interval" (VRRPv2).
#[test]
fn rfc3768_6_4_3_master_priority_zero_sends_advertisement() {
    let config = config_v2(100);
    let (mut inst, at) = master(config.clone());
    let now = at + us(500_000);
    assert_eq!(
        recv(&mut inst, now, HIGHER_ADDR, &adv_for(&config, 0)),
        vec![Output::Send(own_adv(&inst, 100))]
    );
    assert_eq!(inst.poll_timeout(), Some(now + Duration::from_secs(1)));
}

/// RFC 3768 §6.4.3: "If the Priority in the ADVERTISEMENT is greater than the local
/// Priority, or the Priority in the ADVERTISEMENT is equal to the local Priority and the
/// primary IP Address of the sender is greater than the local primary IP Address, then:
/// Cancel Adver_Timer; Set Master_Down_Timer to Master_Down_Interval; Transition to the
/// {Backup} state" (VRRPv2: no interval to learn).
#[test]
fn rfc3768_6_4_3_master_higher_priority_becomes_backup() {
    let config = config_v2(100);
    let (mut inst, at) = master(config.clone());
    let now = at + us(1);
    assert_eq!(
        recv(&mut inst, now, HIGHER_ADDR, &adv_for(&config, 100)),
        vec![
            Output::RemoveAddresses,
            state_changed(
                State::Master,
                State::Backup,
                TransitionReason::HigherPriorityAdvertisement
            ),
            peer_master(HIGHER_ADDR, 100, 100, now),
        ]
    );
    assert_eq!(inst.poll_timeout(), Some(now + us(3_609_375)));
}

/// RFC 3768 §6.4.3: "else: Discard the ADVERTISEMENT" — with RFC 9568's re-advertisement
/// (on by default) applied to VRRPv2 too, as keepalived does.
#[test]
fn rfc3768_6_4_3_master_lower_priority_discarded_and_answered() {
    let config = config_v2(100);
    let (mut inst, at) = master(config.clone());
    assert_eq!(
        recv(&mut inst, at + us(1), LOWER_ADDR, &adv_for(&config, 100)),
        vec![
            Output::LowerPriorityHeard,
            Output::Send(own_adv(&inst, 100)),
            Output::Announce
        ]
    );
    assert_eq!(inst.state(), State::Master);
}

// ---- more SetPriority / Fault / observer -----------------------------------------------

/// vrrpd: after a priority-0 advertisement the Master_Down_Timer is Skew_Time; a priority
/// change recomputes that Skew_Time from the same start.
#[test]
fn vrrpd_set_priority_backup_recomputes_skew_after_priority_zero() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv_for(&config, 0));
    assert_eq!(inst.poll_timeout(), Some(t(1_609_375)));
    inst.handle(t(1_100_000), Input::SetPriority(200));
    assert_eq!(inst.poll_timeout(), Some(t(1_218_750)));
    let out = fire(&mut inst, t(1_218_750));
    assert_eq!(
        out[3],
        state_changed(
            State::Backup,
            State::Master,
            TransitionReason::PriorityZeroReceived
        )
    );
    assert_eq!(out[1], Output::Send(own_adv(&inst, 200)));
}

/// vrrpd observer: a link fault silences it (no Master known), recovery listens again.
#[test]
fn vrrpd_observer_fault_and_recovery() {
    let config = observer_config();
    let mut inst = started(config.clone(), t(0));
    recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv_for(&config, 200));
    inst.handle(t(2_000_000), Input::LinkDown);
    assert_eq!(
        drain(&mut inst),
        vec![
            state_changed(State::Observer, State::Fault, TransitionReason::LinkDown),
            Output::MasterChanged(None),
        ]
    );
    inst.handle(t(3_000_000), Input::LinkUp);
    assert_eq!(
        drain(&mut inst),
        vec![state_changed(
            State::Fault,
            State::Observer,
            TransitionReason::LinkUp
        )]
    );
    assert_eq!(inst.poll_timeout(), Some(t(6_996_093)));
}

/// vrrpd Fault: a Backup leaving for Fault keeps no timer and hears nothing; Shutdown from
/// Fault goes to Initialize.
#[test]
fn vrrpd_fault_backup_track_fault() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    inst.handle(t(1_000_000), Input::TrackFault(true));
    assert_eq!(
        drain(&mut inst),
        vec![state_changed(
            State::Backup,
            State::Fault,
            TransitionReason::TrackFault
        )]
    );
    assert_eq!(inst.poll_timeout(), None);
    assert_eq!(inst.counters().sent_advertisements, 0);
    // A second report of the same fault changes nothing.
    inst.handle(t(1_500_000), Input::TrackFault(true));
    assert_eq!(drain(&mut inst), vec![]);
}

/// vrrpd: a Backup reports the router that took over from a crashed Master. A sender that
/// would lose to the known Master replaces it once that Master has been silent for
/// 3 × its interval (no Backup takes over sooner: RFC 5798 §6.1 Master_Down_Interval).
#[test]
fn vrrpd_backup_reports_successor_of_silent_master() {
    let config = config_v3(100);
    let mut inst = started(config.clone(), t(0));
    recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv_for(&config, 200));
    recv(&mut inst, t(2_000_000), HIGHER_ADDR, &adv_for(&config, 200));
    // Still within 3 intervals of the last advertisement: a challenger, ignored.
    assert_eq!(
        recv(&mut inst, t(4_999_999), LOWER_ADDR, &adv_for(&config, 150)),
        vec![]
    );
    // The Master has been silent for 3 s: the sender is its successor.
    assert_eq!(
        recv(&mut inst, t(5_000_000), LOWER_ADDR, &adv_for(&config, 150)),
        vec![peer_master(LOWER_ADDR, 150, 100, t(5_000_000))]
    );
    assert_eq!(inst.state(), State::Backup);
}

/// vrrpd observer: the successor of a crashed Master (a lower-priority Backup that took
/// over after its Master_Down_Interval) is reported at its first advertisement, with no
/// transient "no Master".
#[test]
fn vrrpd_observer_reports_successor_of_silent_master() {
    let config = observer_config();
    let mut inst = started(config.clone(), t(0));
    recv(&mut inst, t(1_000_000), HIGHER_ADDR, &adv_for(&config, 200));
    // A priority-150 Backup takes over 3 s + 106/256 s after the last advertisement.
    assert_eq!(
        recv(&mut inst, t(4_414_062), LOWER_ADDR, &adv_for(&config, 150)),
        vec![peer_master(LOWER_ADDR, 150, 100, t(4_414_062))]
    );
    assert_eq!(inst.poll_timeout(), Some(t(4_414_062 + 3_996_093)));
}

/// vrrpd (operator maintenance): a Master resigns with priority 0, as at shutdown, and
/// stays Backup without taking over until maintenance ends.
#[test]
fn vrrpd_maintenance_master_resigns_and_never_takes_over() {
    let (mut inst, now) = master(config_v3(200));
    inst.handle(now, Input::Maintenance(true));
    let out = drain(&mut inst);
    assert_eq!(out[0], Output::Send(own_adv(&inst, 0)));
    assert_eq!(out[1], Output::RemoveAddresses);
    assert_eq!(
        out[2],
        state_changed(State::Master, State::Backup, TransitionReason::Maintenance)
    );
    assert_eq!(inst.state(), State::Backup);
    assert!(inst.maintenance());

    // The group stays silent: the down timer fires, again and again, without takeover.
    for _ in 0..3 {
        let deadline = inst.poll_timeout().expect("down timer");
        let out = fire(&mut inst, deadline);
        assert!(
            !out.iter()
                .any(|o| matches!(o, Output::Send(_) | Output::AddAddresses)),
            "{out:?}"
        );
        assert_eq!(inst.state(), State::Backup);
    }

    // Maintenance off: the next expiry takes over.
    let now = inst.poll_timeout().expect("down timer");
    inst.handle(now, Input::Maintenance(false));
    let deadline = inst.poll_timeout().expect("down timer");
    fire(&mut inst, deadline);
    assert_eq!(inst.state(), State::Master);
}

/// vrrpd (operator maintenance): an owner in maintenance starts as Backup.
#[test]
fn vrrpd_maintenance_owner_starts_as_backup() {
    let mut inst = Instance::new(config_v3(255));
    inst.handle(t(0), Input::Maintenance(true));
    inst.handle(t(0), Input::Startup);
    assert_eq!(inst.state(), State::Backup);
}

/// vrrpd (reload in place): a Master advertises its new priority and addresses at once.
#[test]
fn vrrpd_reconfigure_master_advertises_new_values_at_once() {
    let (mut inst, now) = master(config_v3(200));
    let mut config = inst.config().clone();
    config.priority = 150;
    config
        .addresses
        .push(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));
    inst.handle(now, Input::Timeout);
    drain(&mut inst);
    let later = now + us(1_000);
    inst.reconfigure(later, config.clone());
    let out = drain(&mut inst);
    assert_eq!(out[0], Output::Send(own_adv(&inst, 150)));
    let Output::Send(adv) = &out[0] else {
        unreachable!()
    };
    assert_eq!(adv.addresses, config.addresses);
    assert_eq!(inst.state(), State::Master);
    assert_eq!(inst.effective_priority(), 150);
    assert_eq!(inst.poll_timeout(), Some(later + us(1_000_000)));
}

/// vrrpd (reload in place): a VRRPv2 Backup adopts a new interval and moves its
/// Master_Down_Timer, keeping its start.
#[test]
fn vrrpd_reconfigure_v2_backup_recomputes_down_timer() {
    let mut inst = started(config_v2(100), t(0));
    let mut config = inst.config().clone();
    config.advert_interval_cs = 200;
    inst.reconfigure(t(500_000), config);
    // 3 × 2 s + (256 - 100) / 256 s from the start at 0.
    assert_eq!(inst.poll_timeout(), Some(t(6_609_375)));
    assert_eq!(inst.state(), State::Backup);
}

/// keepalived (vrrp_sync_group): a Backup follows a member that became Master at once; a
/// Master follows a member that left, resigning with priority 0.
#[test]
fn keepalived_sync_group_members_follow() {
    let mut inst = started(config_v3(100), t(0));
    inst.handle(t(10), Input::SyncGroupMaster);
    let out = drain(&mut inst);
    assert!(out.contains(&Output::AddAddresses), "{out:?}");
    assert!(out.contains(&state_changed(
        State::Backup,
        State::Master,
        TransitionReason::SyncGroup
    )));
    inst.handle(t(20), Input::SyncGroupBackup);
    let out = drain(&mut inst);
    assert_eq!(out[0], Output::Send(own_adv(&inst, 0)));
    assert!(out.contains(&Output::RemoveAddresses), "{out:?}");
    assert_eq!(inst.state(), State::Backup);
    // An ordinary Backup again: its down timer takes over if nobody speaks.
    let deadline = inst.poll_timeout().expect("down timer");
    fire(&mut inst, deadline);
    assert_eq!(inst.state(), State::Master);
}

/// keepalived (higher_prio_send_advert): a Master sends one advertisement before yielding.
#[test]
fn keepalived_higher_prio_send_advert() {
    let mut config = config_v3(100);
    config.advertise_before_yielding = true;
    let (mut inst, now) = master(config);
    let higher = adv_for(inst.config(), 200);
    let out = recv(&mut inst, now + us(10), HIGHER_ADDR, &higher);
    assert_eq!(out[0], Output::Send(own_adv(&inst, 100)));
    assert_eq!(inst.state(), State::Backup);
}

/// keepalived (vrrp_sync_group): a held member does not take over on its down timer, and
/// reports whether it would be Master.
#[test]
fn keepalived_sync_group_hold() {
    let mut inst = started(config_v3(100), t(0));
    assert!(
        inst.would_be_master(),
        "a Backup hearing nobody would be Master"
    );
    inst.handle(t(0), Input::SyncGroupHold(true));
    let deadline = inst.poll_timeout().expect("down timer");
    let out = fire(&mut inst, deadline);
    assert!(!out.contains(&Output::AddAddresses), "{out:?}");
    assert_eq!(inst.state(), State::Backup);
    // A higher-priority Master: it would not be Master.
    let higher = adv_for(inst.config(), 200);
    recv(&mut inst, deadline + us(10), HIGHER_ADDR, &higher);
    assert!(!inst.would_be_master());
    inst.handle(deadline + us(20), Input::SyncGroupHold(false));
    inst.handle(deadline + us(30), Input::SyncGroupMaster);
    assert_eq!(
        inst.state(),
        State::Master,
        "SyncGroupMaster overrides the hold"
    );
}

// ---- keepalived's per-instance deviations ------------------------------------------------

/// keepalived's `down_timer_adverts 5`: a Backup waits 5 intervals plus the skew.
#[test]
fn keepalived_down_timer_adverts_lengthens_the_master_down_interval() {
    let mut c = config_v3(200);
    c.down_timer_adverts = 5;
    let inst = started(c, Timestamp::ZERO);
    assert_eq!(inst.master_down_interval(), us(5_218_750));
    assert_eq!(inst.poll_timeout(), Some(t(5_218_750)));
}

/// keepalived's `owner_ignore_adverts`: an owner hears nothing, not even a higher-address
/// owner, and counts nothing; without it the election settles the tie (RFC 9568 erratum 8298).
#[test]
fn keepalived_owner_ignore_adverts_keeps_the_owner_master() {
    let mut c = config_v3(255);
    c.owner_ignore_adverts = true;
    let mut inst = started(c.clone(), Timestamp::ZERO);
    assert_eq!(inst.state(), State::Master);
    let out = recv(&mut inst, t(10_000), HIGHER_ADDR, &adv_for(&c, 255));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(inst.state(), State::Master);
    assert_eq!(inst.counters().rcvd_advertisements, 0);

    c.owner_ignore_adverts = false;
    let mut inst = started(c.clone(), Timestamp::ZERO);
    recv(&mut inst, t(10_000), HIGHER_ADDR, &adv_for(&c, 255));
    assert_eq!(inst.state(), State::Backup);
}

/// keepalived's `skip_check_adv_addr`: a VRRPv2 Backup drops a wrong address list from a
/// new Master, but no longer checks it once that Master is known.
#[test]
fn keepalived_skip_check_adv_addr_trusts_the_known_master() {
    let mut c = config_v2(100);
    c.skip_check_adv_addr = true;
    let mut inst = started(c.clone(), Timestamp::ZERO);
    let good = adv_for(&c, 200);
    let mut wrong = good.clone();
    wrong.addresses = vec![ip(Ipv4Addr::new(192, 0, 2, 99))];
    let out = recv(&mut inst, t(10_000), HIGHER_ADDR, &wrong);
    assert!(
        out.contains(&discarded(ReceiveError::AddressList)),
        "{out:?}"
    );
    recv(&mut inst, t(20_000), HIGHER_ADDR, &good);
    let out = recv(&mut inst, t(30_000), HIGHER_ADDR, &wrong);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(inst.counters().address_list_errors, 1);

    // Without it, every advertisement is checked.
    c.skip_check_adv_addr = false;
    let mut inst = started(c.clone(), Timestamp::ZERO);
    recv(&mut inst, t(20_000), HIGHER_ADDR, &good);
    let out = recv(&mut inst, t(30_000), HIGHER_ADDR, &wrong);
    assert!(
        out.contains(&discarded(ReceiveError::AddressList)),
        "{out:?}"
    );
}
