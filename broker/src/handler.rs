//! The russh `Handler`: an adapter. It runs the two authentication steps against the core
//! `AuthService` (public key, then a keyboard-interactive TOTP prompt; `none` and `password`
//! are never accepted; refusals are answered at a fixed pace, [`crate::pace`]), hands accepted session channels to the connection task over a bounded
//! channel, hands `direct-tcpip` (tunnel) requests to the connection task to decide, and
//! refuses — and reports for auditing — everything a vendor must never have: agent
//! forwarding, X11, remote forwarding, Unix-socket forwarding, environment variables and
//! subsystems other than `sftp` (which the channel task checks against the grant).
//!
//! When the store does not answer (or the change feed already knows it does not), a sign-in
//! cannot be checked. The vendor is told why, twice over, since either may reach the client
//! first: the refusal points the client to keyboard-interactive, whose prompt carries no
//! question, only [`UNAVAILABLE`] as its instructions (nothing is accepted that way); and the
//! connection task, told by the handler, hangs up with the same text as the reason. Every
//! later step is refused at once, without asking the store again.

use crate::events::{ConnEvent, TunnelRequest};
use crate::pace::paced;
use crate::shared::Broker;
use crate::target::Target;
use portcullis_core::metrics::{self, SignInChannel, SignInOutcome};
use russh::keys::HashAlg;
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Response, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelOpenFailure, MethodKind, MethodSet};
use serde_json::json;
use std::borrow::Cow;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{error, info, warn};

/// What a vendor is told when the store cannot check the sign-in (or, later, the device).
pub(crate) const UNAVAILABLE: &str =
    "service unavailable: Portcullis cannot record this sign-in right now (its database is unreachable, full or failing), so nothing was started; try again later.";

/// The code prompt's instructions.
const ASK_CODE: &str = "Enter the 6-digit code from your authenticator app.";

/// The instructions of the prompt after a refused code: the same text whatever the reason
/// (wrong, already used, account locked), so it tells nobody more than that it failed.
const WRONG_CODE: &str = "Wrong code. Enter the current 6-digit code from your authenticator app (each code works once; after several wrong codes, sign-in is refused for a while).";

/// Most session channels one connection may open.
const MAX_CHANNELS: usize = 8;

enum Stage {
    /// Nothing proven yet.
    Start,
    /// The key is enrolled for this account; the TOTP code is next.
    KeyAccepted { target: Target },
    /// Fully authenticated.
    Done,
}

/// One connection's handler.
pub(crate) struct VendorHandler {
    broker: Broker,
    peer: String,
    events: mpsc::Sender<ConnEvent>,
    stage: Stage,
    channels: usize,
    /// One refused key is audited per connection: clients offer every key they hold, and
    /// an unbounded number of rows per connection would let anyone flood the audit log.
    refusal_audited: bool,
    /// The store could not check the sign-in; every later step is refused at once.
    unavailable: bool,
    /// A code was refused on this connection: the next prompt says so.
    code_refused: bool,
    /// A key was offered or proven: the connection is a sign-in attempt, counted in the
    /// metrics as a failure when it ends without signing in and without a refused code
    /// (which was counted already).
    tried: bool,
}

impl Drop for VendorHandler {
    fn drop(&mut self) {
        if self.tried && !self.code_refused && !matches!(self.stage, Stage::Done) {
            let outcome = if self.unavailable { SignInOutcome::Refused } else { SignInOutcome::Failure };
            metrics::get().sign_in(SignInChannel::Ssh, outcome);
        }
    }
}

impl VendorHandler {
    pub(crate) fn new(broker: Broker, peer: String, events: mpsc::Sender<ConnEvent>) -> Self {
        Self { broker, peer, events, stage: Stage::Start, channels: 0, refusal_audited: false, unavailable: false, code_refused: false, tried: false }
    }

    /// Whether the sign-in can be checked: the store answered the last time it was asked.
    /// When it cannot, tells the connection task (once), which hangs up on the vendor.
    async fn store_answers(&mut self) -> bool {
        if !self.unavailable && !self.broker.ctx().audit.feed().is_reachable() {
            self.report_unavailable().await;
        }
        !self.unavailable
    }

