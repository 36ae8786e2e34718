//! Calendar dates: full dates (`YYYY-MM-DD`) for rule statuses and `--as-of`, partial dates
//! (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`) for release dates known only to the month.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A proleptic Gregorian calendar date. Orders chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year (1000..=9999).
    pub year: u16,
    /// Month (1..=12).
    pub month: u8,
    /// Day of the month (1..=31, checked against the month).
    pub day: u8,
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            let leap =
                (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
            if leap {
                29
            } else {
                28
            }
        }
    }
}

fn parse_num<T: FromStr>(s: &str, len: usize, what: &str, input: &str) -> Result<T, String> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{input}`: {what} must be {len} digits"));
    }
    s.parse()
        .map_err(|_| format!("`{input}`: {what} is not a number"))
}

impl Date {
    /// A checked date.
    pub fn new(year: u16, month: u8, day: u8) -> Result<Date, String> {
        if !(1000..=9999).contains(&year) {
            return Err(format!("year {year} out of range 1000..=9999"));
        }
        if !(1..=12).contains(&month) {
            return Err(format!("month {month} out of range 1..=12"));
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(format!("day {day} out of range for {year}-{month:02}"));
        }
        Ok(Date { year, month, day })
    }

    /// Today's date (UTC) from the system clock.
    pub fn today() -> Date {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Date::from_unix_days((secs / 86_400) as i64)
    }

    /// The date `days` days after 1970-01-01 (civil-from-days, Hinnant's algorithm).
    pub fn from_unix_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date {
            year: year.clamp(1000, 9999) as u16,
            month,
            day,
        }
    }
}

/// The current UTC time as RFC 3339 (`2026-01-01T12:00:00Z`).
pub fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let d = Date::from_unix_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!("{d}T{:02}:{:02}:{:02}Z", s / 3600, (s / 60) % 60, s % 60)
}

impl FromStr for Date {
    type Err = String;
    fn from_str(s: &str) -> Result<Date, String> {
        let parts: Vec<&str> = s.split('-').collect();
        if parts.len() != 3 {
            return Err(format!("`{s}` is not a date of the form YYYY-MM-DD"));
        }
        Date::new(
            parse_num(parts[0], 4, "year", s)?,
            parse_num(parts[1], 2, "month", s)?,
            parse_num(parts[2], 2, "day", s)?,
        )
        .map_err(|e| format!("`{s}`: {e}"))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A date known to the year, the month or the day (`2023`, `2023-09`, `2023-09-06`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartialDate {
    /// Year.
    pub year: u16,
    /// Month, when known.
    pub month: Option<u8>,
    /// Day, when known (only with a month).
    pub day: Option<u8>,
}

impl FromStr for PartialDate {
    type Err = String;
    fn from_str(s: &str) -> Result<PartialDate, String> {
        let parts: Vec<&str> = s.split('-').collect();
        match parts.len() {
            1 | 2 => {
                let year: u16 = parse_num(parts[0], 4, "year", s)?;
                let month: Option<u8> = match parts.get(1) {
                    Some(m) => Some(parse_num(m, 2, "month", s)?),
                    None => None,
                };
                // Validate through a full date on day 1.
                Date::new(year, month.unwrap_or(1), 1).map_err(|e| format!("`{s}`: {e}"))?;
                Ok(PartialDate {
                    year,
                    month,
                    day: None,
                })
            }
            3 => {
                let d: Date = s.parse()?;
                Ok(PartialDate {
                    year: d.year,
                    month: Some(d.month),
                    day: Some(d.day),
                })
            }
            _ => Err(format!("`{s}` is not a date (YYYY, YYYY-MM or YYYY-MM-DD)")),
        }
    }
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.year)?;
        if let Some(m) = self.month {
            write!(f, "-{m:02}")?;
            if let Some(d) = self.day {
                write!(f, "-{d:02}")?;
            }
        }
        Ok(())
    }
}

impl Serialize for PartialDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PartialDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PartialDate, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_orders_and_rejects() {
        let a: Date = "2024-05-22".parse().unwrap();
        let b: Date = "2025-01-03".parse().unwrap();
        assert!(a < b);
        assert_eq!(a.to_string(), "2024-05-22");
        assert!("2024-02-30".parse::<Date>().is_err());
        assert!("2024-2-3".parse::<Date>().is_err());
        assert!("2023-02-29".parse::<Date>().is_err());
        assert!("2024-02-29".parse::<Date>().is_ok());
        assert_eq!(
            "2023-09".parse::<PartialDate>().unwrap().to_string(),
            "2023-09"
        );
        assert!("2023-13".parse::<PartialDate>().is_err());
    }

    #[test]
    fn civil_from_days() {
        assert_eq!(Date::from_unix_days(0).to_string(), "1970-01-01");
        assert_eq!(Date::from_unix_days(19_875).to_string(), "2024-06-01");
        assert_eq!(Date::from_unix_days(20_454).to_string(), "2026-01-01");
        assert_eq!(Date::from_unix_days(11_016).to_string(), "2000-02-29");
    }
}
