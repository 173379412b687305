//! The metrics' labels: closed enums, so that no label can take a value from outside (a user
//! or device name, a session id, an address) and the number of series stays fixed; the one
//! open label, a sink's name, comes from the operator's configuration.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

/// A label enum with its wire values, written as the label's value.
macro_rules! label_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
        pub enum $name { $($(#[$vm])* $variant),+ }
        impl $name {
            /// The value as written in the metrics.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }
        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    };
}

label_enum!(
/// Where a sign-in was attempted.
SignInChannel {
    Ssh => "ssh",
    Web => "web",});

label_enum!(
/// How a sign-in attempt ended.
SignInOutcome {
    /// Signed in.
    Success => "success",
    /// Wrong password, code or key.
    Failure => "failure",
    /// Refused before any credential was weighed (unknown account, locked, throttled).
    Refused => "refused",});

label_enum!(
/// A device's criticality, as a label.
Criticality {
    LifeCritical => "life-critical",
    High => "high",
    Standard => "standard",});

impl Criticality {
    pub const ALL: [Criticality; 3] = [Criticality::LifeCritical, Criticality::High, Criticality::Standard];
}

impl SignInChannel {
    pub const ALL: [SignInChannel; 2] = [SignInChannel::Ssh, SignInChannel::Web];
}

impl SignInOutcome {
    pub const ALL: [SignInOutcome; 3] = [SignInOutcome::Success, SignInOutcome::Failure, SignInOutcome::Refused];
}

impl StreamKind {
    pub const ALL: [StreamKind; 4] = [StreamKind::Terminal, StreamKind::Exec, StreamKind::Sftp, StreamKind::Tunnel];
}

impl Direction {
    pub const ALL: [Direction; 2] = [Direction::ToDevice, Direction::FromDevice];
}

impl From<crate::domain::Criticality> for Criticality {
    fn from(c: crate::domain::Criticality) -> Self {
        match c {
            crate::domain::Criticality::LifeCritical => Criticality::LifeCritical,
            crate::domain::Criticality::High => Criticality::High,
            crate::domain::Criticality::Standard => Criticality::Standard,
        }
    }
}

label_enum!(
/// The kind of channel bytes went through.
StreamKind {
    Terminal => "terminal",
    Exec => "exec",
    Sftp => "sftp",
    Tunnel => "tunnel",});

label_enum!(
/// Which way bytes went.
Direction {
    ToDevice => "to_device",
    FromDevice => "from_device",});

label_enum!(
/// What kind of delivery a sink is.
SinkKind {
    Siem => "siem",
    Notify => "notify",});

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct CritLabels {
    pub criticality: Criticality,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct SignInLabels {
    pub channel: SignInChannel,
    pub outcome: SignInOutcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct BytesLabels {
    pub kind: StreamKind,
    pub direction: Direction,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct SinkLabels {
    pub kind: SinkKind,
    /// The sink's configured name (bounded by the configuration).
    pub sink: String,
}
