//! Reading what a command sends from files or standard input, within a size
//! limit.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use kp_proto::local as pb;

/// The most a command reads from one file or from standard input, and how to
/// say so when an input is larger. Reading stops one byte past the limit, so
/// `/dev/zero` or an endless pipe ends at once, and never fills memory.
#[derive(Debug, Clone)]
pub(crate) struct Bound {
    /// Bytes the limit names.
    bytes: u64,
    /// Bytes accepted beyond it, for what a file carries besides (not said
    /// in the message: the limit is the node's).
    margin: u64,
    /// What the limit is for ("a draft's text").
    what: &'static str,
    /// Whose limit it is ("this node's").
    whose: &'static str,
    /// How it is raised, or why it is not.
    how: String,
}

impl Bound {
    /// A limit of the node, `kib` as it reports it, raised by `setting` in its
    /// kpd.toml (written as `[section] key`).
    pub(crate) fn node(kib: u64, what: &'static str, setting: &str) -> Self {
        Self {
            bytes: kib.saturating_mul(1024),
            margin: 0,
            what,
            whose: "this node's",
            how: format!("`{setting}` in kpd.toml raises it"),
        }
    }

    /// A limit of kp's own, for inputs that no node reads.
    pub(crate) fn fixed(bytes: u64, what: &'static str, why: &str) -> Self {
        Self {
            bytes,
            margin: 0,
            what,
            whose: "kp's",
            how: why.to_owned(),
        }
    }

    /// The node's limit on a draft's text (which also bounds a report's).
    pub(crate) fn text(limits: &pb::NodeLimits, what: &'static str) -> Self {
        Self::node(limits.max_text_kib, what, "[limits] max_text_kib")
    }

    /// The same limit with `extra` bytes more, for a file that carries
    /// something besides what the limit is for.
    pub(crate) fn with_margin(&self, extra: u64) -> Self {
        Self {
            margin: self.margin.saturating_add(extra),
            ..self.clone()
        }
    }

    /// Bytes accepted.
    fn accepted(&self) -> u64 {
        self.bytes.saturating_add(self.margin)
    }

    /// Refuses `len` bytes read from `path` if they are over the limit.
    pub(crate) fn check(&self, path: &Path, len: u64) -> anyhow::Result<()> {
        if len <= self.accepted() {
            return Ok(());
        }
        let kib = self.bytes / 1024;
        let mib = if kib >= 1024 && kib.is_multiple_of(1024) {
            format!(" ({} MiB)", kib / 1024)
        } else {
            String::new()
        };
        anyhow::bail!(
            "{} is over {} limit for {}: the limit is {kib} KiB{mib}; {}",
            input_name(path),
            self.whose,
            self.what,
            self.how
        )
    }
}

fn input_name(path: &Path) -> String {
    if path == Path::new("-") {
        "standard input".into()
    } else {
        path.display().to_string()
    }
}

/// Reads a text file (or standard input for `-`) of at most `bound`, refusing
/// bytes that are not UTF-8.
pub(crate) fn read_text(path: &Path, bound: &Bound) -> anyhow::Result<String> {
    let bytes = read_bytes(path, bound)?;
    String::from_utf8(bytes).map_err(|e| {
        let line = e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        anyhow::anyhow!(
            "{}: line {line}: not UTF-8 text (save the file as UTF-8 and try again)",
            path.display()
        )
    })
}

/// Reads a file (or standard input for `-`) of at most `bound`.
pub(crate) fn read_bytes(path: &Path, bound: &Bound) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(bound.accepted().saturating_add(1))
            .read_to_end(&mut buf)
            .context("reading standard input")?;
    } else {
        let cannot = || format!("cannot read {}", path.display());
        let file = std::fs::File::open(path).with_context(cannot)?;
        // A regular file says its size: one over the limit is refused unread.
        // Devices and pipes say 0 and are read up to the limit.
        bound.check(path, file.metadata().with_context(cannot)?.len())?;
        file.take(bound.accepted().saturating_add(1))
            .read_to_end(&mut buf)
            .with_context(cannot)?;
    }
    bound.check(path, buf.len() as u64)?;
    Ok(buf)
}
