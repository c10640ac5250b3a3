//! The compiled-component cache: one file per (component hash, engine
//! compatibility hash, wasmtime version) in a directory of this node's.
//!
//! Loading a compiled artifact is `unsafe` in wasmtime because the bytes are
//! machine code that is trusted, not checked. This cache only ever holds
//! artifacts that this host compiled itself and wrote into the node's own data
//! directory; compiled code is never accepted from anyone else (peers and users
//! hand over `.wasm`, which is compiled here).

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use ring::digest;
use wasmtime::Engine;
use wasmtime::component::Component;

/// A `Hasher` over SHA-256, so the key does not depend on std's hasher.
struct Sha(digest::Context);

impl Hasher for Sha {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// The file name of a component's artifact.
pub(crate) fn key(engine: &Engine, sha256: &str) -> String {
    let mut h = Sha(digest::Context::new(&digest::SHA256));
    engine.precompile_compatibility_hash().hash(&mut h);
    let engine_hash = super::hex(&h.0.finish().as_ref()[..8]);
    // The version is in the key too: a new wasmtime never reads an old artifact.
    format!(
        "{sha256}-{engine_hash}-wasmtime{}.cwasm",
        wasmtime_version()
    )
}

fn wasmtime_version() -> &'static str {
    "48.0.8"
}

/// The cached artifact, if there is one and it loads. An artifact that does not
/// load is removed (it is compiled again).
pub(crate) fn load(engine: &Engine, dir: &Path, key: &str) -> Option<Component> {
    let path = dir.join(key);
    let bytes = std::fs::read(&path).ok()?;
    match deserialize(engine, &bytes) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!("{}: cannot load ({e}); compiling again", path.display());
            let _ = std::fs::remove_file(&path);
            None
        }
    }
}

/// Loads an artifact this host compiled.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `bytes` were written by `store` below from `Component::serialize`
    // of a component this host compiled, into the node's own data directory
    // (mode 0700); the key binds them to the engine's configuration and the
    // wasmtime version, and wasmtime checks both again before loading.
    // Artifacts from anywhere else are never loaded.
    unsafe { Component::deserialize(engine, bytes) }
}

/// Writes a component's artifact (a temporary file, then a rename, so a reader
/// never sees half of one). Failure only costs a compile next time.
pub(crate) fn store(dir: &Path, key: &str, component: &Component) {
    let write = || -> std::io::Result<()> {
        let bytes = component
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("{key}.tmp{}-{n}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, dir.join(key))
    };
    if let Err(e) = write() {
        tracing::warn!("cannot cache the compiled plugin in {}: {e}", dir.display());
    }
}
