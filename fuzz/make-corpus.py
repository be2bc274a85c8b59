#!/usr/bin/env python3
"""Writes the seed corpus under fuzz/corpus/<target>/ (run from anywhere; replaces seed-*).

Real inputs come from the synth crate through `rostersync generate --students 5` (set
ROSTERSYNC to a built binary, else `cargo run -q -p cli --` is used); bad inputs are made
here: BOM, CRLF, unterminated quote, invalid UTF-8, ZIP path traversal and friends.
Regression inputs (crash-*) found by fuzzing are kept as they are.

Multi-file targets use the format of fuzz/src/lib.rs: byte 0 = which files, byte 1 = flags,
then the bodies separated by NUL.
"""

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
ROOT = FUZZ.parent
CORPUS = FUZZ / "corpus"

OR_NAMES = ["manifest.csv", "orgs.csv", "academicSessions.csv", "courses.csv",
            "classes.csv", "users.csv", "enrollments.csv", "demographics.csv"]
CL_NAMES = ["schools.csv", "students.csv", "teachers.csv", "sections.csv",
            "enrollments.csv", "staff.csv"]


def generate(fmt, out, seed=1, students=5, dirty=False):
    exe = os.environ.get("ROSTERSYNC")
    cmd = [exe] if exe else ["cargo", "run", "-q", "-p", "cli", "--"]
    cmd += ["generate", "--students", str(students), "--seed", str(seed),
            "--format", fmt, "--out", str(out)]
    if dirty:
        cmd.append("--dirty")
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def read_dir(d):
    return {p.name: p.read_bytes() for p in Path(d).iterdir() if p.is_file()}


def pack(names, files, flags=0):
    """Multi-file input: mask of present names, flags, NUL-separated bodies in name order."""
    mask = 0
    bodies = []
    for i, n in enumerate(names):
        if n in files:
            mask |= 1 << i
            bodies.append(files[n].replace(b"\0", b""))
    return bytes([mask, flags]) + b"\0".join(bodies)


class Out:
    def __init__(self, target):
        self.dir = CORPUS / target
        self.dir.mkdir(parents=True, exist_ok=True)
        for p in self.dir.glob("seed-*"):
            p.unlink()

    def put(self, name, data):
        (self.dir / f"seed-{name}").write_bytes(data)


def mutate(files, name, f):
    out = dict(files)
    out[name] = f(out[name])
    return out


def every(files, f):
    return {n: f(b) for n, b in files.items()}


BOM = b"\xef\xbb\xbf"


def crlf(b):
    return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def unterminated(b):
    lines = b.split(b"\n")
    if len(lines) > 1:
        lines[1] = lines[1] + b',"never closed'
    return b"\n".join(lines)


def bad_utf8(b):
    lines = b.split(b"\n")
    if len(lines) > 1:
        lines[1] = lines[1].replace(b",", b",\xff\xfe", 1)
    return b"\n".join(lines)


def header_only(b):
    return b.split(b"\n")[0] + b"\n"


def csv_variants(out, names, files, key_file):
    out.put("bom", pack(names, every(files, lambda b: BOM + b)))
    out.put("crlf", pack(names, every(files, crlf)))
    out.put("unterminated-quote", pack(names, mutate(files, key_file, unterminated)))
    out.put("invalid-utf8", pack(names, mutate(files, key_file, bad_utf8)))
    out.put("headers-only", pack(names, every(files, header_only)))
    out.put("empty-files", pack(names, {n: b"" for n in files}))
    out.put("nothing", b"\x00\x00")


def oneroster_csv(tmp):
    out = Out("oneroster_csv")
    full = read_dir(tmp / "oneroster-csv")
    out.put("generated", pack(OR_NAMES, full))
    out.put("generated-dirty", pack(OR_NAMES, read_dir(tmp / "oneroster-csv-dirty")))
    out.put("in-folder", pack(OR_NAMES, full, flags=1))
    cut = {n: full[n] for n in ["users.csv", "classes.csv", "enrollments.csv"]}
    out.put("cut-down", pack(OR_NAMES, cut))
    # Delta: users and enrollments as deltas with deletions.
    manifest = full["manifest.csv"].replace(b"file.users,bulk", b"file.users,delta").replace(
        b"file.enrollments,bulk", b"file.enrollments,delta")
    delta = dict(full, **{"manifest.csv": manifest})
    for n in ["users.csv", "enrollments.csv"]:
        lines = delta[n].split(b"\n")
        header = lines[0].split(b",")
        if b"status" in header and len(lines) > 2:
            i = header.index(b"status")
            cells = lines[1].split(b",")
            if i < len(cells):
                cells[i] = b"tobedeleted"
                lines[1] = b",".join(cells)
        delta[n] = b"\n".join(lines)
    out.put("delta", pack(OR_NAMES, delta))
    csv_variants(out, OR_NAMES, full, "users.csv")
    out.put("manifest-only", pack(OR_NAMES, {"manifest.csv": full["manifest.csv"]}))


