//! Pulls against a real OpenSSH sshd (internal-sftp on a loopback port) that each test starts
//! itself, so it can stop the server mid-transfer. Runs only with `ROSTERSYNC_SFTP_TESTS=1`
//! (CI sets it; `.ci/services.sh` installs openssh-server).

use app::drops::{DropOutcome, ingest_drop};
use app::runs::{RunError, Started};
use app::secrets::{MemorySecrets, Secret};
use domain::EntityKind;
use domain::district::SourceConfig;
use domain::report::RunStatus;
use sftp::{Credential, PullOutcome, SftpConfig, SftpError, pull};
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use store::ObjectStore;
use store::memory::{MemoryDirectory, MemoryObjectStore, MemoryQueue, MemoryRuns};
use sync::pipeline::Ports;

const D: &str = "d1";

fn enabled(test: &str) -> bool {
    if std::env::var("ROSTERSYNC_SFTP_TESTS").as_deref() == Ok("1") {
        return true;
    }
    eprintln!(
        "{test}: skipped (set ROSTERSYNC_SFTP_TESTS=1 to run the sshd tests; needs /usr/sbin/sshd)"
    );
    false
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private sshd: host and client keys, config and data folder in a temp dir.
struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    password_user: Option<String>,
}

impl Sshd {
    fn start() -> Self {
        Self::start_with(None)
    }

    fn start_with(password_user: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for k in ["hostkey", "client", "otherkey"] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", ""])
                .arg("-f")
                .arg(p.join(k)));
        }
        std::fs::copy(p.join("client.pub"), p.join("authorized_keys")).unwrap();
        std::fs::create_dir_all(p.join("data/inbox")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data = p.join("data");
        let cfg = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {p}/hostkey\nPidFile {p}/sshd.pid\nAuthorizedKeysFile {p}/authorized_keys\n\
             StrictModes no\nUsePAM no\nPasswordAuthentication {pw}\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
             AllowTcpForwarding no\nX11Forwarding no\nSubsystem sftp internal-sftp\nForceCommand internal-sftp -d {data}\n",
            p = p.display(),
            pw = if password_user.is_some() { "yes" } else { "no" },
            data = data.display(),
        );
        std::fs::write(p.join("sshd_config"), cfg).unwrap();
        if password_user.is_some() {
            // The password user reads the data folder as itself.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut s = Self {
            dir,
            port,
            child: None,
            password_user: password_user.map(str::to_string),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all("/run/sshd").ok();
        let p = self.dir.path();
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-f")
            .arg(p.join("sshd_config"))
            .arg("-E")
            .arg(p.join("sshd.log"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "sshd did not start; log: {}",
            std::fs::read_to_string(p.join("sshd.log")).unwrap_or_default()
        );
    }

    /// Kills the listener and every session process it forked (by pid).
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pids = descendants(c.id());
            for pid in pids.iter().rev() {
                Command::new("kill")
                    .arg("-9")
                    .arg(pid.to_string())
                    .stderr(Stdio::null())
                    .status()
                    .ok();
            }
            c.kill().ok();
            c.wait().ok();
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn fingerprint(&self, key: &str) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.dir.path().join(format!("{key}.pub")))
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    }

    fn config(&self) -> SftpConfig {
        let mut c = SftpConfig::new(
            "127.0.0.1",
            self.port,
            whoami(),
            self.fingerprint("hostkey"),
            "inbox",
        );
        c.settle = Duration::from_millis(100);
        c.io_timeout = Duration::from_secs(5);
        c.connect_timeout = Duration::from_secs(5);
        c
    }

    fn key(&self) -> Credential {
        Credential::Key {
            private_key: std::fs::read_to_string(self.dir.path().join("client")).unwrap(),
            passphrase: None,
        }
    }

    fn source(&self) -> SourceConfig {
        let c = self.config();
        SourceConfig::Sftp {
            host: c.host,
            port: c.port,
            user: c.user,
            host_key: c.host_key,
            path: c.path,
            format: None,
            auth: "key".into(),
            secret_ref: app::admin::secret_name(D),
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
        if let Some(u) = &self.password_user {
            Command::new("userdel")
                .arg(u)
                .stderr(Stdio::null())
                .status()
                .ok();
        }
    }
}

