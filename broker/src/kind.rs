//! What a session channel asks to run (`shell`, `exec` or the `sftp` subsystem) and which
//! grant channel that needs. Shared by the channel task, the lobby and the gate.

use portcullis_core::domain::Channel as Granted;

/// What the vendor asked the channel to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Shell,
    Exec(Vec<u8>),
    /// The `sftp` subsystem.
    Sftp,
}

impl Kind {
    /// The grant channel this needs.
    pub(crate) fn needs(&self) -> Granted {
        match self {
            Kind::Shell | Kind::Exec(_) => Granted::Shell,
            Kind::Sftp => Granted::Files,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminals_need_shell_and_sftp_needs_files() {
        assert_eq!(Kind::Shell.needs(), Granted::Shell);
        assert_eq!(Kind::Exec(b"uptime".to_vec()).needs(), Granted::Shell);
        assert_eq!(Kind::Sftp.needs(), Granted::Files);
    }
}
