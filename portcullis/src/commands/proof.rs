//! The proof that whoever types `--as NAME` is that account: its current TOTP code, from
//! `--code` or asked for when standard input is a terminal, checked by the same service as a
//! sign-in (each time step accepted once, wrong codes counted towards the lockout, every
//! refusal audited with the operating-system user as `via`). Reading the configuration file
//! is therefore not enough to decide as someone else.

use crate::cli::ActingAs;
use portcullis_core::auth::Refusal;
use portcullis_core::domain::Username;
use portcullis_core::Context;
use std::io::{BufRead as _, IsTerminal as _, Write as _};

/// Where a command-line check comes from, for the audit row's `peer`.
const PEER: &str = "local";

/// Checks `who`'s code; `via` is the command line's actor (`cli:NAME`).
pub async fn prove(ctx: &Context, who: &ActingAs, via: &str) -> anyhow::Result<()> {
    let code = match &who.code {
        Some(code) => code.clone(),
        None => prompt(&who.name)?,
    };
    match ctx.auth.check_totp(&who.name, code.trim(), PEER, via).await? {
        Ok(_) => Ok(()),
        Err(r) => anyhow::bail!(refusal_text(&who.name, r)),
    }
}

/// Asks for the code on the terminal; without one, says how to give it.
fn prompt(name: &Username) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!("acting as {name} needs {name}'s current TOTP code: give it with --code");
    }
    let mut err = std::io::stderr().lock();
    write!(err, "TOTP code for {name}: ")?;
    err.flush()?;
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

/// What the operator is told when the code is refused (the audit row has the details).
fn refusal_text(name: &Username, r: Refusal) -> String {
    match r {
        Refusal::UnknownUser => format!("no user {name}"),
        Refusal::Disabled => format!("user {name} is disabled"),
        Refusal::Locked => format!("user {name} is locked after repeated wrong codes (an admin can run `user unlock {name}`)"),
        Refusal::Replayed => format!("that code for {name} was already used; wait for the next one"),
        _ => format!("the TOTP code for {name} is wrong"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn refusals_say_what_to_do() {
        let n = Username::parse("alice").unwrap();
        assert_eq!(refusal_text(&n, Refusal::WrongCode), "the TOTP code for alice is wrong");
        assert!(refusal_text(&n, Refusal::Replayed).contains("already used"));
        assert!(refusal_text(&n, Refusal::Locked).contains("user unlock alice"));
    }
}
