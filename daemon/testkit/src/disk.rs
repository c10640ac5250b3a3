//! A disk that knows what is durable, and a store on it ([`TwinStore`]) that
//! writes documents through the node's own [`DocFiles`] — the same writes,
//! syncs and renames in the same order as on a real disk.
//!
//! The model, per file: the bytes as the node reads them, the bytes made
//! durable by its last `fdatasync`, and the writes and cuts since, in order.
//! Per directory: the names as they are, the names made durable by its last
//! `fsync`, and the creations and renames since. The index (sled on a real
//! node) is a map whose batches are atomic and durable when `commit`
//! returns, which is what sled's flush and the store's `fdatasync` of sled's
//! log give.
//!
//! A power cut ([`Disk::power_cut`]) keeps what was durable and, of what
//! was not, any prefix of each file's writes since its last sync, the last
//! of them torn at any byte or left as zeros over its length (a size
//! recorded before the data), and any prefix of each directory's changes since
//! its last sync; a batch of the index in flight is kept whole or not at all.
//! A kill ([`Disk::kill`]) keeps everything written, as the operating system's
//! page cache does for a process killed with `kill -9`. Either may strike in
//! the middle of the store's work: [`Disk::fail_after`] lets the power go at
//! the n-th write, sync or rename from now, and every later operation on that
//! disk fails, as on a machine that is off.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use kp_core::ids::DocId;
use kp_store::files::{Files, Handle};
use kp_store::{DocBytes, DocFiles, DocSizes, DocWrite, Entries, Keyspace, Op, Store, StoreError};

/// The key-value map: keyspace and key to value.
pub(crate) type Map = BTreeMap<(Keyspace, Vec<u8>), Vec<u8>>;

/// A write to a file not yet made durable.
#[derive(Debug, Clone)]
enum Pending {
    Write { at: u64, bytes: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Clone, Default)]
struct Inode {
    now: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<Pending>,
}

/// A change to a directory's names not yet made durable.
#[derive(Debug, Clone)]
enum DirOp {
    Link(String, usize),
    Rename(String, String),
    Unlink(String),
}

#[derive(Debug, Clone, Default)]
struct Dir {
    now: BTreeMap<String, usize>,
    durable: BTreeMap<String, usize>,
    pending: Vec<DirOp>,
}

/// Whether the disk works, and for how many more operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Power {
    On { fails_in: Option<u64> },
    Off,
}

#[derive(Debug, Clone)]
struct State {
    inodes: Vec<Inode>,
    dirs: HashMap<PathBuf, Dir>,
    kv: Map,
    /// A batch of the index that was being written when the power went.
    kv_in_flight: Option<Vec<Op>>,
    power: Power,
    /// Whether the index's commits count towards an armed failure.
    index_counts: bool,
    /// Writes, syncs and renames done since the disk was made.
    ops: u64,
}

/// A disk in memory that knows what is durable (see the module's text). A
/// clone is a handle on the same disk.
#[derive(Debug, Clone)]
pub struct Disk(Arc<Mutex<State>>);

impl Default for Disk {
    fn default() -> Self {
        Self::new()
    }
}

fn off() -> io::Error {
    io::Error::other("the power is off")
}

fn apply(data: &mut Vec<u8>, p: &Pending) {
    match p {
        Pending::Write { at, bytes } => {
            let at = *at as usize;
            if data.len() < at + bytes.len() {
                data.resize(at + bytes.len(), 0);
            }
            data[at..at + bytes.len()].copy_from_slice(bytes);
        }
        Pending::SetLen(n) => data.resize(*n as usize, 0),
    }
}

fn apply_dir(names: &mut BTreeMap<String, usize>, op: &DirOp) {
    match op {
        DirOp::Link(name, inode) => {
            names.insert(name.clone(), *inode);
        }
        DirOp::Rename(from, to) => {
            if let Some(inode) = names.remove(from) {
                names.insert(to.clone(), inode);
            }
        }
        DirOp::Unlink(name) => {
            names.remove(name);
        }
    }
}

