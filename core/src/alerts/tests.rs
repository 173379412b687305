#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;
use crate::audit::tail;
use crate::config::{AlertsConfig, MaintenanceConfig, PolicyConfig, WindowEntry};
use crate::domain::{Criticality, DeviceName, Zone};
use crate::testdb::{audit_log, stores};

fn device(name: &str, criticality: Criticality, zone: &str) -> DeviceRecord {
    DeviceRecord {
        id: 1,
        name: DeviceName::parse(name).unwrap(),
        address: "127.0.0.1:22".into(),
        login: "svc".into(),
        credential: Vec::new(),
        host_key: String::new(),
        criticality,
        zone: Zone::parse(zone).unwrap(),
        tcp_ports: Vec::new(),
        disabled: false,
        phi: false,
        created_at: 0,
    }
}

fn config(text: &str) -> AlertsConfig {
    let mut c: AlertsConfig = toml::from_str(text).unwrap();
    c.check().unwrap();
    c
}

/// A policy whose only window covers zone `icu` on Sundays 02:00–03:00 UTC.
fn policy() -> Policy {
    let entry = WindowEntry { name: "icu-sunday".into(), zone: Some("icu".into()), device: None, every: "sunday".into(), start: "02:00".into(), duration: "1h".into(), time_zone: "UTC".into() };
    Policy::with_windows(PolicyConfig::default(), MaintenanceConfig { windows: vec![entry] }.windows().unwrap())
}

fn at(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap().as_second()
}

async fn rows_of(store: &Store, kind: Kind) -> Vec<Value> {
    tail(store, 10_000).await.unwrap().into_iter().filter(|r| r.kind == kind.as_str()).map(|r| serde_json::from_str(&r.detail).unwrap()).collect()
}

#[tokio::test]
async fn session_start_outside_window_and_hours_alerts_with_the_devices_severity() {
    for t in stores().await {
        let alerts = Alerts::new(t.store.clone(), audit_log(&t.store, 0), config("working_hours = \"08:00-17:00\""), policy());
        let pump = device("pump-1", Criticality::LifeCritical, "icu");
        // Tuesday 03:00 UTC: windows closed, outside working hours.
        let written = alerts.session_started("acme", SessionId(7), &pump, at("2026-12-01T03:00:00Z")).await.unwrap();
        assert_eq!(written.len(), 2, "{}", t.name);
        let ow = rows_of(&t.store, Kind::AlertOutsideWindow).await;
        assert_eq!(ow.len(), 1, "{}", t.name);
        assert_eq!((ow[0]["severity"].as_str(), ow[0]["device"].as_str(), ow[0]["session"].as_i64()), (Some("critical"), Some("pump-1"), Some(7)));
        assert!(ow[0]["next_window"].as_str().unwrap().contains("icu-sunday"), "{}", ow[0]);
        let uh = rows_of(&t.store, Kind::AlertUnusualHours).await;
        assert_eq!(uh[0]["severity"], "critical");
        // Sunday 02:30 UTC: inside the window, but a Sunday: unusual hours only.
        let written = alerts.session_started("acme", SessionId(8), &pump, at("2026-12-06T02:30:00Z")).await.unwrap();
        assert_eq!(written.len(), 1, "{}", t.name);
        // A standard device in a zone without windows, on Tuesday 10:00: nothing.
        let printer = device("printer", Criticality::Standard, "lab");
        assert!(alerts.session_started("acme", SessionId(9), &printer, at("2026-12-01T10:00:00Z")).await.unwrap().is_empty());
        // Each rule switched off writes nothing.
        let off = Alerts::new(t.store.clone(), audit_log(&t.store, 0), config("outside_window = false\nunusual_hours = false"), policy());
        assert!(off.session_started("acme", SessionId(10), &pump, at("2026-12-01T03:00:00Z")).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn new_source_alerts_only_after_the_first_sign_in() {
    for t in stores().await {
        let alerts = Alerts::new(t.store.clone(), audit_log(&t.store, 0), config(""), policy());
        assert_eq!(alerts.signed_in("acme", "10.0.0.1:50000", "ssh").await.unwrap(), None, "{}: the first ever sign-in only records", t.name);
        assert_eq!(alerts.signed_in("acme", "10.0.0.1:50001", "ssh").await.unwrap(), None, "{}: same address, other port", t.name);
        assert!(alerts.signed_in("acme", "192.0.2.9:40000", "ssh").await.unwrap().is_some(), "{}", t.name);
        assert_eq!(alerts.signed_in("acme", "192.0.2.9:40001", "web").await.unwrap(), None, "{}: seen now", t.name);
        let rows = rows_of(&t.store, Kind::AlertNewSource).await;
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0]["source"].as_str(), rows[0]["severity"].as_str(), rows[0]["known_sources"].as_i64()), (Some("192.0.2.9"), Some("medium"), Some(1)));
        let off = Alerts::new(t.store.clone(), audit_log(&t.store, 0), config("new_source = false"), policy());
        assert_eq!(off.signed_in("acme", "198.51.100.1:1", "ssh").await.unwrap(), None);
    }
}

