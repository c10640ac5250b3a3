//! `kpd restore`: a node rebuilt from a backup (`kp backup`; its layout is
//! described in `service/backup.rs`) in a new data directory.
//!
//! Every document is taken in as a partner's whole document is, with the
//! signatures of its changes, so the restored node holds exactly what was
//! backed up and can prove who wrote it. The restored node starts an
//! incarnation its original never reached, so no (actor, sequence) pair is
//! used twice even when the original ran on after the backup; it then catches
//! up with its partners like a node that was down.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kp_core::identity::NodeKey;
use kp_core::ids::DocId;
use kp_repo::{Repo, RepoConfig};
use kp_store::SledStore;
use prost::Message;

use crate::node::{CONFIG_FILE, KEY_FILE, STORE_DIR};
use crate::service::backup::{BACKUP_FORMAT, MANIFEST, Manifest};

/// A restore that could not be done; the directory is left as the error says.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The target directory holds a node or other files already.
    #[error(
        "{0} is not empty: restore into a new or empty directory (it may hold only node.key, \
         for a backup made without the key)"
    )]
    NotEmpty(PathBuf),
    /// The file is not a backup this kpd reads.
    #[error("{file} is not a kp backup this kpd reads: {why}")]
    NotABackup {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The backup holds no node key and none was put in the directory.
    #[error(
        "the backup holds no node key (it was made without --with-key): put the node's node.key \
         in {0} first, or make a backup with `kp backup --with-key`"
    )]
    NoKey(PathBuf),
    /// Reading the backup or writing the node failed.
    #[error("{0}")]
    Io(String),
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The node's id.
    pub node_id: String,
    /// Documents taken in.
    pub documents: u64,
    /// When the backup was made (Unix seconds).
    pub backed_up_at: i64,
}

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> RestoreError {
    move |e| RestoreError::Io(format!("{what}: {e}"))
}