/// What a name on a [`Disk`] stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A file, by its inode (see [`Disk::file_at`]).
    File(usize),
    /// A directory (directories are made at once and durably: the node and
    /// its index make theirs when they open, before anything in them counts).
    Dir,
}

/// splitmix64, for the choices a power cut makes.
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn split(path: &Path) -> io::Result<(PathBuf, String)> {
    match (path.parent(), path.file_name().and_then(|n| n.to_str())) {
        (Some(dir), Some(name)) => Ok((dir.to_owned(), name.to_owned())),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        )),
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("no directory {}", path.display()),
    )
}

impl Disk {
    /// An empty disk, powered.
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(State {
            inodes: Vec::new(),
            dirs: HashMap::new(),
            kv: Map::new(),
            kv_in_flight: None,
            power: Power::On { fails_in: None },
            index_counts: true,
            ops: 0,
        })))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets the power go at the `n`-th write, sync or rename from now
    /// (`n` ≥ 1): that operation may be partly done (see [`Disk::power_cut`])
    /// and fails, as does every later one.
    pub fn fail_after(&self, n: u64) {
        self.arm(n, true);
    }

    /// As [`Disk::fail_after`], counting the documents' files' writes,
    /// syncs and renames only: the power still goes between two commits of
    /// the index, never during one. What a simulation arms, where the index
    /// is also written by threads of their own (the refresh after a start)
    /// whose order against the rest is not the seed's.
    pub fn fail_after_file_ops(&self, n: u64) {
        self.arm(n, false);
    }

    fn arm(&self, n: u64, index_counts: bool) {
        let mut st = self.state();
        if st.power != Power::Off {
            st.power = Power::On {
                fails_in: Some(n.max(1)),
            };
            st.index_counts = index_counts;
        }
    }

    /// Takes back a failure armed by [`Disk::fail_after`] that has not struck.
    pub fn fail_never(&self) {
        let mut st = self.state();
        if st.power != Power::Off {
            st.power = Power::On { fails_in: None };
        }
    }

    /// Turns the power off now: every later operation fails.
    pub fn switch_off(&self) {
        self.state().power = Power::Off;
    }

    /// Whether the power is off.
    pub fn is_off(&self) -> bool {
        self.state().power == Power::Off
    }

    /// Writes, syncs and renames done on this disk so far.
    pub fn ops(&self) -> u64 {
        self.state().ops
    }

    /// What the disk holds after its power was cut: what was durable, and of
    /// the rest what `seed` chooses (see the module's text). This disk stays
    /// off; the returned one is powered.
    pub fn power_cut(&self, seed: u64) -> Disk {
        let mut seed = seed;
        let mut st = self.state();
        st.power = Power::Off;
        let mut after = st.clone();
        for inode in &mut after.inodes {
            let mut data = std::mem::take(&mut inode.durable);
            let keep = (next(&mut seed) % (inode.pending.len() as u64 + 1)) as usize;
            for p in &inode.pending[..keep] {
                apply(&mut data, p);
            }
            // The next write may have reached the disk in part: a prefix of
            // its bytes, or (one time in three) the file's new length with
            // zeros where its bytes were, as a file system that recorded
            // the size before the data leaves it.
            if let Some(Pending::Write { at, bytes }) = inode.pending.get(keep)
                && !bytes.is_empty()
            {
                let cut = next(&mut seed);
                let kept = if cut % 3 == 2 {
                    vec![0; bytes.len()]
                } else {
                    bytes[..(cut / 3 % bytes.len() as u64) as usize].to_vec()
                };
                apply(
                    &mut data,
                    &Pending::Write {
                        at: *at,
                        bytes: kept,
                    },
                );
            }
            *inode = Inode {
                now: data.clone(),
                durable: data,
                pending: Vec::new(),
            };
        }
        for dir in after.dirs.values_mut() {
            let mut names = std::mem::take(&mut dir.durable);
            let keep = (next(&mut seed) % (dir.pending.len() as u64 + 1)) as usize;
            for op in &dir.pending[..keep] {
                apply_dir(&mut names, op);
            }
            *dir = Dir {
                now: names.clone(),
                durable: names,
                pending: Vec::new(),
            };
        }
        if let Some(batch) = after.kv_in_flight.take()
            && next(&mut seed).is_multiple_of(2)
        {
            commit_to(&mut after.kv, batch);
        }
        after.power = Power::On { fails_in: None };
        Disk(Arc::new(Mutex::new(after)))
    }

    /// What the disk holds after the process using it was killed: everything
    /// written (durable or not, as the page cache keeps it), the operation in
    /// flight done or not as `seed` chooses. This disk stays off; the returned
    /// one is powered.
    pub fn kill(&self, seed: u64) -> Disk {
        let mut st = self.state();
        st.power = Power::Off;
        let mut after = st.clone();
        if let Some(batch) = after.kv_in_flight.take()
            && seed.is_multiple_of(2)
        {
            commit_to(&mut after.kv, batch);
        }
        after.power = Power::On { fails_in: None };
        Disk(Arc::new(Mutex::new(after)))
    }

    /// Counts one write, sync or rename: `Ok(true)` if it is done whole,
    /// `Ok(false)` if the power goes during it (it may be partly done and
    /// must then fail), `Err` if the power is off.
    fn step(st: &mut State) -> io::Result<bool> {
        Self::step_of(st, true)
    }

    fn step_of(st: &mut State, counts: bool) -> io::Result<bool> {
        match st.power {
            Power::Off => Err(off()),
            Power::On { fails_in } => {
                st.ops += 1;
                match fails_in.filter(|_| counts) {
                    Some(1) => {
                        st.power = Power::Off;
                        Ok(false)
                    }
                    Some(n) => {
                        st.power = Power::On {
                            fails_in: Some(n - 1),
                        };
                        Ok(true)
                    }
                    None => Ok(true),
                }
            }
        }
    }

    fn powered(st: &State) -> io::Result<()> {
        match st.power {
            Power::Off => Err(off()),
            Power::On { .. } => Ok(()),
        }
    }

    fn lookup(st: &State, path: &Path) -> io::Result<Option<usize>> {
        let (dir, name) = split(path)?;
        let dir = st.dirs.get(&dir).ok_or_else(|| not_found(&dir))?;
        Ok(dir.now.get(&name).copied())
    }

    /// Makes `path` a new empty file (a new inode under that name).
    fn link_new(st: &mut State, path: &Path) -> io::Result<usize> {
        let (dir, name) = split(path)?;
        let inode = st.inodes.len();
        let d = st.dirs.get_mut(&dir).ok_or_else(|| not_found(&dir))?;
        let op = DirOp::Link(name, inode);
        apply_dir(&mut d.now, &op);
        d.pending.push(op);
        st.inodes.push(Inode::default());
        Ok(inode)
    }

    fn file(&self, inode: usize) -> DiskFile {
        DiskFile {
            disk: self.clone(),
            inode,
        }
    }

    /// What `path` names now, if anything.
    pub fn entry(&self, path: &Path) -> io::Result<Option<Entry>> {
        let st = self.state();
        Disk::powered(&st)?;
        if st.dirs.contains_key(path) {
            return Ok(Some(Entry::Dir));
        }
        Ok(Disk::lookup(&st, path).ok().flatten().map(Entry::File))
    }

    /// The names in directory `dir` now, sorted, with what they stand for.
    pub fn list(&self, dir: &Path) -> io::Result<Vec<(String, Entry)>> {
        let st = self.state();
        Disk::powered(&st)?;
        let d = st.dirs.get(dir).ok_or_else(|| not_found(dir))?;
        let mut names: Vec<(String, Entry)> = d
            .now
            .iter()
            .map(|(name, inode)| (name.clone(), Entry::File(*inode)))
            .collect();
        names.extend(st.dirs.keys().filter_map(|sub| {
            let name = sub.file_name()?.to_str()?;
            (sub.parent() == Some(dir)).then(|| (name.to_owned(), Entry::Dir))
        }));
        names.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(names)
    }

    /// The file of `inode`, open.
    pub fn file_at(&self, inode: usize) -> io::Result<DiskFile> {
        let st = self.state();
        Disk::powered(&st)?;
        if inode >= st.inodes.len() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no inode {inode}"),
            ));
        }
        Ok(self.file(inode))
    }

    /// Takes the name `path` out of its directory (`unlink`): a change to the
    /// directory, durable at its next sync.
    pub fn remove(&self, path: &Path) -> io::Result<()> {
        let (dir, name) = split(path)?;
        let mut st = self.state();
        let whole = Disk::step(&mut st)?;
        let d = st.dirs.get_mut(&dir).ok_or_else(|| not_found(&dir))?;
        if !d.now.contains_key(&name) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no file {}", path.display()),
            ));
        }
        let op = DirOp::Unlink(name);
        apply_dir(&mut d.now, &op);
        d.pending.push(op);
        if whole { Ok(()) } else { Err(off()) }
    }
}

