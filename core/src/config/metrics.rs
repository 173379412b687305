//! The `[metrics]` section: the Prometheus listener, plain HTTP on its own address, loopback
//! by default (the figures say how busy the node is and when sign-ins fail: keep them off
//! the networks vendors reach).

use serde::Deserialize;
use std::net::SocketAddr;

/// Where `/metrics` is served.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// false: no metrics listener.
    pub enabled: bool,
    /// The listener's address (port 0 picks a free port).
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true, listen: SocketAddr::from(([127, 0, 0, 1], 9464)) }
    }
}
