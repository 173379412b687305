//! `portcullis contain …` as clap types: order the containment of a zone or a device (or show
//! what it would do with `--dry-run`), lift one, list them.

use super::{ActingAs, JsonFlag};
use clap::{Args, Subcommand};
use portcullis_core::domain::{DeviceName, Zone};

#[derive(Debug, Subcommand)]
pub enum ContainCmd {
    /// Contain every device of a zone: revoke its grants, deny its pending requests, stop its sessions.
    Zone {
        /// The zone, e.g. `icu`.
        name: Zone,
        #[command(flatten)]
        order: OrderArgs,
    },
    /// Contain one device: revoke its grants, deny its pending requests, stop its sessions.
    Device {
        /// The device, e.g. `infusion-pump-12`.
        name: DeviceName,
        #[command(flatten)]
        order: OrderArgs,
    },
    /// Lift the containment of a zone or a device: requests there may be made again.
    Lift {
        /// `zone` or `device`.
        #[arg(value_parser = ["zone", "device"])]
        kind: String,
        /// The zone's or the device's name.
        #[arg(value_name = "NAME")]
        target: String,
        #[command(flatten)]
        who: ActingAs,
        /// Why it may be lifted (several words allowed).
        #[arg(long, required = true, num_args = 1.., value_name = "TEXT")]
        reason: Vec<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// List containments, newest first (only those in force unless --all).
    List {
        /// Lifted ones too.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
}

/// What an order takes besides its scope.
#[derive(Debug, Args)]
pub struct OrderArgs {
    /// Show what the order would revoke, deny and stop, and change nothing (needs no --as).
    #[arg(long)]
    pub dry_run: bool,
    /// The admin account the order is made as (with its TOTP code).
    #[arg(long = "as", id = "as", value_name = "USER", required_unless_present = "dry_run")]
    pub admin: Option<portcullis_core::domain::Username>,
    /// That account's current six-digit TOTP code; asked for when omitted on a terminal.
    #[arg(long, value_name = "DIGITS")]
    pub code: Option<String>,
    /// Why: the incident (several words allowed).
    #[arg(long, num_args = 1.., value_name = "TEXT", required_unless_present = "dry_run")]
    pub reason: Vec<String>,
    /// Who confirmed the life-critical devices there are safe to disconnect (name and role);
    /// required while a life-critical session runs there.
    #[arg(long, value_name = "WHO")]
    pub confirmed_by: Option<String>,
    /// Cut every running session at once, life-critical ones too, for this reason (instead of
    /// the graceful stop).
    #[arg(long, value_name = "WHY")]
    pub immediate: Option<String>,
    #[command(flatten)]
    pub out: JsonFlag,
}

impl OrderArgs {
    /// The acting account, once `--as` is known to be given.
    pub fn acting(&self) -> Option<ActingAs> {
        self.admin.clone().map(|name| ActingAs { name, code: self.code.clone() })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::super::{Cli, Command};
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("portcullis").chain(args.iter().copied()))
    }

    #[test]
    fn an_order_takes_a_scope_an_admin_a_reason_and_the_safety_fields() {
        let cli = parse(&["contain", "zone", "icu", "--as", "root", "--code", "123456", "--reason", "INC-9", "ransomware", "--confirmed-by", "Dr Ada, ICU", "--immediate", "spreading"]).unwrap();
        let Command::Contain(ContainCmd::Zone { name, order }) = cli.command else { panic!("wrong command") };
        assert_eq!((name.as_str(), order.confirmed_by.as_deref(), order.immediate.as_deref()), ("icu", Some("Dr Ada, ICU"), Some("spreading")));
        assert_eq!(super::super::join_words(&order.reason), "INC-9 ransomware");
        assert!(parse(&["contain", "device", "pump-12", "--reason", "x"]).is_err(), "an order needs --as");
        assert!(parse(&["contain", "device", "pump-12", "--as", "root"]).is_err(), "an order needs a reason");
        assert!(parse(&["contain", "device", "pump-12", "--as", "root", "--reason", "x", "--immediate"]).is_err(), "--immediate needs its reason");
        assert!(parse(&["contain", "device", "pump-12", "--dry-run"]).is_ok());
        assert!(parse(&["contain", "lift", "ward", "icu", "--as", "root", "--reason", "x"]).is_err());
        assert!(parse(&["contain", "lift", "zone", "icu", "--as", "root", "--reason", "closed"]).is_ok());
    }
}
