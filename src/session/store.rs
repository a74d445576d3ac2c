//! The persisted session store: a YAML file ([`super::format`]) changed only
//! under an exclusive lock on a separate lock file (`FILE.lock`) and replaced
//! atomically (temp file in the same directory, fsync, rename, fsync of the
//! directory), so concurrent writers never lose entries and a crash leaves
//! either the old or the new file, never a torn one.
//!
//! A writer holds the lock from loading the store until it has saved it:
//! [`StoreFile::open`] locks and loads, lookups mint into the loaded tables,
//! [`StoreFile::commit`] saves (only if something changed) and unlocks.
//! Readers ([`read`]) take no lock: the file is only ever replaced whole.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::format::{self, Problem};
use super::{SessionAccess, Tables};
use crate::program::SessionDef;

/// Test hook: milliseconds to sleep between writing the temp file and
/// renaming it over the store, so tests can kill a writer mid-save.
const SLOW_SAVE_ENV: &str = "HVXFORM_TEST_SLOW_SAVE_MS";

/// A session store could not be read, checked or written.
#[derive(Debug)]
pub enum StoreError {
    /// Reading, locking or writing failed.
    Io {
        path: PathBuf,
        what: &'static str,
        error: io::Error,
    },
    /// The file does not exist (only where one is required).
    Missing { path: PathBuf },
    /// The file is not a valid store: every problem found, with positions.
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl StoreError {
    /// Exit code: an invalid store is bad input (1); I/O failures stop the
    /// run (2).
    pub fn exit_code(&self) -> u8 {
        match self {
            StoreError::Io { .. } => 2,
            StoreError::Missing { .. } | StoreError::Invalid { .. } => 1,
        }
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Io { path, what, error } => {
                write!(
                    f,
                    "{}: cannot {what} the session store: {error}",
                    path.display()
                )
            }
            StoreError::Missing { path } => {
                write!(f, "{}: no such session store", path.display())
            }
            StoreError::Invalid { path, problems } => {
                for (i, p) in problems.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{}:{p}", path.display())?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for StoreError {}

fn io_err<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |error| StoreError::Io {
        path: path.to_path_buf(),
        what,
        error,
    }
}

/// Reads and checks a store without locking. A missing file is
/// [`StoreError::Missing`].
pub fn read(path: &Path) -> Result<Tables, StoreError> {
    usable(path, false)?;
    match load(path)? {
        Some(t) => Ok(t),
        None => Err(StoreError::Missing {
            path: path.to_path_buf(),
        }),
    }
}

/// Reads and checks a store; `None` if the file does not exist.
fn load(path: &Path) -> Result<Option<Tables>, StoreError> {
    let bytes = match crate::platform::input::read_limited(path, crate::platform::input::MAX_INPUT)
    {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path, "read")(e)),
    };
    let text = String::from_utf8(bytes).map_err(|e| StoreError::Invalid {
        path: path.to_path_buf(),
        problems: vec![Problem {
            at: line_col(e.as_bytes(), e.utf8_error().valid_up_to()),
            message: "the file is not UTF-8".into(),
        }],
    })?;
    format::parse(&text)
        .map(Some)
        .map_err(|problems| StoreError::Invalid {
            path: path.to_path_buf(),
            problems,
        })
}

fn line_col(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let before = &bytes[..at];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    Some((line, at - start + 1))
}

/// The store's real path (symbolic links resolved, so the rename replaces
/// the file and not the link) and its lock file.
fn resolve(path: &Path) -> Result<(PathBuf, PathBuf), StoreError> {
    // A link to a store not created yet: the store is created where the
    // link points (replacing the link would leave the target, which other
    // runs use, without these pairs).
    let mut at = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::read_link(&at) {
            Ok(to) if std::fs::metadata(&at).is_err() => at = parent(&at).join(to),
            _ => break,
        }
    }
    let real = match std::fs::canonicalize(&at) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let name = at.file_name().ok_or_else(|| StoreError::Io {
                path: path.to_path_buf(),
                what: "use",
                error: io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
            })?;
            std::fs::canonicalize(parent(&at))
                .map_err(io_err(path, "find the directory of"))?
                .join(name)
        }
        Err(e) => return Err(io_err(path, "find")(e)),
    };
    usable(&real, true).map_err(|e| rename_path(e, path))?;
    let mut lock = real.clone().into_os_string();
    lock.push(".lock");
    Ok((real, PathBuf::from(lock)))
}

