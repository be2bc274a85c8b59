//! The blocking ssh2 side of a pull: connect with timeouts, pin the host key before logging in,
//! authenticate, list, wait for a set to settle, download. Runs on tokio's blocking pool.

use crate::sets::{Candidate, Folder, RemoteFile, is_in_progress, new_candidates};
use crate::{Credential, Ledger, SftpConfig, SftpError, fingerprint, same_fingerprint};
use ssh2::{HashType, Session, Sftp};
use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;

/// What a listing led to.
pub(crate) enum Found {
    Nothing(String),
    Set(Candidate, Vec<(RemoteFile, Vec<u8>)>),
}

/// An authenticated SFTP session.
pub(crate) struct Connection {
    _session: Session,
    sftp: Sftp,
}

fn addr(cfg: &SftpConfig) -> String {
    format!("{}:{}", cfg.host, cfg.port)
}

/// Connects, checks the host key, then logs in.
pub(crate) fn connect(cfg: &SftpConfig, cred: &Credential) -> Result<Connection, SftpError> {
    let addr = addr(cfg);
    let conn_err = |detail: String| SftpError::Connect {
        addr: addr.clone(),
        detail,
    };
    let sock = (cfg.host.as_str(), cfg.port)
        .to_socket_addrs()
        .map_err(|e| conn_err(format!("cannot resolve the host: {e}")))?
        .next()
        .ok_or_else(|| conn_err("the host name resolves to no address".into()))?;
    let tcp = TcpStream::connect_timeout(&sock, cfg.connect_timeout)
        .map_err(|e| conn_err(e.to_string()))?;
    tcp.set_read_timeout(Some(cfg.io_timeout))
        .map_err(|e| conn_err(e.to_string()))?;
    tcp.set_write_timeout(Some(cfg.io_timeout))
        .map_err(|e| conn_err(e.to_string()))?;
    let mut session = Session::new().map_err(|e| conn_err(e.to_string()))?;
    session.set_tcp_stream(tcp);
    session.set_timeout(u32::try_from(cfg.io_timeout.as_millis()).unwrap_or(u32::MAX));
    session
        .handshake()
        .map_err(|e| conn_err(format!("SSH handshake failed: {e}")))?;

    // The host key, before any credential leaves this machine.
    let actual = session
        .host_key_hash(HashType::Sha256)
        .map(fingerprint)
        .ok_or_else(|| conn_err("the server sent no host key".into()))?;
    if !same_fingerprint(&cfg.host_key, &actual) {
        tracing::warn!(expected = %cfg.host_key, actual = %actual, "SFTP host key mismatch; not logging in");
        return Err(SftpError::HostKeyMismatch {
            addr,
            expected: cfg.host_key.clone(),
            actual,
        });
    }

    let auth_err = |detail: String| SftpError::Auth {
        addr: addr.clone(),
        method: cred.method(),
        detail,
    };
    match cred {
        Credential::Password(pw) => {
            session
                .userauth_password(&cfg.user, pw)
                .map_err(|e| auth_err(e.message().to_string()))?;
        }
        Credential::Key {
            private_key,
            passphrase,
        } => {
            let pass = passphrase.as_deref();
            if let Err(first) = session.userauth_pubkey_memory(&cfg.user, None, private_key, pass) {
                // Some libssh2 builds cannot read every key format from memory: retry from a
                // private (0600) temporary file, removed when this scope ends.
                tracing::debug!(code = ?first.code(), "in-memory key login failed; trying a private temporary file");
                let file = key_file(private_key).map_err(|e| {
                    auth_err(format!(
                        "cannot write the key to a private temporary file: {e}"
                    ))
                })?;
                session
                    .userauth_pubkey_file(&cfg.user, None, file.path(), pass)
                    .map_err(|e| auth_err(e.message().to_string()))?;
            }
        }
    }
    if !session.authenticated() {
        return Err(auth_err("not authenticated".into()));
    }
    let sftp = session.sftp().map_err(|e| SftpError::Remote {
        path: cfg.path.clone(),
        detail: format!("cannot start SFTP: {e}"),
    })?;
    Ok(Connection {
        _session: session,
        sftp,
    })
}

fn key_file(key: &str) -> std::io::Result<tempfile::NamedTempFile> {
    use std::io::Write;
    // NamedTempFile is created with mode 0600 on Unix.
    let mut f = tempfile::NamedTempFile::new()?;
    f.write_all(key.as_bytes())?;
    if !key.ends_with('\n') {
        f.write_all(b"\n")?;
    }
    f.flush()?;
    Ok(f)
}

