//! What makes one simulated device differ from another, as data.
//!
//! Every simulated device runs the same service shell, line editor, SSH
//! handler and SFTP file area; a [`Flavour`] only says what it is called in
//! the banner, its model and firmware, its `help` text, which family of
//! device commands it answers (infusion: `rate`, `start`, `stop`;
//! ventilation: `mode`, `settings`, `alarms`), and the files its SFTP area
//! starts with. [`INFUSION_PUMP`] and [`VENTILATOR`] are the two the demo uses.

/// Which device-specific commands the shell answers besides the common ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controls {
    /// `rate`, `start`, `stop`.
    Infusion,
    /// `mode`, `settings`, `alarms`.
    Ventilation,
}

/// One kind of simulated device.
#[derive(Debug)]
pub struct Flavour {
    /// What it is, in the banner: "infusion pump".
    pub kind: &'static str,
    /// Model reported by `status`.
    pub model: &'static str,
    /// Firmware version reported by `status` and `firmware`.
    pub firmware: &'static str,
    /// Firmware build date reported by `firmware`.
    pub firmware_build: &'static str,
    /// The text `help` prints.
    pub help: &'static str,
    /// The device's own commands.
    pub controls: Controls,
    /// The first event in its log.
    pub power_on: &'static str,
    /// Its log file in the SFTP area, e.g. `/var/log/pump.log`.
    pub log_path: &'static str,
}

/// The simulated infusion pump (`infusion-pump-12` in the demo).
pub static INFUSION_PUMP: Flavour = Flavour {
    kind: "infusion pump",
    model: "Portcullis SimPump 900 (simulated)",
    firmware: "4.2.1",
    firmware_build: "2024-03-18",
    help: "\
commands:
  help        this list
  status      pump model, firmware, state, rate and volume infused
  rate        show the infusion rate
  rate N      set the infusion rate to N mL/h (0-999)
  start       start infusing at the set rate
  stop        stop infusing
  log         recent events
  firmware    firmware version information
  echo ARGS   print ARGS
  exit        leave the service shell
files (sftp): /opt/firmware (uploads), /var/log/pump.log
",
    controls: Controls::Infusion,
    power_on: "powered on, pump stopped",
    log_path: "/var/log/pump.log",
};

/// The simulated ventilator (`ventilator-3` in the demo).
pub static VENTILATOR: Flavour = Flavour {
    kind: "ventilator",
    model: "Portcullis SimVent 300 (simulated)",
    firmware: "7.0.4",
    firmware_build: "2024-11-05",
    help: "\
commands:
  help              this list
  status            ventilator model, firmware, mode, settings and alarm count
  mode              show the ventilation mode
  mode M            set the mode: standby, VC, PC, SIMV or CPAP
  settings          show the settings and their ranges
  settings NAME N   set one: vt (mL), rr (/min), peep (cmH2O), fio2 (%)
  alarms            active alarms
  log               recent events
  firmware          firmware version information
  echo ARGS         print ARGS
  exit              leave the service shell
files (sftp): /opt/firmware (uploads), /var/log/vent.log
",
    controls: Controls::Ventilation,
    power_on: "powered on, standby",
    log_path: "/var/log/vent.log",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_flavours_differ_where_it_shows() {
        assert_ne!(INFUSION_PUMP.kind, VENTILATOR.kind);
        assert_ne!(INFUSION_PUMP.model, VENTILATOR.model);
        assert_ne!(INFUSION_PUMP.log_path, VENTILATOR.log_path);
        assert!(INFUSION_PUMP.help.contains("rate N"));
        assert!(!INFUSION_PUMP.help.contains("alarms"));
        for cmd in ["status", "mode M", "settings NAME N", "alarms", "log"] {
            assert!(VENTILATOR.help.contains(cmd), "{cmd} missing from the ventilator's help");
        }
        assert!(!VENTILATOR.help.contains("rate N"));
    }
}
