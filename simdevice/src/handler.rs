//! The russh server handler of the simulated device: one per connection.
//!
//! It checks the password and maps SSH channel requests onto
//! [`ChannelState`]: `pty-req` and `window-change` (size remembered),
//! `shell`, `exec`, the `sftp` subsystem, data and EOF; it sends the bytes
//! that come back, and the exit status, EOF and close when a program ends.
//! Every other request is refused. The device state is shared by the
//! channels of one connection; the file area by all connections.
//!
//! A channel's [`Channel`] object is kept only until its shell, exec or
//! subsystem request: the SFTP server reads and writes it as a stream, while
//! for a shell or exec it is dropped (russh queues data for a `Channel` that
//! nobody reads, which would block the session); the handler callbacks then
//! carry the traffic. The SFTP server runs in a task of its own, which ends when its channel
//! closes (at the latest when the connection does, on shutdown too).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session};
use russh::{Channel, ChannelId, ChannelOpenFailure, MethodKind, MethodSet, Pty};
use tracing::{debug, info};

use super::auth::Credentials;
use super::channel::{ChannelState, Output, TermSize};
use super::files::FileArea;
use super::flavour::Flavour;
use super::sftp::SftpSession;
use super::shell::DeviceState;

/// Most session channels open at once on one connection.
const MAX_CHANNELS: usize = 8;

/// What the device knows about itself, shared by all connections.
pub struct Device {
    pub credentials: Credentials,
    pub name: String,
    pub flavour: &'static Flavour,
    pub files: Arc<FileArea>,
}

/// Per-connection handler.
pub struct DeviceHandler {
    device: Arc<Device>,
    peer: SocketAddr,
    pump: DeviceState,
    channels: HashMap<ChannelId, ChannelState>,
    /// Channel objects kept until their shell, exec or subsystem request.
    pending: HashMap<ChannelId, Channel<Msg>>,
}

impl DeviceHandler {
    pub fn new(device: Arc<Device>, peer: SocketAddr) -> Self {
        let pump = DeviceState::new(device.flavour, &device.name, time::OffsetDateTime::now_utc());
        Self {
            device,
            peer,
            pump,
            channels: HashMap::new(),
            pending: HashMap::new(),
        }
    }

    /// Send `output`; when the program ended, report its status and close.
    fn deliver(
        &mut self,
        channel: ChannelId,
        output: Output,
        session: &mut Session,
    ) -> Result<(), russh::Error> {
        if !output.bytes.is_empty() {
            session.data(channel, output.bytes)?;
        }
        if let Some(status) = output.exit {
            session.exit_status_request(channel, status)?;
            session.eof(channel)?;
            session.close(channel)?;
        }
        Ok(())
    }

    fn reply(
        &self,
        channel: ChannelId,
        ok: bool,
        session: &mut Session,
    ) -> Result<(), russh::Error> {
        if ok {
            session.channel_success(channel)
        } else {
            session.channel_failure(channel)
        }
    }
}

impl russh::server::Handler for DeviceHandler {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if self.device.credentials.matches(user, password) {
            info!(peer = %self.peer, "simdevice login");
            return Ok(Auth::Accept);
        }
        info!(peer = %self.peer, "simdevice login refused");
        // Keep offering password so a typo can be retried; russh caps the
        // attempts and delays each rejection.
        Ok(Auth::Reject {
            proceed_with_methods: Some(MethodSet::from(&[MethodKind::Password][..])),
            partial_success: false,
        })
    }

    async fn auth_publickey_offered(
        &mut self,
        _: &str,
        _: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(Auth::reject())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.channels.len() >= MAX_CHANNELS {
            reply.reject(ChannelOpenFailure::ResourceShortage).await;
            return Ok(());
        }
        self.channels.insert(channel.id(), ChannelState::new());
        self.pending.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        term: &str,
        cols: u32,
        rows: u32,
        _: u32,
        _: u32,
        _: &[(Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        debug!(peer = %self.peer, term, cols, rows, "simdevice pty");
        let size = TermSize { cols, rows };
        let ok = self
            .channels
            .get_mut(&channel)
            .is_some_and(|c| c.set_pty(size));
        self.reply(channel, ok, session)
    }

    async fn window_change_request(
        &mut self,
        channel: ChannelId,
        cols: u32,
        rows: u32,
        _: u32,
        _: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        debug!(peer = %self.peer, cols, rows, "simdevice window change");
        let size = TermSize { cols, rows };
        let ok = self
            .channels
            .get_mut(&channel)
            .is_some_and(|c| c.resize(size));
        self.reply(channel, ok, session)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.pending.remove(&channel);
        let banner = self
            .channels
            .get_mut(&channel)
            .and_then(|c| c.start_shell(&self.pump));
        self.reply(channel, banner.is_some(), session)?;
        match banner {
            Some(bytes) => self.deliver(channel, Output { bytes, exit: None }, session),
            None => Ok(()),
        }
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        command: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.pending.remove(&channel);
        let output = match self.channels.get_mut(&channel) {
            Some(state) => state.exec(&mut self.pump, command),
            None => None,
        };
        self.reply(channel, output.is_some(), session)?;
        match output {
            Some(output) => self.deliver(channel, output, session),
            None => Ok(()),
        }
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _: &str,
        _: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let pending = self.pending.remove(&channel);
        let started = self.channels.get_mut(&channel).is_some_and(ChannelState::start_subsystem);
        match pending {
            Some(stream) if started && name == "sftp" => {
                info!(peer = %self.peer, "simdevice sftp");
                session.channel_success(channel)?;
                russh_sftp::server::run(stream.into_stream(), SftpSession::new(self.device.files.clone())).await;
                Ok(())
            }
            _ => session.channel_failure(channel),
        }
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _: bool,
        _: &str,
        _: &str,
        _: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if session.has_pending_data(channel) {
            // Output is queued because the client is not reading it: drop
            // the input, as a full UART buffer would, so the queue stays
            // bounded.
            debug!(peer = %self.peer, "simdevice output blocked, input dropped");
            return Ok(());
        }
        let output = match self.channels.get_mut(&channel) {
            Some(state) => state.feed(&mut self.pump, data),
            None => return Ok(()),
        };
        self.deliver(channel, output, session)
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let output = match self.channels.get_mut(&channel) {
            Some(state) => state.eof(&mut self.pump),
            None => return Ok(()),
        };
        self.deliver(channel, output, session)
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.remove(&channel);
        self.pending.remove(&channel);
        Ok(())
    }
}
