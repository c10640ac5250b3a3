//! `kp-faultfs MOUNTPOINT`: mounts a file system kept in memory on kp's
//! disk twin ([`kp_testkit::Disk`]) — every write, sync, rename and unlink a
//! process makes there is recorded as the twin records the store's own, and
//! what a power cut keeps is what the twin's model says: what was synced,
//! and any prefix of the rest, the last write torn or zeroed.
//!
//! The power is worked through a file at the mount's root, `.power`:
//!
//! | write            | what happens                                              |
//! |------------------|-----------------------------------------------------------|
//! | `cut SEED`       | the power is cut and comes back: the disk keeps what the twin's cut with `SEED` keeps; files open before it fail from then on |
//! | `fail-after N`   | the power goes at the N-th write, sync, rename or unlink from now, which may be partly done; it and every later one fail (EIO) until a `cut` |
//!
//! Reading `.power` says `on OPS` (operations so far) or `off`.
//!
//! Requests are served one at a time, in the order the kernel passes them:
//! a `cut` written after the last process using the disk was reaped comes
//! after everything that process did. Data is never cached by the kernel
//! (every file is opened for direct I/O, names and attributes are never
//! kept), so what a process reads after a cut is what the disk kept.
//!
//! Mounting needs `/dev/fuse` and root (or `fusermount3`, from Debian's
//! `fuse3`). The file system is unmounted when standard input closes, so a
//! test that dies leaves no mount behind.

use std::ffi::OsStr;
use std::io::{self, BufRead};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use kp_store::files::{Files, Handle};
use kp_testkit::{Disk, Entry};

/// The control file's name and inode.
const POWER: &str = ".power";
const POWER_INO: u64 = 2;
/// Directories are numbered from here (the root is 1), files' inodes from
/// `FILE_BASE`.
const DIR_BASE: u64 = 1 << 20;
const FILE_BASE: u64 = 1 << 32;
/// Nothing is kept by the kernel: a cut changes what is on the disk.
const TTL: Duration = Duration::ZERO;

struct FaultFs {
    disk: Mutex<Disk>,
    /// Directories by number: index 0 is the root.
    dirs: Mutex<Vec<PathBuf>>,
    /// Cuts so far; a file handle is the count at its opening, so handles
    /// from before a cut fail.
    cuts: AtomicU64,
    uid: u32,
    gid: u32,
    born: SystemTime,
}

fn errno(e: &io::Error) -> Errno {
    match e.kind() {
        io::ErrorKind::NotFound => Errno::ENOENT,
        io::ErrorKind::CrossesDevices => Errno::EXDEV,
        io::ErrorKind::InvalidInput => Errno::EINVAL,
        _ => Errno::EIO,
    }
}

impl FaultFs {
    fn disk(&self) -> MutexGuard<'_, Disk> {
        self.disk.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn dirs(&self) -> MutexGuard<'_, Vec<PathBuf>> {
        self.dirs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn dir_ino(&self, path: &Path) -> INodeNo {
        let mut dirs = self.dirs();
        let i = match dirs.iter().position(|d| d == path) {
            Some(i) => i,
            None => {
                dirs.push(path.to_owned());
                dirs.len() - 1
            }
        };
        INodeNo(if i == 0 { 1 } else { DIR_BASE + i as u64 })
    }

    fn dir_path(&self, ino: INodeNo) -> Option<PathBuf> {
        let i = match ino.0 {
            1 => 0,
            n if (DIR_BASE..FILE_BASE).contains(&n) => (n - DIR_BASE) as usize,
            _ => return None,
        };
        self.dirs().get(i).cloned()
    }

    fn file_inode(ino: INodeNo) -> Option<usize> {
        ino.0.checked_sub(FILE_BASE).map(|i| i as usize)
    }

