//! Test infrastructure for the end-to-end tests: a real sshd as the device ([`device`]),
//! the real `portcullis` binary as the broker ([`broker`]), a real browser on its web page
//! ([`browser`]), the real OpenSSH client as the
//! vendor ([`vendor`]) with TOTP codes handed out like an authenticator app ([`totp`]),
//! PostgreSQL databases per test ([`pg`]), a small filesystem to fill ([`smalldisk`]), an S3
//! server ([`s3`]), a real syslog daemon as the SIEM ([`rsyslog`]), an asciicast reader ([`cast`]), the Python SSH clients ([`python`]), the
//! Debian package built, installed and purged for real ([`debpkg`]), and the usual
//! setup of all of them in one call ([`scenario`]).
//!
//! Only std, serde_json, totp-rs and tempfile are used, so the bench driver under bench/
//! can reuse these files as they are.

pub mod broker;
pub mod browser;
pub mod cast;
pub mod debpkg;
pub mod device;
pub mod haproxy;
pub mod oidc;
pub mod pg;
pub mod proc;
pub mod python;
pub mod rsyslog;
pub mod s3;
pub mod scenario;
pub mod smalldisk;
pub mod tcp;
pub mod totp;
pub mod vendor;