    async fn report_unavailable(&mut self) {
        if !std::mem::replace(&mut self.unavailable, true) {
            let _ = self.events.send(ConnEvent::Unavailable).await;
        }
    }

    fn only(kind: MethodKind) -> Option<MethodSet> {
        Some(MethodSet::from(&[kind][..]))
    }

    async fn refuse(&self, what: &'static str, detail: serde_json::Value) {
        // Bounded channel: a flood of refusals slows this connection, never grows memory.
        let _ = self.events.send(ConnEvent::Refused { what, detail }).await;
    }

    /// A refusal that leads the client to keyboard-interactive, where it is told why.
    fn refuse_unavailable() -> Auth {
        Auth::Reject { proceed_with_methods: Self::only(MethodKind::KeyboardInteractive), partial_success: false }
    }

    /// The keyboard-interactive "prompt" that only says the service is unavailable.
    fn tell_unavailable() -> Auth {
        Auth::Partial { name: Cow::Borrowed("Portcullis"), instructions: Cow::Borrowed(UNAVAILABLE), prompts: Cow::Owned(Vec::new()) }
    }

    /// Checks a key; audits the first refusal of the connection. `None` means refuse (with
    /// `self.unavailable` set when the store could not say).
    async fn key_check(&mut self, target: &Target, fingerprint: &str) -> Option<()> {
        if !self.store_answers().await {
            return None;
        }
        match self.broker.ctx().auth.check_ssh_key(&target.user, fingerprint).await {
            Ok(Ok(_)) => Some(()),
            Ok(Err(refusal)) => {
                info!(user = %target.user, %fingerprint, reason = refusal.as_str(), "key refused");
                if !std::mem::replace(&mut self.refusal_audited, true) {
                    let auth = &self.broker.ctx().auth;
                    if let Err(e) = auth.audit_refusal(&target.user, refusal, &self.peer, "ssh").await {
                        error!(error = %e, "cannot audit a refused key");
                    }
                }
                None
            }
            Err(e) => {
                // Fail closed: the store or vault cannot answer.
                error!(error = %e, "authentication unavailable");
                self.report_unavailable().await;
                None
            }
        }
    }

    async fn audit_bad_name(&mut self, raw: &str) {
        if std::mem::replace(&mut self.refusal_audited, true) {
            return;
        }
        if let Err(e) = self.broker.ctx().auth.audit_bad_name(raw, &self.peer, "ssh").await {
            error!(error = %e, "cannot audit a refused login");
        }
    }

    /// A key offered without a signature: accepted (the client then signs) if enrolled.
    async fn key_offered(&mut self, user: &str, offer: PublicKeyOffer<'_>) -> Auth {
        self.tried = true;
        // Say no early to keys that are not enrolled, so the client tries its next one
        // without signing; ownership of an accepted key is proven in `auth_publickey`.
        let Ok(target) = Target::parse(user) else {
            self.audit_bad_name(user).await;
            return Auth::reject();
        };
        let fingerprint = offer.public_key.fingerprint(HashAlg::Sha256).to_string();
        match self.key_check(&target, &fingerprint).await {
            Some(_) => Auth::Accept,
            None if self.unavailable => Self::refuse_unavailable(),
            None => Auth::reject(),
        }
    }

    /// A key proven by its signature: partial success (the code is next) if enrolled.
    async fn key_proven(&mut self, user: &str, key: VerifiedPublicKey<'_>) -> Auth {
        self.tried = true;
        let Ok(target) = Target::parse(user) else {
            self.audit_bad_name(user).await;
            return Auth::reject();
        };
        let fingerprint = key.public_key.fingerprint(HashAlg::Sha256).to_string();
        if self.key_check(&target, &fingerprint).await.is_none() {
            return if self.unavailable { Self::refuse_unavailable() } else { Auth::reject() };
        }
        info!(user = %target.user, %fingerprint, "key accepted; asking for the code");
        self.stage = Stage::KeyAccepted { target };
        Auth::Reject { proceed_with_methods: Self::only(MethodKind::KeyboardInteractive), partial_success: true }
    }

