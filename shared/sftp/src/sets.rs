//! Finding complete file sets in a listing, pure (no I/O), so the rules are testable on their
//! own.
//!
//! A listing is the configured folder's regular files plus those of each subfolder (one
//! level). The candidates are:
//! - every `.zip` file (anywhere in the listing): one set each;
//! - the loose files of a folder, when they form a roster: a OneRoster CSV set (`manifest.csv`
//!   or `users.csv`; without a manifest it needs `users.csv`, `classes.csv` and
//!   `enrollments.csv`), or a Clever CSV set (`schools.csv`, `students.csv`, `teachers.csv`,
//!   `sections.csv`, `enrollments.csv`, matched ignoring case); a `guardians.csv` beside them
//!   joins the set;
//! - a folder holding `guardians.csv` and no roster: a guardians-only set.
//!
//! A folder with an upload in progress (`*.part`, `*.filepart`, `*.tmp`, or a name starting
//! with `.`) or with only some of the required files is "waiting", never a candidate.

use crate::Ledger;
use serde::{Deserialize, Serialize};

/// One regular remote file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// Full remote path.
    pub path: String,
    /// The name inside the set (the file name).
    pub name: String,
    pub size: u64,
    pub mtime: u64,
}

/// The files of one folder.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Folder {
    pub path: String,
    pub files: Vec<RemoteFile>,
    /// Entries that show an upload in progress.
    pub in_progress: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SetKind {
    OneRosterCsv,
    CleverCsv,
    Zip,
    GuardiansOnly,
}

/// A set of files that may be a drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The folder, or the zip file.
    pub root: String,
    pub kind: SetKind,
    pub files: Vec<RemoteFile>,
    /// Complete by its manifest: no second listing needed.
    pub has_manifest: bool,
}

impl Candidate {
    pub fn newest(&self) -> u64 {
        self.files.iter().map(|f| f.mtime).max().unwrap_or(0)
    }
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

pub const CLEVER_REQUIRED: [&str; 5] = [
    "schools.csv",
    "students.csv",
    "teachers.csv",
    "sections.csv",
    "enrollments.csv",
];
const ONEROSTER_CUT_DOWN: [&str; 3] = ["users.csv", "classes.csv", "enrollments.csv"];
pub const GUARDIANS: &str = "guardians.csv";

/// True for names that show an upload still being written.
pub fn is_in_progress(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.')
        || [".part", ".filepart", ".tmp", ".partial", ".uploading"]
            .iter()
            .any(|s| lower.ends_with(s))
}

/// What a folder's loose files amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    Set(Candidate),
    /// Some files of a set, or an upload in progress: why it waits.
    Waiting(String),
    Nothing,
}

/// Classifies the loose (non-zip) files of one folder.
pub fn classify(folder: &Folder) -> Classified {
    let files: Vec<&RemoteFile> = folder
        .files
        .iter()
        .filter(|f| !f.name.to_ascii_lowercase().ends_with(".zip"))
        .collect();
    let has = |n: &str| files.iter().any(|f| f.name == n);
    let has_ci = |n: &str| files.iter().any(|f| f.name.eq_ignore_ascii_case(n));
    let csv: Vec<RemoteFile> = files
        .iter()
        .filter(|f| f.name.to_ascii_lowercase().ends_with(".csv"))
        .map(|f| (*f).clone())
        .collect();
    let set = |kind, has_manifest| {
        Classified::Set(Candidate {
            root: folder.path.clone(),
            kind,
            files: csv.clone(),
            has_manifest,
        })
    };
    let oneroster = has("manifest.csv") || has("users.csv");
    let clever_some = CLEVER_REQUIRED.iter().filter(|n| has_ci(n)).count();
    if (oneroster || clever_some > 0 || has_ci(GUARDIANS)) && !folder.in_progress.is_empty() {
        return Classified::Waiting(format!(
            "{}: an upload is in progress ({})",
            folder.path,
            folder.in_progress.join(", ")
        ));
    }
    if oneroster {
        if has("manifest.csv") {
            return set(SetKind::OneRosterCsv, true);
        }
        let missing: Vec<&str> = ONEROSTER_CUT_DOWN
            .iter()
            .copied()
            .filter(|n| !has(n))
            .collect();
        if missing.is_empty() {
            return set(SetKind::OneRosterCsv, false);
        }
        return Classified::Waiting(format!(
            "{}: a OneRoster set without manifest.csv lacks {}",
            folder.path,
            missing.join(", ")
        ));
    }
    if clever_some == CLEVER_REQUIRED.len() {
        return set(SetKind::CleverCsv, false);
    }
    if clever_some > 0 {
        let missing: Vec<&str> = CLEVER_REQUIRED
            .iter()
            .copied()
            .filter(|n| !has_ci(n))
            .collect();
        return Classified::Waiting(format!(
            "{}: the Clever set lacks {}",
            folder.path,
            missing.join(", ")
        ));
    }
    if has_ci(GUARDIANS) {
        return Classified::Set(Candidate {
            root: folder.path.clone(),
            kind: SetKind::GuardiansOnly,
            files: files
                .iter()
                .filter(|f| f.name.eq_ignore_ascii_case(GUARDIANS))
                .map(|f| (*f).clone())
                .collect(),
            has_manifest: false,
        });
    }
    Classified::Nothing
}

