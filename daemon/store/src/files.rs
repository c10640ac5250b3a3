//! The file operations the document files are written with, behind a trait:
//! [`OsFiles`] is the operating system's file system; `kp-testkit`'s disk twin
//! records which bytes and names are durable, so that a simulated power cut
//! keeps exactly what a real one may keep. [`DocFiles`](crate::DocFiles)
//! issues the same writes and syncs, in the same order, to either.

use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A file system, as the document files use it.
pub trait Files: Send + Sync + std::fmt::Debug + 'static {
    /// An open file.
    type Handle: Handle;

    /// Opens `path` for reading and writing, creating it (empty) if it does not
    /// exist; also says whether it was created (its name is then not durable
    /// until its directory is synced).
    fn open(&self, path: &Path) -> io::Result<(Self::Handle, bool)>;

    /// Creates `path` empty, or empties it, for writing.
    fn create(&self, path: &Path) -> io::Result<Self::Handle>;

    /// The whole of `path`, or `None` if there is no such file.
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;

    /// The length of `path`, or `None` if there is no such file.
    fn len(&self, path: &Path) -> io::Result<Option<u64>>;

    /// Gives the file `from` the name `to`, replacing any file of that name.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Makes the names in `dir` (files created, renamed) durable: `fsync` of
    /// the directory.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// Creates `dir` and its parents, durably.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
}

/// An open file.
pub trait Handle: Send {
    /// Its whole content.
    fn read_all(&mut self) -> io::Result<Vec<u8>>;

    /// Its length.
    fn size(&self) -> io::Result<u64>;

    /// Writes all of `bytes` at `offset`.
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()>;

    /// Cuts or extends it to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;

    /// Makes its content durable: `fdatasync`.
    fn sync_data(&self) -> io::Result<()>;
}

/// The operating system's file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsFiles;

impl Files for OsFiles {
    type Handle = fs::File;

    fn open(&self, path: &Path) -> io::Result<(fs::File, bool)> {
        let existed = path.exists();
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)?;
        Ok((f, !existed))
    }

    fn create(&self, path: &Path) -> io::Result<fs::File> {
        fs::File::create(path)
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match fs::File::open(path) {
            Ok(mut f) => {
                let mut buf = Vec::new();
                f.read_to_end(&mut buf)?;
                Ok(Some(buf))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn len(&self, path: &Path) -> io::Result<Option<u64>> {
        match fs::metadata(path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        fs::File::open(dir).and_then(|d| d.sync_all())
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        if dir.exists() {
            return Ok(());
        }
        fs::create_dir_all(dir)?;
        match dir.parent() {
            Some(parent) => self.sync_dir(parent),
            None => Ok(()),
        }
    }
}

impl Handle for fs::File {
    fn read_all(&mut self) -> io::Result<Vec<u8>> {
        let mut raw = Vec::new();
        self.read_to_end(&mut raw)?;
        Ok(raw)
    }

    fn size(&self) -> io::Result<u64> {
        self.metadata().map(|m| m.len())
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.write_all_at(bytes, offset)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        fs::File::set_len(self, len)
    }

    fn sync_data(&self) -> io::Result<()> {
        fs::File::sync_data(self)
    }
}