    /// The keyboard-interactive step: the code prompt, then the check of its answer.
    async fn code(&mut self, user: &str, response: Option<Response<'_>>) -> Auth {
        if self.unavailable {
            // Told once (the prompt without questions); its empty answer is refused.
            return if response.is_none() { Self::tell_unavailable() } else { Auth::reject() };
        }
        let Stage::KeyAccepted { target } = &self.stage else {
            return Auth::Reject { proceed_with_methods: Self::only(MethodKind::PublicKey), partial_success: false };
        };
        if Target::parse(user).ok().as_ref() != Some(target) {
            return Auth::reject();
        }
        let Some(mut response) = response else {
            return Auth::Partial {
                name: Cow::Borrowed("Portcullis"),
                instructions: Cow::Borrowed(if self.code_refused { WRONG_CODE } else { ASK_CODE }),
                prompts: Cow::Owned(vec![(Cow::Borrowed("Verification code: "), false)]),
            };
        };
        let code = response.next().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        let target = target.clone();
        if !self.store_answers().await {
            return Self::tell_unavailable();
        }
        match self.broker.ctx().auth.check_totp(&target.user, &code, &self.peer, "ssh").await {
            Ok(Ok(user)) => {
                self.stage = Stage::Done;
                if self.events.send(ConnEvent::Authenticated { user: Box::new(user), target }).await.is_err() {
                    return Auth::reject();
                }
                metrics::get().sign_in(SignInChannel::Ssh, SignInOutcome::Success);
                Auth::Accept
            }
            Ok(Err(refusal)) => {
                info!(user = %target.user, reason = refusal.as_str(), "code refused");
                // The client asks again (OpenSSH: NumberOfPasswordPrompts), and that prompt
                // says the code was wrong; the reason (reused, locked…) is only audited.
                self.code_refused = true;
                metrics::get().sign_in(SignInChannel::Ssh, SignInOutcome::Failure);
                Auth::Reject { proceed_with_methods: Self::only(MethodKind::KeyboardInteractive), partial_success: false }
            }
            Err(e) => {
                // Fail closed, and say why: an information request with no prompt.
                error!(error = %e, "authentication unavailable");
                self.report_unavailable().await;
                Self::tell_unavailable()
            }
        }
    }
}

impl russh::server::Handler for VendorHandler {
    type Error = russh::Error;

