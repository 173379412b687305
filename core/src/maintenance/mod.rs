//! Maintenance windows: the agreed, recurring times at which vendors may work on a zone's or a
//! device's equipment ("Tuesdays 02:00–04:00 Europe/Berlin", "first Sunday of the month"),
//! or a window agreed for one date.
//! This module knows the windows and answers one question for the approvals domain, the lobby
//! and the pages alike: for this device at this instant, is a window open (until when), or
//! which opens next? What a request outside a window needs is the policy's
//! (`crate::policy`), not this module's.

mod recurrence;
mod window;

#[cfg(test)]
mod tests;

pub use recurrence::Recurrence;
pub use window::{Opening, WindowSpec};

use crate::domain::{DeviceName, Zone};
use serde_json::{json, Value};

/// Every configured window, checked at load (names unique).
#[derive(Debug, Clone, Default)]
pub struct Windows(Vec<WindowSpec>);

/// Where a device stands against its windows at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowStatus {
    /// No window covers the device: windows do not restrict it.
    Unrestricted,
    /// A window is open (the one closing last, when several are).
    Inside(Opening),
    /// Windows cover the device and none is open; the next opening, if any can be found.
    Outside(Option<Opening>),
}

impl Windows {
    /// Wraps checked windows.
    pub fn new(windows: Vec<WindowSpec>) -> Self {
        Self(windows)
    }

    /// All of them, in configuration order.
    pub fn all(&self) -> &[WindowSpec] {
        &self.0
    }

    /// The windows covering a device.
    pub fn covering<'a>(&'a self, device: &'a DeviceName, zone: &'a Zone) -> impl Iterator<Item = &'a WindowSpec> + 'a {
        self.0.iter().filter(move |w| w.covers(device, zone))
    }

    /// Where `device` in `zone` stands at `now` (Unix seconds).
    pub fn status(&self, device: &DeviceName, zone: &Zone, now: i64) -> WindowStatus {
        let mut covered = false;
        let (mut open, mut next): (Option<Opening>, Option<Opening>) = (None, None);
        for w in self.covering(device, zone) {
            covered = true;
            let Some(o) = w.current_or_next(now) else { continue };
            if o.starts_at <= now {
                if open.as_ref().is_none_or(|c| o.ends_at > c.ends_at) {
                    open = Some(o);
                }
            } else if next.as_ref().is_none_or(|n| o.starts_at < n.starts_at) {
                next = Some(o);
            }
        }
        match (covered, open) {
            (false, _) => WindowStatus::Unrestricted,
            (true, Some(o)) => WindowStatus::Inside(o),
            (true, None) => WindowStatus::Outside(next),
        }
    }
}

impl WindowStatus {
    /// One line for a person: the lobby, the pending card, a refusal.
    pub fn describe(&self) -> String {
        match self {
            WindowStatus::Unrestricted => "no maintenance window applies".to_owned(),
            WindowStatus::Inside(o) => format!("inside maintenance window {} until {}", o.window, o.until()),
            WindowStatus::Outside(Some(o)) => format!("outside its maintenance windows; the next: {}", o.describe()),
            WindowStatus::Outside(None) => "outside its maintenance windows; none is due to open".to_owned(),
        }
    }

    /// The facts for an audit row's `maintenance_window` field.
    pub fn audit(&self) -> Value {
        match self {
            WindowStatus::Unrestricted => json!({ "state": "none" }),
            WindowStatus::Inside(o) => json!({ "state": "inside", "window": o.window, "starts_at": o.starts_at, "ends_at": o.ends_at }),
            WindowStatus::Outside(next) => json!({
                "state": "outside",
                "next": next.as_ref().map(|o| json!({ "window": o.window, "starts_at": o.starts_at, "ends_at": o.ends_at })),
            }),
        }
    }
}
