//! A vendor's SSH client in the bench's own process (russh), so that thousands of idle
//! sessions need no OpenSSH process each. It signs in as OpenSSH does against the broker —
//! public key, then the TOTP code by keyboard-interactive — and can run a lobby command or
//! open a terminal and leave it idle.

use crate::harness::vendor::Vendor;
use russh::client::{self, AuthResult, Handle, KeyboardInteractiveAuthResponse};
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
use russh::ChannelMsg;
use std::net::SocketAddr;
use std::sync::Arc;

/// Trusts the broker's host key (the bench started that broker itself, on loopback).
pub struct Trusting;

impl client::Handler for Trusting {
    type Error = russh::Error;

    async fn check_server_key(&mut self, _: &russh::keys::PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// A signed-in connection with an idle terminal, kept open while it is held.
pub struct Idle {
    pub handle: Handle<Trusting>,
    /// Held, not read: the device sends nothing more, and the terminal stays open with it.
    #[allow(dead_code)]
    pub channel: russh::Channel<client::Msg>,
}

/// A vendor as the clients use it: its key loaded, and its turn to sign in.
pub struct Account {
    pub vendor: Arc<Vendor>,
    pub key: Arc<PrivateKey>,
    /// Held from taking a TOTP code until the broker accepted it: codes of one vendor must
    /// reach the broker in the order of their steps (a later step used first voids the
    /// earlier ones).
    pub turn: tokio::sync::Mutex<()>,
}

/// Signs `a` in as `login`. The code is taken before connecting, since taking it may wait for
/// the next TOTP step, longer than the broker's sign-in deadline.
pub async fn sign_in(addr: SocketAddr, login: &str, a: &Account) -> Result<Handle<Trusting>, String> {
    let _turn = a.turn.lock().await;
    let v = a.vendor.clone();
    let code = tokio::task::spawn_blocking(move || v.totp().next_code()).await.map_err(|e| e.to_string())?;
    let key = &a.key;
    let config = Arc::new(client::Config { inactivity_timeout: None, nodelay: true, ..Default::default() });
    let mut h = client::connect(config, addr, Trusting).await.map_err(|e| format!("connect: {e}"))?;
    match h.authenticate_publickey(login, PrivateKeyWithHashAlg::new(key.clone(), None)).await.map_err(|e| format!("publickey: {e}"))? {
        AuthResult::Success => return Ok(h),
        AuthResult::Failure { partial_success: true, .. } => {}
        AuthResult::Failure { .. } => return Err("public key refused".into()),
    }
    let mut reply = h.authenticate_keyboard_interactive_start(login, None).await.map_err(|e| format!("keyboard-interactive: {e}"))?;
    for _ in 0..4 {
        reply = match reply {
            KeyboardInteractiveAuthResponse::Success => return Ok(h),
            KeyboardInteractiveAuthResponse::Failure { .. } => return Err("TOTP code refused".into()),
            KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                let answers = if prompts.is_empty() { Vec::new() } else { vec![code.clone()] };
                h.authenticate_keyboard_interactive_respond(answers).await.map_err(|e| format!("keyboard-interactive: {e}"))?
            }
        };
    }
    Err("too many keyboard-interactive rounds".into())
}

/// Runs `command` in the vendor's lobby; returns what it printed (stdout and stderr).
pub async fn lobby(addr: SocketAddr, a: &Account, command: &str) -> Result<String, String> {
    let h = sign_in(addr, &a.vendor.name, a).await?;
    let mut ch = h.channel_open_session().await.map_err(|e| format!("channel: {e}"))?;
    ch.exec(true, command).await.map_err(|e| format!("exec: {e}"))?;
    let mut out = Vec::new();
    while let Some(msg) = ch.wait().await {
        match msg {
            ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } => out.extend_from_slice(&data),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    let _ = h.disconnect(russh::Disconnect::ByApplication, "", "en").await;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Signs in as `VENDOR:DEVICE`, opens a terminal with a shell, waits for the device's prompt
/// (the shell runs on the device, through the broker), and returns the open connection.
pub async fn idle_terminal(addr: SocketAddr, a: &Account, device: &str) -> Result<Idle, String> {
    let handle = sign_in(addr, &format!("{}:{device}", a.vendor.name), a).await?;
    let mut channel = handle.channel_open_session().await.map_err(|e| format!("channel: {e}"))?;
    channel.request_pty(true, "xterm", 80, 24, 0, 0, &[]).await.map_err(|e| format!("pty: {e}"))?;
    channel.request_shell(true).await.map_err(|e| format!("shell: {e}"))?;
    let mut prompt = false;
    while !prompt {
        let msg = channel.wait().await;
        if std::env::var_os("IDLE_DEBUG").is_some() {
            eprintln!("idle: {}: {msg:?}", a.vendor.name);
        }
        match msg {
            Some(ChannelMsg::Failure) => return Err("pty or shell refused".into()),
            Some(ChannelMsg::Data { data }) => prompt |= String::from_utf8_lossy(&data).contains("idle-device$"),
            Some(ChannelMsg::Close | ChannelMsg::Eof) | None => return Err("the terminal closed".into()),
            Some(_) => {}
        }
    }
    Ok(Idle { handle, channel })
}