pub(crate) fn commit_to(map: &mut Map, ops: Vec<Op>) {
    for op in ops {
        match op {
            Op::Put(ks, k, v) => {
                map.insert((ks, k), v);
            }
            Op::Delete(ks, k) => {
                map.remove(&(ks, k));
            }
        }
    }
}

/// An open file of a [`Disk`].
#[derive(Debug)]
pub struct DiskFile {
    disk: Disk,
    inode: usize,
}

impl DiskFile {
    /// Records `p` as done (or, when the power goes during it, as possibly
    /// done in part: a power cut keeps any prefix of it).
    fn pending(&self, p: Pending) -> io::Result<()> {
        let mut st = self.disk.state();
        let whole = Disk::step(&mut st)?;
        let inode = &mut st.inodes[self.inode];
        apply(&mut inode.now, &p);
        inode.pending.push(p);
        if whole { Ok(()) } else { Err(off()) }
    }
}

impl DiskFile {
    /// Up to `len` bytes from `offset`, as the file is now.
    pub fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let st = self.disk.state();
        Disk::powered(&st)?;
        let now = &st.inodes[self.inode].now;
        let from = (offset as usize).min(now.len());
        Ok(now[from..(from + len).min(now.len())].to_vec())
    }

    /// The file's inode.
    pub fn inode(&self) -> usize {
        self.inode
    }
}