    fn attr(&self, ino: INodeNo, kind: FileType, size: u64) -> FileAttr {
        let dir = kind == FileType::Directory;
        FileAttr {
            ino,
            size,
            blocks: size.div_ceil(512),
            atime: self.born,
            mtime: self.born,
            ctime: self.born,
            crtime: self.born,
            kind,
            perm: if dir { 0o755 } else { 0o644 },
            nlink: if dir { 2 } else { 1 },
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    fn attr_of(&self, ino: INodeNo) -> Result<FileAttr, Errno> {
        if ino.0 == POWER_INO {
            return Ok(self.attr(ino, FileType::RegularFile, 0));
        }
        if let Some(path) = self.dir_path(ino) {
            let entry = self.disk().entry(&path);
            return match entry {
                Ok(Some(Entry::Dir)) => Ok(self.attr(ino, FileType::Directory, 0)),
                Ok(_) => Err(Errno::ENOENT),
                Err(e) => Err(errno(&e)),
            };
        }
        let inode = Self::file_inode(ino).ok_or(Errno::ENOENT)?;
        let size = self
            .disk()
            .file_at(inode)
            .and_then(|f| f.size())
            .map_err(|e| errno(&e))?;
        Ok(self.attr(ino, FileType::RegularFile, size))
    }

    fn entry_attr(&self, path: &Path) -> Result<FileAttr, Errno> {
        let entry = self.disk().entry(path);
        match entry {
            Ok(Some(Entry::Dir)) => Ok(self.attr(self.dir_ino(path), FileType::Directory, 0)),
            Ok(Some(Entry::File(inode))) => self.attr_of(INodeNo(FILE_BASE + inode as u64)),
            Ok(None) => Err(Errno::ENOENT),
            Err(e) => Err(errno(&e)),
        }
    }

    fn child(&self, parent: INodeNo, name: &OsStr) -> Result<PathBuf, Errno> {
        let dir = self.dir_path(parent).ok_or(Errno::ENOTDIR)?;
        let name = name.to_str().ok_or(Errno::EINVAL)?;
        Ok(dir.join(name))
    }

    /// The open file behind `ino`, if `fh` was opened since the last cut.
    fn open_file(&self, ino: INodeNo, fh: FileHandle) -> Result<kp_testkit::DiskFile, Errno> {
        if fh.0 != self.cuts.load(Ordering::SeqCst) {
            return Err(Errno::EIO);
        }
        let inode = Self::file_inode(ino).ok_or(Errno::EISDIR)?;
        self.disk().file_at(inode).map_err(|e| errno(&e))
    }

    fn control(&self, command: &str) -> Result<(), Errno> {
        let words: Vec<&str> = command.split_whitespace().collect();
        match words.as_slice() {
            ["cut", seed] => {
                let seed: u64 = seed.parse().map_err(|_| Errno::EINVAL)?;
                let mut disk = self.disk();
                let after = disk.power_cut(seed);
                *disk = after;
                self.cuts.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            ["fail-after", n] => {
                let n: u64 = n.parse().map_err(|_| Errno::EINVAL)?;
                self.disk().fail_after(n);
                Ok(())
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn status(&self) -> String {
        let disk = self.disk();
        if disk.is_off() {
            "off\n".into()
        } else {
            format!("on {}\n", disk.ops())
        }
    }
}

impl Filesystem for FaultFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if parent.0 == 1 && name == POWER {
            return reply.entry(
                &TTL,
                &self.attr(INodeNo(POWER_INO), FileType::RegularFile, 0),
                Generation(0),
            );
        }
        match self.child(parent, name).and_then(|p| self.entry_attr(&p)) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.attr_of(ino) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        if let (Some(size), Some(inode)) = (size, Self::file_inode(ino)) {
            let done = self.disk().file_at(inode).and_then(|f| f.set_len(size));
            if let Err(e) = done {
                return reply.error(errno(&e));
            }
        }
        self.getattr(req, ino, None, reply);
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let made = self.child(parent, name).and_then(|path| {
            if self.disk().entry(&path).map_err(|e| errno(&e))?.is_some() {
                return Err(Errno::EEXIST);
            }
            self.disk().create_dir_all(&path).map_err(|e| errno(&e))?;
            self.entry_attr(&path)
        });
        match made {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self
            .child(parent, name)
            .and_then(|p| self.disk().remove(&p).map_err(|e| errno(&e)))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let done = self.child(parent, name).and_then(|from| {
            let to = self.child(newparent, newname)?;
            self.disk().rename(&from, &to).map_err(|e| errno(&e))
        });
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.attr_of(ino) {
            Ok(attr) if attr.kind == FileType::RegularFile => reply.opened(
                FileHandle(self.cuts.load(Ordering::SeqCst)),
                FopenFlags::FOPEN_DIRECT_IO,
            ),
            Ok(_) => reply.error(Errno::EISDIR),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let made = self.child(parent, name).and_then(|path| {
            let (file, _) = self.disk().open(&path).map_err(|e| errno(&e))?;
            self.attr_of(INodeNo(FILE_BASE + file.inode() as u64))
        });
        match made {
            Ok(attr) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(self.cuts.load(Ordering::SeqCst)),
                FopenFlags::FOPEN_DIRECT_IO,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        if ino.0 == POWER_INO {
            let status = self.status();
            let from = (offset as usize).min(status.len());
            return reply.data(&status.as_bytes()[from..]);
        }
        match self
            .open_file(ino, fh)
            .and_then(|f| f.read_at(offset, size as usize).map_err(|e| errno(&e)))
        {
            Ok(bytes) => reply.data(&bytes),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        if ino.0 == POWER_INO {
            let done = std::str::from_utf8(data)
                .map_err(|_| Errno::EINVAL)
                .and_then(|c| self.control(c));
            return match done {
                Ok(()) => reply.written(len),
                Err(e) => reply.error(e),
            };
        }
        match self
            .open_file(ino, fh)
            .and_then(|mut f| f.write_at(offset, data).map_err(|e| errno(&e)))
        {
            Ok(()) => reply.written(len),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self
            .open_file(ino, fh)
            .and_then(|f| f.sync_data().map_err(|e| errno(&e)))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let Some(dir) = self.dir_path(ino) else {
            return reply.error(Errno::ENOTDIR);
        };
        let names = match self.disk().list(&dir) {
            Ok(names) => names,
            Err(e) => return reply.error(errno(&e)),
        };
        let mut all = vec![
            (ino, FileType::Directory, ".".to_owned()),
            (ino, FileType::Directory, "..".to_owned()),
        ];
        if ino.0 == 1 {
            all.push((INodeNo(POWER_INO), FileType::RegularFile, POWER.to_owned()));
        }
        for (name, entry) in names {
            all.push(match entry {
                Entry::Dir => (self.dir_ino(&dir.join(&name)), FileType::Directory, name),
                Entry::File(i) => (INodeNo(FILE_BASE + i as u64), FileType::RegularFile, name),
            });
        }
        for (i, (ino, kind, name)) in all.into_iter().enumerate().skip(offset as usize) {
            if reply.add(ino, i as u64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let Some(dir) = self.dir_path(ino) else {
            return reply.error(Errno::ENOTDIR);
        };
        match self.disk().sync_dir(&dir) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(&e)),
        }
    }
}

fn main() {
    const USAGE: &str = "usage: kp-faultfs MOUNTPOINT\n\n\
        Mounts a file system kept in memory whose power can be cut, for kp's power-cut tests.\n\
        Write `cut SEED` to MOUNTPOINT/.power to cut the power and bring it back (what was\n\
        synced is kept, and what SEED chooses of the rest), `fail-after N` to let it go at\n\
        the N-th write, sync, rename or unlink from now; read it for `on OPS` or `off`.\n\
        Unmounts when standard input closes (or says `unmount`). Needs /dev/fuse, and root\n\
        or fusermount3.";
    let mut args = std::env::args_os().skip(1);
    let (Some(mountpoint), None) = (args.next(), args.next()) else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    if mountpoint == "-h" || mountpoint == "--help" {
        println!("{USAGE}");
        return;
    }
    let mountpoint = PathBuf::from(mountpoint);
    let meta = match std::fs::metadata(&mountpoint) {
        Ok(m) if m.is_dir() => m,
        _ => {
            eprintln!(
                "kp-faultfs: {} is not a directory: make it first",
                mountpoint.display()
            );
            std::process::exit(2);
        }
    };
    let disk = Disk::new();
    if let Err(e) = disk.create_dir_all(Path::new("/")) {
        eprintln!("kp-faultfs: {e}");
        std::process::exit(1);
    }
    let fs = FaultFs {
        disk: Mutex::new(disk),
        dirs: Mutex::new(vec![PathBuf::from("/")]),
        cuts: AtomicU64::new(0),
        uid: meta.uid(),
        gid: meta.gid(),
        born: SystemTime::now(),
    };
    let mut config = Config::default();
    config.mount_options = vec![MountOption::FSName("kp-faultfs".into()), MountOption::RW];
    config.n_threads = Some(1);
    let session = match fuser::spawn_mount(fs, &mountpoint, &config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "kp-faultfs: cannot mount on {}: {e} (it needs /dev/fuse, and root or \
                 fusermount3 from Debian's fuse3)",
                mountpoint.display()
            );
            std::process::exit(1);
        }
    };
    println!("mounted {}", mountpoint.display());
    // Until standard input closes (or says "unmount").
    for line in io::stdin().lock().lines() {
        match line {
            Ok(l) if l.trim() == "unmount" => break,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    drop(session);
}
