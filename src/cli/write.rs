//! Writing output files: each through a temp file in the same directory and
//! a rename, so a reader never sees half a file and an old output is either
//! kept whole or replaced whole.
//!
//! Replacing a file frees the old file's blocks, and on a file system that
//! discards freed blocks (ext4 mounted with `discard`, common on virtual
//! disks) the rename then waits for the device: about 60-200 µs a file on
//! the machine `benches/run.sh` was measured on, as long as converting a
//! document. A [`Reaper`] keeps a reference to each file a rename replaces
//! and drops it on its own thread, so that wait overlaps the next writes
//! instead of adding to them (`book/src/performance.md`).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::thread::JoinHandle;

/// Replaced files held at once at most: the writer waits when the reaper is
/// this far behind, so the open files stay far below any descriptor limit.
const HELD: usize = 256;

/// Drops, on its own thread, the last reference to files that renames
/// replaced. The thread starts with the first file replaced; dropping the
/// `Reaper` waits until every file it holds is dropped.
#[derive(Default)]
pub struct Reaper {
    started: OnceLock<Option<(mpsc::SyncSender<File>, JoinHandle<()>)>>,
}

impl Reaper {
    /// Takes a reference to the file at `path`, if there is one, until the
    /// reaper's thread drops it.
    fn hold(&self, path: &Path) {
        let Some(f) = open_path(path) else {
            return;
        };
        let started = self.started.get_or_init(|| {
            let (tx, rx) = mpsc::sync_channel::<File>(HELD);
            std::thread::Builder::new()
                .name("hvxform-reaper".into())
                .spawn(move || rx.into_iter().for_each(drop))
                .ok()
                .map(|t| (tx, t))
        });
        // Without a thread, `f` is dropped here and the rename frees the old
        // file itself.
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

/// Reserves the blocks of a new file of `len` bytes before it is written.
/// ext4 otherwise allocates them, and starts writing them back, in the
/// rename that replaces an old file (its `auto_da_alloc` safeguard), on the
/// writer's time. A hint only: a file system without it is written as is.
#[cfg(target_os = "linux")]
fn reserve(f: &File, len: usize) {
    use std::os::fd::AsRawFd;
    let Ok(len) = libc::off_t::try_from(len) else {
        return;
    };
    if len > 0 {
        // SAFETY: fallocate only reads its integer arguments; the descriptor
        // belongs to `f`, which outlives the call.
        unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, len) };
    }
}

#[cfg(not(target_os = "linux"))]
fn reserve(_: &File, _: usize) {}

/// Checks that files can be created in `dir`.
pub fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let p = dir.join(format!(".hvxform-probe-{}", std::process::id()));
    std::fs::write(&p, b"")?;
    std::fs::remove_file(&p)
}

fn temp_path(dir: &Path, name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Writes one file through a temp file in the same directory, fsync, rename.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
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
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
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
            reserve(&f, xml.len());
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
    let mut done: Vec<&PathBuf> = Vec::new();
    for (tmp, fin) in &temps {
        reaper.hold(fin);
        if let Err(e) = std::fs::rename(tmp, fin) {
            for (t, _) in &temps {
                let _ = std::fs::remove_file(t);
            }
            for f in done {
                let _ = std::fs::remove_file(f);
            }
            return Err(format!("cannot write {}: {e}", fin.display()));
        }
        done.push(fin);
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
        let reaper = Reaper::default();
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
        assert!(matches!(reaper.started.get(), Some(Some(_))));
        drop(reaper);
        let mut s = String::new();
        std::io::Read::read_to_string(&mut reader, &mut s).unwrap();
        assert_eq!(s, "old a");
        assert_eq!(std::fs::read_to_string(dir.join("a.xml")).unwrap(), "new a");
        assert_eq!(std::fs::read_to_string(dir.join("b.xml")).unwrap(), "");
        assert_eq!(names(&dir), ["a.xml", "b.xml"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_rename_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("hvx-write-fail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // A non-empty directory where the output should go: the rename fails.
        std::fs::create_dir_all(dir.join("a.xml").join("x")).unwrap();
        let reaper = Reaper::default();
        let files = [("b.xml".to_string(), "b"), ("a.xml".to_string(), "a")];
        let e = write_all_or_nothing(&dir, &files, false, &reaper).unwrap_err();
        assert!(e.contains("a.xml"), "{e}");
        drop(reaper);
        assert_eq!(names(&dir), ["a.xml"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
