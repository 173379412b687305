//! `[proxy]`: the load balancers (HAProxy with `send-proxy-v2`) whose connections carry the
//! client's address in a PROXY protocol v2 header. One list for both listeners (SSH and
//! HTTPS): a proxy trusted for one is in front of the other too. Empty (the default): no
//! header is ever read.

use super::{ConfigError, Dur};
use crate::net::proxy::{Cidr, ProxyRule, HEADER_TIMEOUT};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Addresses or `ADDR/BITS` blocks of the trusted proxies.
    pub trusted: Vec<Cidr>,
    /// Time a trusted proxy has to send the header after the TCP accept (cut to
    /// `ssh.preauth_timeout` when longer).
    pub header_timeout: Dur,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig { trusted: Vec::new(), header_timeout: Dur(HEADER_TIMEOUT) }
    }
}

impl ProxyConfig {
    /// The rule for a listener's accept loop; none when no proxy is trusted.
    pub fn rule(&self) -> Option<Arc<ProxyRule>> {
        (!self.trusted.is_empty()).then(|| Arc::new(ProxyRule::new(self.trusted.clone(), self.header_timeout.0)))
    }

    /// Parses `PORTCULLIS_PROXY_TRUSTED`: comma-separated blocks.
    pub(super) fn parse_trusted(s: &str) -> Result<Vec<Cidr>, String> {
        s.split(',').filter(|p| !p.trim().is_empty()).map(|p| p.trim().parse()).collect()
    }

    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.header_timeout.0.is_zero() {
            return Err(ConfigError::Invalid("proxy.header_timeout must be more than 0s".into()));
        }
        Ok(())
    }
}
