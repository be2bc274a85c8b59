//! Tests of `FileSet`: folders, in-memory sets and ZIP safety checks.

use super::testutil::zip;
use super::{FileSet, Limits};
use crate::SourceError;
use expect_test::{Expect, expect};
use std::io::Write;

fn check(result: Result<FileSet, SourceError>, expected: Expect) {
    let actual = match result {
        Ok(set) => {
            let names: Vec<String> = set
                .names()
                .map(|n| {
                    let body = set.read(n).map(|b| b.len().to_string());
                    format!("{n} ({})", body.unwrap_or_else(|e| e.to_string()))
                })
                .collect();
            format!("ok: {}", names.join(", "))
        }
        Err(SourceError::Invalid { issues }) => issues
            .iter()
            .map(|i| format!("{} {} {}", i.code, i.location, i.message))
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => e.to_string(),
    };
    expected.assert_eq(&actual);
}

fn from_zip(bytes: Vec<u8>) -> Result<FileSet, SourceError> {
    FileSet::from_zip_bytes("drop.zip", bytes, Limits::default())
}

#[test]
fn zip_plain_and_single_root_folder() {
    check(
        from_zip(zip(&[("users.csv", b"a,b\n"), ("classes.csv", b"x\n")])),
        expect![[r#"ok: users.csv (4), classes.csv (2)"#]],
    );
    check(
        from_zip(zip(&[
            ("export/users.csv", b"a,b\n"),
            ("export/sub/x.csv", b""),
            ("__MACOSX/export/._users.csv", b"junk"),
        ])),
        expect![[r#"ok: users.csv (4), sub/x.csv (0)"#]],
    );
    check(
        from_zip(zip(&[("a/users.csv", b"a,b\n"), ("b/x.csv", b"")])),
        expect![[r#"ok: a/users.csv (4), b/x.csv (0)"#]],
    );
}

#[test]
fn zip_path_traversal_and_absolute_paths_are_refused() {
    check(
        from_zip(zip(&[("users.csv", b"a"), ("../../etc/cron.d/x", b"a")])),
        expect![[
            r#"unsafe_archive ../../etc/cron.d/x the entry path climbs out of the archive (`..`)"#
        ]],
    );
    check(
        from_zip(zip(&[("/etc/passwd", b"a")])),
        expect![[r#"unsafe_archive /etc/passwd the entry has an absolute path"#]],
    );
    check(
        from_zip(zip(&[("a\\..\\..\\x.csv", b"a")])),
        expect![[
            r#"unsafe_archive a\..\..\x.csv the entry path climbs out of the archive (`..`)"#
        ]],
    );
}

/// Found by `cargo fuzz run zip_fileset`: an entry with an empty name was refused with an
/// empty location, which names nothing for the admin.
#[test]
fn zip_entry_without_a_name_is_refused_at_the_archive() {
    check(
        from_zip(zip(&[("", b"a")])),
        expect![[r#"unsafe_archive drop.zip an entry has an empty name"#]],
    );
}

#[test]
fn zip_symlinks_are_refused() {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    w.add_symlink("users.csv", "/etc/passwd", opts).unwrap();
    let bytes = w.finish().unwrap().into_inner();
    check(
        from_zip(bytes),
        expect![[r#"unsafe_archive users.csv the entry is a symbolic link"#]],
    );
}

#[test]
fn zip_bombs_and_oversized_archives_are_refused() {
    // 3 MiB of zeros deflates to a few KiB: far beyond 200:1.
    let zeros = vec![0u8; 3 << 20];
    check(
        from_zip(zip(&[("users.csv", &zeros)])),
        expect![[
            r#"unsafe_archive users.csv the entry expands more than 200:1 (a decompression bomb?)"#
        ]],
    );
    // Small entries are not ratio-checked.
    check(
        from_zip(zip(&[("users.csv", &zeros[..1 << 20])])),
        expect![[r#"ok: users.csv (1048576)"#]],
    );
    let limits = Limits {
        max_total_bytes: 1000,
        ..Limits::default()
    };
    check(
        FileSet::from_zip_bytes(
            "drop.zip",
            zip(&[("a.csv", &zeros[..600]), ("b.csv", &zeros[..600])]),
            limits,
        ),
        expect![[r#"unsafe_archive b.csv the archive expands to more than 1000 bytes"#]],
    );
}

#[test]
fn zip_with_too_many_files_is_refused() {
    let names: Vec<String> = (0..65).map(|i| format!("f{i}.csv")).collect();
    let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    check(
        from_zip(zip(&files)),
        expect![[r#"unsafe_archive f64.csv the archive holds more than 64 files"#]],
    );
    check(
        from_zip(zip(&files[..64]))
            .map(|s| FileSet::from_memory(vec![(s.names().count().to_string(), vec![])])),
        expect![[r#"ok: 64 (0)"#]],
    );
}

#[test]
fn corrupt_zip_is_unreadable() {
    check(
        from_zip(b"PK\x03\x04 not really a zip".to_vec()),
        expect![[
            r#"unreadable_archive drop.zip not a readable ZIP archive: invalid Zip archive: Could not find EOCD"#
        ]],
    );
    // A flipped byte in the deflated body fails when the entry is read.
    let mut bytes = zip(&[(
        "users.csv",
        b"sourcedId,role\n1,student\n2,student\n3,teacher\n",
    )]);
    bytes[40] ^= 0xff;
    let set = from_zip(bytes).unwrap();
    let err = set.read("users.csv").unwrap_err();
    assert!(
        matches!(&err, SourceError::Invalid { issues } if issues[0].code == domain::IssueCode::UnreadableArchive),
        "{err}"
    );
}

#[test]
fn folders_and_zip_files_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("drop");
    std::fs::create_dir_all(root.join("export")).unwrap();
    std::fs::write(root.join("export/Users.csv"), b"a\n").unwrap();
    std::fs::write(root.join("export/.DS_Store"), b"junk").unwrap();
    let set = FileSet::open(&root).unwrap();
    check(
        Ok(FileSet::open(&root).unwrap()),
        expect![[r#"ok: Users.csv (2)"#]],
    );
    assert_eq!(set.find("users.csv"), None);
    assert_eq!(set.find_ignore_case("users.csv"), Some("Users.csv"));
    assert_eq!(set.origin(), "drop");

    let zip_path = dir.path().join("drop.zip");
    let mut f = std::fs::File::create(&zip_path).unwrap();
    f.write_all(&zip(&[("users.csv", b"a,b\n")])).unwrap();
    drop(f);
    check(FileSet::open(&zip_path), expect![[r#"ok: users.csv (4)"#]]);

    let missing = FileSet::open(dir.path().join("nope"));
    assert!(matches!(missing, Err(SourceError::Io { .. })));
    let set = FileSet::open(&zip_path).unwrap();
    check(
        set.read("nope.csv").map(|_| set),
        expect![[r#"missing_file nope.csv the file is not in the delivered set"#]],
    );
}
