//! The toy service shell of the simulated device, shared by every flavour.
//!
//! A pure command interpreter: [`execute`] takes one command line and the
//! device's state and returns the text to print (with `\n` line ends) and an
//! exit status, like a tiny shell. The common commands (`help`, `status`,
//! `log`, `firmware`, `echo`, `exit`) are here, with the infusion pump's
//! (`rate`, `start`, `stop`); the ventilator's are in [`super::ventilation`].
//! Which ones a device answers, and its texts, come from its
//! [`Flavour`]. Nothing here touches the network; the SSH handler decides
//! how the text reaches the vendor's terminal.

use std::collections::VecDeque;
use std::fmt::Write as _;

use time::OffsetDateTime;

use super::flavour::{Controls, Flavour};
use super::ventilation::Ventilation;

/// Highest settable rate, in mL/h.
pub const MAX_RATE: u16 = 999;
/// How many events the pump remembers.
const LOG_CAPACITY: usize = 32;
/// How many events `log` prints.
const LOG_SHOWN: usize = 8;

pub use super::status::{FAILED, NOT_FOUND, OK, USAGE};

/// One entry in the pump's event log.
#[derive(Debug, Clone)]
struct Event {
    at: OffsetDateTime,
    text: String,
}

/// The state of one simulated device (the infusion fields stay idle on a
/// ventilator, and the other way round).
#[derive(Debug)]
pub struct DeviceState {
    name: String,
    flavour: &'static Flavour,
    running: bool,
    rate_ml_h: u16,
    volume_ml: f64,
    updated_at: OffsetDateTime,
    log: VecDeque<Event>,
    vent: Ventilation,
}

impl DeviceState {
    /// A device of `flavour` called `name`, powered on (and idle) at `now`.
    pub fn new(flavour: &'static Flavour, name: &str, now: OffsetDateTime) -> Self {
        let mut state = Self {
            name: name.to_owned(),
            flavour,
            running: false,
            rate_ml_h: 0,
            volume_ml: 0.0,
            updated_at: now,
            log: VecDeque::with_capacity(LOG_CAPACITY),
            vent: Ventilation::default(),
        };
        state.record(now, flavour.power_on.to_owned());
        state
    }

    /// The first thing an interactive session shows, ending with the prompt.
    pub fn banner(&self) -> String {
        format!(
            "{} service shell (simulated {}). Type 'help' for commands.\n{}",
            self.name,
            self.flavour.kind,
            self.prompt()
        )
    }

    /// The shell prompt, e.g. `infusion-pump-12> `.
    pub fn prompt(&self) -> String {
        format!("{}> ", self.name)
    }

    /// Add the volume infused since the last update.
    fn advance(&mut self, now: OffsetDateTime) {
        let elapsed = (now - self.updated_at).as_seconds_f64().max(0.0);
        if self.running {
            self.volume_ml += f64::from(self.rate_ml_h) * elapsed / 3600.0;
        }
        self.updated_at = now;
    }

    fn record(&mut self, at: OffsetDateTime, text: String) {
        if self.log.len() == LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(Event { at, text });
    }
}

/// True when `line` is exactly the `exit` command (the caller then ends
/// the session).
pub fn is_exit(line: &str) -> bool {
    line.split_whitespace().eq(["exit"])
}

/// Run one command line against the device; returns output and exit status.
pub fn execute(state: &mut DeviceState, line: &str) -> (String, u32) {
    execute_at(state, line, OffsetDateTime::now_utc())
}

/// [`execute`] with an explicit clock, for tests.
pub fn execute_at(state: &mut DeviceState, line: &str, now: OffsetDateTime) -> (String, u32) {
    state.advance(now);
    let mut words = line.split_whitespace();
    let Some(command) = words.next() else {
        return (String::new(), OK);
    };
    let args: Vec<&str> = words.collect();
    match (command, args.as_slice()) {
        ("help", []) => return (state.flavour.help.to_owned(), OK),
        ("status", []) => return (status(state), OK),
        ("log", []) => return (log(state), OK),
        ("firmware", []) => return (firmware(state.flavour), OK),
        ("echo", words) => return (format!("{}\n", words.join(" ")), OK),
        ("exit", []) => return ("bye\n".to_owned(), OK),
        ("help" | "status" | "log" | "firmware" | "exit", _) => {
            return (format!("{command}: takes no arguments\n"), USAGE)
        }
        _ => {}
    }
    let own = match state.flavour.controls {
        Controls::Infusion => infusion(state, command, &args, now),
        Controls::Ventilation => state.vent.command(command, &args).map(|(out, status, event)| {
            if let Some(event) = event {
                state.record(now, event);
            }
            (out, status)
        }),
    };
    own.unwrap_or_else(|| (format!("{command}: command not found (try 'help')\n"), NOT_FOUND))
}

