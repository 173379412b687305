//! What the API returns and accepts: plain JSON shapes with their OpenAPI schemas. Times
//! are RFC 3339 (UTC); secrets (credentials, password hashes, TOTP secrets) never appear,
//! except the enrolment secrets shown once in the answer that creates an account.

use portcullis_core::approvals::Signoff;
use portcullis_core::clock;
use portcullis_core::maintenance::WindowStatus;
use portcullis_core::policy::Rule;
use portcullis_core::store::{DeviceRecord, GrantRecord, RequestRecord, SessionRecord, UserRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn time(secs: i64) -> String {
    clock::rfc3339(secs)
}

/// A signed-in answer: the token for `Authorization: Bearer` (the same token is set as the
/// cookie) and the CSRF token for cookie requests.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub token: String,
    pub csrf: String,
    pub expires_at: String,
    /// True when the account must choose a password and enrol an authenticator first.
    pub must_enrol: bool,
    /// Set with `must_enrol`: the new TOTP secret, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrolment: Option<EnrolmentView>,
}

/// A TOTP secret to enrol in an authenticator app.
#[derive(Serialize, ToSchema)]
pub struct EnrolmentView {
    pub totp_secret: String,
    pub otpauth_uri: String,
}

/// Sign-in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub username: String,
    pub password: String,
    /// Six-digit TOTP code (empty at first sign-in with a one-time password).
    #[serde(default)]
    pub code: String,
}

/// First sign-in: the permanent password and a code from the newly enrolled authenticator.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolBody {
    pub new_password: String,
    pub code: String,
}

/// The signed-in user.
#[derive(Serialize, ToSchema)]
pub struct MeView {
    pub username: String,
    pub role: String,
    pub org: String,
    pub csrf: String,
    pub signed_in_until: String,
}

/// A grant's window.
#[derive(Serialize, ToSchema)]
pub struct GrantView {
    pub id: i64,
    /// Channels granted, e.g. `shell,files,tcp:104`.
    pub channels: String,
    pub starts_at: String,
    pub ends_at: String,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
}

impl From<&GrantRecord> for GrantView {
    fn from(g: &GrantRecord) -> Self {
        GrantView {
            id: g.id.0,
            channels: g.channels.to_string(),
            starts_at: time(g.starts_at),
            ends_at: time(g.ends_at),
            revoked_at: g.revoked_at.map(time),
            revoked_by: g.revoked_by.clone(),
        }
    }
}

/// The policy for a request's device.
#[derive(Serialize, ToSchema)]
pub struct PolicyView {
    pub approvals_required: i64,
    pub max_minutes: i64,
    pub approver_roles: Vec<String>,
    /// What a request needs while the device's maintenance windows are closed: `allow`,
    /// `refuse` or `extra-approver`.
    pub outside_window: String,
    /// Whether sessions need a moderator watching (the device connection opens only when one
    /// joins the live view).
    pub moderated: bool,
}

/// Where a device stands against its maintenance windows now.
#[derive(Serialize, ToSchema)]
pub struct WindowView {
    /// `inside` or `outside`.
    pub state: String,
    /// The open window, or the next one to open (none when none opens in two months).
    pub window: Option<String>,
    /// Its opening and closing (RFC 3339, UTC).
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    /// One line for a person, in the window's time zone and UTC.
    pub text: String,
}

impl WindowView {
    /// None when no window covers the device.
    pub fn of(status: &WindowStatus) -> Option<WindowView> {
        let (state, opening) = match status {
            WindowStatus::Unrestricted => return None,
            WindowStatus::Inside(o) => ("inside", Some(o)),
            WindowStatus::Outside(next) => ("outside", next.as_ref()),
        };
        Some(WindowView {
            state: state.to_owned(),
            window: opening.map(|o| o.window.clone()),
            starts_at: opening.map(|o| time(o.starts_at)),
            ends_at: opening.map(|o| time(o.ends_at)),
            text: status.describe(),
        })
    }
}

impl From<&Rule> for PolicyView {
    fn from(r: &Rule) -> Self {
        PolicyView {
            approvals_required: r.approvals,
            max_minutes: r.max_minutes,
            approver_roles: r.approver_roles.iter().map(|r| r.to_string()).collect(),
            outside_window: r.outside_window.as_str().to_owned(),
            moderated: r.moderated,
        }
    }
}

