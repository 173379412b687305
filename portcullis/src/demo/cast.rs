//! The demo's cast, enrolled through the same services as a real install: the vendor
//! `demo-vendor` (org "Acme Medical") with a fresh key pair written next to the data, two
//! approvers, an auditor, and two simulated devices, each started here on its own 127.0.0.1
//! listener with its own random password and fresh host key: the high-criticality infusion pump
//! `infusion-pump-12` and the life-critical ventilator `ventilator-3`, which needs two approvers.
//! Both serve SFTP from a small in-memory file area.

use crate::keys;
use crate::setup::Initialised;
use anyhow::Context as _;
use portcullis_core::admin::{Admin, Enrolment, NewDeviceSpec, NewUserSpec};
use portcullis_core::password;
use portcullis_core::domain::{Criticality, DeviceName, Role, Username, Zone};
use portcullis_core::vault::Credential;
use portcullis_simdevice::{Flavour, SimDeviceConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub const VENDOR: &str = "demo-vendor";
pub const VENDOR_ORG: &str = "Acme Medical";
pub const APPROVERS: [&str; 2] = ["demo-approver", "demo-approver2"];
/// The auditor, who replays and watches sessions on the web page.
pub const AUDITOR: &str = "demo-auditor";
pub const PUMP: &str = "infusion-pump-12";
pub const VENTILATOR: &str = "ventilator-3";
/// The simulated devices' service account.
const DEVICE_LOGIN: &str = "service";
/// Audit actor of the demo's own set-up.
const ACTOR: &str = "demo";

/// What the demo set up.
pub struct Cast {
    pub vendor: Username,
    pub vendor_enrolment: Enrolment,
    /// The web password of the approvers and the auditor (random, shared).
    pub approver_password: String,
    /// Private key file of the vendor (its `.pub` is beside it).
    pub vendor_key: PathBuf,
    /// Where the simulated pump listens.
    pub pump_addr: SocketAddr,
    /// Where the simulated ventilator listens.
    pub ventilator_addr: SocketAddr,
}

/// Enrols everyone and starts the simulated device on `tracker`.
pub async fn enrol(init: &Initialised, tracker: &TaskTracker, shutdown: &CancellationToken) -> anyhow::Result<Cast> {
    let admin = Admin::from_context(&init.ctx);
    let vendor_key = init.layout.dir.join("demo-vendor-key");
    let key = keys::new_ed25519("demo-vendor@portcullis-demo");
    keys::write_pair(&key, &vendor_key)?;
    let vendor = Username::parse(VENDOR)?;
    let (_, vendor_enrolment) = admin.create_user(ACTOR, NewUserSpec::new(vendor.clone(), Role::Vendor, VENDOR_ORG).ssh_keys(vec![keys::public_line(&key)?])).await?;
    // A permanent password (not a one-time one), so the page signs them in at once.
    let approver_password = password::one_time_password();
    for name in APPROVERS {
        let n = Username::parse(name)?;
        admin.create_user(ACTOR, NewUserSpec::new(n.clone(), Role::Approver, "Clinical Engineering").password(Some(approver_password.clone()))).await?;
    }
    let auditor = Username::parse(AUDITOR)?;
    admin.create_user(ACTOR, NewUserSpec::new(auditor.clone(), Role::Auditor, "Compliance").password(Some(approver_password.clone()))).await?;

    let pump_addr = start_device(&admin, PUMP, &portcullis_simdevice::INFUSION_PUMP, Criticality::High, tracker, shutdown).await?;
    let ventilator_addr = start_device(&admin, VENTILATOR, &portcullis_simdevice::VENTILATOR, Criticality::LifeCritical, tracker, shutdown).await?;
    Ok(Cast { vendor, vendor_enrolment, approver_password, vendor_key, pump_addr, ventilator_addr })
}

/// Starts one simulated device on its own listener, with its own host key and password, and
/// enrols it as `name`; returns where it listens.
async fn start_device(admin: &Admin, name: &str, flavour: &'static Flavour, criticality: Criticality, tracker: &TaskTracker, shutdown: &CancellationToken) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await.with_context(|| format!("cannot start the simulated {}", flavour.kind))?;
    let addr = listener.local_addr()?;
    let host_key = keys::new_ed25519(&format!("simulated-{name}"));
    let host_line = keys::public_line(&host_key)?;
    let password = password::one_time_password();
    let config = SimDeviceConfig { login: DEVICE_LOGIN.to_owned(), password: password.clone(), host_key, name: name.to_owned(), flavour };
    tracker.spawn(portcullis_simdevice::run(listener, config, shutdown.clone()));
    let spec = NewDeviceSpec {
        name: DeviceName::parse(name)?,
        address: addr.to_string(),
        login: DEVICE_LOGIN.to_owned(),
        credential: Credential::Password(password),
        host_key: host_line,
        criticality,
        zone: Zone::parse("icu")?,
        tcp_ports: Vec::new(),
        phi: false,
    };
    admin.create_device(ACTOR, spec).await?;
    Ok(addr)
}
