//! The outbox: one `.eml` file per message in a directory, for running without a mail server.
//!
//! Files are named `<unix milliseconds>-<uuid v7>.eml`, so they sort by time and never collide,
//! and each is written under a hidden temporary name and then renamed, so a reader listing
//! `*.eml` never sees half a message.

use std::path::{Path, PathBuf};

use std::io::Write;

use crate::MailError;

fn io_error(what: &str, path: &Path, e: std::io::Error) -> MailError {
    MailError::Transient {
        reason: format!("{what} {}: {e}", path.display()),
    }
}

/// Writes one message into `dir` (created if missing) and returns the file's path. The file
/// is flushed to disk before it is renamed into place. The whole write is one blocking task
/// (rather than one per system call), so many messages can be written side by side cheaply.
pub(crate) async fn write(dir: &Path, id: uuid::Uuid, bytes: &[u8]) -> Result<PathBuf, MailError> {
    let millis = id
        .get_timestamp()
        .map(|ts| {
            let (secs, nanos) = ts.to_unix();
            secs * 1000 + u64::from(nanos) / 1_000_000
        })
        .unwrap_or_default();
    let name = format!("{millis:013}-{}.eml", id.simple());
    let (dir, bytes) = (dir.to_owned(), bytes.to_vec());
    tokio::task::spawn_blocking(move || write_blocking(&dir, &name, &bytes))
        .await
        .map_err(|e| MailError::Transient {
            reason: format!("the outbox writer stopped: {e}"),
        })?
}

fn write_blocking(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, MailError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| io_error("cannot create the outbox directory", dir, e))?;
    let final_path = dir.join(name);
    let temp_path = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp_path)
            .map_err(|e| io_error("cannot create", &temp_path, e))?;
        file.write_all(bytes)
            .map_err(|e| io_error("cannot write", &temp_path, e))?;
        file.sync_all()
            .map_err(|e| io_error("cannot flush", &temp_path, e))?;
        drop(file);
        std::fs::rename(&temp_path, &final_path)
            .map_err(|e| io_error("cannot move into place", &final_path, e))
    })();
    if result.is_err() {
        // Best effort: leave no half-written temporary file behind.
        let _ = std::fs::remove_file(&temp_path);
    }
    result.map(|()| final_path)
}