impl Handle for DiskFile {
    fn read_all(&mut self) -> io::Result<Vec<u8>> {
        let st = self.disk.state();
        Disk::powered(&st)?;
        Ok(st.inodes[self.inode].now.clone())
    }

    fn size(&self) -> io::Result<u64> {
        let st = self.disk.state();
        Disk::powered(&st)?;
        Ok(st.inodes[self.inode].now.len() as u64)
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.pending(Pending::Write {
            at: offset,
            bytes: bytes.to_vec(),
        })
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.pending(Pending::SetLen(len))
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut st = self.disk.state();
        if !Disk::step(&mut st)? {
            return Err(off());
        }
        let inode = &mut st.inodes[self.inode];
        inode.durable = inode.now.clone();
        inode.pending.clear();
        Ok(())
    }
}

impl Files for Disk {
    type Handle = DiskFile;

    fn open(&self, path: &Path) -> io::Result<(DiskFile, bool)> {
        let mut st = self.state();
        match Disk::lookup(&st, path)? {
            Some(inode) => {
                Disk::powered(&st)?;
                Ok((self.file(inode), false))
            }
            None => {
                let whole = Disk::step(&mut st)?;
                let inode = Disk::link_new(&mut st, path)?;
                if !whole {
                    return Err(off());
                }
                Ok((self.file(inode), true))
            }
        }
    }

    fn create(&self, path: &Path) -> io::Result<DiskFile> {
        let mut st = self.state();
        let whole = Disk::step(&mut st)?;
        let inode = match Disk::lookup(&st, path)? {
            Some(inode) => {
                let f = &mut st.inodes[inode];
                let p = Pending::SetLen(0);
                apply(&mut f.now, &p);
                f.pending.push(p);
                inode
            }
            None => Disk::link_new(&mut st, path)?,
        };
        if !whole {
            return Err(off());
        }
        Ok(self.file(inode))
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        let st = self.state();
        Disk::powered(&st)?;
        Ok(Disk::lookup(&st, path)?.map(|i| st.inodes[i].now.clone()))
    }

