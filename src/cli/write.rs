//! Writing output files: each through a temp file in the same directory and
//! a rename, so a reader never sees half a file and an old output is either
//! kept whole or replaced whole.
//!
//! Replacing a file frees the old file's blocks, and on ext4 (mounted with
//! `discard`, common on virtual disks) the rename then waits for the device
//! to discard them: about 60-200 µs a file on the machine `benches/run.sh`
//! was measured on, as long as converting a document. A [`Reaper`] keeps a
//! reference to each file a rename replaces and drops it on its own thread
//! once the rename is done, so that wait overlaps the next writes instead of
//! adding to them (`book/src/performance.md`).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::thread::JoinHandle;

/// Replaced files held at once at most (fewer under a low descriptor limit):
/// the writer waits when the reaper is this far behind.
const HELD: usize = 256;

/// Drops, on its own thread, the last reference to files that renames
/// replaced. The thread starts with the first file replaced; dropping the
/// `Reaper` waits until every file it holds is dropped. The default reaper
/// holds nothing: renames free the old files themselves.
#[derive(Default)]
pub struct Reaper {
    /// How many replaced files may be held at once; 0: none.
    held: usize,
    started: OnceLock<Option<(mpsc::SyncSender<File>, JoinHandle<()>)>>,
    /// Files the thread has dropped.
    released: Arc<AtomicUsize>,
}

impl Reaper {
    /// A reaper for outputs written into `dir`: one that holds files only
    /// where freeing them can wait for the disk (ext4). Elsewhere holding
    /// gains nothing, and on NFS it would cost a silly-rename per file.
    pub fn for_dir(dir: &Path) -> Reaper {
        Reaper::holding(frees_synchronously(dir))
    }

    fn holding(yes: bool) -> Reaper {
        Reaper {
            held: if yes { held_limit() } else { 0 },
            started: OnceLock::new(),
            released: Arc::default(),
        }
    }

    /// A reference to the file at `path`, if there is one and this reaper
    /// holds files: give it to [`Reaper::release`] once the rename that
    /// replaces it is done.
    fn hold(&self, path: &Path) -> Option<File> {
        if self.held == 0 {
            return None;
        }
        open_path(path)
    }

