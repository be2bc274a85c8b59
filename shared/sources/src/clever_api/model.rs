//! Clever Data API v3.0/v3.1 wire types: the JSON envelopes and records exactly as Clever sends
//! them. Every field is optional (Clever omits, nulls or blanks fields freely), so these types
//! both read real pages and write `clever-json` fixtures.

use serde::{Deserialize, Deserializer, Serialize};

/// Reads `null` as the type's default (Clever sends `null` for empty arrays and objects).
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A list response: `{"data":[{"data":{…}}…], "links":[{"rel":"next","uri":"…"}]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>", serialize = "T: Serialize"))]
pub struct ListResponse<T> {
    #[serde(default = "Vec::new", deserialize_with = "null_default")]
    pub data: Vec<Item<T>>,
    #[serde(default = "Vec::new", deserialize_with = "null_default")]
    pub links: Vec<Link>,
}

impl<T> Default for ListResponse<T> {
    fn default() -> Self {
        Self {
            data: Vec::new(),
            links: Vec::new(),
        }
    }
}

impl<T> ListResponse<T> {
    /// A single page holding `records` and no links.
    pub fn of(records: impl IntoIterator<Item = T>) -> Self {
        Self {
            data: records.into_iter().map(|data| Item { data }).collect(),
            links: Vec::new(),
        }
    }

    /// The `uri` of the `rel: next` link, if any.
    pub fn next_uri(&self) -> Option<&str> {
        self.links
            .iter()
            .find(|l| l.rel.as_deref() == Some("next"))
            .and_then(|l| l.uri.as_deref())
    }
}

/// One element of a list response: the record wrapped in `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item<T> {
    pub data: T,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Link {
    pub rel: Option<String>,
    pub uri: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Name {
    pub first: Option<String>,
    pub middle: Option<String>,
    pub last: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Credentials {
    pub district_username: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct District {
    pub id: Option<String>,
    pub name: Option<String>,
    pub nces_id: Option<String>,
    pub mdr_number: Option<String>,
    pub sis_type: Option<String>,
    /// `running|pending|error|paused|success|""`.
    pub state: Option<String>,
    pub last_sync: Option<String>,
    pub pause_start: Option<String>,
    pub pause_end: Option<String>,
    pub launch_date: Option<String>,
    pub portal_url: Option<String>,
    pub error: Option<String>,
    #[serde(deserialize_with = "null_default")]
    pub login_methods: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Principal {
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct School {
    pub id: Option<String>,
    pub district: Option<String>,
    pub name: Option<String>,
    pub sis_id: Option<String>,
    pub school_number: Option<String>,
    pub state_id: Option<String>,
    pub nces_id: Option<String>,
    pub mdr_number: Option<String>,
    pub phone: Option<String>,
    pub low_grade: Option<String>,
    pub high_grade: Option<String>,
    pub principal: Option<Principal>,
    pub created: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Term {
    pub id: Option<String>,
    pub district: Option<String>,
    pub name: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Course {
    pub id: Option<String>,
    pub district: Option<String>,
    pub name: Option<String>,
    pub number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Section {
    pub id: Option<String>,
    pub district: Option<String>,
    pub school: Option<String>,
    pub name: Option<String>,
    pub sis_id: Option<String>,
    pub section_number: Option<String>,
    pub period: Option<String>,
    pub subject: Option<String>,
    pub grade: Option<String>,
    pub course: Option<String>,
    pub term_id: Option<String>,
    /// The primary teacher.
    pub teacher: Option<String>,
    /// All teachers, primary first.
    #[serde(deserialize_with = "null_default")]
    pub teachers: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub students: Vec<String>,
    pub created: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct User {
    pub id: Option<String>,
    pub district: Option<String>,
    pub email: Option<String>,
    pub name: Option<Name>,
    pub roles: Option<Roles>,
    pub created: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Roles {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub student: Option<StudentRole>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teacher: Option<TeacherRole>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff: Option<StaffRole>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub district_admin: Option<DistrictAdminRole>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactRole>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SchoolEnrollment {
    pub school: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct StudentRole {
    pub legacy_id: Option<String>,
    pub sis_id: Option<String>,
    pub student_number: Option<String>,
    pub state_id: Option<String>,
    /// Primary school.
    pub school: Option<String>,
    #[serde(deserialize_with = "null_default")]
    pub schools: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub enrollments: Vec<SchoolEnrollment>,
    pub credentials: Option<Credentials>,
    /// Documented as `MM/DD/YYYY`.
    pub dob: Option<String>,
    pub gender: Option<String>,
    pub grade: Option<String>,
    pub graduation_year: Option<String>,
    pub hispanic_ethnicity: Option<String>,
    pub race: Option<String>,
    pub ell_status: Option<String>,
    /// v3.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_language: Option<String>,
    /// v3.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_language_code: Option<String>,
    /// v3.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_name: Option<Name>,
    pub created: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct TeacherRole {
    pub legacy_id: Option<String>,
    pub sis_id: Option<String>,
    pub teacher_number: Option<String>,
    pub state_id: Option<String>,
    pub title: Option<String>,
    pub school: Option<String>,
    #[serde(deserialize_with = "null_default")]
    pub schools: Vec<String>,
    pub district: Option<String>,
    pub credentials: Option<Credentials>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct StaffRole {
    pub legacy_id: Option<String>,
    pub staff_id: Option<String>,
    pub title: Option<String>,
    pub department: Option<String>,
    #[serde(deserialize_with = "null_default")]
    pub roles: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub schools: Vec<String>,
    pub credentials: Option<Credentials>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct DistrictAdminRole {
    pub legacy_id: Option<String>,
    pub title: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ContactRole {
    pub legacy_id: Option<String>,
    pub sis_id: Option<String>,
    pub phone: Option<String>,
    /// `Cell|Home|Work|Other|""`.
    pub phone_type: Option<String>,
    #[serde(deserialize_with = "null_default")]
    pub student_relationships: Vec<StudentRelationship>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct StudentRelationship {
    pub student: Option<String>,
    /// `Parent|Grandparent|Self|Aunt/Uncle|Sibling|Other|""`.
    pub relationship: Option<String>,
    /// `Parent/Guardian|Emergency|Primary|Secondary|Family|Other|""`.
    #[serde(rename = "type")]
    pub contact_type: Option<String>,
}

/// The subjects Clever allows on a section.
pub const SUBJECTS: [&str; 11] = [
    "english/language arts",
    "math",
    "science",
    "social studies",
    "language",
    "homeroom/advisory",
    "interventions/online learning",
    "technology and engineering",
    "PE and health",
    "arts and music",
    "other",
];

/// The district sync states Clever reports.
pub const DISTRICT_STATES: [&str; 5] = ["running", "pending", "error", "paused", "success"];