/// Every process whose parent chain leads to `root` (from /proc), parents first.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some(after) = stat.rsplit_once(')').map(|(_, a)| a.to_string()) else {
            continue;
        };
        if let Some(ppid) = after
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<u32>().ok())
        {
            parent_of.push((pid, ppid));
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

fn whoami() -> String {
    String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string()
}

fn is_root() -> bool {
    whoami() == "root"
}

// --- fixtures ---------------------------------------------------------------------------------

const MANIFEST: &str = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\nfile.orgs,bulk\nfile.users,bulk\nfile.classes,bulk\nfile.enrollments,bulk\nfile.academicSessions,absent\nfile.courses,absent\nfile.demographics,absent\n";
const ORGS: &str = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\nd1,,,Springfield District,district,,\ns1,,,Springfield Elementary,school,0042,d1\n";
const USERS: &str = "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n\
u1,,,true,s1,student,bart,,Bart,Simpson,J,1001,bart@example.org,,,,03,\n\
u3,,,true,s1,student,lisa,,Lisa,Simpson,,1002,lisa@example.org,,,,02,\n\
u2,,,true,s1,teacher,edna,,Edna,Krabappel,,T7,edna@example.org,555-123-4567,,,,\n";
const CLASSES: &str = "sourcedId,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,periods\nk1,Math 3A,03,,M3A,scheduled,Room 1,s1,,Math,1\n";
const ENROLLMENTS: &str = "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate\ne1,k1,s1,u1,student,false,,\ne2,k1,s1,u2,teacher,true,,\ne3,k1,s1,u3,student,false,,\n";
const GUARDIANS: &str = "Student_ID,Guardian_ID,First_Name,Last_Name,Email,Mobile,Home_Phone,Language,Relationship\n\
u1,g1,Marge,Simpson,marge@example.org,(555) 222-3333,555-444-5555,en,Parent\n\
u3,g1,Marge,Simpson,marge@example.org,(555) 222-3333,555-444-5555,en,Parent\n";
const GUARDIANS_2: &str = "student_id,guardian_id,first_name,last_name,email,mobile,home_phone,language,relationship\n\
u1,g2,Homer,Simpson,homer@example.org,555-777-8888,,en,Parent\n";

fn oneroster(manifest: bool) -> Vec<(&'static str, Vec<u8>)> {
    let mut v = vec![
        ("orgs.csv", ORGS.as_bytes().to_vec()),
        ("users.csv", USERS.as_bytes().to_vec()),
        ("classes.csv", CLASSES.as_bytes().to_vec()),
        ("enrollments.csv", ENROLLMENTS.as_bytes().to_vec()),
    ];
    if manifest {
        v.push(("manifest.csv", MANIFEST.as_bytes().to_vec()));
    }
    v
}

fn write_files(dir: &Path, files: &[(&str, Vec<u8>)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (n, b) in files {
        std::fs::write(dir.join(n), b).unwrap();
    }
}

fn zip_of(entries: &[(&str, Vec<u8>)], method: zip::CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    for (n, b) in entries {
        w.start_file(*n, opts).unwrap();
        w.write_all(b).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Incompressible filler (xorshift).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn memory_ports() -> Ports {
    Ports {
        objects: Arc::new(MemoryObjectStore::new()),
        queue: Arc::new(MemoryQueue::new(5)),
        directory: Arc::new(MemoryDirectory::new()),
        runs: Arc::new(MemoryRuns::new()),
        clock: Arc::new(store::SystemClock),
    }
}

async fn connected(ports: &Ports, s: &Sshd) -> MemorySecrets {
    let secrets = MemorySecrets::default();
    let key = std::fs::read_to_string(s.dir.path().join("client")).unwrap();
    app::admin::connect(
        ports.runs.as_ref(),
        &secrets,
        D,
        s.source(),
        Some(Secret::new(key)),
    )
    .await
    .unwrap();
    secrets
}

async fn markers(objects: &dyn ObjectStore, suffix: &str) -> Vec<String> {
    objects
        .list("districts/d1/drops/")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .filter(|k| k.ends_with(suffix))
        .collect()
}

fn fetched(o: PullOutcome) -> sftp::FetchedDrop {
    match o {
        PullOutcome::Fetched(d) => d,
        other => panic!("expected a fetched drop, got {other:?}"),
    }
}

// --- tests ------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn key_login_fetches_a_drop_once_and_ingests_it_once() {
    if !enabled("key_login") {
        return;
    }
    let s = Sshd::start();
    write_files(&s.data().join("inbox/2026-01-05"), &oneroster(true));
    let ports = memory_ports();
    let secrets = connected(&ports, &s).await;
    let objects = ports.objects.clone();

    let drop = fetched(
        pull(&s.config(), &s.key(), objects.clone(), D)
            .await
            .unwrap(),
    );
    assert_eq!(drop.manifest.kind, sftp::SetKind::OneRosterCsv);
    assert_eq!(drop.manifest.files.len(), 5);
    assert!(drop.manifest.files.iter().all(|f| f.sha256.len() == 64));
    let ledger =
        String::from_utf8(objects.get("districts/d1/sftp/ledger.json").await.unwrap()).unwrap();
    assert!(ledger.contains("inbox/2026-01-05/users.csv"), "{ledger}");

    // The same files are not fetched again.
    match pull(&s.config(), &s.key(), objects.clone(), D)
        .await
        .unwrap()
    {
        PullOutcome::NothingReady { reason } => {
            assert!(reason.contains("no new complete drop"), "{reason}")
        }
        other => panic!("{other:?}"),
    }

    // Ingested exactly once, however often the event is delivered.
    match ingest_drop(&ports, &secrets, D, &drop.prefix)
        .await
        .unwrap()
    {
        DropOutcome::Started(Started::Staged(run)) => {
            let report = sync::pipeline::run_local(&ports, D, &run.run_id)
                .await
                .unwrap();
            assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
            assert_eq!(report.totals.0[&EntityKind::Students].created, 2);
        }
        other => panic!("{other:?}"),
    }
    match ingest_drop(&ports, &secrets, D, &drop.prefix)
        .await
        .unwrap()
    {
        DropOutcome::Duplicate { drop_id, .. } => assert_eq!(drop_id, drop.drop_id),
        other => panic!("{other:?}"),
    }
    assert_eq!(ports.runs.list_runs(D, None, 10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn password_login() {
    if !enabled("password_login") {
        return;
    }
    if !is_root() {
        eprintln!(
            "password_login: skipped (creating a local user with a known password needs root)"
        );
        return;
    }
    let user = format!("rsftp{}", std::process::id() % 100_000);
    Command::new("userdel")
        .arg(&user)
        .stderr(Stdio::null())
        .status()
        .ok();
    run(Command::new("useradd").args(["-M", "-s", "/bin/sh", &user]));
    let mut chpasswd = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    chpasswd
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{user}:pw-{user}-ok\n").as_bytes())
        .unwrap();
    assert!(chpasswd.wait().unwrap().success());
    let s = Sshd::start_with(Some(&user));
    let mut files = oneroster(true);
    files.push(("guardians.csv", GUARDIANS.as_bytes().to_vec()));
    write_files(&s.data().join("inbox"), &files);
    for e in std::fs::read_dir(s.data().join("inbox")).unwrap().flatten() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let mut cfg = s.config();
    cfg.user = user.clone();
    let objects: Arc<dyn ObjectStore> = Arc::new(MemoryObjectStore::new());

    let wrong = pull(
        &cfg,
        &Credential::Password("wrong".into()),
        objects.clone(),
        D,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            wrong,
            SftpError::Auth {
                method: "password",
                ..
            }
        ),
        "{wrong}"
    );
    assert!(!wrong.to_string().contains("wrong\""), "{wrong}");

    let drop = fetched(
        pull(
            &cfg,
            &Credential::Password(format!("pw-{user}-ok")),
            objects.clone(),
            D,
        )
        .await
        .unwrap(),
    );
    assert_eq!(drop.manifest.files.len(), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_host_key_is_refused_before_login() {
    if !enabled("wrong_host_key") {
        return;
    }
    let s = Sshd::start();
    write_files(&s.data().join("inbox"), &oneroster(true));
    let mut cfg = s.config();
    let other = s.fingerprint("otherkey");
    cfg.host_key = other.clone();
    let objects: Arc<dyn ObjectStore> = Arc::new(MemoryObjectStore::new());
    let e = pull(&cfg, &s.key(), objects.clone(), D).await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, SftpError::HostKeyMismatch { .. }), "{msg}");
    assert!(
        msg.contains(&other) && msg.contains(&s.fingerprint("hostkey")),
        "{msg}"
    );
    assert!(e.is_credentials() && !e.is_transient());
    assert!(objects.list("").await.unwrap().is_empty());
    // sshd saw no authentication attempt at all.
    let log = std::fs::read_to_string(s.dir.path().join("sshd.log")).unwrap_or_default();
    assert!(!log.contains("Accepted publickey"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn partial_uploads_wait_until_complete() {
    if !enabled("partial_uploads") {
        return;
    }
    let s = Sshd::start();
    let objects: Arc<dyn ObjectStore> = Arc::new(MemoryObjectStore::new());
    let inbox = s.data().join("inbox");

    // A OneRoster set without manifest and without classes/enrollments: waits.
    write_files(&inbox, &[("users.csv", USERS.as_bytes().to_vec())]);
    match pull(&s.config(), &s.key(), objects.clone(), D)
        .await
        .unwrap()
    {
        PullOutcome::NothingReady { reason } => assert!(
            reason.contains("lacks classes.csv, enrollments.csv"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    // An upload in progress (WinSCP's .filepart): waits.
    write_files(
        &inbox,
        &[
            ("classes.csv", CLASSES.as_bytes().to_vec()),
            ("enrollments.csv.filepart", b"x".to_vec()),
        ],
    );
    match pull(&s.config(), &s.key(), objects.clone(), D)
        .await
        .unwrap()
    {
        PullOutcome::NothingReady { reason } => {
            assert!(reason.contains("upload is in progress"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    std::fs::rename(
        inbox.join("enrollments.csv.filepart"),
        inbox.join("enrollments.csv"),
    )
    .unwrap();
    std::fs::write(inbox.join("enrollments.csv"), ENROLLMENTS).unwrap();

    // All files present but one still growing between the two listings: waits.
    let stop = Arc::new(AtomicBool::new(false));
    let grower = {
        let (stop, path) = (stop.clone(), inbox.join("users.csv"));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .unwrap();
                writeln!(f, "x{},,,true,s1,student,x,,X,Y,,,,,,,03,", rand_suffix()).unwrap();
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let mut cfg = s.config();
    cfg.settle = Duration::from_millis(300);
    let outcome = pull(&cfg, &s.key(), objects.clone(), D).await.unwrap();
    stop.store(true, Ordering::Relaxed);
    grower.join().unwrap();
    match outcome {
        PullOutcome::NothingReady { reason } => {
            assert!(reason.contains("still changing"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(markers(objects.as_ref(), "_complete.json").await.is_empty());

    // Stable now: fetched.
    let drop = fetched(
        pull(&s.config(), &s.key(), objects.clone(), D)
            .await
            .unwrap(),
    );
    assert_eq!(
        drop.manifest
            .files
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["classes.csv", "enrollments.csv", "users.csv"]
    );
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[tokio::test(flavor = "multi_thread")]
async fn server_killed_mid_transfer_stages_nothing_and_the_next_pull_succeeds() {
    if !enabled("killed_mid_transfer") {
        return;
    }
    let mut s = Sshd::start();
    let mut entries = oneroster(true);
    entries.push(("padding.bin", noise(24 << 20)));
    std::fs::write(
        s.data().join("inbox/export.zip"),
        zip_of(&entries, zip::CompressionMethod::Stored),
    )
    .unwrap();
    let ports = memory_ports();
    let secrets = connected(&ports, &s).await;

    let killed = Arc::new(AtomicBool::new(false));
    let pid = s.child.as_ref().unwrap().id();
    let mut cfg = s.config();
    {
        let killed = killed.clone();
        cfg.progress = Some(Arc::new(move |_name: &str, read: u64| {
            if read > (1 << 20) && !killed.swap(true, Ordering::SeqCst) {
                for p in descendants(pid).iter().rev() {
                    Command::new("kill")
                        .arg("-9")
                        .arg(p.to_string())
                        .stderr(Stdio::null())
                        .status()
                        .ok();
                }
            }
        }));
    }
    let e = pull(&cfg, &s.key(), ports.objects.clone(), D)
        .await
        .unwrap_err();
    assert!(killed.load(Ordering::SeqCst));
    assert!(e.is_transient(), "{e}");
    assert!(
        markers(ports.objects.as_ref(), "_complete.json")
            .await
            .is_empty()
    );
    assert!(
        ports
            .objects
            .list("districts/d1/")
            .await
            .unwrap()
            .is_empty()
    );
    // Nothing to ingest.
    assert!(
        app::drops::next_drop(ports.objects.as_ref(), D)
            .await
            .unwrap()
            .is_none()
    );

    // The server comes back: the next run fetches the drop and syncs it.
    s.kill();
    s.spawn();
    let report = app::runs::sync_once(&ports, &secrets, D, false)
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    assert_eq!(
        markers(ports.objects.as_ref(), "_complete.json")
            .await
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_and_oversized_zips_are_refused() {
    if !enabled("hostile_zips") {
        return;
    }
    let s = Sshd::start();
    let ports = memory_ports();
    let secrets = connected(&ports, &s).await;
    let inbox = s.data().join("inbox");

    // Path traversal.
    let mut evil = oneroster(true);
    evil.push(("../../etc/cron.d/evil.csv", b"x".to_vec()));
    std::fs::write(
        inbox.join("a-traversal.zip"),
        zip_of(&evil, zip::CompressionMethod::Deflated),
    )
    .unwrap();
    let drop = fetched(
        pull(&s.config(), &s.key(), ports.objects.clone(), D)
            .await
            .unwrap(),
    );
    let report = match ingest_drop(&ports, &secrets, D, &drop.prefix)
        .await
        .unwrap()
    {
        DropOutcome::Started(Started::Ended(r)) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(report.status, RunStatus::Failed);
    let msg = serde_json::to_string(&report.errors).unwrap();
    assert!(msg.contains("climbs out of the archive"), "{msg}");

    // A decompression bomb (64 MiB of zeros).
    let mut bomb = oneroster(true);
    bomb.push(("zeros.csv", vec![0u8; 64 << 20]));
    std::fs::write(
        inbox.join("b-bomb.zip"),
        zip_of(&bomb, zip::CompressionMethod::Deflated),
    )
    .unwrap();
    let drop = fetched(
        pull(&s.config(), &s.key(), ports.objects.clone(), D)
            .await
            .unwrap(),
    );
    let report = match ingest_drop(&ports, &secrets, D, &drop.prefix)
        .await
        .unwrap()
    {
        DropOutcome::Started(Started::Ended(r)) => r,
        other => panic!("{other:?}"),
    };
    let msg = serde_json::to_string(&report.errors).unwrap();
    assert!(msg.contains("decompression bomb"), "{msg}");

    // Larger than the drop size cap: refused by the pull, and not tried again.
    std::fs::write(
        inbox.join("c-big.zip"),
        zip_of(&oneroster(true), zip::CompressionMethod::Stored),
    )
    .unwrap();
    let mut cfg = s.config();
    cfg.max_drop_bytes = 500;
    let e = pull(&cfg, &s.key(), ports.objects.clone(), D)
        .await
        .unwrap_err();
    assert!(
        matches!(e, SftpError::TooLarge { .. })
            && e.to_string().contains("more than the 500 allowed"),
        "{e}"
    );
    match pull(&cfg, &s.key(), ports.objects.clone(), D)
        .await
        .unwrap()
    {
        PullOutcome::NothingReady { .. } => {}
        other => panic!("{other:?}"),
    }
}

/// End to end on the embedded local store, as `rostersync sync --district d1` runs it: connect
/// with `--source sftp`, sync (pull + ingest + run), nothing new, then a guardians-only drop.
#[tokio::test(flavor = "multi_thread")]
async fn a_district_connected_over_sftp_syncs_with_rostersync_sync() {
    if !enabled("end_to_end") {
        return;
    }
    let s = Sshd::start();
    let data_dir = tempfile::tempdir().unwrap();
    let env = app::local::LocalEnv::open(data_dir.path()).unwrap();
    let ports = env.ports();
    let key = std::fs::read_to_string(s.dir.path().join("client")).unwrap();
    app::admin::connect(
        env.runs.as_ref(),
        env.secrets.as_ref(),
        D,
        s.source(),
        Some(Secret::new(key)),
    )
    .await
    .unwrap();

    // Nothing on the server yet: no run.
    match app::runs::sync_once(&ports, env.secrets.as_ref(), D, false).await {
        Err(RunError::NothingNew(why)) => assert!(why.contains("no new complete drop"), "{why}"),
        other => panic!("{other:?}"),
    }

    let mut files = oneroster(true);
    files.push(("guardians.csv", GUARDIANS.as_bytes().to_vec()));
    write_files(&s.data().join("inbox/monday"), &files);
    let report = app::runs::sync_once(&ports, env.secrets.as_ref(), D, false)
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    assert_eq!(report.totals.0[&EntityKind::Students].created, 2);
    assert_eq!(
        report.totals.0[&EntityKind::Guardians].created,
        1,
        "{:?}",
        report.totals
    );

    match app::runs::sync_once(&ports, env.secrets.as_ref(), D, false).await {
        Err(RunError::NothingNew(_)) => {}
        other => panic!("{other:?}"),
    }

    // A guardians-only drop: a new guardian for Bart, nothing archived.
    write_files(
        &s.data().join("inbox/tuesday"),
        &[("guardians.csv", GUARDIANS_2.as_bytes().to_vec())],
    );
    let report = app::runs::sync_once(&ports, env.secrets.as_ref(), D, false)
        .await
        .unwrap();
    assert!(
        matches!(
            report.status,
            RunStatus::Succeeded | RunStatus::CompletedWithWarnings
        ),
        "{report:?}"
    );
    assert_eq!(
        report.totals.0[&EntityKind::Guardians].created,
        1,
        "{:?}",
        report.totals
    );
    assert!(
        report.totals.0.values().all(|c| c.archived == 0),
        "{:?}",
        report.totals
    );
    assert_eq!(env.runs.list_runs(D, None, 10).await.unwrap().len(), 2);
}