    /// Drops `f` on the reaper's thread (started on first use). After the
    /// rename, that drop is the file's last reference, so whatever freeing
    /// the file costs is paid there.
    fn release(&self, f: File) {
        let started = self.started.get_or_init(|| {
            let (tx, rx) = mpsc::sync_channel::<File>(self.held);
            let released = Arc::clone(&self.released);
            std::thread::Builder::new()
                .name("hvxform-reaper".into())
                .spawn(move || {
                    for f in rx {
                        drop(f);
                        released.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .ok()
                .map(|t| (tx, t))
        });
        // Without a thread, `f` is dropped here.
        if let Some((tx, _)) = started {
            let _ = tx.send(f);
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some((tx, thread)) = self.started.take().flatten() {
            drop(tx);
            let _ = thread.join();
        }
    }
}

/// A reference to the file (or link) at `path` that reads nothing and needs
/// no permission on it.
#[cfg(target_os = "linux")]
fn open_path(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW)
        .open(path)
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn open_path(_: &Path) -> Option<File> {
    None
}

/// Whether `dir` is on ext4, where freeing a replaced file's blocks happens
/// in the call that drops its last reference (and waits for the disk when
/// mounted with `discard`).
#[cfg(target_os = "linux")]
fn frees_synchronously(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    const EXT4_SUPER_MAGIC: i64 = 0xEF53;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statfs reads the NUL-terminated path `c` and writes only the
    // struct it is given, which is plain data (all zeros is a valid value).
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0;
    // The field's type differs between targets.
    #[allow(clippy::unnecessary_cast)]
    let kind = st.f_type as i64;
    ok && kind == EXT4_SUPER_MAGIC
}

#[cfg(not(target_os = "linux"))]
fn frees_synchronously(_: &Path) -> bool {
    false
}

/// [`HELD`], or a quarter of the open-file limit if that is lower, so the
/// held files never crowd out the files being written.
#[cfg(target_os = "linux")]
fn held_limit() -> usize {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return 0;
    }
    usize::try_from(r.rlim_cur / 4).map_or(HELD, |n| n.min(HELD))
}

#[cfg(not(target_os = "linux"))]
fn held_limit() -> usize {
    0
}

/// Checks that files can be created in `dir`.
pub fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let p = dir.join(format!(".hvxform-probe-{}", std::process::id()));
    std::fs::write(&p, b"")?;
    std::fs::remove_file(&p)
}

fn temp_path(dir: &Path, name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    // getpid is a system call: once per process, not once per file.
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    dir.join(format!(
        ".{name}.{}.{}.tmp",
        PID.get_or_init(std::process::id),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// The real path a file at `path` has or would have: its folder's real
/// path and its name (the file itself need not exist).
pub fn real_file_path(path: &Path) -> Option<PathBuf> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = std::fs::canonicalize(dir.unwrap_or(Path::new("."))).ok()?;
    Some(dir.join(path.file_name()?))
}

/// The real path of a `--session` store that is a file (not a PostgreSQL
/// URL): what no output of the run may replace.
pub fn store_file(session: Option<&Path>) -> Option<PathBuf> {
    let s = session?;
    if crate::session::pg::is_url(&s.to_string_lossy()) {
        return None;
    }
    real_file_path(s)
}

/// Writes one file through a temp file in the same directory, fsync, rename.
/// A file the user named is replaced as they see it: a symbolic link at
/// `path` is followed (the file it names gets the content, the link
/// stays), and the file keeps its permissions (a `0600` context or a
/// group-writable mapping stays so).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let linked;
    let path = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            linked = match std::fs::canonicalize(path) {
                Ok(p) => p,
                // A link to a file not made yet: its target, from its folder.
                Err(_) => {
                    let to = std::fs::read_link(path)?;
                    path.parent().unwrap_or(Path::new(".")).join(to)
                }
            };
            linked.as_path()
        }
        _ => path,
    };
    let perms = std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.permissions());
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = temp_path(dir, &name);
    let r = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        if let Some(p) = perms {
            f.set_permissions(p)?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// A second name for the file at `fin` (a hard link in `dir`), to put it
/// back if a later rename fails; None when there is no file there.
fn keep_old(dir: &Path, fin: &Path) -> std::io::Result<Option<PathBuf>> {
    let name = fin
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let k = temp_path(dir, &format!("{name}.old"));
    match std::fs::hard_link(fin, &k) {
        Ok(()) => Ok(Some(k)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        // Linux says EPERM for a folder.
        Err(_) if fin.is_dir() => Err(std::io::Error::other("is a folder")),
        Err(e) => Err(e),
    }
}

/// Writes all of an input's documents into `dir`, or none: every temp file
/// is written first, then all are renamed into place. The files replaced go
/// to `reaper`.
pub fn write_all_or_nothing(
    dir: &Path,
    files: &[(String, &str)],
    sync: bool,
    reaper: &Reaper,
) -> Result<(), String> {
    let mut temps = Vec::new();
    for (name, xml) in files {
        let tmp = temp_path(dir, name);
        let r = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(xml.as_bytes())?;
            if sync {
                f.sync_all()?;
            }
            Ok::<(), std::io::Error>(())
        })();
        if let Err(e) = r {
            let _ = std::fs::remove_file(&tmp);
            for (t, _) in &temps {
                let _ = std::fs::remove_file(t);
            }
            return Err(format!("cannot write {}: {e}", dir.join(name).display()));
        }
        temps.push((tmp, dir.join(name)));
    }
    // With more than one document, the files a rename replaces are kept
    // (a hard link each) until every rename is done, so that a failed one
    // puts them back: a failed run leaves the last run's outputs as they
    // were. One rename alone replaces its file whole or not at all.
    let keep = temps.len() > 1;
    let mut done: Vec<(&PathBuf, Option<PathBuf>)> = Vec::new();
    for (tmp, fin) in &temps {
        let old = reaper.hold(fin);
        let r = (|| {
            let kept = if keep { keep_old(dir, fin)? } else { None };
            if let Err(e) = std::fs::rename(tmp, fin) {
                if let Some(k) = &kept {
                    let _ = std::fs::remove_file(k);
                }
                return Err(e);
            }
            Ok(kept)
        })();
        match r {
            Ok(kept) => done.push((fin, kept)),
            Err(e) => {
                for (t, _) in &temps {
                    let _ = std::fs::remove_file(t);
                }
                for (f, kept) in done.into_iter().rev() {
                    match kept {
                        Some(k) => {
                            let _ = std::fs::rename(&k, f);
                        }
                        None => {
                            let _ = std::fs::remove_file(f);
                        }
                    }
                }
                return Err(format!("cannot write {}: {e}", fin.display()));
            }
        }
        if let Some(f) = old {
            reaper.release(f);
        }
    }
    for (_, kept) in done {
        if let Some(k) = kept {
            let _ = std::fs::remove_file(k);
        }
    }
    if sync {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_refs(fs: &[(String, String)]) -> Vec<(String, &str)> {
        fs.iter().map(|(a, b)| (a.clone(), b.as_str())).collect()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replacing_outputs_keeps_only_the_new_files() {
        let dir = std::env::temp_dir().join(format!("hvx-write-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let reaper = Reaper::holding(true);
        let old = [
            ("a.xml".to_string(), "old a"),
            ("b.xml".to_string(), "old b"),
        ];
        write_all_or_nothing(&dir, &old, false, &reaper).unwrap();
        // Nothing was replaced: no thread.
        assert!(reaper.started.get().is_none());
        // A reader of the old file keeps reading the old file.
        let mut reader = File::open(dir.join("a.xml")).unwrap();
        let new = [("a.xml".to_string(), "new a"), ("b.xml".to_string(), "")];
        write_all_or_nothing(&dir, &new, true, &reaper).unwrap();
        let released = Arc::clone(&reaper.released);
        drop(reaper);
        #[cfg(target_os = "linux")]
        assert_eq!(released.load(Ordering::Relaxed), 2);
        let mut s = String::new();
        std::io::Read::read_to_string(&mut reader, &mut s).unwrap();
        assert_eq!(s, "old a");
        assert_eq!(std::fs::read_to_string(dir.join("a.xml")).unwrap(), "new a");
        assert_eq!(std::fs::read_to_string(dir.join("b.xml")).unwrap(), "");
        assert_eq!(names(&dir), ["a.xml", "b.xml"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn more_replacements_than_the_reaper_holds_all_get_released() {
        let dir = std::env::temp_dir().join(format!("hvx-write-many-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let n = HELD + 44;
        let files: Vec<(String, String)> = (0..n)
            .map(|k| (format!("{k}.xml"), format!("<v>{k}</v>")))
            .collect();
        let reaper = Reaper::holding(true);
        write_all_or_nothing(&dir, &as_refs(&files), false, &reaper).unwrap();
        // Every file replaced twice, one input at a time as the writer does.
        for _ in 0..2 {
            for f in &files {
                write_all_or_nothing(&dir, &as_refs(std::slice::from_ref(f)), false, &reaper)
                    .unwrap();
            }
        }
        let released = Arc::clone(&reaper.released);
        drop(reaper);
        #[cfg(target_os = "linux")]
        assert_eq!(released.load(Ordering::Relaxed), 2 * n);
        let _ = released;
        assert_eq!(names(&dir).len(), n);
        assert_eq!(
            std::fs::read_to_string(dir.join("7.xml")).unwrap(),
            "<v>7</v>"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn only_ext4_outputs_are_held() {
        // procfs is not ext4.
        assert_eq!(Reaper::for_dir(Path::new("/proc")).held, 0);
        assert!(Reaper::holding(true).held > 0);
    }

    #[test]
    fn the_default_reaper_holds_nothing() {
        let dir = std::env::temp_dir().join(format!("hvx-write-none-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let reaper = Reaper::default();
        let files = [("a.xml".to_string(), "a")];
        write_all_or_nothing(&dir, &files, false, &reaper).unwrap();
        write_all_or_nothing(&dir, &files, false, &reaper).unwrap();
        assert!(reaper.started.get().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_puts_back_the_files_it_replaced() {
        let dir = std::env::temp_dir().join(format!("hvx-write-back-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let reaper = Reaper::holding(true);
        let old = [
            ("a.xml".to_string(), "old a"),
            ("b.xml".to_string(), "old b"),
        ];
        write_all_or_nothing(&dir, &old, false, &reaper).unwrap();
        // c.xml is a folder now: the third rename fails after two succeeded.
        std::fs::create_dir_all(dir.join("c.xml").join("x")).unwrap();
        let new = [
            ("a.xml".to_string(), "new a"),
            ("n.xml".to_string(), "new n"),
            ("c.xml".to_string(), "new c"),
        ];
        let e = write_all_or_nothing(&dir, &new, false, &reaper).unwrap_err();
        assert!(e.contains("c.xml"), "{e}");
        drop(reaper);
        assert_eq!(std::fs::read_to_string(dir.join("a.xml")).unwrap(), "old a");
        assert_eq!(std::fs::read_to_string(dir.join("b.xml")).unwrap(), "old b");
        assert_eq!(names(&dir), ["a.xml", "b.xml", "c.xml"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_rename_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("hvx-write-fail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // A non-empty directory where the output should go: the rename fails.
        std::fs::create_dir_all(dir.join("a.xml").join("x")).unwrap();
        let reaper = Reaper::holding(true);
        let files = [("b.xml".to_string(), "b"), ("a.xml".to_string(), "a")];
        let e = write_all_or_nothing(&dir, &files, false, &reaper).unwrap_err();
        assert!(e.contains("a.xml"), "{e}");
        drop(reaper);
        assert_eq!(names(&dir), ["a.xml"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
