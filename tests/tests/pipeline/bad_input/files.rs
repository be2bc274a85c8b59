//! File feeds: OneRoster CSV (folder and ZIP), Clever CSV and Clever JSON (one envelope per
//! endpoint, the converter the Clever API client uses). Each case corrupts a clean generated
//! district (or writes a minimal hand-made one) and runs the whole local pipeline on it.

use super::{
    Ctx, Expect, classroom, clean, clean_district, enrolled, enrolled_student, ensure, error,
    person, report_failures, verify, warnings,
};
use domain::Roster;
use domain::directory::{Record, School};
use integration::{D, TestEnv, dump, write_feed};
use std::io::Write as _;
use std::path::Path;
use store::Write;
use synth::Format;

/// One case: a clean district in `format`, changed by `corrupt`, and what must come of it.
struct Case {
    name: &'static str,
    format: Format,
    /// Changes the written files (`dir` holds them; for ZIP cases `dir/oneroster.zip`).
    corrupt: fn(&Path, &Roster),
    /// A manual school matched to a source id the feed does not have, added after the first run.
    manual_school: bool,
    expect: Expect,
}

fn case(name: &'static str, format: Format, corrupt: fn(&Path, &Roster), expect: Expect) -> Case {
    Case {
        name,
        format,
        corrupt,
        manual_school: false,
        expect,
    }
}

// ---------------------------------------------------------------------------------------------
// CSV editing helpers (rows as lines; values are quoted when they hold a comma or a quote)

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("read {file}: {e}"))
}

fn put(dir: &Path, file: &str, body: impl AsRef<[u8]>) {
    std::fs::write(dir.join(file), body).unwrap_or_else(|e| panic!("write {file}: {e}"));
}

/// Splits one CSV line into raw fields (quotes kept), honouring quoted commas.
fn split(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for ch in line.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                out.last_mut().expect("field").push(ch);
            }
            ',' if !quoted => out.push(String::new()),
            _ => out.last_mut().expect("field").push(ch),
        }
    }
    out
}

