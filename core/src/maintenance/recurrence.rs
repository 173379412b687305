//! How often a maintenance window recurs, as written in the configuration's `every` key:
//! `"day"`, one or more weekdays (`"tuesday"`, `"monday, thursday"`), or one weekday of the
//! month (`"first sunday"`, `"2nd tuesday"`, `"last friday"`), or one date (`"2027-03-28"`,
//! a window that opens once). Which calendar days match is
//! answered by `jiff`'s calendar, never by arithmetic of our own.

use jiff::civil::{Date, Weekday};
use std::fmt;

/// A recurrence, checked at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recurrence {
    /// Every day.
    Daily,
    /// These days of every week (at least one, no repeats).
    Weekly(Vec<Weekday>),
    /// The `nth` such weekday of every month: 1 to 4, or -1 for the last.
    Monthly { nth: i8, weekday: Weekday },
    /// Once, on this date.
    Once(Date),
}

impl Recurrence {
    /// Parses the `every` key; the message says what is accepted.
    pub fn parse(text: &str) -> Result<Recurrence, String> {
        let t = text.trim().to_ascii_lowercase();
        let t = t.strip_suffix(" of the month").or_else(|| t.strip_suffix(" of every month")).unwrap_or(&t).trim().to_owned();
        if matches!(t.as_str(), "day" | "daily" | "every day") {
            return Ok(Recurrence::Daily);
        }
        if t.starts_with(|c: char| c.is_ascii_digit()) {
            return t.parse::<Date>().map(Recurrence::Once).map_err(|_| format!("every = {text:?} is not a date such as \"2027-03-28\""));
        }
        let words: Vec<&str> = t.split_whitespace().collect();
        if let [ordinal, day] = words.as_slice() {
            if let (Some(nth), Some(weekday)) = (ordinal_of(ordinal), weekday_of(day)) {
                return Ok(Recurrence::Monthly { nth, weekday });
            }
        }
        let mut days = Vec::new();
        for part in t.split(',').map(str::trim) {
            match weekday_of(part) {
                Some(d) if !days.contains(&d) => days.push(d),
                _ => return Err(format!(
                    "every = {text:?} is not a recurrence; write \"day\", weekdays (\"tuesday\", \"monday, thursday\") or a weekday of the month (\"first sunday\", \"last friday\") or a date (\"2027-03-28\")"
                )),
            }
        }
        Ok(Recurrence::Weekly(days))
    }

    /// Whether a window of this recurrence opens on `date` (a date in the window's time zone).
    pub fn matches(&self, date: Date) -> bool {
        match self {
            Recurrence::Daily => true,
            Recurrence::Weekly(days) => days.contains(&date.weekday()),
            Recurrence::Monthly { nth, weekday } => date.nth_weekday_of_month(*nth, *weekday).is_ok_and(|d| d == date),
            Recurrence::Once(day) => *day == date,
        }
    }

    /// The longest window this recurrence allows: a window may not run into its own next
    /// opening (a day for a daily window, a week otherwise).
    pub fn longest(&self) -> std::time::Duration {
        let days = if *self == Recurrence::Daily { 1 } else { 7 };
        std::time::Duration::from_secs(days * 86_400)
    }
}

impl fmt::Display for Recurrence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recurrence::Daily => f.write_str("every day"),
            Recurrence::Weekly(days) => {
                let names: Vec<&str> = days.iter().map(|d| plural(*d)).collect();
                f.write_str(&names.join(", "))
            }
            Recurrence::Monthly { nth, weekday } => {
                let ord = match nth {
                    1 => "first",
                    2 => "second",
                    3 => "third",
                    4 => "fourth",
                    _ => "last",
                };
                write!(f, "{ord} {} of the month", name(*weekday))
            }
            Recurrence::Once(day) => write!(f, "once on {day}"),
        }
    }
}

fn ordinal_of(word: &str) -> Option<i8> {
    Some(match word {
        "first" | "1st" => 1,
        "second" | "2nd" => 2,
        "third" | "3rd" => 3,
        "fourth" | "4th" => 4,
        "last" => -1,
        _ => return None,
    })
}

fn weekday_of(word: &str) -> Option<Weekday> {
    let word = word.strip_suffix('s').filter(|w| w.ends_with("day")).unwrap_or(word);
    Some(match word {
        "monday" | "mon" => Weekday::Monday,
        "tuesday" | "tue" => Weekday::Tuesday,
        "wednesday" | "wed" => Weekday::Wednesday,
        "thursday" | "thu" => Weekday::Thursday,
        "friday" | "fri" => Weekday::Friday,
        "saturday" | "sat" => Weekday::Saturday,
        "sunday" | "sun" => Weekday::Sunday,
        _ => return None,
    })
}

fn name(d: Weekday) -> &'static str {
    match d {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

fn plural(d: Weekday) -> &'static str {
    match d {
        Weekday::Monday => "Mondays",
        Weekday::Tuesday => "Tuesdays",
        Weekday::Wednesday => "Wednesdays",
        Weekday::Thursday => "Thursdays",
        Weekday::Friday => "Fridays",
        Weekday::Saturday => "Saturdays",
        Weekday::Sunday => "Sundays",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use jiff::civil::date;

    #[test]
    fn the_written_forms_parse() {
        assert_eq!(Recurrence::parse("day"), Ok(Recurrence::Daily));
        assert_eq!(Recurrence::parse("Tuesdays"), Ok(Recurrence::Weekly(vec![Weekday::Tuesday])));
        assert_eq!(Recurrence::parse("monday, thu"), Ok(Recurrence::Weekly(vec![Weekday::Monday, Weekday::Thursday])));
        assert_eq!(Recurrence::parse("first Sunday of the month"), Ok(Recurrence::Monthly { nth: 1, weekday: Weekday::Sunday }));
        assert_eq!(Recurrence::parse("last friday"), Ok(Recurrence::Monthly { nth: -1, weekday: Weekday::Friday }));
        for bad in ["", "fortnight", "fifth sunday", "monday, monday", "first", "tuesday,"] {
            assert!(Recurrence::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Recurrence::parse("first sunday").unwrap().to_string(), "first Sunday of the month");
        assert_eq!(Recurrence::parse("2027-03-28"), Ok(Recurrence::Once(date(2027, 3, 28))));
        assert!(Recurrence::parse("2027-02-30").is_err());
    }

    #[test]
    fn first_sunday_matches_one_day_a_month() {
        let r = Recurrence::parse("first sunday").unwrap();
        assert!(r.matches(date(2027, 3, 7)));
        assert!(!r.matches(date(2027, 3, 14)) && !r.matches(date(2027, 3, 6)));
        assert!(r.matches(date(2027, 8, 1)));
        let last = Recurrence::parse("last sunday").unwrap();
        assert!(last.matches(date(2027, 3, 28)) && !last.matches(date(2027, 3, 21)));
    }
}