fn remote_err(path: &str, e: impl std::fmt::Display) -> SftpError {
    SftpError::Remote {
        path: path.to_string(),
        detail: e.to_string(),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

impl Connection {
    /// The configured folder and its subfolders (one level).
    pub(crate) fn list(&self, root: &str) -> Result<Vec<Folder>, SftpError> {
        let (top, subdirs) = self.list_folder(root)?;
        let mut folders = vec![top];
        for d in subdirs {
            folders.push(self.list_folder(&d)?.0);
        }
        Ok(folders)
    }

    fn list_folder(&self, dir: &str) -> Result<(Folder, Vec<String>), SftpError> {
        let entries = self
            .sftp
            .readdir(Path::new(dir))
            .map_err(|e| remote_err(dir, e))?;
        let mut folder = Folder {
            path: dir.trim_end_matches('/').to_string(),
            ..Folder::default()
        };
        let mut dirs = Vec::new();
        for (p, stat) in entries {
            let Some(name) = p.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            if name == "." || name == ".." {
                continue;
            }
            let path = join(&folder.path, &name);
            if stat.is_dir() {
                if !name.starts_with('.') {
                    dirs.push(path);
                }
                continue;
            }
            if is_in_progress(&name) {
                folder.in_progress.push(name);
                continue;
            }
            // Regular files only: links and devices are never part of a drop.
            if !stat.is_file() {
                continue;
            }
            folder.files.push(RemoteFile {
                path,
                name,
                size: stat.size.unwrap_or(0),
                mtime: stat.mtime.unwrap_or(0),
            });
        }
        folder.files.sort_by(|a, b| a.name.cmp(&b.name));
        dirs.sort();
        Ok((folder, dirs))
    }

    /// The candidate's files as listed now.
    fn relist(&self, c: &Candidate) -> Result<Candidate, SftpError> {
        let mut again = c.clone();
        again.files.clear();
        for f in &c.files {
            let stat = self
                .sftp
                .stat(Path::new(&f.path))
                .map_err(|e| remote_err(&f.path, e))?;
            again.files.push(RemoteFile {
                size: stat.size.unwrap_or(0),
                mtime: stat.mtime.unwrap_or(0),
                ..f.clone()
            });
        }
        Ok(again)
    }

    fn download(
        &self,
        f: &RemoteFile,
        progress: Option<&crate::Progress>,
    ) -> Result<Vec<u8>, SftpError> {
        let mut file = self
            .sftp
            .open(Path::new(&f.path))
            .map_err(|e| remote_err(&f.path, e))?;
        let cap = usize::try_from(f.size).unwrap_or(0).min(64 << 20);
        let mut body = Vec::with_capacity(cap);
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = file.read(&mut buf).map_err(|e| remote_err(&f.path, e))?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
            if body.len() as u64 > f.size {
                break;
            }
            if let Some(p) = progress {
                p(&f.name, body.len() as u64);
            }
        }
        if body.len() as u64 != f.size {
            return Err(SftpError::Changed {
                path: f.path.clone(),
                expected: f.size,
                actual: body.len() as u64,
            });
        }
        Ok(body)
    }
}

/// Lists, picks the oldest complete new set, waits for it to settle, downloads it.
pub(crate) fn fetch(
    cfg: &SftpConfig,
    cred: &Credential,
    ledger: &Ledger,
) -> Result<Found, SftpError> {
    let conn = connect(cfg, cred)?;
    let folders = conn.list(&cfg.path)?;
    let (candidates, waiting) = new_candidates(&folders, ledger);
    let Some(first) = candidates.into_iter().next() else {
        let reason = if waiting.is_empty() {
            format!("no new complete drop in {}", cfg.path)
        } else {
            format!(
                "no new complete drop in {}; waiting: {}",
                cfg.path,
                waiting.join("; ")
            )
        };
        return Ok(Found::Nothing(reason));
    };
    if first.bytes() > cfg.max_drop_bytes {
        return Err(SftpError::TooLarge {
            path: first.root.clone(),
            size: first.bytes(),
            max: cfg.max_drop_bytes,
        });
    }
    let set = if first.has_manifest {
        first
    } else {
        std::thread::sleep(cfg.settle);
        // The folder listed again, so a file that joined the set counts as a change.
        let again = if first.kind == crate::SetKind::Zip {
            conn.relist(&first)?
        } else {
            let folders = conn.list(&first.root)?;
            match folders.first().map(crate::sets::classify) {
                Some(crate::sets::Classified::Set(c)) => c,
                _ => {
                    return Ok(Found::Nothing(format!(
                        "{}: the set changed while it was being checked; waiting",
                        first.root
                    )));
                }
            }
        };
        if !crate::sets::unchanged(&first, &again) {
            return Ok(Found::Nothing(format!(
                "{}: files are still changing (size or mtime differ between two listings {} ms apart); waiting",
                first.root,
                cfg.settle.as_millis()
            )));
        }
        again
    };
    tracing::info!(root = %set.root, kind = ?set.kind, files = set.files.len(), bytes = set.bytes(), "downloading drop");
    let mut files = Vec::with_capacity(set.files.len());
    for f in &set.files {
        let body = conn.download(f, cfg.progress.as_ref())?;
        files.push((f.clone(), body));
    }
    Ok(Found::Set(set, files))
}
