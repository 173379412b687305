//! The shared domain of Portcullis: typed values (user and device names, roles, request
//! states), the layered configuration, the store (SQLite or PostgreSQL through one code path),
//! the hash-chained audit log, the credential vault, TOTP checking and the approval policy.
//!
//! Both the SSH broker and the web side call the services here, so that every decision
//! (who may log in, who may approve, when a window ends) is made in exactly one place. The
//! accept loop every listener runs (caps, backoff, draining) is here too, in [`net`].

pub mod admin;
pub mod alerts;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod backlog;
pub mod breakglass;
pub mod clock;
pub mod config;
pub mod contain;
pub mod context;
pub mod cursor;
pub mod domain;
pub mod drain;
pub mod evidence;
pub mod export;
pub mod feed;
pub mod keyfile;
pub mod lease;
pub mod live;
pub mod maintenance;
pub mod metrics;
pub mod moderation;

pub mod net;
pub mod notify;
pub mod password;
pub mod policy;
pub mod recstore;
pub mod request_scope;
pub mod retention;
pub mod sessions;
pub mod shards;
pub mod store;
pub mod totp;
pub mod vault;
pub mod viewing;
pub mod webauth;

#[cfg(test)]
pub(crate) mod testdb;

pub use config::Config;
pub use context::Context;
pub use store::{Store, StoreError};