#[tokio::test]
async fn a_flood_of_wrong_codes_and_refusals_makes_one_alert_per_window_in_bounded_memory() {
    for t in stores().await {
        let alerts = Alerts::new(t.store.clone(), audit_log(&t.store, 0), config("failed_codes = 5\nrefusal_burst = 10\nmax_tracked = 100"), policy());
        let pump = device("pump-1", Criticality::High, "ward");
        let mut fired = 0;
        for _ in 0..500 {
            fired += usize::from(alerts.code_failed("acme", "10.0.0.1:1").await.unwrap().is_some());
            fired += usize::from(alerts.refused("acme", Some(SessionId(3)), Some(&pump), "direct-tcpip").await.unwrap().is_some());
        }
        assert_eq!(fired, 2, "{}: one alert per rule and window, not one per event", t.name);
        let codes = rows_of(&t.store, Kind::AlertFailedCodes).await;
        assert_eq!((codes.len(), codes[0]["severity"].as_str(), codes[0]["failed_codes"].as_u64()), (1, Some("medium"), Some(5)));
        let refusals = rows_of(&t.store, Kind::AlertRefusalBurst).await;
        assert_eq!((refusals.len(), refusals[0]["severity"].as_str(), refusals[0]["session"].as_i64()), (1, Some("high"), Some(3)));
        // Many accounts at once: memory stays within max_tracked keys of at most `threshold` instants.
        for i in 0..5_000 {
            alerts.code_failed(&format!("guess{i}"), "203.0.113.7:1").await.unwrap();
            alerts.refused(&format!("v{i}"), None, None, "x11").await.unwrap();
        }
        let (codes, refusals) = alerts.tracked();
        assert!(codes <= 100 + 100 * 5 && refusals <= 100 + 100 * 10, "{}: {codes} {refusals}", t.name);
    }
}

#[tokio::test]
async fn bytes_cross_the_threshold_exactly_once() {
    for t in stores().await {
        let alerts = Alerts::new(t.store.clone(), audit_log(&t.store, 0), config("bytes_per_session = 1000"), policy());
        assert!(!alerts.crosses_bytes(0, 1000));
        assert!(alerts.crosses_bytes(900, 1001));
        assert!(!alerts.crosses_bytes(1001, 5000), "already over: no second alert");
        let off = Alerts::new(t.store.clone(), audit_log(&t.store, 0), config("bytes_per_session = 0"), policy());
        assert!(!off.crosses_bytes(0, u64::MAX));
        let pump = device("pump-1", Criticality::LifeCritical, "icu");
        alerts.bytes_exceeded("acme", SessionId(4), &pump, 1001).await.unwrap();
        let rows = rows_of(&t.store, Kind::AlertBytesExceeded).await;
        assert_eq!((rows[0]["severity"].as_str(), rows[0]["bytes"].as_u64(), rows[0]["threshold"].as_u64()), (Some("critical"), Some(1001), Some(1000)), "{}", t.name);
    }
}

#[tokio::test]
async fn acknowledge_is_one_audited_write_and_a_second_is_refused() {
    for t in stores().await {
        let log = audit_log(&t.store, 0);
        let alerts = Alerts::new(t.store.clone(), log.clone(), config("failed_codes = 2"), policy());
        alerts.code_failed("acme", "10.0.0.1:1").await.unwrap();
        let seq = alerts.code_failed("acme", "10.0.0.1:1").await.unwrap().unwrap();
        let listed = alerts.list(50).await.unwrap();
        assert_eq!((listed.len(), listed[0].seq, listed[0].rule.as_str(), listed[0].acknowledged_by.as_deref()), (1, seq, "failed_codes", None), "{}", t.name);
        let acked = alerts.acknowledge(seq, "carol").await.unwrap();
        assert_eq!(acked.acknowledged_by.as_deref(), Some("carol"));
        assert!(acked.acknowledged_at.is_some());
        match alerts.acknowledge(seq, "dave").await {
            Err(AckError::Already { by, .. }) => assert_eq!(by, "carol"),
            other => panic!("{}: {other:?}", t.name),
        }
        let acks = rows_of(&t.store, Kind::AlertAcknowledged).await;
        assert_eq!(acks.len(), 1, "{}: the refused second acknowledgement writes nothing", t.name);
        assert_eq!(acks[0]["alert_seq"].as_i64(), Some(seq));
        // Only alerts can be acknowledged: the ack row itself, or any other row, is not one.
        let ack_seq = tail(&t.store, 1).await.unwrap()[0].seq;
        assert!(matches!(alerts.acknowledge(ack_seq, "carol").await, Err(AckError::NotFound(_))));
        assert!(matches!(alerts.acknowledge(999_999, "carol").await, Err(AckError::NotFound(_))));
        assert_eq!(alerts.list(50).await.unwrap().len(), 1, "acknowledgements are not listed as alerts");
    }
}

#[test]
fn source_addresses_drop_the_port() {
    assert_eq!(source_address("10.0.0.5:52344"), "10.0.0.5");
    assert_eq!(source_address("[::1]:22"), "::1");
    assert_eq!(source_address("10.0.0.5"), "10.0.0.5");
    assert_eq!(Rule::FailedCodes.as_str(), "failed_codes");
    assert_eq!(Rule::of_kind("alert.new_source"), Some(Rule::NewSource));
    assert_eq!(Rule::of_kind("alert.acknowledged"), None);
}
