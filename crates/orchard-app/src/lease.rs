//! Who is writing which reply, and recovery when a writer died.
//!
//! Every process that may write replies holds an exclusive OS lock on
//! `run/<instance>.lock` in the data directory for as long as it lives, and stamps the
//! replies it writes with its instance id. The OS releases the lock when the process
//! ends, however it ends (`kill -9` included). At start, any open reply whose writer's
//! lock can be taken (or whose lock file is gone) belongs to a dead process and is
//! marked `interrupted`, keeping the text received so far. Replies of a live process
//! (a running `orchard serve`, say) are left alone.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use orchard_store::Store;

use crate::AppError;

/// This process's lease.
#[derive(Debug)]
pub struct WriterLease {
    id: String,
    path: PathBuf,
    _file: File,
}

impl WriterLease {
    /// Creates and locks `run/<random id>.lock`.
    pub fn acquire(data_dir: &Path) -> Result<Self, AppError> {
        let dir = data_dir.join("run");
        std::fs::create_dir_all(&dir).map_err(|e| not_writable(data_dir, &e))?;
        let mut raw = [0u8; 8];
        getrandom::fill(&mut raw).map_err(|e| {
            AppError::new("internal", format!("random number generator failed: {e}"))
        })?;
        let id = hex::encode(raw);
        let path = dir.join(format!("{id}.lock"));
        // Lock under a temporary name, then rename: a `.lock` file is locked from the
        // moment it exists, so no other process can mistake it for a dead writer's.
        let pending = dir.join(format!("{id}.new"));
        let file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&pending)
            .map_err(|e| not_writable(data_dir, &e))?;
        file.try_lock().map_err(|e| {
            AppError::new(
                "internal",
                format!("cannot lock {}: {e}", pending.display()),
            )
        })?;
        std::fs::rename(&pending, &path).map_err(|e| not_writable(data_dir, &e))?;
        Ok(Self {
            id,
            path,
            _file: file,
        })
    }

    /// The instance id stamped on replies this process writes.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for WriterLease {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub(crate) fn not_writable(data_dir: &Path, e: &std::io::Error) -> AppError {
    let why = match e.kind() {
        ErrorKind::PermissionDenied => "permission denied".to_owned(),
        ErrorKind::ReadOnlyFilesystem => "read-only file system".to_owned(),
        _ => e.to_string(),
    };
    AppError::new(
        "data_dir_not_writable",
        format!(
            "the data directory {} is not writable ({why}); fix its permissions or choose another with --data-dir",
            data_dir.display()
        ),
    )
}

/// Marks replies of dead writers as interrupted and removes the lock files of
/// processes that are gone; returns how many replies were interrupted.
pub(crate) async fn recover(store: &dyn Store, data_dir: &Path, me: &str) -> Result<u64, AppError> {
    let mut total = 0;
    for writer in store.open_writers().await? {
        if writer == me || writer_alive(data_dir, &writer) {
            continue;
        }
        let n = store.interrupt_writer(&writer).await?;
        if n > 0 {
            tracing::warn!(
                replies = n,
                "marked replies of a process that ended mid-answer as interrupted"
            );
        }
        total += n;
    }
    remove_stale_locks(data_dir, me);
    Ok(total)
}

fn lock_path(data_dir: &Path, writer: &str) -> PathBuf {
    data_dir.join("run").join(format!("{writer}.lock"))
}

/// Whether the process that wrote `writer`'s replies still runs. Only a missing lock
/// file, or one whose lock can be taken, means it is gone: any other failure (a file
/// another user owns, too many open files) counts as alive, because wrongly
/// interrupting a live answer is worse than leaving a dead one open a little longer.
fn writer_alive(data_dir: &Path, writer: &str) -> bool {
    // Instance ids are hex; anything else is not ours to look up on disk.
    if writer.is_empty() || !writer.chars().all(|c| c.is_ascii_hexdigit()) {
        return false;
    }
    match File::open(lock_path(data_dir, writer)) {
        Err(e) => e.kind() != ErrorKind::NotFound,
        // Taking the lock means nobody holds it. (Dropping our handle releases it.)
        Ok(f) => !matches!(f.try_lock(), Ok(())),
    }
}

/// Deletes lock files whose process is gone (one that ended cleanly deletes its own),
/// including `.new` files left by a process that died while taking its lease.
fn remove_stale_locks(data_dir: &Path, me: &str) {
    let Ok(entries) = std::fs::read_dir(data_dir.join("run")) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = path.file_stem().and_then(|s| s.to_str()) == Some(me);
        let lease_file = path.extension().is_some_and(|e| e == "lock" || e == "new");
        if ours || !lease_file {
            continue;
        }
        // Holding the lock while deleting: nobody can be using the file meanwhile.
        if let Ok(f) = File::open(&path)
            && f.try_lock().is_ok()
        {
            let _ = std::fs::remove_file(&path);
        }
    }
}