/// Restores the backup `file` into `dir`, calling `progress(done, total)`
/// after each document. A restore that fails leaves `dir` as it found it.
pub fn restore(
    file: &Path,
    dir: &Path,
    progress: impl FnMut(u64, u64),
) -> Result<Restored, RestoreError> {
    let existed = dir.exists();
    let had_key = dir.join(KEY_FILE).exists();
    let restored = restore_into(file, dir, progress);
    if restored.is_err() && !matches!(restored, Err(RestoreError::NotEmpty(_))) {
        // Take back what this restore wrote (the directory was new, or held
        // only the key).
        if let Ok(list) = std::fs::read_dir(dir) {
            for e in list.flatten() {
                if had_key && e.file_name() == KEY_FILE {
                    continue;
                }
                let p = e.path();
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
        if !existed {
            let _ = std::fs::remove_dir(dir);
        }
    }
    restored
}

fn restore_into(
    file: &Path,
    dir: &Path,
    mut progress: impl FnMut(u64, u64),
) -> Result<Restored, RestoreError> {
    if dir.exists() {
        let names: Vec<String> = std::fs::read_dir(dir)
            .map_err(io(dir.display()))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if names.iter().any(|n| n != KEY_FILE) {
            return Err(RestoreError::NotEmpty(dir.to_owned()));
        }
    }
    let not = |why: &str| RestoreError::NotABackup {
        file: file.to_owned(),
        why: why.to_owned(),
    };
    let reader = std::fs::File::open(file).map_err(io(file.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let entries = archive
        .entries()
        .map_err(|e| not(&format!("not a gzipped tar archive ({e})")))?;
    let mut manifest: Option<Manifest> = None;
    let mut repo: Option<Repo> = None;
    let mut metas = Vec::new();
    let mut done = 0u64;
    let mut tickets = Vec::new();
    std::fs::create_dir_all(dir).map_err(io(dir.display()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| not(&format!("a damaged entry ({e})")))?;
        let path = entry
            .path()
            .map_err(|e| not(&format!("an entry with a bad name ({e})")))?
            .to_string_lossy()
            .into_owned();
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| not(&format!("{path} cannot be read ({e})")))?;
        if manifest.is_none() {
            if path != MANIFEST {
                return Err(not("it does not start with kp-backup.json"));
            }
            let m: Manifest = serde_json::from_slice(&data)
                .map_err(|e| not(&format!("its manifest is not readable ({e})")))?;
            if m.backup_format > BACKUP_FORMAT {
                return Err(not(&format!(
                    "it was made by a newer kpd ({}; backup format {}); restore it with that \
                     version or newer",
                    m.kpd_version, m.backup_format
                )));
            }
            manifest = Some(m);
            continue;
        }
        match path.as_str() {
            CONFIG_FILE => {
                std::fs::write(dir.join(CONFIG_FILE), &data).map_err(io(CONFIG_FILE))?;
            }
            KEY_FILE => write_key(&dir.join(KEY_FILE), &data)?,
            p if p.starts_with("meta/") => {
                let key = unhex(&p["meta/".len()..]).ok_or_else(|| not("a bad meta entry"))?;
                metas.push((key, data));
            }
            p if p.starts_with("plugins/") && p.ends_with(".wasm") && !p[8..].contains('/') => {
                let plugins = dir.join("plugins");
                std::fs::create_dir_all(&plugins).map_err(io(plugins.display()))?;
                std::fs::write(plugins.join(&p[8..]), &data).map_err(io(p))?;
            }
            p if p.starts_with("docs/") && p.ends_with(".whole") => {
                if repo.is_none() {
                    repo = Some(open_repo(dir)?);
                }
                let Some(r) = repo.as_ref() else { continue };
                let whole = kp_proto::replication::Whole::decode(data.as_slice())
                    .map_err(|e| not(&format!("{p} is damaged ({e})")))?;
                let id = <[u8; 16]>::try_from(whole.doc.as_slice())
                    .map(DocId::from_bytes)
                    .map_err(|_| not(&format!("{p} names no document")))?;
                let signed = kp_sync::from_wire(&whole.signatures).map_err(|e| not(&e))?;
                let accept =
                    |_: &mut automerge::AutoCommit, _: &[kp_core::authorship::Link]| Ok(());
                let (taken, _) = r
                    .import(&id, &whole.document, &signed, &accept)
                    .map_err(|e| RestoreError::Io(format!("document {id}: {e}")))?;
                tickets.push(taken.ticket);
                done += 1;
                progress(done, manifest.as_ref().map_or(0, |m| m.documents));
            }
            other => return Err(not(&format!("an unknown entry {other}"))),
        }
    }
    let manifest = manifest.ok_or_else(|| not("it is empty"))?;
    let repo = match repo {
        Some(r) => r,
        None => open_repo(dir)?,
    };
    for t in tickets {
        repo.wait(t)
            .map_err(|e| RestoreError::Io(format!("writing the documents: {e}")))?;
    }
    repo.put_metas(metas)
        .map_err(|e| RestoreError::Io(format!("writing the node's values: {e}")))?;
    repo.shutdown();
    crate::config::Config::load(&dir.join(CONFIG_FILE))
        .map_err(|e| RestoreError::Io(format!("the restored kpd.toml: {e}")))?;
    Ok(Restored {
        node_id: manifest.node_id,
        documents: done,
        backed_up_at: manifest.created_at,
    })
}

fn write_key(path: &Path, data: &[u8]) -> Result<(), RestoreError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path.display()))?;
    f.write_all(data).map_err(io(path.display()))?;
    f.sync_all().map_err(io(path.display()))
}

/// The restored node's repository, on an incarnation its original never
/// reached.
fn open_repo(dir: &Path) -> Result<Repo, RestoreError> {
    let key_path = dir.join(KEY_FILE);
    if !key_path.exists() {
        return Err(RestoreError::NoKey(dir.to_owned()));
    }
    let key = NodeKey::load(&key_path).map_err(|e| RestoreError::Io(e.to_string()))?;
    let store = SledStore::open(&dir.join(STORE_DIR), 64 << 20)
        .map_err(|e| RestoreError::Io(e.to_string()))?;
    // An incarnation at 2^40 or above, at random: a node counts its own up by
    // one a start, so it never gets there.
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| RestoreError::Io("no randomness for the new incarnation".into()))?;
    let at_least = (1u64 << 40) | (u64::from_be_bytes(bytes) >> 2);
    kp_repo::reserve_incarnation(&store, at_least).map_err(|e| RestoreError::Io(e.to_string()))?;
    Repo::open(Arc::new(store), key, RepoConfig::default())
        .map_err(|e| RestoreError::Io(e.to_string()))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
