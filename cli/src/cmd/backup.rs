//! `kp backup`: a consistent copy of the running node, to a file.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use kp_proto::local as pb;
use serde_json::json;

use crate::client::{Ctx, refused};
use crate::output::emit;

/// `kp backup`.
#[derive(Debug, Args)]
pub(super) struct BackupArgs {
    /// The file to write (not overwritten: name a new one).
    file: PathBuf,
    /// Include the node's private key, so that `kpd restore` rebuilds this
    /// very node (the file is then as secret as the key).
    #[arg(long)]
    with_key: bool,
}

/// Writes the node's backup to the file, through a temporary file beside it
/// (a backup cut short leaves no file that looks whole).
pub(super) async fn backup(ctx: &mut Ctx, a: BackupArgs) -> anyhow::Result<()> {
    if a.file.exists() {
        anyhow::bail!(
            "{} exists: name a new file (a backup never overwrites one)",
            a.file.display()
        );
    }
    let dir = match a.file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = a
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".into());
    let tmp = dir.join(format!(".{name}.part-{}", std::process::id()));
    let result = write(ctx, &a, &tmp).await;
    match result {
        Ok((bytes, docs)) => {
            std::fs::rename(&tmp, &a.file)
                .with_context(|| format!("cannot put the backup at {}", a.file.display()))?;
            let report = json!({
                "file": a.file.display().to_string(),
                "bytes": bytes,
                "documents": docs,
                "with_key": a.with_key,
            });
            emit(ctx.json, &report, |_| {
                outln!(
                    "wrote {} ({} documents, {} KiB{})",
                    a.file.display(),
                    docs,
                    bytes.div_ceil(1024),
                    if a.with_key {
                        ", with the node key: keep it as safe as the key"
                    } else {
                        ""
                    }
                );
                Ok(())
            })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

async fn write(ctx: &mut Ctx, a: &BackupArgs, tmp: &Path) -> anyhow::Result<(u64, u64)> {
    // Owner-only: a backup holds every document (and the key when asked).
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    let mut stream = ctx
        .api
        .backup(pb::BackupRequest {
            with_key: a.with_key,
        })
        .await
        .map_err(refused)?
        .into_inner();
    let progress = std::io::stderr().is_terminal() && !ctx.json;
    let (mut bytes, mut docs) = (0u64, 0u64);
    while let Some(chunk) = stream.message().await.map_err(refused)? {
        file.write_all(&chunk.data)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        bytes += chunk.data.len() as u64;
        docs = chunk.documents_done;
        if progress {
            eprint!(
                "\rbacking up: {}/{} documents, {} KiB",
                chunk.documents_done,
                chunk.documents_total,
                bytes / 1024
            );
        }
    }
    if progress {
        eprintln!();
    }
    file.sync_all()
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    Ok((bytes, docs))
}