fn quote(v: &str) -> String {
    if v.contains([',', '"']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

fn headers(dir: &Path, file: &str) -> Vec<String> {
    split(read(dir, file).lines().next().unwrap_or_default())
}

fn col(dir: &Path, file: &str, name: &str) -> usize {
    headers(dir, file)
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("{file} has no column {name}"))
}

/// A row of `file` with the given values (other columns empty), in header order.
fn row(dir: &Path, file: &str, values: &[(&str, &str)]) -> String {
    let h = headers(dir, file);
    let mut cells = vec![String::new(); h.len()];
    for (name, v) in values {
        cells[col(dir, file, name)] = quote(v);
    }
    cells.join(",")
}

/// Inserts `row` so that it becomes line `at` (1-based; the header is line 1).
fn insert(dir: &Path, file: &str, at: usize, row: &str) {
    let body = read(dir, file);
    let mut lines: Vec<&str> = body.lines().collect();
    lines.insert(at - 1, row);
    put(dir, file, lines.join("\n") + "\n");
}

fn line(dir: &Path, file: &str, n: usize) -> String {
    read(dir, file)
        .lines()
        .nth(n - 1)
        .unwrap_or_else(|| panic!("{file} has no line {n}"))
        .to_string()
}

/// The raw value of column `name` on line `n`.
fn field(dir: &Path, file: &str, n: usize, name: &str) -> String {
    split(&line(dir, file, n))[col(dir, file, name)].clone()
}

/// Line `n` with column `name` set to `value` (raw: the caller quotes).
fn with_field(dir: &Path, file: &str, n: usize, name: &str, value: &str) -> String {
    let mut cells = split(&line(dir, file, n));
    cells[col(dir, file, name)] = value.to_string();
    cells.join(",")
}

fn set_field(dir: &Path, file: &str, n: usize, name: &str, value: &str) {
    let new = with_field(dir, file, n, name, value);
    let body = read(dir, file);
    let mut lines: Vec<String> = body.lines().map(str::to_string).collect();
    lines[n - 1] = new;
    put(dir, file, lines.join("\n") + "\n");
}

fn csv_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("feed dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".csv"))
        .collect();
    v.sort();
    v
}

const USERS: &str = "users.csv";
const ENROL: &str = "enrollments.csv";
const CLASSES: &str = "classes.csv";

/// A new OneRoster student row of school `school` (users.csv, full profile).
fn or_student(dir: &Path, id: &str, school: &str, extra: &[(&str, &str)]) -> String {
    let mut v = vec![
        ("sourcedId", id),
        ("enabledUser", "true"),
        ("orgSourcedIds", school),
        ("role", "student"),
        ("username", id),
        ("givenName", "Nova"),
        ("familyName", "Quill"),
        ("grades", "03"),
    ];
    for (k, val) in extra {
        v.retain(|(n, _)| n != k);
        v.push((k, val));
    }
    row(dir, USERS, &v)
}

fn first_school(r: &Roster) -> String {
    r.schools[0].id.clone()
}

fn school_of_section(r: &Roster, section: &str) -> String {
    r.sections
        .iter()
        .find(|s| s.id == section)
        .map(|s| s.school_id.clone())
        .expect("section")
}

// ---------------------------------------------------------------------------------------------
// Checks

fn student_synced(ctx: &Ctx, d: &[Record]) -> Result<(), String> {
    let (student, section) = enrolled_student(&ctx.roster);
    ensure(enrolled(d, &section, &student), || {
        format!("student {student} is not in the classroom of {section}")
    })
}

/// The enrolled student of [`student_synced`] is a member of exactly the sections the clean feed
/// gives it: a dangling enrollment row added no membership and took none away.
fn student_keeps_its_feed_sections(ctx: &Ctx, d: &[Record]) -> Result<(), String> {
    let (student, _) = enrolled_student(&ctx.roster);
    let want: std::collections::BTreeSet<&str> = ctx
        .roster
        .enrollments
        .iter()
        .filter(|e| e.user_id == student)
        .map(|e| e.section_id.as_str())
        .collect();
    let p = person(d, &student).ok_or_else(|| format!("student {student} is missing"))?;
    let mut got = std::collections::BTreeSet::new();
    for r in d {
        if let Record::Enrollment(e) = r
            && e.person_id == p.id
        {
            let c = d.iter().find_map(|r| match r {
                Record::Classroom(c) if c.id == e.classroom_id => Some(c),
                _ => None,
            });
            let c =
                c.ok_or_else(|| format!("enrollment in a missing classroom {}", e.classroom_id))?;
            got.extend(c.section_ids.iter().map(String::as_str));
        }
    }
    ensure(got == want, || {
        format!("student {student} is in sections {got:?}, the feed gives {want:?}")
    })
}

/// The student on the first data row of the writer's per-student files (`demographics.csv`,
/// Clever `students.csv`): the roster's first student.
fn first_row_student(ctx: &Ctx, d: &[Record]) -> Result<domain::directory::Person, String> {
    let id = &ctx.roster.students[0].id;
    person(d, id)
        .cloned()
        .ok_or_else(|| format!("student {id} (first row) is missing"))
}

/// The contact on Clever `students.csv` row 2, and its guardian when it was synced.
fn first_row_contact<'a>(
    ctx: &'a Ctx,
    d: &[Record],
) -> (&'a domain::Contact, Option<domain::directory::Person>) {
    let student = &ctx.roster.students[0].id;
    let contact = ctx
        .roster
        .contacts
        .iter()
        .find(|c| c.links.iter().any(|l| &l.student_id == student))
        .expect("the first student has a contact");
    (contact, person(d, &contact.id).cloned())
}

fn new_student(d: &[Record], id: &str) -> Result<domain::directory::Person, String> {
    person(d, id)
        .cloned()
        .ok_or_else(|| format!("the new student {id} is missing"))
}

// ---------------------------------------------------------------------------------------------
// OneRoster CSV