/// An access request.
#[derive(Serialize, ToSchema)]
pub struct RequestView {
    pub id: i64,
    pub vendor: String,
    pub org: String,
    pub device: String,
    pub zone: String,
    pub criticality: String,
    pub reason: String,
    pub minutes: i64,
    /// Channels asked for, e.g. `shell,files,tcp:104`.
    pub channels: String,
    pub state: String,
    /// Who has approved so far.
    pub approvals: Vec<String>,
    pub approvals_required: i64,
    pub created_at: String,
    pub waited_seconds: i64,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    pub decision_note: Option<String>,
    pub grant: Option<GrantView>,
    pub policy: PolicyView,
    /// For a pending request on a device with maintenance windows: open now, or the next.
    pub maintenance_window: Option<WindowView>,
    /// For a pending request that, granted now, needs a clinical sign-off (outside its
    /// device's maintenance windows under `outside_window = "clinical-signoff"`).
    pub clinical_signoff: Option<SignoffView>,
}

/// A pending request's clinical sign-off.
#[derive(Serialize, ToSchema)]
pub struct SignoffView {
    /// The approver holding `clinical-signoff` whose approval gives it; `null` while awaited.
    pub given_by: Option<String>,
}

impl From<Signoff> for SignoffView {
    fn from(s: Signoff) -> Self {
        SignoffView { given_by: s.given_by.map(|u| u.to_string()) }
    }
}

impl RequestView {
    pub fn new(r: &RequestRecord, grant: Option<&GrantRecord>, rule: &Rule) -> RequestView {
        let end = r.decided_at.unwrap_or_else(clock::now);
        RequestView {
            id: r.id.0,
            vendor: r.vendor.to_string(),
            org: r.org.clone(),
            device: r.device.to_string(),
            zone: r.zone.to_string(),
            criticality: r.criticality.to_string(),
            reason: r.reason.clone(),
            minutes: r.minutes,
            channels: r.channels.to_string(),
            state: r.state.to_string(),
            approvals: r.approvals.iter().map(|a| a.to_string()).collect(),
            approvals_required: r.required_approvals,
            created_at: time(r.created_at),
            waited_seconds: (end - r.created_at).max(0),
            decided_at: r.decided_at.map(time),
            decided_by: r.decided_by.clone(),
            decision_note: r.decision_note.clone(),
            grant: grant.map(GrantView::from),
            policy: PolicyView::from(rule),
            maintenance_window: None,
            clinical_signoff: None,
        }
    }
}

/// Files a request on a vendor's behalf.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequestBody {
    pub vendor: String,
    pub device: String,
    pub reason: String,
    pub minutes: i64,
    /// Channels asked for (`shell`, `files`, `tcp:PORT` from the device's list), comma
    /// separated; default `shell`.
    pub channels: Option<String>,
}

/// An approval: the window (default: what was asked) and an optional scheduled start.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// Window length in minutes; at most what was asked and the policy maximum.
    pub minutes: Option<i64>,
    /// RFC 3339 start of the window; omitted means now.
    pub starts_at: Option<String>,
    /// Grant only these of the channels asked for (comma separated); default all asked.
    pub channels: Option<String>,
}

/// What an approval led to.
#[derive(Serialize, ToSchema)]
pub struct ApproveView {
    /// `recorded` (more approvers needed), `awaiting-clinical-signoff` (enough approvers, but
    /// none holding `clinical-signoff`, which the grant needs) or `granted`.
    pub outcome: String,
    pub approvals: i64,
    pub approvals_required: i64,
    pub grant: Option<GrantView>,
}

/// A denial.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DenyBody {
    pub reason: String,
}

/// A brokered session.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub id: i64,
    pub request_id: i64,
    pub vendor: String,
    /// The vendor's organisation.
    pub vendor_org: String,
    pub device: String,
    pub zone: String,
    pub criticality: Option<String>,
    /// The reason given in the request.
    pub reason: String,
    pub peer: String,
    pub state: String,
    /// What the grant allows (`shell,files,tcp:104`).
    pub channels: Option<String>,
    /// Start of the grant's window.
    pub window_starts_at: Option<String>,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub end_reason: Option<String>,
    /// End of the grant's window.
    pub window_ends_at: Option<String>,
    /// Seconds left in the window (active sessions).
    pub seconds_left: Option<i64>,
    pub stop_requested_by: Option<String>,
    pub stop_at: Option<String>,
    /// The device is tagged `phi`: its recordings need the `phi` permission.
    pub phi: bool,
    /// Who opened its recordings (replay, download, live, export), oldest first; only in the
    /// answer about one session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub viewed_by: Option<Vec<super::viewings::ViewingView>>,
}