/// The infusion pump's own commands; `None` for any other.
fn infusion(state: &mut DeviceState, command: &str, args: &[&str], now: OffsetDateTime) -> Option<(String, u32)> {
    let reply = match (command, args) {
        ("rate", []) => (format!("rate: {} mL/h\n", state.rate_ml_h), OK),
        ("rate", [value]) => set_rate(state, value, now),
        ("start", []) => start(state, now),
        ("stop", []) => stop(state, now),
        ("start" | "stop", _) => (format!("{command}: takes no arguments\n"), USAGE),
        ("rate", _) => ("usage: rate [N]\n".to_owned(), USAGE),
        _ => return None,
    };
    Some(reply)
}

fn status(state: &DeviceState) -> String {
    let flavour = state.flavour;
    let own = match flavour.controls {
        Controls::Infusion => {
            let running = if state.running { "running" } else { "stopped" };
            format!("state:    {running}\nrate:     {} mL/h\ninfused:  {:.2} mL\n", state.rate_ml_h, state.volume_ml)
        }
        Controls::Ventilation => state.vent.status(),
    };
    format!("device:   {}\nmodel:    {}\nfirmware: {}\n{own}", state.name, flavour.model, flavour.firmware)
}

fn set_rate(state: &mut DeviceState, value: &str, now: OffsetDateTime) -> (String, u32) {
    let rate = match value.parse::<u16>() {
        Ok(rate) if rate <= MAX_RATE => rate,
        _ => {
            return (
                format!("rate: '{value}' is not a whole number from 0 to {MAX_RATE} mL/h\n"),
                FAILED,
            )
        }
    };
    let old = std::mem::replace(&mut state.rate_ml_h, rate);
    state.record(now, format!("rate changed {old} -> {rate} mL/h"));
    if state.running && rate == 0 {
        state.running = false;
        state.record(now, "infusion stopped (rate 0)".to_owned());
        return (format!("rate set to {rate} mL/h; infusion stopped\n"), OK);
    }
    (format!("rate set to {rate} mL/h\n"), OK)
}

fn start(state: &mut DeviceState, now: OffsetDateTime) -> (String, u32) {
    if state.running {
        return ("start: already running\n".to_owned(), FAILED);
    }
    if state.rate_ml_h == 0 {
        return ("start: set a rate first (rate N)\n".to_owned(), FAILED);
    }
    state.running = true;
    let text = format!("infusion started at {} mL/h", state.rate_ml_h);
    state.record(now, text.clone());
    (format!("{text}\n"), OK)
}

fn stop(state: &mut DeviceState, now: OffsetDateTime) -> (String, u32) {
    if !state.running {
        return ("stop: already stopped\n".to_owned(), FAILED);
    }
    state.running = false;
    let text = format!("infusion stopped, {:.2} mL infused", state.volume_ml);
    state.record(now, text.clone());
    (format!("{text}\n"), OK)
}

fn log(state: &DeviceState) -> String {
    let skip = state.log.len().saturating_sub(LOG_SHOWN);
    let mut out = String::new();
    for event in state.log.iter().skip(skip) {
        let _ = writeln!(out, "{}  {}", timestamp(event.at), event.text);
    }
    out
}

fn firmware(flavour: &Flavour) -> String {
    let extra = match flavour.controls {
        Controls::Infusion => "drug library DL-2024.03",
        Controls::Ventilation => "flow sensor calibration 2024-10-30",
    };
    format!(
        "firmware {} (build {})\nbootloader 1.0.9\n{extra}\n\
         this is a simulated device: no real {} is attached\n",
        flavour.firmware, flavour.firmware_build, flavour.kind
    )
}

