//! The approval gate. A channel to a device passes only with a grant that covers it now.
//! Without one, an interactive terminal asks for a reason and a duration, files the request
//! and waits — showing the request number and each approval as it lands — until an approver
//! decides, the wait times out, or the vendor presses Ctrl-C. Anything non-interactive is
//! refused with the command that files a request. A grant that does not name the channel
//! (terminal, files) is refused with how to ask for it. Where maintenance windows cover the
//! device, the vendor is told before filing whether one is open (until when) or which opens
//! next, on approval whether the grant ends with the window, and while it waits whether the
//! grant also needs a clinical sign-off (and who gave it). No connection to the device is made
//! here; the gate talks to the vendor through [`Dialog`], so it runs without a socket in tests.

use crate::prompt::{Dialog, Line};
use crate::hint::Hints;
use crate::state::{Conn, Entry};
use portcullis_core::approvals::{minutes_text, request_minutes, RequestInput, Signoff};
use portcullis_core::clock;
use portcullis_core::domain::{Channel, DeviceName, RequestId, RequestState, Zone};
use portcullis_core::maintenance::WindowStatus;
use portcullis_core::feed::ChangeRx;
use portcullis_core::store::{DeviceRecord, GrantRecord, RequestRecord, UserRecord};
use portcullis_core::Context;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

/// Who waits at the gate, and what the wait needs: built from a connection with
/// [`Caller::of`], or by hand in tests.
pub(crate) struct Caller<'a> {
    pub ctx: &'a Context,
    /// The change feed, cloned for each wait.
    pub changes: &'a ChangeRx,
    pub user: &'a UserRecord,
    pub peer: &'a str,
    /// Cancelled when the connection ends; the wait ends with it.
    pub cancel: &'a CancellationToken,
    /// Where the vendor reaches the broker, for the commands suggested.
    pub entry: &'a Entry,
}

