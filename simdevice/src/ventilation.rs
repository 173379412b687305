//! The ventilator's own commands in the toy service shell: `mode`,
//! `settings` and `alarms`, over a small [`Ventilation`] state.
//!
//! Pure functions like the rest of the shell: each returns the text to print,
//! an exit status and, when something changed, the event to add to the
//! device's log (the shell records it).

use std::fmt::Write as _;

use super::status::{FAILED, OK, USAGE};

/// A ventilation mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VentMode {
    Standby,
    /// Volume control.
    Vc,
    /// Pressure control.
    Pc,
    /// Synchronised intermittent mandatory ventilation.
    Simv,
    /// Continuous positive airway pressure.
    Cpap,
}

impl VentMode {
    const ALL: [VentMode; 5] = [Self::Standby, Self::Vc, Self::Pc, Self::Simv, Self::Cpap];

    fn as_str(self) -> &'static str {
        match self {
            Self::Standby => "standby",
            Self::Vc => "VC",
            Self::Pc => "PC",
            Self::Simv => "SIMV",
            Self::Cpap => "CPAP",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str().eq_ignore_ascii_case(text))
    }
}

/// One numeric setting: its short name, label, unit and range.
struct Setting {
    name: &'static str,
    label: &'static str,
    unit: &'static str,
    min: u16,
    max: u16,
}

const SETTINGS: [Setting; 4] = [
    Setting { name: "vt", label: "tidal volume", unit: "mL", min: 200, max: 800 },
    Setting { name: "rr", label: "resp. rate", unit: "/min", min: 4, max: 40 },
    Setting { name: "peep", label: "PEEP", unit: "cmH2O", min: 0, max: 20 },
    Setting { name: "fio2", label: "FiO2", unit: "%", min: 21, max: 100 },
];

/// FiO2 at or above which the ventilator raises an advisory alarm.
const HIGH_FIO2: u16 = 60;

/// The state of one simulated ventilator.
#[derive(Debug, Clone)]
pub struct Ventilation {
    mode: VentMode,
    /// Values in the order of [`SETTINGS`].
    values: [u16; 4],
}

impl Default for Ventilation {
    fn default() -> Self {
        Self { mode: VentMode::Standby, values: [450, 14, 5, 40] }
    }
}

/// Output text, exit status, and the event to log when something changed.
pub type Reply = (String, u32, Option<String>);

impl Ventilation {
    /// Runs `mode`, `settings` or `alarms`; `None` for any other command.
    pub fn command(&mut self, command: &str, args: &[&str]) -> Option<Reply> {
        let reply = match (command, args) {
            ("mode", []) => (format!("mode: {}\n", self.mode.as_str()), OK, None),
            ("mode", [m]) => self.set_mode(m),
            ("mode", _) => ("usage: mode [standby|VC|PC|SIMV|CPAP]\n".to_owned(), USAGE, None),
            ("settings", []) => (self.settings(), OK, None),
            ("settings", [name, value]) => self.set(name, value),
            ("settings", _) => ("usage: settings [NAME N]\n".to_owned(), USAGE, None),
            ("alarms", []) => (self.alarms(), OK, None),
            ("alarms", _) => ("alarms: takes no arguments\n".to_owned(), USAGE, None),
            _ => return None,
        };
        Some(reply)
    }

    /// The lines `status` adds for a ventilator.
    pub fn status(&self) -> String {
        let [vt, rr, peep, fio2] = self.values;
        format!(
            "mode:     {}\nsettings: vt {vt} mL, rr {rr} /min, peep {peep} cmH2O, fio2 {fio2} %\nalarms:   {}\n",
            self.mode.as_str(),
            self.active_alarms().len()
        )
    }

    fn set_mode(&mut self, text: &str) -> Reply {
        let Some(mode) = VentMode::parse(text) else {
            return (format!("mode: '{text}' is not one of standby, VC, PC, SIMV, CPAP\n"), FAILED, None);
        };
        let old = std::mem::replace(&mut self.mode, mode);
        let event = format!("mode changed {} -> {}", old.as_str(), mode.as_str());
        (format!("mode set to {}\n", mode.as_str()), OK, Some(event))
    }

