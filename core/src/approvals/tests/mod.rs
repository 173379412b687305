//! Tests of the decisions, on SQLite and PostgreSQL, over the shared test fixture of
//! [`crate::admin::fixture`]: separation of duties and races ([`decisions`]), windows and
//! scheduled starts ([`windows`]), channels asked for and granted ([`channels`]),
//! maintenance windows ([`maintenance`]) and the clinical sign-off outside them ([`signoff`]).

mod channels;
mod decisions;
mod maintenance;
mod signoff;
mod windows;
