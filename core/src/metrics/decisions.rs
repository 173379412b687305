//! The time-to-decision histogram, read from the store at scrape time rather than observed
//! where a decision is made: decisions are taken by the web page, the lobby and the
//! `portcullis approve`/`deny` commands (other processes) on any node, and only the store sees
//! them all. Each scrape sets the whole histogram (over the requests the store still holds), so every node reports the same installation-wide figures.

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use std::sync::{Arc, Mutex};

/// Upper bounds, in seconds: half a minute to a day.
pub const BUCKETS: [f64; 9] = [30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 4.0 * 3600.0, 12.0 * 3600.0, 24.0 * 3600.0];

#[derive(Debug, Default)]
struct Figures {
    sum: f64,
    count: u64,
    /// Counts per bucket (not cumulative: the encoder adds them up), one per bound of
    /// [`BUCKETS`] then +Inf.
    buckets: Vec<(f64, u64)>,
}

/// A histogram set whole from a list of durations.
#[derive(Debug, Clone, Default)]
pub struct DecisionTimes(Arc<Mutex<Figures>>);

impl DecisionTimes {
    /// Sets the histogram to the durations (seconds) of every decided request.
    pub fn set(&self, seconds: &[i64]) {
        let mut f = Figures { sum: 0.0, count: seconds.len() as u64, buckets: Vec::with_capacity(BUCKETS.len() + 1) };
        let mut below = 0;
        for bound in BUCKETS.iter().copied().chain([f64::INFINITY]) {
            let upto = seconds.iter().filter(|s| (**s as f64) <= bound).count() as u64;
            f.buckets.push((bound, upto - below));
            below = upto;
        }
        f.sum = seconds.iter().map(|s| *s as f64).sum();
        if let Ok(mut g) = self.0.lock() {
            *g = f;
        }
    }
}

impl EncodeMetric for DecisionTimes {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let f = self.0.lock().map_err(|_| std::fmt::Error)?;
        let buckets = if f.buckets.is_empty() {
            BUCKETS.iter().copied().chain([f64::INFINITY]).map(|b| (b, 0)).collect()
        } else {
            f.buckets.clone()
        };
        encoder.encode_histogram::<NoLabelSet>(f.sum, f.count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}