fn oneroster_cases() -> Vec<Case> {
    use Format::OneRosterCsv as F;
    vec![
        case("or_clean_feed", F, |_, _| {}, clean(student_synced)),
        case(
            "or_no_manifest_full_set",
            F,
            |d, _| std::fs::remove_file(d.join("manifest.csv")).expect("rm"),
            error("invalid_input", "missing_manifest", "manifest.csv"),
        ),
        case(
            "or_no_manifest_cut_down_profile",
            F,
            |d, _| {
                for f in csv_files(d) {
                    std::fs::remove_file(d.join(f)).expect("rm");
                }
                put(
                    d,
                    USERS,
                    "sourceId,orgSourcedIds,role,givenName,familyName,email,grades\n\
                     S1,0101,student,Ada,Lovelace,,03\n\
                     S2,0101,student,Alan,Turing,,03\n\
                     T1,0101,teacher,Grace,Hopper,grace.hopper@example.org,\n",
                );
                put(
                    d,
                    CLASSES,
                    "sourcedId,title,grades,schoolSourcedId\nC1,Math 3,03,0101\n",
                );
                put(
                    d,
                    ENROL,
                    "classSourcedId,schoolSourcedID,userSourcedId,role\n\
                     C1,0101,S1,student\nC1,0101,S2,student\nC1,0101,T1,teacher\n",
                );
            },
            clean(|_, d| {
                ensure(enrolled(d, "C1", "S1") && enrolled(d, "C1", "T1"), || {
                    "the cut-down feed was not synced".into()
                })
            }),
        ),
        case(
            "or_header_wrong_case",
            F,
            |d, _| {
                let body = read(d, USERS).replacen("givenName", "GivenName", 1);
                put(d, USERS, body);
            },
            error("invalid_input", "missing_column", "users.csv:1"),
        ),
        case(
            "or_utf8_bom",
            F,
            |d, _| {
                for f in csv_files(d) {
                    let body = read(d, &f);
                    put(d, &f, format!("\u{feff}{body}"));
                }
            },
            clean(student_synced),
        ),
        case(
            "or_crlf",
            F,
            |d, _| {
                for f in csv_files(d) {
                    let body = read(d, &f).replace('\n', "\r\n");
                    put(d, &f, body);
                }
            },
            clean(student_synced),
        ),
        case(
            "or_unterminated_quote",
            F,
            |d, r| {
                let bad = or_student(d, "X-Q1", &first_school(r), &[]);
                insert(d, USERS, 3, &bad.replacen("Nova", "\"Nova", 1));
            },
            error("invalid_input", "malformed_csv", "users.csv:3"),
        ),
        case(
            "or_ragged_row",
            F,
            |d, _| insert(d, USERS, 2, "X-R1,,,true"),
            error("invalid_input", "malformed_csv", "users.csv:2"),
        ),
        case(
            "or_invalid_utf8",
            F,
            |d, _| {
                let l = with_field(d, USERS, 2, "givenName", "@@BAD@@");
                let body = read(d, USERS);
                let mut lines: Vec<String> = body.lines().map(str::to_string).collect();
                lines[1] = l;
                let bytes = (lines.join("\n") + "\n").replace("@@BAD@@", "Ad@a");
                let bytes: Vec<u8> = bytes
                    .bytes()
                    .map(|b| if b == b'@' { 0xFF } else { b })
                    .collect();
                put(d, USERS, bytes);
            },
            error("invalid_input", "invalid_utf8", "users.csv:2:9"),
        ),
        case(
            "or_duplicate_user_id_first_wins",
            F,
            |d, _| {
                let dup = with_field(d, USERS, 2, "givenName", "Duplicate");
                insert(d, USERS, 3, &dup);
            },
            warnings(&[("duplicate_id", "users.csv:3:1")], |ctx, d| {
                let dups = d
                    .iter()
                    .any(|r| matches!(r, Record::Person(p) if p.first_name == "Duplicate"));
                ensure(!dups, || "the duplicate row was synced".into())?;
                student_synced(ctx, d)
            }),
        ),
        case(
            "or_enrollment_unknown_class",
            F,
            |d, r| {
                let (student, section) = enrolled_student(r);
                let school = school_of_section(r, &section);
                let bad = row(
                    d,
                    ENROL,
                    &[
                        ("sourcedId", "X-E1"),
                        ("classSourcedId", "NOPE"),
                        ("schoolSourcedId", &school),
                        ("userSourcedId", &student),
                        ("role", "student"),
                    ],
                );
                insert(d, ENROL, 2, &bad);
            },
            warnings(
                &[("dangling_reference", "enrollments.csv:2:4")],
                |ctx, d| {
                    ensure(classroom(d, "NOPE").is_none(), || "NOPE exists".into())?;
                    student_keeps_its_feed_sections(ctx, d)
                },
            ),
        ),
        case(
            "or_enrollment_unknown_user",
            F,
            |d, r| {
                let (_, section) = enrolled_student(r);
                let school = school_of_section(r, &section);
                let bad = row(
                    d,
                    ENROL,
                    &[
                        ("sourcedId", "X-E2"),
                        ("classSourcedId", &section),
                        ("schoolSourcedId", &school),
                        ("userSourcedId", "GHOST"),
                        ("role", "student"),
                    ],
                );
                insert(d, ENROL, 2, &bad);
            },
            warnings(
                &[("dangling_reference", "enrollments.csv:2:6")],
                |ctx, d| {
                    ensure(person(d, "GHOST").is_none(), || "GHOST exists".into())?;
                    student_synced(ctx, d)
                },
            ),
        ),
        case(
            "or_class_unknown_school",
            F,
            |d, r| {
                let bad = row(
                    d,
                    CLASSES,
                    &[
                        ("sourcedId", "X-C1"),
                        ("title", "Ghost class"),
                        ("grades", "03"),
                        ("courseSourcedId", &r.courses[0].id),
                        ("classType", "scheduled"),
                        ("schoolSourcedId", "9999"),
                        ("termSourcedIds", &r.terms[0].id),
                    ],
                );
                insert(d, CLASSES, 2, &bad);
            },
            warnings(&[("dangling_reference", "classes.csv:2:10")], |ctx, d| {
                ensure(classroom(d, "X-C1").is_none(), || {
                    "the class of an unknown school was synced".into()
                })?;
                student_synced(ctx, d)
            }),
        ),
        case(
            "or_field_too_long_10mb",
            F,
            |d, r| {
                let big = "m".repeat(10 << 20);
                let bad = or_student(d, "X-S1", &first_school(r), &[("middleName", &big)]);
                insert(d, USERS, 2, &bad);
            },
            warnings(&[("field_too_long", "users.csv:2:11")], |ctx, d| {
                let p = new_student(d, "X-S1")?;
                ensure(p.middle_name.is_none(), || "the long field was kept".into())?;
                student_synced(ctx, d)
            }),
        ),
        case(
            "or_unknown_role",
            F,
            |d, r| {
                let bad = or_student(d, "X-U1", &first_school(r), &[("role", "wizard")]);
                insert(d, USERS, 2, &bad);
            },
            warnings(&[("unknown_enum_value", "users.csv:2:6")], |ctx, d| {
                ensure(person(d, "X-U1").is_none(), || {
                    "the wizard was synced".into()
                })?;
                student_synced(ctx, d)
            }),
        ),
        case(
            "or_unknown_grade",
            F,
            |d, r| {
                let bad = or_student(d, "X-S2", &first_school(r), &[("grades", "ZZ")]);
                insert(d, USERS, 2, &bad);
            },
            warnings(&[("unknown_enum_value", "users.csv:2:17")], |ctx, d| {
                let p = new_student(d, "X-S2")?;
                ensure(p.grade.is_none(), || "a grade was made up".into())?;
                student_synced(ctx, d)
            }),
        ),
        case(
            "or_malformed_date_garbage",
            F,
            |d, _| set_field(d, "demographics.csv", 2, "birthDate", "not-a-date"),
            warnings(&[("malformed_date", "demographics.csv:2:4")], |ctx, d| {
                let p = first_row_student(ctx, d)?;
                ensure(p.dob.is_none(), || "the garbage date became a dob".into())?;
                student_synced(ctx, d)
            }),
        ),
        case(
            "or_date_m_d_yy",
            F,
            |d, _| {
                let iso = field(d, "demographics.csv", 2, "birthDate");
                let date = chrono::NaiveDate::parse_from_str(&iso, "%Y-%m-%d").expect("iso");
                let short = date.format("%-m/%-d/%y").to_string();
                set_field(d, "demographics.csv", 2, "birthDate", &short);
            },
            clean(student_synced),
        ),
        case(
            "or_email_without_at",
            F,
            |d, r| {
                let bad = or_student(
                    d,
                    "X-S3",
                    &first_school(r),
                    &[("email", "nova.quill.example.org")],
                );
                insert(d, USERS, 2, &bad);
            },
            warnings(&[("invalid_email", "users.csv:2:13")], |ctx, d| {
                let p = new_student(d, "X-S3")?;
                ensure(p.email.is_none(), || "the bad email was kept".into())?;
                student_synced(ctx, d)
            }),
        ),
        case(
            "or_unusable_phone",
            F,
            |d, r| {
                let bad = or_student(
                    d,
                    "X-T1",
                    &first_school(r),
                    &[("role", "teacher"), ("grades", ""), ("sms", "12")],
                );
                insert(d, USERS, 2, &bad);
            },
            warnings(&[("unusable_phone", "users.csv:2:14")], |ctx, d| {
                let p = new_student(d, "X-T1")?;
                ensure(p.sms.is_none(), || "the bad phone was kept".into())?;
                student_synced(ctx, d)
            }),
        ),
        case(
            "or_empty_users_file",
            F,
            |d, _| put(d, USERS, ""),
            error("invalid_input", "empty_feed", "users.csv"),
        ),
        case(
            "or_headers_only_users_never_archives",
            F,
            |d, _| {
                let header = line(d, USERS, 1);
                put(d, USERS, header + "\n");
            },
            error("invalid_input", "empty_feed", "users.csv"),
        ),
        case(
            "or_empty_classes_file",
            F,
            |d, _| put(d, CLASSES, ""),
            error("invalid_input", "missing_column", "classes.csv:1"),
        ),
        case(
            "or_listed_file_missing",
            F,
            |d, _| std::fs::remove_file(d.join(ENROL)).expect("rm"),
            error("invalid_input", "missing_file", "enrollments.csv"),
        ),
        Case {
            manual_school: true,
            ..case(
                "or_matched_school_missing_from_feed",
                F,
                |_, _| {},
                error("schools_not_found", "school_not_found", "roster"),
            )
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// OneRoster ZIP

fn zip_of(dir: &Path, r: &Roster, extra: fn(&mut zip::ZipWriter<std::fs::File>)) {
    let plain = dir.join("plain");
    synth::write(r, Format::OneRosterCsv, &plain).expect("write");
    let file = std::fs::File::create(dir.join("oneroster.zip")).expect("zip");
    let mut z = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for f in csv_files(&plain) {
        z.start_file(f.as_str(), opts).expect("entry");
        z.write_all(&std::fs::read(plain.join(&f)).expect("read"))
            .expect("write");
    }
    extra(&mut z);
    z.finish().expect("finish");
    std::fs::remove_dir_all(plain).expect("rm plain");
}

fn deflated() -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated)
}

fn zip_cases() -> Vec<Case> {
    use Format::OneRosterCsvZip as F;
    vec![
        case(
            "zip_bomb",
            F,
            |d, r| {
                zip_of(d, r, |z| {
                    z.start_file("bomb.csv", deflated()).expect("entry");
                    let zeros = vec![b'0'; 1 << 20];
                    for _ in 0..8 {
                        z.write_all(&zeros).expect("write");
                    }
                })
            },
            error("invalid_input", "unsafe_archive", "bomb.csv"),
        ),
        case(
            "zip_path_traversal",
            F,
            |d, r| {
                zip_of(d, r, |z| {
                    z.start_file("../evil.csv", deflated()).expect("entry");
                    z.write_all(b"a,b\n1,2\n").expect("write");
                })
            },
            error("invalid_input", "unsafe_archive", "../evil.csv"),
        ),
        case(
            "zip_symlink_entry",
            F,
            |d, r| {
                zip_of(d, r, |z| {
                    z.add_symlink("link.csv", "/etc/passwd", deflated())
                        .expect("symlink");
                })
            },
            error("invalid_input", "unsafe_archive", "link.csv"),
        ),
        case(
            "zip_not_an_archive",
            F,
            |d, _| put(d, "oneroster.zip", b"PK\x03\x04 this is not a zip"),
            error("invalid_input", "unreadable_archive", "oneroster.zip"),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Clever CSV

const STUDENTS: &str = "students.csv";
const SECTIONS: &str = "sections.csv";

fn clever_csv_cases() -> Vec<Case> {
    use Format::CleverCsv as F;
    vec![
        case("cc_clean_feed", F, |_, _| {}, clean(student_synced)),
        case(
            "cc_header_any_case",
            F,
            |d, _| {
                for f in [STUDENTS, "teachers.csv"] {
                    let body = read(d, f);
                    let (h, rest) = body.split_once('\n').expect("header");
                    put(d, f, format!("{}\n{rest}", h.to_uppercase()));
                }
                let body = read(d, SECTIONS);
                let (h, rest) = body.split_once('\n').expect("header");
                put(d, SECTIONS, format!("{}\n{rest}", h.to_lowercase()));
            },
            clean(student_synced),
        ),
        case(
            "cc_file_name_any_case",
            F,
            |d, _| std::fs::rename(d.join(STUDENTS), d.join("Students.CSV")).expect("mv"),
            clean(student_synced),
        ),
        case(
            "cc_utf8_bom_and_crlf",
            F,
            |d, _| {
                for f in csv_files(d) {
                    let body = read(d, &f).replace('\n', "\r\n");
                    put(d, &f, format!("\u{feff}{body}"));
                }
            },
            clean(student_synced),
        ),
        case(
            "cc_unterminated_quote",
            F,
            |d, _| {
                let bad = with_field(d, SECTIONS, 2, "Name", "\"Ghost section");
                insert(d, SECTIONS, 3, &bad.replacen(",0", ",X0", 1));
            },
            error("invalid_input", "malformed_csv", "sections.csv:3"),
        ),
        case(
            "cc_invalid_utf8",
            F,
            |d, _| {
                let body = read(d, "teachers.csv");
                let mut lines: Vec<String> = body.lines().map(str::to_string).collect();
                lines[1] = with_field(d, "teachers.csv", 2, "First_name", "Ann@");
                let bytes: Vec<u8> = (lines.join("\n") + "\n")
                    .bytes()
                    .map(|b| if b == b'@' { 0xC3 } else { b })
                    .collect();
                put(d, "teachers.csv", bytes);
            },
            error("invalid_input", "invalid_utf8", "teachers.csv:2:7"),
        ),
        case(
            "cc_duplicate_section_first_wins",
            F,
            |d, _| {
                let dup = with_field(d, SECTIONS, 2, "Name", "Duplicate");
                insert(d, SECTIONS, 3, &dup);
            },
            warnings(&[("duplicate_id", "sections.csv:3:2")], |ctx, d| {
                let dup = d
                    .iter()
                    .any(|r| matches!(r, Record::Classroom(c) if c.name == "Duplicate"));
                ensure(!dup, || "the duplicate section was synced".into())?;
                student_synced(ctx, d)
            }),
        ),
        case(
            "cc_enrollment_unknown_section",
            F,
            |d, r| {
                let (student, section) = enrolled_student(r);
                let school = school_of_section(r, &section);
                let bad = row(
                    d,
                    ENROL,
                    &[
                        ("School_id", &school),
                        ("Section_id", "NOPE"),
                        ("Student_id", &student),
                    ],
                );
                insert(d, ENROL, 2, &bad);
            },
            warnings(
                &[("dangling_reference", "enrollments.csv:2:2")],
                |ctx, d| {
                    ensure(classroom(d, "NOPE").is_none(), || "NOPE exists".into())?;
                    student_keeps_its_feed_sections(ctx, d)
                },
            ),
        ),
        case(
            "cc_section_unknown_school",
            F,
            |d, _| {
                let bad = with_field(d, SECTIONS, 2, "School_id", "9999");
                let bad = {
                    let mut cells = split(&bad);
                    cells[col(d, SECTIONS, "Section_id")] = "X-C1".into();
                    cells.join(",")
                };
                insert(d, SECTIONS, 2, &bad);
            },
            warnings(&[("dangling_reference", "sections.csv:2:1")], |ctx, d| {
                ensure(classroom(d, "X-C1").is_none(), || {
                    "the section of an unknown school was synced".into()
                })?;
                student_synced(ctx, d)
            }),
        ),
        case(
            "cc_missing_file",
            F,
            |d, _| std::fs::remove_file(d.join(ENROL)).expect("rm"),
            error("invalid_input", "missing_file", "enrollments.csv"),
        ),
        case(
            "cc_empty_students_and_teachers",
            F,
            |d, _| {
                put(d, STUDENTS, "");
                put(d, "teachers.csv", "");
            },
            error("invalid_input", "empty_feed", "students.csv"),
        ),
        case(
            "cc_malformed_dob",
            F,
            |d, _| {
                let id = field(d, STUDENTS, 2, "Student_id");
                let body = read(d, STUDENTS);
                let n = body
                    .lines()
                    .filter(|l| split(l).get(1).is_some_and(|c| *c == id))
                    .count();
                for i in 0..n {
                    set_field(d, STUDENTS, 2 + i, "Dob", "13/45/2017");
                }
            },
            warnings(&[("malformed_date", "students.csv:2:10")], |ctx, d| {
                let p = first_row_student(ctx, d)?;
                ensure(p.dob.is_none(), || {
                    "the impossible date became a dob".into()
                })?;
                student_synced(ctx, d)
            }),
        ),
        case(
            "cc_unknown_grade",
            F,
            |d, _| set_field(d, STUDENTS, 2, "Grade", "Wizard"),
            warnings(&[("unknown_enum_value", "students.csv:2:8")], |ctx, d| {
                let p = first_row_student(ctx, d)?;
                ensure(p.grade.is_none(), || "a grade was made up".into())?;
                student_synced(ctx, d)
            }),
        ),
        case(
            "cc_unusable_contact_phone",
            F,
            |d, _| set_field(d, STUDENTS, 2, "Contact_phone", "12"),
            warnings(&[("unusable_phone", "students.csv:2:27")], |ctx, d| {
                // The guardian keeps its other credentials (or is skipped without any); a phone
                // it still has is its own, from a sibling's row that was not corrupted.
                let (contact, guardian) = first_row_contact(ctx, d);
                if let Some(g) = guardian {
                    let own = [contact.phone.as_ref(), contact.sms.as_ref()];
                    let kept = [g.phone.as_ref(), g.sms.as_ref()];
                    ensure(
                        kept.iter().flatten().all(|p| own.contains(&Some(*p))),
                        || "the guardian has a phone that is not its own".into(),
                    )?;
                    ensure(
                        contact.links.len() > 1 || kept.iter().all(Option::is_none),
                        || "the unusable phone of a single-row contact was replaced".into(),
                    )?;
                }
                student_synced(ctx, d)
            }),
        ),
        case(
            "cc_email_without_at",
            F,
            |d, _| set_field(d, STUDENTS, 2, "Student_email", "no-at.example.org"),
            warnings(&[("invalid_email", "students.csv:2:21")], |ctx, d| {
                let p = first_row_student(ctx, d)?;
                ensure(p.email.is_none(), || "the bad email was kept".into())?;
                student_synced(ctx, d)
            }),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Clever JSON (files; the same envelope converter as the Clever API)

fn edit_json(dir: &Path, file: &str, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(file)).expect("read")).expect("json");
    f(&mut v);
    put(dir, file, serde_json::to_vec_pretty(&v).expect("json"));
}

/// Moves the first student of `users.json` to `data[0]` (record order is free) and returns 0.
fn first_student(dir: &Path) -> usize {
    edit_json(dir, "users.json", |v| {
        let data = v["data"].as_array_mut().expect("data");
        let i = data
            .iter()
            .position(|u| !u["data"]["roles"]["student"].is_null())
            .expect("a student");
        data.swap(0, i);
    });
    0
}

fn clever_json_cases() -> Vec<Case> {
    use Format::CleverJson as F;
    vec![
        case("cj_clean_feed", F, |_, _| {}, clean(student_synced)),
        case(
            "cj_nulls_and_empty_enums",
            F,
            |d, _| {
                let i = first_student(d);
                edit_json(d, "users.json", |v| {
                    let u = &mut v["data"][i]["data"];
                    u["roles"]["student"]["grade"] = "".into();
                    u["roles"]["student"]["gender"] = "".into();
                    u["roles"]["student"]["dob"] = serde_json::Value::Null;
                    u["name"]["middle"] = serde_json::Value::Null;
                    u["roles"]["student"]["enrollments"] = serde_json::Value::Null;
                    u["email"] = serde_json::Value::Null;
                });
                edit_json(d, "sections.json", |v| {
                    let s = &mut v["data"][0]["data"];
                    s["grade"] = "".into();
                    s["subject"] = "".into();
                    s["period"] = serde_json::Value::Null;
                    s["teachers"] = serde_json::Value::Null;
                });
            },
            clean(student_synced),
        ),
        case(
            "cj_unknown_grade",
            F,
            |d, _| {
                let i = first_student(d);
                edit_json(d, "users.json", |v| {
                    v["data"][i]["data"]["roles"]["student"]["grade"] = "Wizard".into();
                });
            },
            warnings(
                &[(
                    "unknown_enum_value",
                    "users.json data[0].roles.student.grade",
                )],
                |ctx, d| {
                    let p = first_row_student(ctx, d)?;
                    ensure(p.grade.is_none(), || "a grade was made up".into())?;
                    student_synced(ctx, d)
                },
            ),
        ),
        case(
            "cj_truncated_file",
            F,
            |d, _| {
                let body = std::fs::read(d.join("users.json")).expect("read");
                put(d, "users.json", &body[..body.len() / 2]);
            },
            error("invalid_input", "malformed_json", "users.json"),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Driver

async fn run_case(c: &Case) -> Result<(), String> {
    let env = TestEnv::new();
    let roster = clean_district(7);
    let dir = env.feed_dir("feed");
    let path = write_feed(&roster, c.format, &dir);
    env.connect_files(c.format, &path).await;
    let errors_expected = matches!(c.expect, Expect::Error { .. });
    if errors_expected {
        // A good run first: the bad feed must leave its result exactly as it is.
        let first = env.sync().await;
        ensure(integration::ok(&first) && first.warnings.is_empty(), || {
            format!(
                "the clean feed did not sync cleanly: {} {:?}",
                first.status.as_str(),
                first.warnings
            )
        })?;
    }
    if c.manual_school {
        let school = School {
            id: "manual-school".into(),
            name: "Pre-existing Academy".into(),
            external_ids: ["9999".to_string()].into_iter().collect(),
            school_number: None,
            nces_id: None,
            managed: None,
            archived: None,
            version: 0,
        };
        env.directory()
            .write(
                D,
                &[Write::Put {
                    record: Record::from(school),
                    expected: None,
                }],
            )
            .await
            .map_err(|e| e.to_string())?;
    }
    let before = dump(env.directory(), D).await;
    (c.corrupt)(&dir, &roster);
    let report = env.sync().await;
    let ctx = Ctx { roster };
    verify(&env, &ctx, &report, &c.expect, &before).await
}

async fn run_all(what: &str, cases: Vec<Case>) -> usize {
    let mut failures = Vec::new();
    for c in &cases {
        if let Err(e) = run_case(c).await {
            failures.push(format!("{} ({}): {e}", c.name, c.format.as_str()));
        }
    }
    report_failures(what, failures);
    cases.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oneroster_csv_bad_inputs() {
    run_all("OneRoster CSV", oneroster_cases()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oneroster_zip_bad_inputs() {
    run_all("OneRoster ZIP", zip_cases()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clever_csv_bad_inputs() {
    run_all("Clever CSV", clever_csv_cases()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clever_json_bad_inputs() {
    run_all("Clever JSON", clever_json_cases()).await;
}
