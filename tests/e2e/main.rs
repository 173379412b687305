//! End-to-end tests of Portcullis: the real `portcullis` binary as the broker, a real
//! OpenSSH `sshd` as the device and the real OpenSSH client as the vendor (the other clients
//! vendors use in `clients/`), all on loopback.
//! Run them through `scripts/test.sh`, which installs OpenSSH and starts the throwaway
//! PostgreSQL some of them need. Each test builds its own broker, device and vendor.

// Tests report failure by panicking, with a message saying what was expected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The harness is shared with the bench driver under bench/, which uses parts of it that
// these tests do not.
#[allow(dead_code)]
mod harness;

mod alerts;
mod approval;
mod backup;
mod breakglass;
mod clients;
mod cli_decisions;
mod containment;
mod demo;
mod export;
mod evidence;
mod audit_tamper;
mod clients_netmiko;
mod clients_paramiko;
mod crash;
mod device_lifecycle;
mod disk_full;
mod drain;
mod feed;
mod forwarding;
mod harness_selftest;
mod haproxy;
mod hostile;
mod limits;
mod live_hop;
mod lobby;
mod metrics;
mod messages;
mod vendor_hints;
mod node_loss;
mod notify;
mod package;
mod hostkey;
mod recording;
mod recording_s3;
mod recording_access;
mod session;
mod store_loss;
mod ssh_audit;
mod totp;
mod web_browser;
mod pages_browser;
mod auditor_browser;
mod sso_browser;
mod tunnel;
mod upgrade;
mod vendor_lifecycle;
mod files;
mod window;
mod maintenance;
mod moderated;
