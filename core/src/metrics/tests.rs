#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

/// Every metric is registered under the `portcullis_` prefix with the documented names.
#[test]
fn the_registry_names_every_metric() {
    let text = Metrics::new().encode();
    for name in [
        "portcullis_sessions",
        "portcullis_sign_ins_total",
        "portcullis_pending_requests",
        "portcullis_decision_seconds",
        "portcullis_channel_bytes_total",
        "portcullis_recording_queue_depth",
        "portcullis_recording_seal_seconds",
        "portcullis_store_errors_total",
        "portcullis_sink_lag_events",
        "portcullis_sink_lag_seconds",
        "portcullis_store_contact_age_seconds",
    ] {
        assert!(text.contains(&format!("# TYPE {name}")) || text.contains(&format!("# TYPE {} ", name.trim_end_matches("_total"))), "{name} missing from:\n{text}");
    }
    // Each criticality has its series before any session is counted.
    for c in ["life-critical", "high", "standard"] {
        assert!(text.contains(&format!("portcullis_sessions{{criticality=\"{c}\"}} 0")), "{c}:\n{text}");
    }
}

/// Counting writes the labels' wire values, and only those.
#[test]
fn labels_are_the_closed_wire_values() {
    let m = Metrics::new();
    m.sign_in(SignInChannel::Ssh, SignInOutcome::Failure);
    m.sign_in(SignInChannel::Ssh, SignInOutcome::Failure);
    m.sign_in(SignInChannel::Web, SignInOutcome::Success);
    m.bytes(StreamKind::Sftp, Direction::FromDevice, 4096);
    m.bytes(StreamKind::Sftp, Direction::FromDevice, 10);
    m.store_error();
    let text = m.encode();
    assert!(text.contains("portcullis_sign_ins_total{channel=\"ssh\",outcome=\"failure\"} 2"), "{text}");
    assert!(text.contains("portcullis_sign_ins_total{channel=\"web\",outcome=\"success\"} 1"), "{text}");
    assert!(text.contains("portcullis_channel_bytes_total{kind=\"sftp\",direction=\"from_device\"} 4106"), "{text}");
    assert!(text.contains("portcullis_store_errors_total 1"), "{text}");
}

/// The number of series is fixed by the enums: a flood of sign-ins from many names and
/// addresses adds no series (no label can carry a name or an address).
#[test]
fn cardinality_is_bounded_whatever_is_counted() {
    let m = Metrics::new();
    for _ in 0..1000 {
        for ch in [SignInChannel::Ssh, SignInChannel::Web] {
            for o in [SignInOutcome::Success, SignInOutcome::Failure, SignInOutcome::Refused] {
                m.sign_in(ch, o);
            }
        }
    }
    let series = m.encode().lines().filter(|l| l.starts_with("portcullis_sign_ins_total{")).count();
    assert_eq!(series, 6);
}

/// The domain's criticality maps onto the label's, value by value.
#[test]
fn criticality_maps_to_its_wire_label() {
    for c in crate::domain::Criticality::ALL {
        let m = Metrics::new();
        m.sessions.get_or_create(&labels::CritLabels { criticality: (*c).into() }).set(7);
        assert!(m.encode().contains(&format!("portcullis_sessions{{criticality=\"{}\"}} 7", c.as_str())));
    }
}
