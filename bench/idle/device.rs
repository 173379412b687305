//! The device the idle sessions reach: a real SSH server (russh) in the bench's own process,
//! so that 5,000 device connections cost the machine little and none of the broker's memory.
//! It takes one login with a password (the credential the broker keeps in its vault),
//! accepts session channels with a terminal, sends a prompt when a shell starts, and then
//! stays silent: an idle terminal. Every other request is refused.

use russh::keys::PrivateKey;
use russh::server::{Auth, ChannelOpenHandle, Msg, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet, Pty};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The login the device accepts.
pub const LOGIN: &str = "service";
/// Its password.
pub const PASSWORD: &str = "idle-bench-device-pw";
/// What a shell prints when it starts.
const PROMPT: &[u8] = b"idle-device$ ";

/// Counts what the device saw, for the bench to check against the broker.
#[derive(Default)]
pub struct Seen {
    pub logins: AtomicUsize,
    pub shells: AtomicUsize,
}

struct Handler {
    seen: Arc<Seen>,
}

impl russh::server::Handler for Handler {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if user == LOGIN && password == PASSWORD {
            self.seen.logins.fetch_add(1, Ordering::Relaxed);
            return Ok(Auth::Accept);
        }
        Ok(Auth::reject())
    }

    async fn channel_open_session(&mut self, _channel: Channel<Msg>, reply: ChannelOpenHandle, _: &mut Session) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(&mut self, channel: ChannelId, _: &str, _: u32, _: u32, _: u32, _: u32, _: &[(Pty, u32)], session: &mut Session) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        self.seen.shells.fetch_add(1, Ordering::Relaxed);
        session.channel_success(channel)?;
        session.data(channel, PROMPT.to_vec())
    }

    async fn exec_request(&mut self, channel: ChannelId, _: &[u8], session: &mut Session) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn env_request(&mut self, channel: ChannelId, _: &str, _: &str, session: &mut Session) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }
}

/// Serves the device on `listener` (on the current runtime) until the runtime ends.
pub async fn serve(listener: TcpListener, host_key: PrivateKey, seen: Arc<Seen>) {
    let config = Arc::new(russh::server::Config {
        server_id: russh::SshId::Standard("SSH-2.0-IdleBenchDevice".into()),
        methods: MethodSet::from(&[MethodKind::Password][..]),
        auth_rejection_time: Duration::from_millis(100),
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![host_key],
        inactivity_timeout: None,
        nodelay: true,
        ..Default::default()
    });
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let (config, handler) = (config.clone(), Handler { seen: seen.clone() });
        tokio::spawn(async move {
            if let Ok(session) = russh::server::run_stream(config, tcp, handler).await {
                let _ = session.await;
            }
        });
    }
}
