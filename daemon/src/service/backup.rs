//! `kp backup`: a consistent copy of a running node, as a gzipped tar archive
//! (`tar tzf` lists it): the manifest, `kpd.toml`, the node key only when asked
//! for, every document (`docs/ID.whole`: its `save()` with the signatures of
//! its changes, as partners exchange whole documents), the node-wide values
//! (`meta/HEX-KEY`: partners, accounts, installed plugins), and the installed
//! plugins' components (`plugins/SHA256.wasm`).
//!
//! Each document is copied as it is durable at that moment, while the node
//! goes on; a document edited during the backup is in it as of some moment of
//! the backup, whole (never half a change). Sync states with partners are not
//! kept: a restored node starts its sessions afresh, and catches up.

use std::io::Write;

use kp_proto::local as pb;
use prost::Message;
use serde::{Deserialize, Serialize};

use super::{Result, Service, invalid};
use kp_repo::now_secs;

/// The backup's own format (its layout above).
pub(crate) const BACKUP_FORMAT: u32 = 1;

/// The archive's first entry.
pub(crate) const MANIFEST: &str = "kp-backup.json";

/// What a backup says of itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) backup_format: u32,
    pub(crate) node_id: String,
    pub(crate) kpd_version: String,
    /// Unix seconds.
    pub(crate) created_at: i64,
    pub(crate) documents: u64,
    /// Whether `node.key` is in it.
    pub(crate) with_key: bool,
}

/// Writes what it is given to `send` in chunks of about a mebibyte.
struct Chunks<F: FnMut(Vec<u8>) -> bool> {
    buf: Vec<u8>,
    send: F,
}

impl<F: FnMut(Vec<u8>) -> bool> Write for Chunks<F> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 1 << 20 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() && !(self.send)(std::mem::take(&mut self.buf)) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the backup's reader went away",
            ));
        }
        Ok(())
    }
}

fn entry(
    tar: &mut tar::Builder<impl Write>,
    path: &str,
    mode: u32,
    data: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_mtime(u64::try_from(now_secs()).unwrap_or(0));
    header.set_cksum();
    tar.append_data(&mut header, path, data)
}

impl Service {
    /// `kp backup`: streams the archive to `send` (false: the reader went
    /// away, and the backup stops), saying how far it is after each document.
    pub(crate) fn backup(
        &self,
        with_key: bool,
        mut send: impl FnMut(pb::BackupChunk) -> bool,
    ) -> Result<()> {
        let io = |e: std::io::Error| invalid(format!("the backup could not be written: {e}"));
        let docs: Vec<_> = self.repo.list().into_iter().map(|(id, _)| id).collect();
        let total = docs.len() as u64;
        let done = std::cell::Cell::new(0u64);
        let chunks = Chunks {
            buf: Vec::new(),
            send: |data| {
                send(pb::BackupChunk {
                    data,
                    documents_done: done.get(),
                    documents_total: total,
                })
            },
        };
        let gz = flate2::write::GzEncoder::new(chunks, flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        let manifest = Manifest {
            backup_format: BACKUP_FORMAT,
            node_id: self.node.to_string(),
            kpd_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at: now_secs(),
            documents: total,
            with_key,
        };
        let json = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        entry(&mut tar, MANIFEST, 0o644, &json).map_err(io)?;
        let dir = std::path::Path::new(&self.data_dir);
        let config = std::fs::read(dir.join(crate::node::CONFIG_FILE)).map_err(io)?;
        entry(&mut tar, crate::node::CONFIG_FILE, 0o644, &config).map_err(io)?;
        if with_key {
            let key = std::fs::read(dir.join(crate::node::KEY_FILE)).map_err(io)?;
            entry(&mut tar, crate::node::KEY_FILE, 0o600, &key).map_err(io)?;
        }
        for (key, value) in self.repo.scan_meta(b"")? {
            // Sync states are not kept (see above).
            if key.starts_with(kp_sync::STATE_PREFIX) {
                continue;
            }
            let name = format!("meta/{}", hex(&key));
            entry(&mut tar, &name, 0o600, &value).map_err(io)?;
        }
        let plugins = dir.join("plugins");
        if let Ok(list) = std::fs::read_dir(&plugins) {
            for e in list.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(".wasm") && e.path().is_file() {
                    let bytes = std::fs::read(e.path()).map_err(io)?;
                    entry(&mut tar, &format!("plugins/{name}"), 0o644, &bytes).map_err(io)?;
                }
            }
        }
        for id in docs {
            // A document removed meanwhile is simply not in the backup.
            let Some(saved) = self.repo.saved(&id)? else {
                continue;
            };
            let space = self
                .repo
                .meta(&id)
                .and_then(|m| m.space.clone())
                .and_then(|s| s.parse::<kp_core::ids::DocId>().ok())
                .map(|s| s.as_bytes().to_vec())
                .unwrap_or_default();
            let whole = kp_proto::replication::Whole {
                doc: id.as_bytes().to_vec(),
                space,
                document: saved.document,
                signatures: kp_sync::to_wire(saved.signed),
            };
            entry(
                &mut tar,
                &format!("docs/{id}.whole"),
                0o600,
                &whole.encode_to_vec(),
            )
            .map_err(io)?;
            done.set(done.get() + 1);
        }
        let gz = tar.into_inner().map_err(io)?;
        let mut chunks = gz.finish().map_err(io)?;
        chunks.flush().map_err(io)?;
        Ok(())
    }
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