def clever_csv(tmp):
    out = Out("clever_csv")
    full = read_dir(tmp / "clever-csv")
    out.put("generated", pack(CL_NAMES, full))
    out.put("generated-dirty", pack(CL_NAMES, read_dir(tmp / "clever-csv-dirty")))
    out.put("in-folder", pack(CL_NAMES, full, flags=1))
    out.put("name-case", pack(CL_NAMES, full, flags=2))
    out.put("no-staff", pack(CL_NAMES, {n: b for n, b in full.items() if n != "staff.csv"}))
    csv_variants(out, CL_NAMES, full, "students.csv")


def zip_bytes(entries, compression=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, body in entries:
            if isinstance(name, zipfile.ZipInfo):
                z.writestr(name, body)
            else:
                z.writestr(name, body)
    return buf.getvalue()


def zip_fileset(tmp):
    out = Out("zip_fileset")
    out.put("generated.zip", (tmp / "oneroster-csv-zip" / "oneroster.zip").read_bytes())
    small = read_dir(tmp / "oneroster-csv")
    out.put("export-folder.zip", zip_bytes([(f"export/{n}", b) for n, b in sorted(small.items())]))
    out.put("stored.zip", zip_bytes(sorted(small.items()), zipfile.ZIP_STORED))
    clever = read_dir(tmp / "clever-csv")
    out.put("clever.zip", zip_bytes(sorted(clever.items())))
    out.put("traversal.zip", zip_bytes([("../users.csv", b"x"), ("manifest.csv", b"y")]))
    out.put("traversal-backslash.zip", zip_bytes([("a\\..\\..\\users.csv", b"x")]))
    out.put("absolute.zip", zip_bytes([("/etc/users.csv", b"x")]))
    out.put("drive-letter.zip", zip_bytes([("C:users.csv", b"x")]))
    out.put("duplicate.zip", zip_bytes([("users.csv", b"a"), ("users.csv", b"b")]))
    out.put("junk.zip", zip_bytes([("__MACOSX/._users.csv", b"x"), (".DS_Store", b"x"),
                                   ("manifest.csv", small["manifest.csv"])]))
    out.put("dirs.zip", zip_bytes([("export/", b""), ("export/sub/", b""),
                                   ("export/users.csv", small["users.csv"])]))
    link = zipfile.ZipInfo("users.csv")
    link.create_system = 3
    link.external_attr = (0o120777 << 16)
    out.put("symlink.zip", zip_bytes([(link, b"/etc/passwd")]))
    out.put("empty.zip", zip_bytes([]))
    gen = (tmp / "oneroster-csv-zip" / "oneroster.zip").read_bytes()
    out.put("truncated.zip", gen[: len(gen) // 2])
    # A stored entry whose headers declare 4 bytes but whose data is longer.
    lying = bytearray(zip_bytes([("users.csv", b"sourcedId\nabc\n")], zipfile.ZIP_STORED))
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):
        at = lying.find(sig)
        off = 22 if sig == b"PK\x03\x04" else 24
        struct.pack_into("<I", lying, at + off, 4)
    out.put("lying-size.zip", bytes(lying))
    out.put("bomb-ish.zip", zip_bytes([("users.csv", b"a" * 300_000)]))
    out.put("not-a-zip", b"sourcedId,status\n1,active\n")


def clever_json(tmp):
    out = Out("clever_json")
    out.put("users-fixture.json", (tmp / "clever-json-1" / "users.json").read_bytes())
    out.put("users-5.json", (tmp / "clever-json" / "users.json").read_bytes())
    out.put("users-dirty.json", (tmp / "clever-json-dirty" / "users.json").read_bytes())
    for n in ["schools", "sections", "terms", "courses", "districts"]:
        out.put(f"{n}.json", (tmp / "clever-json" / f"{n}.json").read_bytes())
    out.put("empty-data.json", b'{"data":[]}')
    out.put("null-data.json", b'{"data":null,"links":null}')
    out.put("empty-record.json", b'{"data":[{"data":{}}]}')
    out.put("wrong-shape.json", b'{"data":[{"data":{"id":5,"roles":"student"}}]}')
    out.put("bom.json", BOM + b'{"data":[]}')
    out.put("not-json", b'{"data":[{"data":')
    out.put("invalid-utf8.json", b'{"data":[{"data":{"id":"\xff\xfe"}}]}')


def csv_rows(b):
    import csv
    text = b.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def ref(kind, i):
    return {"sourcedId": i, "type": kind, "href": f"/{kind}s/{i}"} if i else None


def oneroster_json(tmp):
    out = Out("oneroster_json")
    f = read_dir(tmp / "oneroster-csv")

    def split(v):
        return [x for x in (v or "").split(",") if x]

    orgs = [{"sourcedId": r["sourcedId"], "status": "active", "name": r["name"],
             "type": r["type"], "identifier": r.get("identifier") or None,
             "parent": ref("org", r.get("parentSourcedId"))} for r in csv_rows(f["orgs.csv"])]
    sessions = [{"sourcedId": r["sourcedId"], "status": "active", "title": r["title"],
                 "type": r["type"], "startDate": r["startDate"], "endDate": r["endDate"],
                 "schoolYear": r["schoolYear"]} for r in csv_rows(f["academicSessions.csv"])]
    courses = [{"sourcedId": r["sourcedId"], "status": "active", "title": r["title"],
                "courseCode": r.get("courseCode"), "grades": split(r.get("grades")),
                "org": ref("org", r.get("orgSourcedId"))} for r in csv_rows(f["courses.csv"])]
    classes = [{"sourcedId": r["sourcedId"], "status": "active", "title": r["title"],
                "classCode": r.get("classCode"), "classType": r.get("classType"),
                "grades": r.get("grades") or "", "periods": r.get("periods") or "",
                "course": ref("course", r.get("courseSourcedId")),
                "school": ref("org", r.get("schoolSourcedId")),
                "terms": [ref("academicSession", t) for t in split(r.get("termSourcedIds"))]}
               for r in csv_rows(f["classes.csv"])]
    users = [{"sourcedId": r["sourcedId"], "status": "active",
              "enabledUser": r.get("enabledUser") or "true", "username": r.get("username"),
              "givenName": r.get("givenName"), "familyName": r.get("familyName"),
              "role": r.get("role"), "identifier": r.get("identifier") or None,
              "email": r.get("email") or None, "sms": r.get("sms") or None,
              "userIds": [{"type": "SIS", "identifier": r["sourcedId"]}],
              "agents": [ref("user", a) for a in split(r.get("agentSourcedIds"))],
              "orgs": [ref("org", o) for o in split(r.get("orgSourcedIds"))],
              "grades": split(r.get("grades"))} for r in csv_rows(f["users.csv"])]
    enrollments = [{"sourcedId": r["sourcedId"], "status": "active", "role": r.get("role"),
                    "primary": r.get("primary") or "false",
                    "user": ref("user", r.get("userSourcedId")),
                    "class": ref("class", r.get("classSourcedId")),
                    "school": ref("org", r.get("schoolSourcedId"))}
                   for r in csv_rows(f["enrollments.csv"])]
    demographics = [{"sourcedId": r["sourcedId"], "status": "active",
                     "birthDate": r.get("birthDate"), "sex": r.get("sex")}
                    for r in csv_rows(f["demographics.csv"])]
    doc = {"orgs": orgs, "academicSessions": sessions, "courses": courses, "classes": classes,
           "users": users, "enrollments": enrollments, "demographics": demographics}
    out.put("all.json", json.dumps(doc).encode())
    for k, v in doc.items():
        out.put(f"{k}.json", json.dumps({k: v}).encode())
    out.put("nulls.json", json.dumps({k: None for k in doc}).encode())
    out.put("empty.json", json.dumps({k: [] for k in doc}).encode())
    out.put("variants.json", json.dumps({
        "users": [{"sourcedId": "u1", "enabledUser": True, "role": "student", "grades": "03",
                   "orgs": None, "agents": None},
                  {"sourcedId": " ", "role": "teacher"}, {}],
        "classes": [{"sourcedId": "c1", "periods": ["1", None], "subjects": "math, art"}],
        "enrollments": [{"sourcedId": "e1", "primary": "yes", "role": "student",
                         "user": {"sourcedId": "u1"}, "class": {"sourcedId": "c1"}}],
        "orgs": [{"sourcedId": "s1", "type": "school", "children": None}],
    }).encode())
    out.put("bom.json", BOM + b'{"users":[]}')
    out.put("not-json", b'{"users":[{"sourcedId":')
    out.put("wrong-shape.json", b'{"users":[5,"x",{"sourcedId":1}],"orgs":{}}')


TOKENS = {"none": 0, "d1-admin": 1, "d1-read": 2, "d2-admin": 3, "bad": 4, "own": 5}


def request(tok, line, headers=(), body=b""):
    text = line + "\n" + "".join(h + "\n" for h in headers) + "\n"
    return bytes([TOKENS[tok]]) + text.encode() + body


def api_request(_tmp):
    out = Out("api_request")
    J = ["content-type: application/json"]
    settings = json.dumps(default_settings()).encode()
    reqs = {
        "health": request("none", "GET /health"),
        "openapi": request("none", "GET /openapi.json"),
        "runs": request("d1-read", "GET /v1/districts/d1/runs?limit=2"),
        "runs-cursor": request("d1-read", "GET /v1/districts/d1/runs?limit=1&cursor=cjI"),
        "runs-bad-limit": request("d1-read", "GET /v1/districts/d1/runs?limit=abc"),
        "run": request("d1-read", "GET /v1/districts/d1/runs/r2"),
        "run-held": request("d1-read", "GET /v1/districts/d1/runs/r3"),
        "changes": request("d1-read", "GET /v1/districts/d1/runs/r2/changes?entity=students&action=created&school=s2&limit=1"),
        "changes-csv": request("d1-read", "GET /v1/districts/d1/runs/r2/changes", ["accept: text/csv"]),
        "start-run": request("d1-admin", "POST /v1/districts/d1/runs", J, b'{"dry_run":true}'),
        "start-run-bad-json": request("d1-admin", "POST /v1/districts/d1/runs", J, b'{"dry_run":'),
        "approve": request("d1-admin", "POST /v1/districts/d1/runs/r3/approve"),
        "dismiss": request("d1-admin", "POST /v1/districts/d1/runs/r3/dismiss"),
        "approve-read-only": request("d1-read", "POST /v1/districts/d1/runs/r3/approve"),
        "settings": request("d1-read", "GET /v1/districts/d1/settings"),
        "put-settings": request("d1-admin", "PUT /v1/districts/d1/settings", J, settings),
        "put-settings-bad": request("d1-admin", "PUT /v1/districts/d1/settings", J,
                                    b'{"deletion_threshold_pct":200,"schedule":{"start_time":"25:00","timezone":"x","enabled":true}}'),
        "schools": request("d1-read", "GET /v1/districts/d1/schools"),
        "suggestions": request("d1-read", "GET /v1/districts/d1/schools/suggestions"),
        "match-school": request("d1-admin", "PUT /v1/districts/d1/schools/s1/external-ids/feed-lincoln"),
        "classrooms": request("d1-read", "GET /v1/districts/d1/classrooms?school=s1&limit=5"),
        "link-classroom": request("d1-admin", "PUT /v1/districts/d1/classrooms/c1/sections/sec-1"),
        "archive-unsynced": request("d1-admin", "POST /v1/districts/d1/students/archive-unsynced", J,
                                    b'{"dry_run":true}'),
        "duplicates": request("d1-read", "GET /v1/districts/d1/students/duplicates"),
        "merge": request("d1-admin", "POST /v1/districts/d1/students/merge", J,
                         b'{"survivor_id":"p1","duplicate_id":"p2"}'),
        "unmerge": request("d1-admin", "POST /v1/districts/d1/students/merges/m1/unmerge"),
        "other-district": request("d2-admin", "GET /v1/districts/d1/runs"),
        "no-token": request("none", "GET /v1/districts/d1/runs"),
        "own-token": request("own", "GET /v1/districts/d2/runs",
                             ["authorization: bearer  rs_fuzz-d2-admin "]),
        "bad-token": request("bad", "GET /v1/districts/d1/runs"),
        "percent-path": request("d1-read", "GET /v1/districts/d%31/runs/%ff%00"),
        "unknown-route": request("d1-read", "DELETE /v1/districts/d1/runs"),
        "long-query": request("d1-read", "GET /v1/districts/d1/runs/r2/changes?" + "&".join(["entity=x"] * 50)),
    }
    for name, data in reqs.items():
        out.put(name, data)


def default_settings():
    return {
        "schedule": {"start_time": "02:00", "timezone": "UTC", "enabled": True},
        "deletion_threshold_pct": 10, "student_id_source": "sis_id",
        "archived_students": "unarchive_sync_archived", "manage_guardians": True,
        "unarchive_classrooms": False, "update_active_users": False, "update_language": True,
        "phone_column": "sms", "contact_types": [], "relationships": [], "phone_types": [],
        "school_scope": None,
        "entities": {"classrooms": True, "students": True, "staff": True, "guardians": True,
                     "enrollments": True},
    }


def settings(_tmp):
    out = Out("settings")
    out.put("set-all", b"\n".join([
        b"schedule.start_time=23:59", b"schedule.timezone=America/Chicago",
        b"schedule.enabled=off", b"deletion_threshold_pct=100",
        b"student_id_source=student_number", b"archived_students=keep_archived",
        b"manage_guardians=no", b"unarchive_classrooms=1", b"update_active_users=true",
        b"update_language=false", b"phone_column=phone",
        b"contact_types=Parent/Guardian, Emergency", b"relationships=Aunt/Uncle,Parent",
        b"phone_types=Cell,Home", b"school_scope=matched", b"entities.classrooms=false",
        b"entities.students=yes", b"entities.staff=0", b"entities.guardians=on",
        b"entities.enrollments=true"]))
    out.put("set-bad", b"\n".join([
        b"schedule.start_time=24:00", b"schedule.start_time=+1:00", b"schedule.timezone=Europe//X",
        b"deletion_threshold_pct=101", b"deletion_threshold_pct=-1", b"nope=1",
        b"contact_types=Parent,Nope", b"school_scope=", b"\xff=\xfe"]))
    out.put("default.json", json.dumps(default_settings()).encode())
    s = default_settings()
    s.update({"contact_types": ["Parent/Guardian"], "relationships": ["Grandparent"],
              "phone_types": ["Cell"], "school_scope": "all"})
    out.put("full.json", json.dumps(s).encode())
    out.put("partial.json", b'{"deletion_threshold_pct": 250, "schedule": {"start_time": "9:00"}}')
    out.put("bad.json", b'{"schedule": {"timezone": "UTC/..", "enabled": "yes"}}')


def directory_import(_tmp):
    out = Out("directory_import")
    person = {"id": "p1", "kind": "student", "first_name": "Ada", "last_name": "Lovelace",
              "grade": "3", "dob": "2015-04-01", "student_number": "1001",
              "school_ids": ["s1"], "email": "ada@example.org"}
    export = {
        "schools": [{"id": "s1", "name": "Lincoln Elementary", "external_ids": ["feed-1"]}],
        "classrooms": [{"id": "c1", "school_id": "s1", "name": "Room 12", "grade": "3"}],
        "students": [person, dict(person, id="p2", first_name="Ada")],
        "staff": [{"id": "t1", "kind": "staff", "first_name": "Grace", "last_name": "Hopper",
                   "school_ids": ["s1"], "staff_roles": ["teacher"]}],
        "guardians": [{"id": "g1", "kind": "guardian", "first_name": "Anne",
                       "last_name": "Byron", "sms": "+15555550123"}],
        "enrollments": [{"classroom_id": "c1", "person_id": "p1", "role": "student",
                         "primary": True},
                        {"classroom_id": "c1", "person_id": "t1", "role": "teacher"}],
        "guardian_links": [{"student_id": "p1", "guardian_id": "g1",
                            "relationship": "Parent", "contact_type": "Parent/Guardian"}],
        "linked_records": [{"id": "l1", "kind": "backpack", "student_id": "p1",
                            "data": {"note": "x"}}],
    }
    out.put("full.json", json.dumps(export, indent=1).encode())
    out.put("empty.json", b"{}")
    out.put("dangling.json", json.dumps({"enrollments": [
        {"classroom_id": "c9", "person_id": "p1", "role": "student"}]}).encode())
    out.put("duplicate-ids.json", json.dumps({"schools": [
        {"id": "s1", "name": "A"}, {"id": "s1", "name": "B"}]}).encode())
    out.put("wrong-kind.json", json.dumps({"staff": [person]}).encode())
    out.put("unknown-field.json", b'{"teachers": []}')
    out.put("not-json", b'{"schools": [{"id": ')


def main():
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for fmt in ["oneroster-csv", "oneroster-csv-zip", "clever-csv", "clever-json"]:
            generate(fmt, tmp / fmt)
            generate(fmt, tmp / f"{fmt}-dirty", seed=2, dirty=True)
        generate("clever-json", tmp / "clever-json-1", students=1)
        # The clever_json target's fixed files are this one-student district.
        fixtures = FUZZ / "fixtures" / "clever-json"
        fixtures.mkdir(parents=True, exist_ok=True)
        for n in ["districts", "schools", "sections", "terms", "courses"]:
            shutil.copy(tmp / "clever-json-1" / f"{n}.json", fixtures / f"{n}.json")
        for make in [oneroster_csv, clever_csv, zip_fileset, clever_json, oneroster_json,
                     api_request, settings, directory_import]:
            make(tmp)
    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    print(f"corpus: {sum(1 for p in CORPUS.rglob('*') if p.is_file())} files, {total} bytes",
          file=sys.stderr)


if __name__ == "__main__":
    main()