    /// The first answer names both steps. Some clients (curl with libssh2) read this list once
    /// and try only what it names: listing `publickey` alone kept them from asking for the code
    /// after the key. Keyboard-interactive before an accepted key is refused without a prompt.
    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(Auth::Reject { proceed_with_methods: Some(MethodSet::from(&[MethodKind::PublicKey, MethodKind::KeyboardInteractive][..])), partial_success: false })
    }

    async fn auth_password(&mut self, _user: &str, _password: &str) -> Result<Auth, Self::Error> {
        let asked = Instant::now();
        Ok(paced(asked, Auth::Reject { proceed_with_methods: Self::only(MethodKind::PublicKey), partial_success: false }).await)
    }

    async fn auth_publickey_offered(&mut self, user: &str, offer: PublicKeyOffer<'_>) -> Result<Auth, Self::Error> {
        let asked = Instant::now();
        let auth = self.key_offered(user, offer).await;
        Ok(paced(asked, auth).await)
    }

    async fn auth_publickey(&mut self, user: &str, key: VerifiedPublicKey<'_>) -> Result<Auth, Self::Error> {
        let asked = Instant::now();
        let auth = self.key_proven(user, key).await;
        Ok(paced(asked, auth).await)
    }

    async fn auth_keyboard_interactive<'a>(&'a mut self, user: &str, _sub: &str, response: Option<Response<'a>>) -> Result<Auth, Self::Error> {
        let asked = Instant::now();
        let auth = self.code(user, response).await;
        Ok(paced(asked, auth).await)
    }

    async fn channel_open_session(&mut self, channel: Channel<Msg>, reply: ChannelOpenHandle, _s: &mut Session) -> Result<(), Self::Error> {
        if !matches!(self.stage, Stage::Done) || self.channels >= MAX_CHANNELS {
            reply.reject(ChannelOpenFailure::ResourceShortage).await;
            return Ok(());
        }
        self.channels += 1;
        reply.accept().await;
        if self.events.send(ConnEvent::Channel(channel)).await.is_err() {
            warn!("connection task gone; channel dropped");
        }
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host: &str,
        port: u32,
        orig: &str,
        orig_port: u32,
        reply: ChannelOpenHandle,
        _s: &mut Session,
    ) -> Result<(), Self::Error> {
        let host: String = host.chars().take(255).collect();
        if !matches!(self.stage, Stage::Done) {
            reply.reject(ChannelOpenFailure::AdministrativelyProhibited).await;
            return Ok(());
        }
        let originator: String = orig.chars().take(64).collect();
        let req = TunnelRequest { channel, reply, host, port, originator, originator_port: orig_port };
        // If the connection task is gone, dropping the request refuses the channel.
        let _ = self.events.send(ConnEvent::Tunnel(Box::new(req))).await;
        Ok(())
    }

    async fn channel_open_direct_streamlocal(&mut self, _c: Channel<Msg>, path: &str, reply: ChannelOpenHandle, _s: &mut Session) -> Result<(), Self::Error> {
        let path: String = path.chars().take(255).collect();
        reply.reject(ChannelOpenFailure::AdministrativelyProhibited).await;
        self.refuse("direct-streamlocal", json!({ "path": path })).await;
        Ok(())
    }

    async fn tcpip_forward(&mut self, address: &str, port: &mut u32, _s: &mut Session) -> Result<bool, Self::Error> {
        let address: String = address.chars().take(255).collect();
        self.refuse("remote-forward", json!({ "address": address, "port": *port })).await;
        Ok(false)
    }

    async fn streamlocal_forward(&mut self, path: &str, _s: &mut Session) -> Result<bool, Self::Error> {
        let path: String = path.chars().take(255).collect();
        self.refuse("remote-forward", json!({ "path": path })).await;
        Ok(false)
    }

    async fn agent_request(&mut self, channel: ChannelId, _s: &mut Session) -> Result<bool, Self::Error> {
        self.refuse("agent", json!({ "channel": u32::from(channel) })).await;
        Ok(false)
    }

    /// A terminal is always granted, and answered here, at once: russh keeps one "wants a
    /// reply" flag per channel, so when a client sends `pty-req` and `exec` (or `shell`)
    /// without waiting, as PuTTY does, an answer given later by the channel task would use up
    /// the flag of the second request, whose own answer then never goes out (PuTTY ends with
    /// "Server refused to start a shell/command").
    async fn pty_request(&mut self, channel: ChannelId, _term: &str, _cols: u32, _rows: u32, _pw: u32, _ph: u32, _modes: &[(russh::Pty, u32)], s: &mut Session) -> Result<(), Self::Error> {
        s.channel_success(channel)
    }

    async fn x11_request(&mut self, channel: ChannelId, _single: bool, _proto: &str, _cookie: &str, _screen: u32, s: &mut Session) -> Result<(), Self::Error> {
        s.channel_failure(channel)?;
        self.refuse("x11", json!({ "channel": u32::from(channel) })).await;
        Ok(())
    }

    async fn env_request(&mut self, channel: ChannelId, name: &str, _value: &str, _s: &mut Session) -> Result<(), Self::Error> {
        // The value is not recorded: clients send locale and sometimes secrets this way.
        let name: String = name.chars().take(64).collect();
        self.refuse("env", json!({ "channel": u32::from(channel), "name": name })).await;
        Ok(())
    }

    async fn subsystem_request(&mut self, channel: ChannelId, name: &str, s: &mut Session) -> Result<(), Self::Error> {
        if name == "sftp" {
            // The channel task answers, after checking the grant.
            return Ok(());
        }
        s.channel_failure(channel)?;
        let name: String = name.chars().take(64).collect();
        self.refuse("subsystem", json!({ "channel": u32::from(channel), "name": name })).await;
        Ok(())
    }
}