/// A store is a regular file (or none yet): a device, a folder or a pipe
/// is refused before anything is read or replaced (`--session /dev/null`
/// would otherwise have replaced the device with a file). A store to write
/// must have write permission: the rename that saves it would not ask, and
/// replace a read-only store behind its owner's back. One `stat` for both.
fn usable(path: &Path, to_write: bool) -> Result<(), StoreError> {
    let refuse = |what, kind, why: &str| StoreError::Io {
        path: path.to_path_buf(),
        what,
        error: io::Error::new(kind, why.to_string()),
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(refuse(
            "use",
            io::ErrorKind::InvalidInput,
            "it is a folder, not a file",
        )),
        Ok(m) if !m.is_file() => Err(refuse(
            "use",
            io::ErrorKind::InvalidInput,
            "it is not a regular file (a store is a YAML file)",
        )),
        Ok(m) if to_write && m.permissions().readonly() => Err(refuse(
            "write",
            io::ErrorKind::PermissionDenied,
            "the file is read-only; make it writable (chmod u+w) to let conversions add pairs",
        )),
        _ => Ok(()),
    }
}

fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A store loaded under its exclusive lock. Lookups mint into the loaded
/// tables; [`StoreFile::commit`] writes them back. Dropping it without
/// committing releases the lock and writes nothing.
#[derive(Debug)]
pub struct StoreFile {
    /// As given, for messages.
    shown: PathBuf,
    real: PathBuf,
    tables: Mutex<Tables>,
    /// Held for the lifetime of this value; closing it unlocks.
    _lock: File,
}

/// The lock file of the store at `real`: made with the store's permissions
/// (a store shared through its group is locked by the whole group), and
/// opened for reading when it exists but this user may not write it (an
/// advisory lock needs no write access).
fn open_lock(real: &Path, lock_path: &Path) -> std::io::Result<File> {
    // A FIFO or a device there would block the open or be no lock at all.
    if std::fs::metadata(lock_path).is_ok_and(|m| !m.is_file()) {
        return Err(std::io::Error::other(format!(
            "{} is not a regular file",
            lock_path.display()
        )));
    }
    match File::options().create_new(true).write(true).open(lock_path) {
        Ok(f) => {
            if let Ok(m) = std::fs::metadata(real) {
                let _ = f.set_permissions(m.permissions());
            }
            Ok(f)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            match File::options().write(true).open(lock_path) {
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    File::options().read(true).open(lock_path)
                }
                r => r,
            }
        }
        Err(e) => Err(e),
    }
}

impl StoreFile {
    /// Locks the store (creating `FILE.lock` next to it if needed; waiting
    /// while another process holds it, after calling `on_wait`) and loads it.
    /// A missing store file is an empty store, created on the first commit
    /// that has something to write.
    pub fn open(path: &Path, on_wait: impl FnOnce(&Path)) -> Result<StoreFile, StoreError> {
        let (real, lock_path) = resolve(path)?;
        let lock = open_lock(&real, &lock_path).map_err(io_err(path, "open the lock file of"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                on_wait(&lock_path);
                lock.lock().map_err(io_err(path, "lock"))?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(path, "lock")(e)),
        }
        let tables = load(&real)
            .map_err(|e| rename_path(e, path))?
            .unwrap_or_default();
        Ok(StoreFile {
            shown: path.to_path_buf(),
            real,
            tables: Mutex::new(tables),
            _lock: lock,
        })
    }

    /// The loaded tables, with any changes made since.
    pub fn tables(&mut self) -> &mut Tables {
        self.tables.get_mut().unwrap_or_else(|e| e.into_inner())
    }

    /// Saves the tables if anything changed, then unlocks. Returns whether
    /// the file was written.
    pub fn commit(self) -> Result<bool, StoreError> {
        self.save()
    }

    /// Saves the tables if anything changed, keeping the lock (for a run
    /// of several inputs that saves after each). Returns whether the file
    /// was written.
    ///
    /// Lookups may still run on other threads: what was minted up to now is
    /// written (lookups wait meanwhile), and what is minted later by the
    /// next save. A batch that writes its outputs as it goes saves this way
    /// before writing any.
    pub fn save(&self) -> Result<bool, StoreError> {
        self.save_sized().map(|n| n > 0)
    }

    /// [`StoreFile::save`], saying how many bytes were written (0: nothing
    /// changed, nothing written).
    pub fn save_sized(&self) -> Result<usize, StoreError> {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        if !tables.changed() {
            return Ok(0);
        }
        let text = format::write(&tables);
        save(&self.real, text.as_bytes()).map_err(io_err(&self.shown, "write"))?;
        tables.mark_saved();
        Ok(text.len().max(1))
    }
}