    fn len(&self, path: &Path) -> io::Result<Option<u64>> {
        let st = self.state();
        Disk::powered(&st)?;
        Ok(Disk::lookup(&st, path)?.map(|i| st.inodes[i].now.len() as u64))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (dir, from_name) = split(from)?;
        let (to_dir, to_name) = split(to)?;
        if dir != to_dir {
            return Err(io::Error::new(
                io::ErrorKind::CrossesDevices,
                "the disk twin renames within one directory",
            ));
        }
        let mut st = self.state();
        let whole = Disk::step(&mut st)?;
        let d = st.dirs.get_mut(&dir).ok_or_else(|| not_found(&dir))?;
        if !d.now.contains_key(&from_name) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no file {}", from.display()),
            ));
        }
        let op = DirOp::Rename(from_name, to_name);
        apply_dir(&mut d.now, &op);
        d.pending.push(op);
        if whole { Ok(()) } else { Err(off()) }
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.state();
        if !Disk::step(&mut st)? {
            return Err(off());
        }
        let d = st.dirs.get_mut(dir).ok_or_else(|| not_found(dir))?;
        d.durable = d.now.clone();
        d.pending.clear();
        Ok(())
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.state();
        Disk::powered(&st)?;
        st.dirs.entry(dir.to_owned()).or_default();
        Ok(())
    }
}

/// The store of a node on a [`Disk`]: the index as an atomic, durable map,
/// the documents through [`DocFiles`], as [`kp_store::SledStore`] keeps them.
#[derive(Debug)]
pub struct TwinStore {
    disk: Disk,
    docs: DocFiles<Disk>,
}

impl TwinStore {
    /// The store on `disk`, as it is (empty or left by an earlier store).
    pub fn open(disk: Disk) -> Result<Self, StoreError> {
        let docs = DocFiles::open(disk.clone(), Path::new("/docs"))?;
        Ok(Self { disk, docs })
    }

    /// The disk it is on.
    pub fn disk(&self) -> &Disk {
        &self.disk
    }

    fn io(e: io::Error) -> StoreError {
        StoreError::Io {
            context: "the index".into(),
            source: e,
        }
    }
}

impl Store for TwinStore {
    fn get(&self, ks: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let st = self.disk.state();
        Disk::powered(&st).map_err(Self::io)?;
        Ok(st.kv.get(&(ks, key.to_vec())).cloned())
    }

    fn scan_prefix(&self, ks: Keyspace, prefix: &[u8]) -> Result<Entries, StoreError> {
        let st = self.disk.state();
        Disk::powered(&st).map_err(Self::io)?;
        Ok(st
            .kv
            .range((ks, prefix.to_vec())..)
            .take_while(|((k, key), _)| *k == ks && key.starts_with(prefix))
            .map(|((_, key), v)| (key.clone(), v.clone()))
            .collect())
    }

    fn commit(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let mut st = self.disk.state();
        let counts = st.index_counts;
        if Disk::step_of(&mut st, counts).map_err(Self::io)? {
            commit_to(&mut st.kv, ops);
            Ok(())
        } else {
            st.kv_in_flight = Some(ops);
            Err(Self::io(off()))
        }
    }

    fn load_doc(&self, id: &DocId) -> Result<DocBytes, StoreError> {
        self.docs.load_doc(id)
    }

    fn write_docs(&self, writes: &[DocWrite]) -> Result<(), StoreError> {
        self.docs.write_docs(writes)
    }

    fn doc_sizes(&self, id: &DocId) -> Result<DocSizes, StoreError> {
        self.docs.doc_sizes(id)
    }

    fn size_on_disk(&self) -> u64 {
        0
    }

    fn index_size_on_disk(&self) -> u64 {
        0
    }
}
