//! Typed audit events. Every row of the log has a [`Kind`] (what happened), a [`Subject`]
//! (what it happened to) and a detail object. Kinds and subjects are types here, written in
//! one table each, because SIEM exports, evidence bundles and every auditor's saved search
//! depend on their exact spelling: the strings they serialise to are pinned by the tests at
//! the bottom of this file and must never change for an existing kind.

use crate::domain::{RequestId, SessionId};
use std::fmt;
use std::str::FromStr;

/// Declares [`Kind`] with the wire string of each variant, once.
macro_rules! kinds {
    ($($(#[$doc:meta])* $variant:ident = $wire:literal,)+) => {
        /// What happened: the `kind` column of an audit row.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Kind {
            $($(#[$doc])* $variant,)+
        }

        impl Kind {
            /// Every kind, in the order of the table.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant,)+];

            /// The string stored in the log and exported.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$variant => $wire,)+
                }
            }
        }
    };
}

kinds! {
    /// A complete sign-in (SSH or web).
    AuthLogin = "auth.login",
    /// A sign-in step refused (unknown user, disabled, wrong key…).
    AuthRefused = "auth.refused",
    /// An account locked after repeated failures, or an attempt while locked.
    AuthLocked = "auth.locked",
    /// A wrong TOTP code.
    AuthTotpFailed = "auth.totp.failed",
    /// A TOTP code used a second time.
    AuthTotpReplayed = "auth.totp.replayed",
    /// A wrong web password.
    AuthPasswordFailed = "auth.password.failed",
    /// A web sign-out.
    AuthLogout = "auth.logout",
    /// A first web sign-in that must enrol a new password and TOTP secret.
    AuthEnrolmentStarted = "auth.enrolment_started",
    /// A staff sign-in through the hospital's OpenID provider.
    AuthSsoLogin = "auth.sso.login",
    /// A single sign-on refused (state, token, group, account…); the reason is in the detail.
    AuthSsoRefused = "auth.sso.refused",
    /// An OpenID identity (issuer, `sub`) linked to an account, or the role it maps to changed.
    AuthSsoLinked = "auth.sso.linked",
    /// A local password sign-in of staff while single sign-on is configured (break-glass).
    AuthBreakGlass = "auth.break_glass",
    /// An account created.
    UserCreated = "user.created",
    /// An SSH key added to an account.
    UserKeyAdded = "user.key_added",
    /// An SSH key removed from an account.
    UserKeyRemoved = "user.key_removed",
    /// An account's end date set, moved or cleared (old and new).
    UserExpirySet = "user.expiry_set",
    /// An account given a new TOTP secret (a new enrolment).
    UserTotpReset = "user.totp_reset",
    /// An account disabled.
    UserDisabled = "user.disabled",
    /// An account enabled again.
    UserEnabled = "user.enabled",
    /// A lockout lifted by an administrator.
    UserUnlocked = "user.unlocked",
    /// A web enrolment finished.
    UserEnrolled = "user.enrolled",
    /// A device enrolled.
    DeviceCreated = "device.created",
    /// A device disabled.
    DeviceDisabled = "device.disabled",
    /// A device enabled again.
    DeviceEnabled = "device.enabled",
    /// A device's settings changed (address, login, criticality, zone, ports), old and new.
    DeviceEdited = "device.edited",
    /// A device's credential replaced in the vault (kinds only, never the secret).
    DeviceCredentialRotated = "device.credential_rotated",
    /// Another host key pinned for a device, with both fingerprints.
    DeviceRepinned = "device.repinned",
    /// A device presented another host key than the pinned one.
    DeviceHostkeyMismatch = "device.hostkey_mismatch",
    /// An access request filed.
    RequestCreated = "request.created",
    /// One approval recorded (more may be needed).
    RequestApprovalRecorded = "request.approval_recorded",
    /// The last approval needed: the grant exists.
    RequestApproved = "request.approved",
    /// An approval attempt refused (own request, role, twice…).
    RequestApprovalRefused = "request.approval_refused",
    /// A request denied.
    RequestDenied = "request.denied",
    /// A grant revoked.
    RequestRevoked = "request.revoked",
    /// A request nobody decided in time.
    RequestExpired = "request.expired",
    /// A request refused because the device's maintenance windows are closed (policy
    /// `outside_window = "refuse"`), with the next opening.
    RequestRefusedOutsideWindow = "request.refused_outside_window",
    /// A request refused because its device is under a containment in force, naming the
    /// containment (nothing is filed).
    RequestRefusedContained = "request.refused_contained",
    /// A brokered session started.
    SessionStarted = "session.started",
    /// A brokered session ended.
    SessionEnded = "session.ended",
    /// An operator asked a running session to stop.
    SessionStopRequested = "session.stop_requested",
    /// Somebody watched a session live.
    SessionWatched = "session.watched",
    /// A moderator joined the live view of a moderated session (the first one opens the
    /// device connection).
    SessionModeratorJoined = "session.moderator_joined",
    /// A moderator left the live view of a moderated session.
    SessionModeratorLeft = "session.moderator_left",
    /// Nobody joined a moderated session as moderator within `session.moderator_wait`: the
    /// device was not contacted and the vendor was told.
    SessionModeratorWaitExpired = "session.moderator_wait_expired",
    /// The vendor's input to a moderated session was paused: by a moderator, or because no
    /// moderator was left.
    SessionInputPaused = "session.input_paused",
    /// The vendor's input to a moderated session was resumed.
    SessionInputResumed = "session.input_resumed",
    /// A channel, forwarding or environment request refused.
    ChannelRefused = "channel.refused",
    /// A tunnel opened to the device.
    TunnelOpened = "tunnel.opened",
    /// A tunnel closed, with its byte counts.
    TunnelClosed = "tunnel.closed",
    /// A tunnel that could not reach the device.
    TunnelFailed = "tunnel.failed",
    /// One SFTP operation.
    SftpOp = "sftp.op",
    /// One file transferred, with its size and SHA-256.
    SftpFile = "sftp.file",
    /// SFTP traffic the watcher could not follow (older logs; the channel now ends instead).
    SftpUnparsed = "sftp.unparsed",
    /// An SFTP channel ended because its file audit could no longer be right.
    SftpAborted = "sftp.aborted",
    /// A recording finished, with its SHA-256.
    RecordingSealed = "recording.sealed",
    /// A recording that could not start or finish.
    RecordingFailed = "recording.failed",
    /// A recording moved away by retention.
    RecordingArchived = "recording.archived",
    /// A recording deleted by retention.
    RecordingDeleted = "recording.deleted",
    /// A sealed recording uploaded to the bucket and checked against its seal.
    RecordingStored = "recording.stored",
    /// A sealed recording that could not be uploaded yet (it stays local and is tried again).
    RecordingStoreFailed = "recording.store_failed",
    /// An evidence bundle exported.
    EvidenceExported = "evidence.exported",
    /// A terminal recording's bytes fetched by the replay page's player.
    RecordingReplayed = "recording.replayed",
    /// A recording's file downloaded (`.cast` or `.pcap`).
    RecordingDownloaded = "recording.downloaded",
    /// A replay, download, live view or evidence export refused (a `phi` device without the
    /// permission).
    RecordingAccessRefused = "recording.access_refused",
    /// An account's zones or permissions changed.
    UserAccessChanged = "user.access_changed",
    /// A notification given up after its retries.
    NotifyFailed = "notify.failed",
    /// An administrator contained a zone or a device: what it revoked, settled and stopped.
    ContainmentOrdered = "containment.ordered",
    /// An administrator lifted a containment: requests there may be made again.
    ContainmentLifted = "containment.lifted",
    /// A containment order or lifting refused (not an admin, disabled…).
    ContainmentRefused = "containment.refused",

    /// Alert: a session started on a device with maintenance windows while none was open.
    AlertOutsideWindow = "alert.outside_window",
    /// Alert: a session moved more bytes than `alerts.bytes_per_session` (once per session).
    AlertBytesExceeded = "alert.bytes_exceeded",
    /// Alert: a burst of refused channels or tunnels within `alerts.refusal_window`.
    AlertRefusalBurst = "alert.refusal_burst",
    /// Alert: a vendor signed in from a source address never seen for the account.
    AlertNewSource = "alert.new_source",
    /// Alert: a session started outside the configured working hours.
    AlertUnusualHours = "alert.unusual_hours",
    /// Alert: repeated wrong TOTP codes for one account within `alerts.failed_codes_window`.
    AlertFailedCodes = "alert.failed_codes",
    /// An alert acknowledged by an approver, auditor or administrator.
    AlertAcknowledged = "alert.acknowledged",
    /// Break-glass: an emergency session's grant opened without a prior approval, with the
    /// incident reference and reason (exported at critical severity; approvers notified).
    BreakGlassOpened = "breakglass.opened",
    /// Break-glass refused (no right, policy, containment, empty incident or reason).
    BreakGlassRefused = "breakglass.refused",
    /// One retrospective review of a break-glass session ("justified" or "not justified").
    BreakGlassReviewed = "breakglass.reviewed",
    /// A review refused (the vendor's own session, a second review by one approver, role).
    BreakGlassReviewRefused = "breakglass.review_refused",
    /// The two reviews were not in by the due time (written once per session; approvers notified).
    BreakGlassReviewOverdue = "breakglass.review_overdue",
    /// The data folder initialised.
    SystemInitialised = "system.initialised",
    /// A backup taken: the audit head its snapshot holds and the manifest's SHA-256.
    BackupTaken = "backup.taken",
    /// A data folder restored from a backup (the first row the restored log adds).
    BackupRestored = "backup.restored",
    /// SIGHUP put a re-read TLS certificate and policy in force on a node.
    NodeReloaded = "node.reloaded",
    /// SIGHUP's reload refused (a certificate or policy that does not load): nothing changed.
    NodeReloadRefused = "node.reload_refused",
    /// A node stopped renewing its lease and a surviving node closes its sessions.
    NodeLost = "node.lost",
}

impl Kind {
    /// The kind stored as `s`, if it is one of ours.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event is about: the `subject` column, `TYPE:ID` or `system`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// An account, by name. Refused sign-ins name what was typed (control characters removed),
    /// or `?` when nothing usable was.
    User(String),
    /// A device, by name.
    Device(String),
    /// An access request.
    Request(RequestId),
    /// A brokered session.
    Session(SessionId),
    /// The installation itself.
    System,
}

impl Subject {
    /// The subject of a user named `name` (any display, e.g. a [`crate::domain::Username`]).
    pub fn user(name: impl fmt::Display) -> Subject {
        Subject::User(name.to_string())
    }

    /// The subject of a device named `name`.
    pub fn device(name: impl fmt::Display) -> Subject {
        Subject::Device(name.to_string())
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::User(n) => write!(f, "user:{n}"),
            Subject::Device(n) => write!(f, "device:{n}"),
            Subject::Request(id) => write!(f, "request:{id}"),
            Subject::Session(id) => write!(f, "session:{id}"),
            Subject::System => f.write_str("system"),
        }
    }
}