/// `YYYY-MM-DD hh:mm:ssZ`, built by hand so it cannot fail.
fn timestamp(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flavour::{INFUSION_PUMP, VENTILATOR};
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2025-01-02 03:04:05 UTC);

    fn pump() -> DeviceState {
        DeviceState::new(&INFUSION_PUMP, "infusion-pump-12", T0)
    }

    fn run(state: &mut DeviceState, line: &str) -> (String, u32) {
        execute_at(state, line, T0)
    }

    #[test]
    fn empty_line_does_nothing() {
        assert_eq!(run(&mut pump(), "   "), (String::new(), OK));
    }

    #[test]
    fn help_lists_commands() {
        let (out, status) = run(&mut pump(), "help");
        assert_eq!(status, OK);
        for cmd in [
            "status", "rate N", "start", "stop", "log", "firmware", "echo", "exit",
        ] {
            assert!(out.contains(cmd), "{cmd} missing from help");
        }
    }

    #[test]
    fn status_reports_everything() {
        let (out, status) = run(&mut pump(), "status");
        assert_eq!(status, OK);
        assert!(out.contains("infusion-pump-12"));
        assert!(out.contains(INFUSION_PUMP.model));
        assert!(out.contains(INFUSION_PUMP.firmware));
        assert!(out.contains("stopped"));
        assert!(out.contains("0 mL/h"));
        assert!(out.contains("0.00 mL"));
    }

    #[test]
    fn rate_is_validated() {
        let mut p = pump();
        assert_eq!(run(&mut p, "rate 120").1, OK);
        assert_eq!(run(&mut p, "rate").0, "rate: 120 mL/h\n");
        for bad in ["1000", "-1", "12.5", "abc", "99999999999"] {
            let (out, status) = run(&mut p, &format!("rate {bad}"));
            assert_eq!(status, FAILED, "{bad}");
            assert!(out.contains("0 to 999"));
        }
        assert_eq!(run(&mut p, "rate 1 2").1, USAGE);
        assert_eq!(run(&mut p, "rate 0").1, OK);
        assert_eq!(run(&mut p, "rate 999").1, OK);
    }

    #[test]
    fn start_stop_and_volume() {
        let mut p = pump();
        assert_eq!(run(&mut p, "start").1, FAILED, "no rate set");
        assert_eq!(run(&mut p, "rate 60").1, OK);
        assert_eq!(run(&mut p, "start").1, OK);
        assert_eq!(run(&mut p, "start").1, FAILED);
        let later = T0 + time::Duration::minutes(30);
        let (out, _) = execute_at(&mut p, "status", later);
        assert!(out.contains("running"));
        assert!(out.contains("30.00 mL"), "{out}");
        let (out, status) = execute_at(&mut p, "stop", later);
        assert_eq!(status, OK);
        assert!(out.contains("30.00 mL"));
        assert_eq!(execute_at(&mut p, "stop", later).1, FAILED);
        let (out, _) = execute_at(&mut p, "status", later + time::Duration::hours(1));
        assert!(out.contains("30.00 mL"), "stopped pump infuses nothing");
    }

    #[test]
    fn rate_zero_stops_running_pump() {
        let mut p = pump();
        run(&mut p, "rate 10");
        run(&mut p, "start");
        let (out, status) = run(&mut p, "rate 0");
        assert_eq!(status, OK);
        assert!(out.contains("stopped"));
        assert!(run(&mut p, "status").0.contains("stopped"));
    }

    #[test]
    fn log_shows_recent_events_with_timestamps() {
        let mut p = pump();
        for rate in 1..=40 {
            run(&mut p, &format!("rate {rate}"));
        }
        let (out, status) = run(&mut p, "log");
        assert_eq!(status, OK);
        assert_eq!(out.lines().count(), LOG_SHOWN);
        assert!(out.starts_with("2025-01-02 03:04:05Z  "));
        assert!(out.trim_end().ends_with("rate changed 39 -> 40 mL/h"));
        assert_eq!(p.log.len(), LOG_CAPACITY);
    }

    #[test]
    fn firmware_and_echo() {
        let mut p = pump();
        assert!(run(&mut p, "firmware").0.contains(INFUSION_PUMP.firmware));
        assert_eq!(run(&mut p, "echo  hello   world").0, "hello world\n");
        assert_eq!(run(&mut p, "echo").0, "\n");
    }

    #[test]
    fn unknown_and_bad_arguments() {
        let mut p = pump();
        let (out, status) = run(&mut p, "reboot now");
        assert_eq!(status, NOT_FOUND);
        assert!(out.contains("reboot: command not found"));
        assert_eq!(run(&mut p, "status please").1, USAGE);
    }

    #[test]
    fn exit_detection_and_prompt() {
        assert!(is_exit("  exit "));
        assert!(!is_exit("echo exit"));
        assert!(!is_exit("exit now"));
        assert_eq!(pump().prompt(), "infusion-pump-12> ");
        assert_eq!(run(&mut pump(), "exit"), ("bye\n".to_owned(), OK));
    }

    #[test]
    fn a_ventilator_has_its_own_banner_prompt_and_commands() {
        let mut v = DeviceState::new(&VENTILATOR, "ventilator-3", T0);
        assert_eq!(v.prompt(), "ventilator-3> ");
        assert!(v.banner().starts_with("ventilator-3 service shell (simulated ventilator)."), "{}", v.banner());
        assert!(v.banner().ends_with("ventilator-3> "));
        let (out, status) = run(&mut v, "status");
        assert_eq!(status, OK);
        assert!(out.contains(VENTILATOR.model) && out.contains("mode:     standby"), "{out}");
        assert!(!out.contains("mL/h"), "no pump fields on a ventilator: {out}");
        assert_eq!(run(&mut v, "mode PC"), ("mode set to PC\n".to_owned(), OK));
        assert_eq!(run(&mut v, "settings peep 8").1, OK);
        let log = run(&mut v, "log").0;
        assert!(log.contains("powered on, standby") && log.contains("mode changed standby -> PC") && log.contains("peep changed 5 -> 8"), "{log}");
        assert!(run(&mut v, "help").0.contains("alarms"));
        assert!(run(&mut v, "firmware").0.contains("no real ventilator"));
        for pump_only in ["rate 5", "start", "stop"] {
            assert_eq!(run(&mut v, pump_only).1, NOT_FOUND, "{pump_only}");
        }
        let mut p = pump();
        assert!(p.banner().starts_with("infusion-pump-12 service shell (simulated infusion pump)."));
        for vent_only in ["mode", "settings", "alarms"] {
            assert_eq!(run(&mut p, vent_only).1, NOT_FOUND, "{vent_only}");
        }
    }
}