/// The sets in a listing not yet fetched, oldest first, and why the others wait.
pub fn new_candidates(folders: &[Folder], ledger: &Ledger) -> (Vec<Candidate>, Vec<String>) {
    let mut out = Vec::new();
    let mut waiting = Vec::new();
    for folder in folders {
        for zip in folder
            .files
            .iter()
            .filter(|f| f.name.to_ascii_lowercase().ends_with(".zip"))
        {
            out.push(Candidate {
                root: zip.path.clone(),
                kind: SetKind::Zip,
                files: vec![zip.clone()],
                has_manifest: false,
            });
        }
        match classify(folder) {
            Classified::Set(c) => out.push(c),
            Classified::Waiting(why) => waiting.push(why),
            Classified::Nothing => {}
        }
    }
    out.retain(|c| {
        !c.files
            .iter()
            .all(|f| ledger.seen(&f.path, f.size, f.mtime))
            && !ledger.refused(&c.root, c.bytes())
    });
    out.sort_by(|a, b| (a.newest(), &a.root).cmp(&(b.newest(), &b.root)));
    (out, waiting)
}

/// True when every file of the set is listed again with the same size and mtime, and no file
/// joined it.
pub fn unchanged(before: &Candidate, after: &Candidate) -> bool {
    let key = |c: &Candidate| {
        let mut v: Vec<(String, u64, u64)> = c
            .files
            .iter()
            .map(|f| (f.path.clone(), f.size, f.mtime))
            .collect();
        v.sort();
        v
    };
    key(before) == key(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(path: &str, files: &[(&str, u64)]) -> Folder {
        Folder {
            path: path.into(),
            files: files
                .iter()
                .map(|(n, t)| RemoteFile {
                    path: format!("{path}/{n}"),
                    name: (*n).into(),
                    size: 10,
                    mtime: *t,
                })
                .collect(),
            in_progress: Vec::new(),
        }
    }

    fn kinds(folders: &[Folder], ledger: &Ledger) -> String {
        let (c, w) = new_candidates(folders, ledger);
        let mut s: Vec<String> = c
            .iter()
            .map(|c| format!("{:?} {} {}", c.kind, c.root, c.files.len()))
            .collect();
        s.extend(w.iter().map(|w| format!("waiting: {w}")));
        s.join("\n")
    }

    #[test]
    fn finds_sets_oldest_first_and_waits_on_partial_ones() {
        let folders = [
            folder("/in", &[("export.zip", 5)]),
            folder(
                "/in/a",
                &[("users.csv", 3), ("classes.csv", 3), ("enrollments.csv", 3)],
            ),
            folder(
                "/in/b",
                &[("manifest.csv", 1), ("users.csv", 1), ("orgs.csv", 1)],
            ),
            folder(
                "/in/c",
                &[
                    ("Students.csv", 2),
                    ("schools.csv", 2),
                    ("teachers.csv", 2),
                    ("sections.csv", 2),
                    ("enrollments.csv", 2),
                    ("guardians.csv", 2),
                ],
            ),
            folder("/in/d", &[("users.csv", 4)]),
            folder("/in/e", &[("students.csv", 4)]),
            folder("/in/f", &[("guardians.csv", 9), ("notes.txt", 9)]),
        ];
        assert_eq!(
            kinds(&folders, &Ledger::default()),
            "OneRosterCsv /in/b 3\nCleverCsv /in/c 6\nOneRosterCsv /in/a 3\nZip /in/export.zip 1\nGuardiansOnly /in/f 1\n\
             waiting: /in/d: a OneRoster set without manifest.csv lacks classes.csv, enrollments.csv\n\
             waiting: /in/e: the Clever set lacks schools.csv, teachers.csv, sections.csv, enrollments.csv"
        );
    }

    #[test]
    fn skips_what_the_ledger_holds_and_uploads_in_progress() {
        let f = folder(
            "/in",
            &[("users.csv", 3), ("classes.csv", 3), ("enrollments.csv", 3)],
        );
        let mut ledger = Ledger::default();
        let (c, _) = new_candidates(std::slice::from_ref(&f), &ledger);
        let files: Vec<crate::DropFile> = c[0]
            .files
            .iter()
            .map(|r| crate::DropFile {
                name: r.name.clone(),
                remote: r.path.clone(),
                size: r.size,
                mtime: r.mtime,
                sha256: "x".into(),
            })
            .collect();
        ledger.record(&files, "d1");
        assert_eq!(kinds(std::slice::from_ref(&f), &ledger), "");
        let mut busy = f.clone();
        busy.files[0].mtime = 4;
        busy.in_progress.push("enrollments.csv.filepart".into());
        assert_eq!(
            kinds(&[busy], &ledger),
            "waiting: /in: an upload is in progress (enrollments.csv.filepart)"
        );
    }
}
