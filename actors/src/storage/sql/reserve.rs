//! Disk space kept in reserve beside an SQLite database (`<file>-reserve`), so that a full
//! disk can still be freed through the API.
//!
//! With the disk full, a DELETE cannot write its WAL frames, and a checkpoint cannot move
//! the WAL into the database file either (the file must grow to take the pages): nothing
//! frees space. The reserve file breaks that: the first DELETE that fails for want of space
//! removes it, the WAL is checkpointed and truncated, and the DELETE runs again. Once a
//! write succeeds, the reserve is written again (off the request path, at most every few
//! seconds) for the next time.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a missing reserve is written again at most.
const RESTORE_INTERVAL: Duration = Duration::from_secs(5);

pub struct Reserve {
    path: PathBuf,
    size: u64,
    present: AtomicBool,
    /// When writing it again was last tried.
    last_try: Mutex<Option<Instant>>,
}

impl Reserve {
    /// The reserve of the database at `db`; none when `size` is 0.
    pub fn new(db: &str, size: u64) -> Option<Arc<Self>> {
        (size > 0).then(|| {
            Arc::new(Self {
                path: PathBuf::from(format!("{db}-reserve")),
                size,
                present: AtomicBool::new(false),
                last_try: Mutex::default(),
            })
        })
    }

    /// Writes the file (real blocks, not a sparse file); blocking.
    pub fn fill(&self) -> std::io::Result<()> {
        if std::fs::metadata(&self.path).is_ok_and(|m| m.len() == self.size) {
            self.present.store(true, Ordering::Relaxed);
            return Ok(());
        }
        let written = (|| {
            let mut file = std::fs::File::create(&self.path)?;
            let zeros = vec![0u8; 64 * 1024];
            let mut left = self.size;
            while left > 0 {
                let n = left.min(zeros.len() as u64) as usize;
                file.write_all(&zeros[..n])?;
                left -= n as u64;
            }
            file.sync_all()
        })();
        match written {
            Ok(()) => {
                self.present.store(true, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_file(&self.path);
                Err(e)
            }
        }
    }

    /// Gives the reserve's space back to the disk; whether there was any to give.
    pub fn release(&self) -> bool {
        let had = self.present.swap(false, Ordering::Relaxed);
        had && std::fs::remove_file(&self.path).is_ok()
    }

    /// After a write succeeded: writes a released reserve again, in the background.
    pub fn restore(self: &Arc<Self>) {
        if self.present.load(Ordering::Relaxed) {
            return;
        }
        {
            let mut last = self.last_try.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < RESTORE_INTERVAL) {
                return;
            }
            *last = Some(Instant::now());
        }
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = me.fill() {
                tracing::warn!(error = %e, path = %me.path.display(), "disk reserve not written again yet");
            }
        });
    }
}
