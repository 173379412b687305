//! A simulated medical device for `portcullis demo`.
//!
//! It is a small SSH server that looks like the service port of a device:
//! password login for one account, a toy service shell reachable
//! interactively or through `exec`, and an `sftp` subsystem serving a small
//! in-memory file area. Its [`Flavour`] says what it is: an infusion pump
//! (`rate`, `start`, `stop`, ...) or a ventilator (`mode`, `settings`,
//! `alarms`, ...); the shell code is the same. It lets people try the broker
//! end to end without any hardware. It is a toy: it never touches a real
//! device.
//!
//! [`run`] serves it on a bound listener until a shutdown token is cancelled,
//! through the accept loop all Portcullis listeners share
//! ([`portcullis_core::net`]).

mod auth;
mod channel;
mod files;
mod flavour;
mod handler;
mod lineedit;
mod sftp;
mod shell;
mod status;
mod ventilation;

pub use self::flavour::{Controls, Flavour, INFUSION_PUMP, VENTILATOR};

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::net::{self, Accepted, Caps};
use russh::keys::{HashAlg, PrivateKey};
use russh::server::Config;
use russh::{Disconnect, MethodKind, MethodSet};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use self::auth::Credentials;
use self::files::FileArea;
use self::handler::{Device, DeviceHandler};

/// Most connections served at once; more are closed on accept.
const MAX_CONNECTIONS: usize = 64;
/// How long open sessions get to close after shutdown is requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How to run the simulated device.
#[derive(Clone)]
pub struct SimDeviceConfig {
    /// The one login name accepted.
    pub login: String,
    /// Its password (never printed by `Debug`).
    pub password: String,
    /// The device's SSH host key.
    pub host_key: PrivateKey,
    /// Device name, shown in the prompt, e.g. `infusion-pump-12`.
    pub name: String,
    /// What kind of device it plays.
    pub flavour: &'static Flavour,
}

impl fmt::Debug for SimDeviceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimDeviceConfig")
            .field("login", &self.login)
            .field("password", &"<redacted>")
            .field(
                "host_key",
                &format_args!(
                    "{}",
                    self.host_key.public_key().fingerprint(HashAlg::Sha256)
                ),
            )
            .field("name", &self.name)
            .field("flavour", &self.flavour.kind)
            .finish()
    }
}

/// Serve the simulated device on `listener` until `shutdown` is cancelled.
///
/// On shutdown it stops accepting, asks open sessions to disconnect and
/// waits a few seconds for them before returning.
pub async fn run(listener: TcpListener, config: SimDeviceConfig, shutdown: CancellationToken) {
    let ssh_config = Arc::new(ssh_config(config.host_key));
    let device = Arc::new(Device {
        credentials: Credentials::new(config.login, config.password),
        files: Arc::new(FileArea::new(config.flavour, &config.name)),
        name: config.name,
        flavour: config.flavour,
    });
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, name = %device.name, kind = device.flavour.kind, "simulated device listening");
    }
    let caps = Caps {
        grace: SHUTDOWN_GRACE,
        ..Caps::new("simulated device", MAX_CONNECTIONS)
    };
    let conn_shutdown = shutdown.clone();
    net::serve_connections(listener, caps, shutdown, move |conn: Accepted| {
        let handler = DeviceHandler::new(device.clone(), conn.peer);
        let session = serve(conn.stream, conn.peer, ssh_config.clone(), handler, conn_shutdown.clone());
        async move {
            // Counts against MAX_CONNECTIONS until the session ends.
            let _slot = conn.slot;
            session.await;
        }
    })
    .await;
    info!("simulated device stopped");
}

/// The russh server settings: password auth only, one host key.
fn ssh_config(host_key: PrivateKey) -> Config {
    Config {
        server_id: russh::SshId::Standard("SSH-2.0-PortcullisSimDevice".into()),
        methods: MethodSet::from(&[MethodKind::Password][..]),
        auth_rejection_time: Duration::from_secs(1),
        // OpenSSH first probes with "none"; answer that one at once.
        auth_rejection_time_initial: Some(Duration::ZERO),
        max_auth_attempts: 6,
        keys: vec![host_key],
        inactivity_timeout: Some(Duration::from_secs(30 * 60)),
        nodelay: true,
        ..Config::default()
    }
}

/// Run one SSH connection until it ends or shutdown is requested.
async fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    config: Arc<Config>,
    handler: DeviceHandler,
    shutdown: CancellationToken,
) {
    let session = tokio::select! {
        () = shutdown.cancelled() => return,
        started = russh::server::run_stream(config, tcp, handler) => match started {
            Ok(session) => session,
            Err(e) => {
                debug!(%peer, error = %e, "simulated device handshake failed");
                return;
            }
        },
    };
    let handle = session.handle();
    tokio::pin!(session);
    tokio::select! {
        ended = &mut session => {
            if let Err(e) = ended {
                debug!(%peer, error = %e, "simulated device session ended with error");
            }
        }
        () = shutdown.cancelled() => {
            let reason = "simulated device shutting down".to_owned();
            if handle.disconnect(Disconnect::ByApplication, reason, "en".to_owned()).await.is_err() {
                debug!(%peer, "simulated device session already gone");
            }
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, session).await;
        }
    }
}