/// A stored subject that is not of a known form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an audit subject: {0:?}")]
pub struct BadSubject(pub String);

impl FromStr for Subject {
    type Err = BadSubject;

    fn from_str(s: &str) -> Result<Subject, BadSubject> {
        let bad = || BadSubject(s.to_owned());
        if s == "system" {
            return Ok(Subject::System);
        }
        let (ty, id) = s.split_once(':').ok_or_else(bad)?;
        let number = || id.parse::<i64>().map_err(|_| bad());
        match ty {
            "user" => Ok(Subject::User(id.to_owned())),
            "device" => Ok(Subject::Device(id.to_owned())),
            "request" => Ok(Subject::Request(RequestId(number()?))),
            "session" => Ok(Subject::Session(SessionId(number()?))),
            _ => Err(bad()),
        }
    }
}

/// One thing that happened.
#[derive(Debug, Clone)]
pub struct Event {
    /// Who did it: a user name, `system`, or `cli:NAME` for the command line.
    pub actor: String,
    /// What happened.
    pub kind: Kind,
    /// What it was done to.
    pub subject: Subject,
    /// Further facts as a JSON object.
    pub detail: serde_json::Value,
}

impl Event {
    /// Builds an event.
    pub fn new(actor: impl Into<String>, kind: Kind, subject: Subject, detail: serde_json::Value) -> Self {
        Self { actor: actor.into(), kind, subject, detail }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::collections::HashSet;

    /// The wire format of every kind. Exports, bundles and saved searches depend on these
    /// strings: a failure here means a change that breaks every consumer of the log.
    const PINNED: &[(Kind, &str)] = &[
        (Kind::AuthLogin, "auth.login"),
        (Kind::AuthRefused, "auth.refused"),
        (Kind::AuthLocked, "auth.locked"),
        (Kind::AuthTotpFailed, "auth.totp.failed"),
        (Kind::AuthTotpReplayed, "auth.totp.replayed"),
        (Kind::AuthPasswordFailed, "auth.password.failed"),
        (Kind::AuthLogout, "auth.logout"),
        (Kind::AuthEnrolmentStarted, "auth.enrolment_started"),
        (Kind::AuthSsoLogin, "auth.sso.login"),
        (Kind::AuthSsoRefused, "auth.sso.refused"),
        (Kind::AuthSsoLinked, "auth.sso.linked"),
        (Kind::AuthBreakGlass, "auth.break_glass"),
        (Kind::UserCreated, "user.created"),
        (Kind::UserKeyAdded, "user.key_added"),
        (Kind::UserKeyRemoved, "user.key_removed"),
        (Kind::UserExpirySet, "user.expiry_set"),
        (Kind::UserTotpReset, "user.totp_reset"),
        (Kind::UserDisabled, "user.disabled"),
        (Kind::UserEnabled, "user.enabled"),
        (Kind::UserUnlocked, "user.unlocked"),
        (Kind::UserEnrolled, "user.enrolled"),
        (Kind::DeviceCreated, "device.created"),
        (Kind::DeviceDisabled, "device.disabled"),
        (Kind::DeviceEnabled, "device.enabled"),
        (Kind::DeviceEdited, "device.edited"),
        (Kind::DeviceCredentialRotated, "device.credential_rotated"),
        (Kind::DeviceRepinned, "device.repinned"),
        (Kind::DeviceHostkeyMismatch, "device.hostkey_mismatch"),
        (Kind::RequestCreated, "request.created"),
        (Kind::RequestApprovalRecorded, "request.approval_recorded"),
        (Kind::RequestApproved, "request.approved"),
        (Kind::RequestApprovalRefused, "request.approval_refused"),
        (Kind::RequestDenied, "request.denied"),
        (Kind::RequestRevoked, "request.revoked"),
        (Kind::RequestExpired, "request.expired"),
        (Kind::RequestRefusedOutsideWindow, "request.refused_outside_window"),
        (Kind::RequestRefusedContained, "request.refused_contained"),
        (Kind::SessionStarted, "session.started"),
        (Kind::SessionEnded, "session.ended"),
        (Kind::SessionStopRequested, "session.stop_requested"),
        (Kind::SessionWatched, "session.watched"),
        (Kind::SessionModeratorJoined, "session.moderator_joined"),
        (Kind::SessionModeratorLeft, "session.moderator_left"),
        (Kind::SessionModeratorWaitExpired, "session.moderator_wait_expired"),
        (Kind::SessionInputPaused, "session.input_paused"),
        (Kind::SessionInputResumed, "session.input_resumed"),
        (Kind::ChannelRefused, "channel.refused"),
        (Kind::TunnelOpened, "tunnel.opened"),
        (Kind::TunnelClosed, "tunnel.closed"),
        (Kind::TunnelFailed, "tunnel.failed"),
        (Kind::SftpOp, "sftp.op"),
        (Kind::SftpFile, "sftp.file"),
        (Kind::SftpUnparsed, "sftp.unparsed"),
        (Kind::SftpAborted, "sftp.aborted"),
        (Kind::RecordingSealed, "recording.sealed"),
        (Kind::RecordingFailed, "recording.failed"),
        (Kind::RecordingArchived, "recording.archived"),
        (Kind::RecordingDeleted, "recording.deleted"),
        (Kind::RecordingStored, "recording.stored"),
        (Kind::RecordingStoreFailed, "recording.store_failed"),
        (Kind::EvidenceExported, "evidence.exported"),
        (Kind::RecordingReplayed, "recording.replayed"),
        (Kind::RecordingDownloaded, "recording.downloaded"),
        (Kind::RecordingAccessRefused, "recording.access_refused"),
        (Kind::UserAccessChanged, "user.access_changed"),
        (Kind::NotifyFailed, "notify.failed"),
        (Kind::ContainmentOrdered, "containment.ordered"),
        (Kind::ContainmentLifted, "containment.lifted"),
        (Kind::ContainmentRefused, "containment.refused"),

        (Kind::AlertOutsideWindow, "alert.outside_window"),
        (Kind::AlertBytesExceeded, "alert.bytes_exceeded"),
        (Kind::AlertRefusalBurst, "alert.refusal_burst"),
        (Kind::AlertNewSource, "alert.new_source"),
        (Kind::AlertUnusualHours, "alert.unusual_hours"),
        (Kind::AlertFailedCodes, "alert.failed_codes"),
        (Kind::AlertAcknowledged, "alert.acknowledged"),
        (Kind::BreakGlassOpened, "breakglass.opened"),
        (Kind::BreakGlassRefused, "breakglass.refused"),
        (Kind::BreakGlassReviewed, "breakglass.reviewed"),
        (Kind::BreakGlassReviewRefused, "breakglass.review_refused"),
        (Kind::BreakGlassReviewOverdue, "breakglass.review_overdue"),
        (Kind::SystemInitialised, "system.initialised"),
        (Kind::BackupTaken, "backup.taken"),
        (Kind::BackupRestored, "backup.restored"),
        (Kind::NodeReloaded, "node.reloaded"),
        (Kind::NodeReloadRefused, "node.reload_refused"),
        (Kind::NodeLost, "node.lost"),
    ];

    #[test]
    fn every_kind_keeps_its_wire_string() {
        assert_eq!(PINNED.len(), Kind::ALL.len(), "a kind was added or removed without pinning its string");
        for (kind, wire) in PINNED {
            assert_eq!(kind.as_str(), *wire);
            assert_eq!(kind.to_string(), *wire);
            assert_eq!(Kind::parse(wire), Some(*kind));
        }
        let distinct: HashSet<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(distinct.len(), Kind::ALL.len(), "two kinds share a string");
        assert_eq!(Kind::parse("test.event"), None);
        assert_eq!(Kind::parse("AUTH.LOGIN"), None);
    }

    #[test]
    fn subjects_keep_their_wire_form_and_read_back() {
        let cases = [
            (Subject::user("jdoe"), "user:jdoe"),
            (Subject::User("?".into()), "user:?"),
            (Subject::device("infusion-pump-12"), "device:infusion-pump-12"),
            (Subject::Request(RequestId(42)), "request:42"),
            (Subject::Session(SessionId(7)), "session:7"),
            (Subject::System, "system"),
        ];
        for (subject, wire) in cases {
            assert_eq!(subject.to_string(), wire);
            assert_eq!(wire.parse::<Subject>(), Ok(subject));
        }
        for bad in ["", "session:x", "request:", "thing:1", "system:1", "user"] {
            assert!(bad.parse::<Subject>().is_err(), "{bad:?} must not parse");
        }
    }
}
