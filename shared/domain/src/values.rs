//! Values built by parsing: emails, phone numbers, grades and dates. A value that does not parse
//! is reported by the reader and dropped; it never reaches the directory.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An email address that has at least `local@domain`. Kept as delivered (trimmed); compared
/// case-insensitively through [`Email::key`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Parses a trimmed address; `None` when it lacks `@`, has spaces, or an empty side.
    pub fn parse(raw: &str) -> Option<Self> {
        let s = raw.trim();
        let (local, domain) = s.split_once('@')?;
        if local.is_empty()
            || domain.is_empty()
            || domain.contains('@')
            || s.chars().any(char::is_whitespace)
        {
            return None;
        }
        Some(Self(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The lower-cased form used to match people by email.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number normalised to `+` and 8–15 digits. Ten-digit numbers are North American
/// (`+1` is added); eleven digits starting with `1` likewise.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Option<Self> {
        let s = raw.trim();
        if s.is_empty() {
            return None;
        }
        let plus = s.starts_with('+');
        // Extensions ("x123", "ext. 4") are not part of a callable number.
        let main = s.split(['x', 'X']).next().unwrap_or(s);
        if main
            .chars()
            .any(|c| !(c.is_ascii_digit() || " -().+/".contains(c)))
        {
            return None;
        }
        let digits: String = main.chars().filter(char::is_ascii_digit).collect();
        let normalised = match (plus, digits.len()) {
            (false, 10) => format!("+1{digits}"),
            (false, 11) if digits.starts_with('1') => format!("+{digits}"),
            (true, 8..=15) => format!("+{digits}"),
            _ => return None,
        };
        Some(Self(normalised))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A grade level. Serialised as its CEDS code (`KG`, `01` … `13`, `PK` …), the form OneRoster uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Grade {
    #[serde(rename = "IT")]
    InfantToddler,
    #[serde(rename = "PR")]
    Preschool,
    #[serde(rename = "PK")]
    PreKindergarten,
    #[serde(rename = "TK")]
    TransitionalKindergarten,
    #[serde(rename = "KG")]
    Kindergarten,
    #[serde(rename = "01")]
    G1,
    #[serde(rename = "02")]
    G2,
    #[serde(rename = "03")]
    G3,
    #[serde(rename = "04")]
    G4,
    #[serde(rename = "05")]
    G5,
    #[serde(rename = "06")]
    G6,
    #[serde(rename = "07")]
    G7,
    #[serde(rename = "08")]
    G8,
    #[serde(rename = "09")]
    G9,
    #[serde(rename = "10")]
    G10,
    #[serde(rename = "11")]
    G11,
    #[serde(rename = "12")]
    G12,
    #[serde(rename = "13")]
    G13,
    #[serde(rename = "PS")]
    PostSecondary,
    #[serde(rename = "UG")]
    Ungraded,
    #[serde(rename = "Other")]
    Other,
}

impl Grade {
    const NUMBERED: [Grade; 13] = [
        Grade::G1,
        Grade::G2,
        Grade::G3,
        Grade::G4,
        Grade::G5,
        Grade::G6,
        Grade::G7,
        Grade::G8,
        Grade::G9,
        Grade::G10,
        Grade::G11,
        Grade::G12,
        Grade::G13,
    ];

    /// Parses CEDS codes (OneRoster), Clever's enum names and common SIS spellings
    /// (`K`, `1`, `01`, `Kindergarten`, `PreKindergarten`, `PostGraduate`). `None` when unknown.
    pub fn parse(raw: &str) -> Option<Self> {
        let s = raw.trim();
        if let Ok(n) = s.parse::<u8>() {
            return (1..=13)
                .contains(&n)
                .then(|| Self::NUMBERED[usize::from(n - 1)]);
        }
        Some(match s.to_ascii_lowercase().as_str() {
            "it" | "infanttoddler" => Self::InfantToddler,
            "pr" | "preschool" => Self::Preschool,
            "pk" | "prekindergarten" | "pre-k" => Self::PreKindergarten,
            "tk" | "transitionalkindergarten" => Self::TransitionalKindergarten,
            "k" | "kg" | "kindergarten" => Self::Kindergarten,
            "ps" | "postgraduate" | "postsecondary" => Self::PostSecondary,
            "ug" | "ungraded" => Self::Ungraded,
            "other" => Self::Other,
            _ => return None,
        })
    }

    /// The CEDS code, e.g. `KG` or `07`.
    pub fn code(self) -> &'static str {
        match self {
            Self::InfantToddler => "IT",
            Self::Preschool => "PR",
            Self::PreKindergarten => "PK",
            Self::TransitionalKindergarten => "TK",
            Self::Kindergarten => "KG",
            Self::G1 => "01",
            Self::G2 => "02",
            Self::G3 => "03",
            Self::G4 => "04",
            Self::G5 => "05",
            Self::G6 => "06",
            Self::G7 => "07",
            Self::G8 => "08",
            Self::G9 => "09",
            Self::G10 => "10",
            Self::G11 => "11",
            Self::G12 => "12",
            Self::G13 => "13",
            Self::PostSecondary => "PS",
            Self::Ungraded => "UG",
            Self::Other => "Other",
        }
    }

    /// Clever's spelling (`Kindergarten`, `7`, `PostGraduate`).
    pub fn clever_name(self) -> &'static str {
        match self {
            Self::InfantToddler => "InfantToddler",
            Self::Preschool => "Preschool",
            Self::PreKindergarten => "PreKindergarten",
            Self::TransitionalKindergarten => "TransitionalKindergarten",
            Self::Kindergarten => "Kindergarten",
            Self::PostSecondary => "PostGraduate",
            Self::Ungraded => "Ungraded",
            Self::Other => "Other",
            n => n.code().trim_start_matches('0'),
        }
    }

    /// A number for ordering and grade arithmetic: PK = -1, KG = 0, 1..13.
    pub fn ordinal(self) -> i8 {
        match self {
            Self::InfantToddler => -4,
            Self::Preschool => -3,
            Self::PreKindergarten => -2,
            Self::TransitionalKindergarten => -1,
            Self::Kindergarten => 0,
            Self::PostSecondary => 14,
            Self::Ungraded | Self::Other => 99,
            n => n.code().parse().unwrap_or(99),
        }
    }

    /// The grade from its ordinal (inverse of [`Grade::ordinal`] for -4..=14).
    pub fn from_ordinal(n: i8) -> Option<Self> {
        Some(match n {
            -4 => Self::InfantToddler,
            -3 => Self::Preschool,
            -2 => Self::PreKindergarten,
            -1 => Self::TransitionalKindergarten,
            0 => Self::Kindergarten,
            1..=13 => Self::NUMBERED[(n - 1) as usize],
            14 => Self::PostSecondary,
            _ => return None,
        })
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Parses the date forms districts send: ISO `YYYY-MM-DD` (optionally followed by a time),
/// `M/D/YYYY`, `M/D/YY` (years 00–69 are 20xx, 70–99 are 19xx) and `YYYYMMDD`.
pub fn parse_date(raw: &str) -> Option<NaiveDate> {
    let s = raw.trim();
    if s.len() >= 10 && s.as_bytes().get(4) == Some(&b'-') {
        return NaiveDate::parse_from_str(&s[..10], "%Y-%m-%d").ok();
    }
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::parse_from_str(s, "%Y%m%d").ok();
    }
    let mut parts = s.split('/');
    let (m, d, y) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (m, d): (u32, u32) = (m.parse().ok()?, d.parse().ok()?);
    let year: i32 = match y.len() {
        2 => {
            let yy: i32 = y.parse().ok()?;
            if yy < 70 { 2000 + yy } else { 1900 + yy }
        }
        4 => y.parse().ok()?,
        _ => return None,
    };
    NaiveDate::from_ymd_opt(year, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(Email::parse("a@b.org").is_some());
        assert_eq!(Email::parse("  A@B.org ").unwrap().key(), "a@b.org");
        for bad in ["", "ab.org", "@b.org", "a@", "a b@c.org", "a@b@c"] {
            assert!(Email::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn phones() {
        assert_eq!(
            Phone::parse("(555) 123-4567").unwrap().as_str(),
            "+15551234567"
        );
        assert_eq!(
            Phone::parse("15551234567").unwrap().as_str(),
            "+15551234567"
        );
        assert_eq!(
            Phone::parse("+44 20 7946 0958").unwrap().as_str(),
            "+442079460958"
        );
        assert_eq!(
            Phone::parse("555-123-4567 x12").unwrap().as_str(),
            "+15551234567"
        );
        for bad in ["", "12345", "call me", "555-1234", "25551234567"] {
            assert!(Phone::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn grades_round_trip() {
        for n in -4..=14 {
            let g = Grade::from_ordinal(n).unwrap();
            assert_eq!(Grade::parse(g.code()), Some(g));
            assert_eq!(Grade::parse(g.clever_name()), Some(g));
            assert_eq!(g.ordinal(), n);
        }
        assert_eq!(Grade::parse("K"), Some(Grade::Kindergarten));
        assert_eq!(Grade::parse("7"), Some(Grade::G7));
        assert_eq!(Grade::parse("14"), None);
        assert_eq!(Grade::parse(""), None);
    }

    #[test]
    fn dates() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(parse_date("2014-03-09"), d(2014, 3, 9));
        assert_eq!(parse_date("2014-03-09T00:00:00Z"), d(2014, 3, 9));
        assert_eq!(parse_date("3/9/14"), d(2014, 3, 9));
        assert_eq!(parse_date("03/09/2014"), d(2014, 3, 9));
        assert_eq!(parse_date("12/31/99"), d(1999, 12, 31));
        assert_eq!(parse_date("20140309"), d(2014, 3, 9));
        for bad in ["", "2014-13-01", "2/30/14", "14", "1/2/3/4", "March 3"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