impl From<&SessionRecord> for SessionView {
    fn from(s: &SessionRecord) -> SessionView {
        let active = s.ended_at.is_none();
        SessionView {
            id: s.id.0,
            request_id: s.request_id.0,
            vendor: s.vendor.to_string(),
            vendor_org: s.vendor_org.clone(),
            device: s.device.to_string(),
            zone: s.zone.clone(),
            criticality: Some(s.criticality.to_string()),
            reason: s.reason.clone(),
            peer: s.peer.clone(),
            state: s.state.to_string(),
            channels: Some(s.channels.to_string()),
            window_starts_at: Some(time(s.window_starts_at)),
            started_at: time(s.started_at),
            ended_at: s.ended_at.map(time),
            end_reason: s.end_reason.clone(),
            window_ends_at: Some(time(s.window_ends_at)),
            seconds_left: active.then(|| (s.window_ends_at - clock::now()).max(0)),
            stop_requested_by: s.stop_requested_by.clone(),
            stop_at: s.stop_at.map(time),
            phi: s.phi,
            viewed_by: None,
        }
    }
}

/// Stopping a session.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct StopBody {
    /// `graceful` (default: the vendor is warned, the session closes after the grace
    /// period) or `immediate`.
    pub mode: Option<String>,
    pub reason: Option<String>,
}

/// An account (never its secrets).
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub username: String,
    pub role: String,
    pub org: String,
    pub disabled: bool,
    pub locked: bool,
    pub must_enrol: bool,
    pub created_at: String,
    /// When the account stops working, if it has an end date.
    pub expires_at: Option<String>,
    /// The end date has passed: every sign-in is refused.
    pub expired: bool,
    /// The zones an auditor is limited to (empty: every zone).
    pub zones: Vec<String>,
    /// Permissions granted explicitly (`phi`).
    pub permissions: Vec<String>,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> Self {
        UserView {
            username: u.username.to_string(),
            role: u.role.to_string(),
            org: u.org.clone(),
            disabled: u.disabled,
            locked: u.locked_at(clock::now()),
            must_enrol: u.password_must_change,
            created_at: time(u.created_at),
            expires_at: u.expires_at.map(time),
            expired: u.expired_at(clock::now()),
            zones: u.zones.iter().map(|z| z.to_string()).collect(),
            permissions: u.permissions.to_string().split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
        }
    }
}

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    pub username: String,
    /// `vendor`, `approver`, `auditor` or `admin`.
    pub role: String,
    #[serde(default)]
    pub org: String,
    /// OpenSSH public key lines (vendors: at least one).
    #[serde(default)]
    pub ssh_keys: Vec<String>,
    /// When the account stops working, RFC 3339 (e.g. a vendor's contract end).
    pub expires_at: Option<String>,
    /// Auditors only: the zones it is limited to (empty: every zone).
    #[serde(default)]
    pub zones: Vec<String>,
    /// Permissions granted (`phi`).
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// A created account with what must be handed to its owner, shown once.
#[derive(Serialize, ToSchema)]
pub struct CreatedUserView {
    pub user: UserView,
    /// For vendors: the TOTP secret and URI for their authenticator.
    pub totp_secret: Option<String>,
    pub otpauth_uri: Option<String>,
    /// For web accounts: the one-time password for the first sign-in.
    pub one_time_password: Option<String>,
}

/// A device (never its credential).
#[derive(Serialize, ToSchema)]
pub struct DeviceView {
    pub name: String,
    pub address: String,
    pub login: String,
    pub criticality: String,
    pub zone: String,
    pub tcp_ports: Vec<u16>,
    /// Tagged `phi`: its recordings need the `phi` permission.
    pub phi: bool,
    pub host_key: String,
    pub disabled: bool,
    pub created_at: String,
    pub policy: PolicyView,
}

impl DeviceView {
    pub fn new(d: &DeviceRecord, rule: &Rule) -> DeviceView {
        DeviceView {
            name: d.name.to_string(),
            address: d.address.clone(),
            login: d.login.clone(),
            criticality: d.criticality.to_string(),
            zone: d.zone.to_string(),
            tcp_ports: d.tcp_ports.clone(),
            phi: d.phi,
            host_key: d.host_key.clone(),
            disabled: d.disabled,
            created_at: time(d.created_at),
            policy: PolicyView::from(rule),
        }
    }
}

/// A new device. The credential is either a password or an OpenSSH private key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeviceBody {
    pub name: String,
    /// `HOST:PORT` of the device's SSH service.
    pub address: String,
    pub login: String,
    pub password: Option<String>,
    pub private_key: Option<String>,
    /// OpenSSH public host key line the device must present.
    pub host_key: String,
    pub criticality: String,
    pub zone: String,
    #[serde(default)]
    pub tcp_ports: Vec<u16>,
    /// Tag the device `phi` (its screens can show patient data).
    #[serde(default)]
    pub phi: bool,
}

/// A count.
#[derive(Serialize, ToSchema)]
pub struct CountView {
    pub count: i64,
}
