//! The exit statuses of the simulated devices' service shell, shared by the shell and by each
//! device family's commands.

/// Exit status of a successful command.
pub const OK: u32 = 0;
/// Exit status of a command that was understood but refused.
pub const FAILED: u32 = 1;
/// Exit status of a command used with the wrong arguments.
pub const USAGE: u32 = 2;
/// Exit status of an unknown command, as in POSIX shells.
pub const NOT_FOUND: u32 = 127;
