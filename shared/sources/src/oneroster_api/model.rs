//! OneRoster 1.1 REST wire types (`{"users":[…]}` envelopes and their records), tolerant of
//! common server variations: booleans sent as strings, `periods` as a string or a list.

use serde::{Deserialize, Deserializer, Serialize};

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A list of strings that some servers send as one comma-separated string.
fn str_or_list<'de, D>(d: D) -> Result<Vec<String>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(String),
        Many(Vec<Option<String>>),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        None => Vec::new(),
        Some(Either::One(s)) => s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        Some(Either::Many(v)) => v.into_iter().flatten().collect(),
    })
}

/// A boolean as servers send it: `true`, `"true"` (the 1.1 binding's string), `1`, or
/// anything else, which reads as no value (the caller warns) instead of failing the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FlexBool {
    Bool(bool),
    Text(String),
    Other(serde_json::Value),
}

impl FlexBool {
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            Self::Text(s) => crate::files::bool_word(s),
            Self::Other(v) => match v.as_u64() {
                Some(1) => Some(true),
                Some(0) => Some(false),
                _ => None,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct GuidRef {
    pub href: Option<String>,
    pub sourced_id: Option<String>,
    #[serde(rename = "type")]
    pub ref_type: Option<String>,
}

impl GuidRef {
    pub fn to(kind: &str, id: &str) -> Self {
        Self {
            href: None,
            sourced_id: Some(id.to_string()),
            ref_type: Some(kind.to_string()),
        }
    }
    pub fn id(&self) -> Option<&str> {
        self.sourced_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct UserId {
    #[serde(rename = "type")]
    pub id_type: Option<String>,
    pub identifier: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Org {
    pub sourced_id: Option<String>,
    pub status: Option<String>,
    pub date_last_modified: Option<String>,
    pub name: Option<String>,
    /// `department|school|district|local|state|national`.
    #[serde(rename = "type")]
    pub org_type: Option<String>,
    pub identifier: Option<String>,
    pub parent: Option<GuidRef>,
    #[serde(deserialize_with = "null_default")]
    pub children: Vec<GuidRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct User {
    pub sourced_id: Option<String>,
    pub status: Option<String>,
    pub date_last_modified: Option<String>,
    pub username: Option<String>,
    #[serde(deserialize_with = "null_default")]
    pub user_ids: Vec<UserId>,
    pub enabled_user: Option<FlexBool>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub middle_name: Option<String>,
    /// `administrator|aide|guardian|parent|proctor|relative|student|teacher`.
    pub role: Option<String>,
    pub identifier: Option<String>,
    pub email: Option<String>,
    pub sms: Option<String>,
    pub phone: Option<String>,
    #[serde(deserialize_with = "null_default")]
    pub agents: Vec<GuidRef>,
    #[serde(deserialize_with = "null_default")]
    pub orgs: Vec<GuidRef>,
    #[serde(deserialize_with = "str_or_list")]
    pub grades: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Class {
    pub sourced_id: Option<String>,
    pub status: Option<String>,
    pub date_last_modified: Option<String>,
    pub title: Option<String>,
    pub class_code: Option<String>,
    /// `homeroom|scheduled`.
    pub class_type: Option<String>,
    pub location: Option<String>,
    #[serde(deserialize_with = "str_or_list")]
    pub grades: Vec<String>,
    #[serde(deserialize_with = "str_or_list")]
    pub subjects: Vec<String>,
    #[serde(deserialize_with = "str_or_list")]
    pub subject_codes: Vec<String>,
    #[serde(deserialize_with = "str_or_list")]
    pub periods: Vec<String>,
    pub course: Option<GuidRef>,
    pub school: Option<GuidRef>,
    #[serde(deserialize_with = "null_default")]
    pub terms: Vec<GuidRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Enrollment {
    pub sourced_id: Option<String>,
    pub status: Option<String>,
    pub date_last_modified: Option<String>,
    pub user: Option<GuidRef>,
    pub class: Option<GuidRef>,
    pub school: Option<GuidRef>,
    pub role: Option<String>,
    pub primary: Option<FlexBool>,
    pub begin_date: Option<String>,
    pub end_date: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct AcademicSession {
    pub sourced_id: Option<String>,
    pub status: Option<String>,
    pub date_last_modified: Option<String>,
    pub title: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    /// `gradingPeriod|semester|schoolYear|term`.
    #[serde(rename = "type")]
    pub session_type: Option<String>,
    pub parent: Option<GuidRef>,
    pub school_year: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Course {
    pub sourced_id: Option<String>,
    pub status: Option<String>,
    pub date_last_modified: Option<String>,
    pub title: Option<String>,
    pub course_code: Option<String>,
    #[serde(deserialize_with = "str_or_list")]
    pub grades: Vec<String>,
    #[serde(deserialize_with = "str_or_list")]
    pub subjects: Vec<String>,
    pub org: Option<GuidRef>,
    pub school_year: Option<GuidRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Demographics {
    pub sourced_id: Option<String>,
    pub status: Option<String>,
    pub date_last_modified: Option<String>,
    pub birth_date: Option<String>,
    pub sex: Option<String>,
}

/// The collections read, with their envelope keys (the same as the path segment).
pub const COLLECTIONS: [&str; 7] = [
    "orgs",
    "academicSessions",
    "courses",
    "classes",
    "users",
    "enrollments",
    "demographics",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Servers send `enabledUser`/`primary` as strings (the 1.1 binding), JSON booleans, or
    /// numbers; none of them may make the whole record unreadable.
    #[test]
    fn booleans_in_every_shape_servers_send() {
        let read = |v: &str| {
            let e: Enrollment = serde_json::from_str(&format!(r#"{{"primary":{v}}}"#)).unwrap();
            e.primary.and_then(|p| p.as_bool())
        };
        assert_eq!(read("true"), Some(true));
        assert_eq!(read(r#""false""#), Some(false));
        assert_eq!(read(r#""TRUE""#), Some(true));
        assert_eq!(read("1"), Some(true));
        assert_eq!(read("0"), Some(false));
        assert_eq!(read(r#""yes""#), Some(true));
        assert_eq!(read("2"), None);
        assert_eq!(read(r#""maybe""#), None);
        assert_eq!(read("{}"), None);
        assert_eq!(read("null"), None);
        let u: User =
            serde_json::from_str(r#"{"sourcedId":"u1","enabledUser":1,"role":"student"}"#).unwrap();
        assert_eq!(u.enabled_user.and_then(|b| b.as_bool()), Some(true));
    }
}