/// Messages name the store as the user gave it.
fn rename_path(e: StoreError, shown: &Path) -> StoreError {
    match e {
        StoreError::Io { what, error, .. } => StoreError::Io {
            path: shown.to_path_buf(),
            what,
            error,
        },
        StoreError::Missing { .. } => StoreError::Missing {
            path: shown.to_path_buf(),
        },
        StoreError::Invalid { problems, .. } => StoreError::Invalid {
            path: shown.to_path_buf(),
            problems,
        },
    }
}

impl SessionAccess for StoreFile {
    fn lookup(&self, def: &SessionDef, reverse: bool, key: &str) -> Result<String, String> {
        let mut t = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        t.lookup(def, reverse, key).map(|(v, _)| v).map_err(|m| {
            // The seeding hint can name this store.
            m.replace(
                "hvxform session set STORE ",
                &format!(
                    "hvxform session set {} ",
                    super::shell_word(&self.shown.display().to_string())
                ),
            )
        })
    }

    fn find(&self, def: &SessionDef, reverse: bool, key: &str) -> Result<Option<String>, String> {
        self.tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .find(def, reverse, key)
    }
}

/// Replaces `path` atomically: temp file in the same directory, fsync,
/// rename, fsync of the directory. Must be called under the store's lock,
/// which is also what makes removing stale temp files of killed writers safe.
fn save(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    remove_stale_temps(dir, &name);
    let tmp = dir.join(format!(".{name}.{}.session-tmp", std::process::id()));
    let old = std::fs::metadata(path).ok();
    let r = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        // The new file keeps the old one's mode and owner: a store kept
        // 0600 stays private, and one owned by another user stays theirs.
        if let Some(m) = &old {
            f.set_permissions(m.permissions())?;
            keep_owner(&f, m)?;
        }
        f.sync_all()?;
        drop(f);
        if let Some(ms) = std::env::var(SLOW_SAVE_ENV)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

#[cfg(unix)]
fn keep_owner(f: &File, old: &std::fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let now = f.metadata()?;
    if now.uid() == old.uid() && now.gid() == old.gid() {
        return Ok(());
    }
    // Only root may give a file away; anyone may keep its group when they
    // are in it (a store shared by a team's group stays shared).
    match std::os::unix::fs::fchown(f, Some(old.uid()), Some(old.gid())) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            match std::os::unix::fs::fchown(f, None, Some(old.gid())) {
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(()),
                r => r,
            }
        }
        r => r,
    }
}

#[cfg(not(unix))]
fn keep_owner(_: &File, _: &std::fs::Metadata) -> io::Result<()> {
    Ok(())
}

/// Temp files left by writers that died between writing and renaming.
fn remove_stale_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}.");
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let f = e.file_name();
        let f = f.to_string_lossy();
        if f.starts_with(&prefix) && f.ends_with(".session-tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::Loc;
    use crate::syntax::ast::{Miss, SessionType};

    fn dir(name: &str) -> PathBuf {
        let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/test-tmp")
            .join(format!("store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn commit_writes_only_changes() {
        let d = dir("commit");
        let p = d.join("s.yaml");
        let def = SessionDef {
            name: "vms".into(),
            left: SessionType::String,
            right: SessionType::String,
            miss: Miss::Mint(Some("vm-{n}".into())),
            loc: Loc::default(),
        };
        let s = StoreFile::open(&p, |_| {}).unwrap();
        assert!(!s.commit().unwrap());
        assert!(!p.exists(), "nothing to write, nothing written");
        let s = StoreFile::open(&p, |_| {}).unwrap();
        assert_eq!(s.lookup(&def, false, "a").unwrap(), "vm-1");
        assert!(s.commit().unwrap());
        let s = StoreFile::open(&p, |_| {}).unwrap();
        assert_eq!(s.lookup(&def, false, "a").unwrap(), "vm-1");
        assert_eq!(s.lookup(&def, true, "vm-1").unwrap(), "a");
        assert!(!s.commit().unwrap());
        assert_eq!(read(&p).unwrap().entry_count(), 1);
        assert!(d.join("s.yaml.lock").exists());
        assert!(matches!(
            read(&d.join("none.yaml")),
            Err(StoreError::Missing { .. })
        ));
    }

    #[test]
    fn stale_temps_are_removed() {
        let d = dir("stale");
        let p = d.join("s.yaml");
        std::fs::write(d.join(".s.yaml.999999.session-tmp"), "junk").unwrap();
        std::fs::write(d.join(".other.yaml.1.session-tmp"), "keep").unwrap();
        let mut s = StoreFile::open(&p, |_| {}).unwrap();
        s.tables()
            .table_mut("t", SessionType::Int, SessionType::Int)
            .unwrap();
        assert!(s.commit().unwrap());
        assert!(!d.join(".s.yaml.999999.session-tmp").exists());
        assert!(d.join(".other.yaml.1.session-tmp").exists());
    }
}
