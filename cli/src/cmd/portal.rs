//! `kp portal`: the public portal written out as files.

use std::io::IsTerminal;
use std::path::{Component, Path, PathBuf};

use clap::Subcommand;
use kp_proto::local as pb;
use serde_json::json;

use crate::client::{Ctx, refused};
use crate::output::emit;

/// A build's directory holds this file; another directory is never replaced.
const MARKER: &str = ".kp-portal";

#[derive(Debug, Subcommand)]
pub(super) enum PortalCmd {
    /// Write the public portal out as static files: the same pages the node's
    /// portal serves (publications, open data with CSV and data packages,
    /// the Atom feed), for an institution that publishes through its own web
    /// server. The spaces shown are those of `[portal] spaces` in kpd.toml.
    ///
    /// Links are relative, so the files work under any address. DIR is
    /// replaced whole once every file is written (a page that is no longer
    /// published disappears); a directory that is not empty and was not
    /// written by this command is never touched. Views and downloads of a
    /// static copy are not counted by the node: the web server's own
    /// statistics count them.
    #[command(after_help = "\
Examples:
  kp portal build site
  kp portal build site --json            (again: the files are replaced whole)")]
    Build {
        /// The directory to write (created if missing).
        dir: PathBuf,
    },
}

/// `kp portal …`.
pub(super) async fn handle(ctx: &mut Ctx, cmd: PortalCmd) -> anyhow::Result<()> {
    let PortalCmd::Build { dir } = cmd;
    build(ctx, &dir).await
}

async fn build(ctx: &mut Ctx, dir: &Path) -> anyhow::Result<()> {
    if dir.exists() && !dir.is_dir() {
        anyhow::bail!(
            "{} is a file: name a directory to write the portal to",
            dir.display()
        );
    }
    if dir.is_dir() && !dir.join(MARKER).exists() && std::fs::read_dir(dir)?.next().is_some() {
        anyhow::bail!(
            "{} is not empty and holds no earlier portal build: name a new or empty directory \
             (nothing was written)",
            dir.display()
        );
    }
    let files = ctx
        .api
        .portal_paths(pb::PortalPathsRequest {})
        .await
        .map_err(refused)?
        .into_inner()
        .files;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "portal".into());
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)?;
    let staging = staging_dir(&parent, &name)?;
    let result = write_all(ctx, &files, &staging).await;
    let bytes = match result {
        Ok(b) => b,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    std::fs::write(staging.join(MARKER), "written by kp portal build\n")?;
    // Swap: the old build (if any) moves aside, the new one takes its name.
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    if dir.exists() {
        std::fs::rename(dir, &old)?;
    }
    if let Err(e) = std::fs::rename(&staging, dir) {
        if old.exists() {
            let _ = std::fs::rename(&old, dir);
        }
        return Err(anyhow::anyhow!(
            "cannot put the portal in place at {}: {e}",
            dir.display()
        ));
    }
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    let report = json!({ "dir": dir.display().to_string(), "files": files.len(), "bytes": bytes });
    emit(ctx.json, &report, |_| {
        outln!(
            "wrote {} files ({} KiB) to {}",
            files.len(),
            bytes.div_ceil(1024),
            dir.display()
        );
        Ok(())
    })
}

/// A new directory beside the target, for the files until all are written.
fn staging_dir(parent: &Path, name: &str) -> anyhow::Result<PathBuf> {
    for n in 0..1000u32 {
        let p = parent.join(format!(".{name}.new-{}-{n}", std::process::id()));
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(anyhow::anyhow!("cannot write in {}: {e}", parent.display())),
        }
    }
    anyhow::bail!("cannot make a working directory in {}", parent.display())
}

async fn write_all(ctx: &mut Ctx, files: &[pb::PortalFileRef], root: &Path) -> anyhow::Result<u64> {
    let progress = std::io::stderr().is_terminal() && !ctx.json;
    let mut bytes = 0u64;
    for (i, f) in files.iter().enumerate() {
        let rel = Path::new(&f.file);
        if f.file.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            anyhow::bail!("the node named a file outside the portal: {:?}", f.file);
        }
        let page = ctx
            .api
            .portal_file(pb::PortalFileRequest {
                path: f.path.clone(),
            })
            .await
            .map_err(refused)?
            .into_inner();
        let to = root.join(rel);
        if let Some(p) = to.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::write(&to, &page.content)?;
        bytes += page.content.len() as u64;
        if progress {
            eprint!("\r{}/{} files", i + 1, files.len());
        }
    }
    if progress {
        eprintln!();
    }
    Ok(bytes)
}