    fn settings(&self) -> String {
        let mut out = String::new();
        for (s, v) in SETTINGS.iter().zip(self.values) {
            let _ = writeln!(out, "{:<5} {:<13} {v:>4} {:<6} ({}-{})", s.name, s.label, s.unit, s.min, s.max);
        }
        out
    }

    fn set(&mut self, name: &str, value: &str) -> Reply {
        let Some(i) = SETTINGS.iter().position(|s| s.name.eq_ignore_ascii_case(name)) else {
            return (format!("settings: no setting '{name}' (vt, rr, peep, fio2)\n"), FAILED, None);
        };
        let (Some(setting), Some(slot)) = (SETTINGS.get(i), self.values.get_mut(i)) else {
            return (format!("settings: no setting '{name}'\n"), FAILED, None);
        };
        let value = match value.parse::<u16>() {
            Ok(v) if (setting.min..=setting.max).contains(&v) => v,
            _ => {
                return (
                    format!("settings: {} must be a whole number from {} to {} {}\n", setting.name, setting.min, setting.max, setting.unit),
                    FAILED,
                    None,
                )
            }
        };
        let old = std::mem::replace(slot, value);
        let event = format!("{} changed {old} -> {value} {}", setting.name, setting.unit);
        (format!("{} set to {value} {}\n", setting.name, setting.unit), OK, Some(event))
    }

    fn active_alarms(&self) -> Vec<String> {
        let mut alarms = Vec::new();
        if self.mode == VentMode::Standby {
            alarms.push("LOW     standby: not ventilating".to_owned());
        }
        let fio2 = self.values[3];
        if fio2 >= HIGH_FIO2 {
            alarms.push(format!("MEDIUM  high FiO2 ({fio2} %)"));
        }
        alarms
    }

    fn alarms(&self) -> String {
        let alarms = self.active_alarms();
        if alarms.is_empty() {
            return "no active alarms\n".to_owned();
        }
        alarms.iter().map(|a| format!("{a}\n")).collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn run(v: &mut Ventilation, line: &str) -> Reply {
        let words: Vec<&str> = line.split_whitespace().collect();
        v.command(words[0], &words[1..]).unwrap()
    }

    #[test]
    fn mode_is_shown_and_set_case_insensitively() {
        let mut v = Ventilation::default();
        assert_eq!(run(&mut v, "mode").0, "mode: standby\n");
        let (out, status, event) = run(&mut v, "mode simv");
        assert_eq!((out.as_str(), status), ("mode set to SIMV\n", OK));
        assert_eq!(event.as_deref(), Some("mode changed standby -> SIMV"));
        let (_, status, event) = run(&mut v, "mode turbo");
        assert_eq!((status, event), (FAILED, None));
        assert_eq!(run(&mut v, "mode a b").1, USAGE);
        assert_eq!(run(&mut v, "mode").0, "mode: SIMV\n");
    }

    #[test]
    fn settings_are_bounded() {
        let mut v = Ventilation::default();
        assert!(run(&mut v, "settings").0.contains("tidal volume   450 mL"));
        assert_eq!(run(&mut v, "settings vt 500").1, OK);
        for bad in ["settings vt 900", "settings fio2 20", "settings rr -1", "settings peep x", "settings tv 5"] {
            let (_, status, event) = run(&mut v, bad);
            assert_eq!((status, event), (FAILED, None), "{bad}");
        }
        assert!(run(&mut v, "settings").0.contains("500 mL"));
        assert_eq!(run(&mut v, "settings vt").1, USAGE);
    }

    #[test]
    fn alarms_follow_the_state() {
        let mut v = Ventilation::default();
        assert!(run(&mut v, "alarms").0.contains("standby"));
        run(&mut v, "mode VC");
        assert_eq!(run(&mut v, "alarms").0, "no active alarms\n");
        run(&mut v, "settings fio2 80");
        assert!(run(&mut v, "alarms").0.contains("high FiO2 (80 %)"));
        assert!(v.status().contains("alarms:   1"));
    }

    #[test]
    fn other_commands_are_not_ours() {
        assert!(Ventilation::default().command("rate", &["5"]).is_none());
    }
}