impl<'a> Caller<'a> {
    /// The vendor of a connection.
    pub(crate) fn of(conn: &'a Conn) -> Caller<'a> {
        Caller { ctx: &conn.ctx, changes: &conn.changes, user: &conn.user, peer: &conn.peer, cancel: &conn.cancel, entry: &conn.entry }
    }
}

/// What the gate decided for a channel.
#[derive(Debug)]
pub(crate) enum Admission {
    /// A current grant that names the channel.
    Granted(GrantRecord),
    /// No grant; the vendor was told why.
    Refused,
    /// A current grant that does not name the channel; the vendor was told how to ask for
    /// it, and the caller audits the refusal.
    NotGranted(GrantRecord),
}

/// Decides whether a channel that `needs` a grant channel may pass to `dev`: with a current
/// grant that names it, after asking for one if `interactive`.
pub(crate) async fn admit<D: Dialog>(who: &Caller<'_>, term: &mut D, dev: &DeviceRecord, interactive: bool, needs: Channel) -> Admission {
    let Some(grant) = ensure_grant(who, term, dev, interactive, needs).await else { return Admission::Refused };
    if !grant.channels.contains(needs) {
        let h = Hints::new(who.entry, &who.user.username);
        term.warn(&format!(
            "portcullis: your access to {} (request #{}) allows {}, not {needs}. What it allows:\n{}Ask for {needs} with: {} request {} --minutes 60 --reason TEXT {}\n",
            dev.name, grant.request_id, grant.channels, h.channels(&dev.name, &grant.channels), h.lobby(), dev.name, flag_of(needs)
        ))
        .await;
        return Admission::NotGranted(grant);
    }
    Admission::Granted(grant)
}

/// The lobby's `request` option that asks for `c`.
pub(crate) fn flag_of(c: Channel) -> String {
    match c {
        Channel::Shell => "--shell".into(),
        Channel::Files => "--files".into(),
        Channel::Tcp(p) => format!("--tcp {p}"),
    }
}

/// Returns the grant to use, or `None` after telling the vendor why not. `needs` is the
/// channel the caller will open (for the hint on how to ask; the caller checks the grant).
async fn ensure_grant<D: Dialog>(conn: &Caller<'_>, term: &mut D, dev: &DeviceRecord, interactive: bool, needs: Channel) -> Option<GrantRecord> {
    let ctx = conn.ctx;
    // The account is read again: a connection made before it was disabled gets nothing new.
    match ctx.store.account_enabled(conn.user.id).await {
        Ok(true) => {}
        Ok(false) => {
            term.warn("portcullis: your account is disabled.\n").await;
            return None;
        }
        Err(e) => {
            error!(error = %e, "store unavailable at the gate");
            term.warn("portcullis: the service is unavailable; try again later.\n").await;
            return None;
        }
    }
    match ctx.store.grant_for(conn.user.id, dev.id, needs, clock::now()).await {
        Ok(Some(g)) => return Some(g),
        Ok(None) => {}
        Err(e) => {
            error!(error = %e, "store unavailable at the gate");
            term.warn("portcullis: the service is unavailable; try again later.\n").await;
            return None;
        }
    }
    if !interactive {
        let h = Hints::new(conn.entry, &conn.user.username);
        let terminal = h.terminal(&dev.name);
        term.warn(&format!(
            "portcullis: you have no current access to {dev}.\nRequest it with:\n  {lobby} request {dev} --minutes 60 --reason \"TICKET and what you will do\" {flag}\nor connect interactively ({interactive}) to be asked.\n",
            dev = dev.name,
            lobby = h.lobby(),
            flag = flag_of(needs),
            interactive = terminal.replacen("ssh ", "ssh -t ", 1),
        ))
        .await;
        return None;
    }
    let id = match existing_request(conn, dev).await {
        Some(id) => {
            term.say(&format!("Your request #{id} for {} is already pending.\n", dev.name)).await;
            id
        }
        None => new_request(conn, term, dev).await?,
    };
    wait_for_decision(conn, term, id).await
}

async fn existing_request(conn: &Caller<'_>, dev: &DeviceRecord) -> Option<RequestId> {
    let reqs = conn.ctx.store.list_requests(Some(RequestState::Pending), Some(conn.user.id), 50).await.ok()?;
    reqs.into_iter().find(|r| r.device_id == dev.id).map(|r| r.id)
}

async fn new_request<D: Dialog>(conn: &Caller<'_>, term: &mut D, dev: &DeviceRecord) -> Option<RequestId> {
    let ctx = conn.ctx;
    let max = ctx.approvals.policy().rule(dev.criticality, &dev.zone).max_minutes;
    let default = i64::from(ctx.config.approval.default_minutes).min(max);
    term.say(&format!("You have no current access to {} ({}, zone {}). An approver must grant it.\n", dev.name, dev.criticality, dev.zone)).await;
    if let Some(line) = window_line(ctx, &dev.name, &dev.zone) {
        term.say(&line).await;
    }
    term.say("Give the ticket number and what you will do.\nReason: ").await;
    let Line::Text(reason) = term.read_line().await else { return None };
    let mut minutes = None;
    for _ in 0..3 {
        term.say(&format!("Minutes needed [{default}]: ")).await;
        let Line::Text(m) = term.read_line().await else { return None };
        let m = m.trim();
        if m.is_empty() {
            minutes = Some(default);
            break;
        }
        match minutes_text(m).and_then(|n| request_minutes(n, max)) {
            Ok(n) => {
                minutes = Some(n);
                break;
            }
            Err(why) => term.say(&format!("{why}; please enter a number of minutes from 1 to {max}.\n")).await,
        }
    }
    let minutes = minutes?;
    match ctx.approvals.create_request(RequestInput::new(&conn.user.username, &dev.name, &reason, minutes).peer(conn.peer)).await {
        Ok(r) => {
            info!(request = %r.id, "request filed at the gate");
            Some(r.id)
        }
        Err(e) => {
            term.warn(&format!("portcullis: {e}\n")).await;
            None
        }
    }
}

/// The device's maintenance windows now, for a vendor about to file a request; none when no
/// window covers it.
pub(crate) fn window_line(ctx: &Context, device: &DeviceName, zone: &Zone) -> Option<String> {
    match ctx.approvals.policy().window_status(device, zone, clock::now()) {
        WindowStatus::Unrestricted => None,
        status => Some(format!("Maintenance windows: {} is {}.\n", device, status.describe())),
    }
}

/// `1 of 2 approvals`, then the clinical sign-off when the request needs one: what a vendor
/// is told of a pending request (at the gate and in the lobby).
pub(crate) fn approvals_text(req: &RequestRecord, signoff: Option<&Signoff>) -> String {
    let tally = format!("{} of {} approvals", req.approvals.len(), req.required_approvals);
    match signoff {
        None => tally,
        Some(Signoff { given_by: None }) => {
            format!("{tally}; waiting for a clinical sign-off (outside the maintenance window an approver holding clinical-signoff must approve)")
        }
        Some(Signoff { given_by: Some(by) }) => format!("{tally}; clinical sign-off given by {by}"),
    }
}

async fn wait_for_decision<D: Dialog>(conn: &Caller<'_>, term: &mut D, id: RequestId) -> Option<GrantRecord> {
    let ctx = conn.ctx;
    let wait = ctx.config.approval.wait_timeout.0;
    let deadline = tokio::time::Instant::now() + wait;
    let mut changes = conn.changes.clone();
    let mut shown = String::new();
    term.say(&format!("request #{id} is waiting for approval… (Ctrl-C to give up; waiting up to {})\n", humantime::format_duration(wait))).await;
    loop {
        let req = match ctx.store.request(id).await {
            Ok(Some(r)) => r,
            _ => {
                term.warn("portcullis: the service is unavailable; try again later.\n").await;
                return None;
            }
        };
        match req.state {
            RequestState::Approved => {
                let grant = ctx.store.grant_of_request(id).await.ok().flatten();
                let now = clock::now();
                match &grant {
                    Some(g) if g.is_current(now) => {
                        let clipped = match ctx.approvals.policy().window_status(&req.device, &req.zone, g.starts_at) {
                            WindowStatus::Inside(o) if o.ends_at == g.ends_at => format!(" (when maintenance window {} closes)", o.window),
                            _ => String::new(),
                        };
                        term.say(&format!("request #{id} approved; access until {}{clipped}. Connecting…\n", clock::rfc3339(g.ends_at))).await;
                    }
                    Some(g) if g.starts_at > now => {
                        term.warn(&format!(
                            "request #{id} approved for a window from {} to {}; connect again then.\n",
                            clock::rfc3339(g.starts_at), clock::rfc3339(g.ends_at)
                        )).await;
                    }
                    _ => {}
                }
                return grant.filter(|g| g.is_current(now));
            }
            RequestState::Denied => {
                let why = req.decision_note.unwrap_or_default();
                term.warn(&format!("request #{id} was denied by {}: {why}\n", req.decided_by.unwrap_or_default())).await;
                return None;
            }
            RequestState::Expired | RequestState::Revoked => {
                term.warn(&format!("request #{id} is {}.\n", req.state)).await;
                return None;
            }
            RequestState::Pending => {
                // The grant is decided in core whatever is shown; a failed look-up only shows less.
                let signoff = ctx.approvals.signoff(&req).await.ok().flatten();
                let text = approvals_text(&req, signoff.as_ref());
                if text != shown && (!req.approvals.is_empty() || signoff.is_some()) {
                    term.say(&format!("request #{id}: {text}\n")).await;
                }
                shown = text;
            }
        }
        tokio::select! {
            r = changes.changed() => if r.is_err() { return None },
            _ = tokio::time::sleep_until(deadline) => {
                let _ = ctx.approvals.expire(id, "no decision while the vendor waited").await;
                term.warn(&format!("No decision within {}; request #{id} expired.\n", humantime::format_duration(wait))).await;
                return None;
            }
            line = term.interrupted() => {
                if line == Line::Interrupted || line == Line::Closed {
                    let _ = ctx.approvals.expire(id, "withdrawn by the vendor").await;
                    term.warn(&format!("request #{id} withdrawn.\n")).await;
                }
                return None;
            }
            _ = conn.cancel.cancelled() => return None,
        }
    }
}

#[cfg(test)]
mod tests;
