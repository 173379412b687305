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
        "portcullis_node_heartbeat_age_seconds",
    ] {
        // A sink's family is written once a sink is known (at the first scrape; see below).
        if name.contains("sink_lag") {
            continue;
        }
        let family = name.trim_end_matches("_total");
        assert!(text.contains(&format!("# TYPE {family} ")), "{family} missing from:\n{text}");
        assert!(text.lines().any(|l| l.starts_with(name)), "no series of {name} in:\n{text}");
    }
    // Each criticality has its series before any session is counted.
    for c in ["life-critical", "high", "standard"] {
        assert!(text.contains(&format!("portcullis_sessions{{criticality=\"{c}\"}} 0")), "{c}:\n{text}");
    }
}

/// A sink's lag is labelled with its kind and configured name.
#[test]
fn sink_lag_is_labelled_by_kind_and_name() {
    let m = Metrics::new();
    m.set_sink_lag(SinkKind::Siem, "soc", 12, 3.5);
    m.set_sink_lag(SinkKind::Notify, "webhook", 0, 0.0);
    let text = m.encode();
    assert!(text.contains("portcullis_sink_lag_events{kind=\"siem\",sink=\"soc\"} 12"), "{text}");
    assert!(text.contains("portcullis_sink_lag_seconds{kind=\"siem\",sink=\"soc\"} 3.5"), "{text}");
    assert!(text.contains("portcullis_sink_lag_events{kind=\"notify\",sink=\"webhook\"} 0"), "{text}");
}

/// The store-contact age is unknown (NaN) until the store was reached, then counts from it.
#[test]
fn store_contact_age_counts_from_the_last_success() {
    let m = Metrics::new();
    m.update_store_contact_age(10_000);
    assert!(m.encode().contains("portcullis_store_contact_age_seconds NaN"), "{}", m.encode());
    m.note_store_ok(10_000);
    m.update_store_contact_age(70_500);
    assert!(m.encode().contains("portcullis_store_contact_age_seconds 60.5"), "{}", m.encode());
}

/// An open recording is counted until its slot is dropped, whichever way it ends.
#[test]
fn an_open_recording_is_counted_until_its_slot_drops() {
    let before = get().encode();
    let open = |t: &str| t.lines().find_map(|l| l.strip_prefix("portcullis_recordings_open ")).map(str::to_owned);
    let slot = get().recording_slot();
    let during = get().encode();
    drop(slot);
    let after = get().encode();
    let n = |t: &str| open(t).unwrap().parse::<i64>().unwrap();
    assert_eq!(n(&during), n(&before) + 1);
    assert_eq!(n(&after), n(&before));
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

/// The time-to-decision histogram is set whole: cumulative buckets, count and sum.
#[test]
fn decision_times_are_cumulative_buckets() {
    let m = Metrics::new();
    m.set_decision_times(&[10, 45, 7200]);
    let text = m.encode();
    assert!(text.contains("portcullis_decision_seconds_bucket{le=\"30.0\"} 1"), "{text}");
    assert!(text.contains("portcullis_decision_seconds_bucket{le=\"60.0\"} 2"), "{text}");
    assert!(text.contains("portcullis_decision_seconds_bucket{le=\"3600.0\"} 2"), "{text}");
    assert!(text.contains("portcullis_decision_seconds_bucket{le=\"14400.0\"} 3"), "{text}");
    assert!(text.contains("portcullis_decision_seconds_bucket{le=\"+Inf\"} 3"), "{text}");
    assert!(text.contains("portcullis_decision_seconds_count 3"), "{text}");
    assert!(text.contains("portcullis_decision_seconds_sum 7255"), "{text}");
    // Set again (a later scrape): replaced, not added.
    m.set_decision_times(&[10]);
    assert!(m.encode().contains("portcullis_decision_seconds_count 1"));
}

#[test]
fn heartbeat_age_is_nan_until_the_lease_is_held() {
    let m = Metrics::new();
    m.set_heartbeat_age(None);
    assert!(m.encode().contains("portcullis_node_heartbeat_age_seconds NaN"), "{}", m.encode());
    m.set_heartbeat_age(Some(std::time::Duration::from_millis(2_500)));
    assert!(m.encode().contains("portcullis_node_heartbeat_age_seconds 2.5"), "{}", m.encode());
}
