//! The node's analysis plugins: which are installed (a record in the store and
//! the `.wasm` under `plugins/` in the data directory), the sandboxed host that
//! runs them (`kp-plugin-host`), and the document views they are given.
//!
//! The host is started on first use, so a node that never runs a plugin pays
//! nothing for it. Compiled components are cached in `plugins/compiled/`; they
//! are only ever compiled here, from the `.wasm` a user installed.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use kp_plugin_host::{DocumentView, Host, Limits, Plugin, PluginInfo};
use serde::{Deserialize, Serialize};

use crate::config::PluginsSection;
use kp_model::ModelError;
use kp_repo::{Repo, RepoError, now_secs};

/// The store key of the installed-plugin list.
const PLUGINS_KEY: &[u8] = b"plugins";
/// The directory under the data directory.
pub(crate) const PLUGINS_DIR: &str = "plugins";

/// An installed plugin, as recorded in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Installed {
    /// What its `describe` said.
    pub info: PluginInfo,
    /// Hex SHA-256 of the component.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Unix seconds.
    pub installed_at: i64,
    /// The contract it was built against (`kp:analysis@0.2.0`); plugins
    /// recorded before there was a choice are of 0.1.0.
    #[serde(default = "contract_0_1")]
    pub contract: String,
}

fn contract_0_1() -> String {
    kp_plugin_host::Contract::V0_1.package()
}

/// Installed plugins and the host that runs them.
#[derive(Debug)]
pub(crate) struct Plugins {
    repo: Repo,
    dir: PathBuf,
    cfg: PluginsSection,
    host: OnceLock<Result<Host, String>>,
    loaded: Mutex<HashMap<String, Arc<Plugin>>>,
    /// Serialises changes to the installed list.
    list: Mutex<()>,
    running: Mutex<u32>,
    slot_free: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What can go wrong with analysis plugins.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum PluginError {
    /// The request was refused (no such plugin, one that does not apply, a
    /// plugin that failed or broke its limits); nothing changed.
    #[error(transparent)]
    Refused(#[from] ModelError),
    /// The store failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The node cannot run plugins now: its wasm host did not start, or a
    /// stored plugin or the plugin list is missing or damaged.
    #[error("{0}")]
    Unavailable(String),
}

fn invalid(msg: impl Into<String>) -> PluginError {
    PluginError::Refused(ModelError::invalid(msg))
}

fn not_found(msg: String) -> PluginError {
    PluginError::Refused(ModelError::NotFound(msg))
}

fn io_error(what: &str, e: std::io::Error) -> PluginError {
    PluginError::Unavailable(format!("{what}: {e}"))
}

impl Plugins {
    /// The plugins of the node whose data directory is `data_dir`.
    pub(crate) fn new(repo: Repo, data_dir: PathBuf, cfg: PluginsSection) -> Self {
        Self {
            repo,
            dir: data_dir.join(PLUGINS_DIR),
            cfg,
            host: OnceLock::new(),
            loaded: Mutex::new(HashMap::new()),
            list: Mutex::new(()),
            running: Mutex::new(0),
            slot_free: Condvar::new(),
        }
    }

    fn host(&self) -> Result<&Host, PluginError> {
        let host = self.host.get_or_init(|| {
            let limits = Limits {
                fuel: self.cfg.fuel,
                timeout_ms: self.cfg.timeout_ms,
                memory_mib: self.cfg.memory_mib,
                max_report_kib: self.cfg.max_report_kib,
                max_report_items: self.cfg.max_report_items,
                max_log_bytes: self.cfg.max_log_kib * 1024,
                max_concurrent: self.cfg.max_concurrent,
            };
            Host::new(limits, Some(self.dir.join("compiled"))).map_err(|e| e.to_string())
        });
        host.as_ref()
            .map_err(|e| PluginError::Unavailable(format!("the plugin host cannot start: {e}")))
    }

    /// The installed plugins, by name.
    pub(crate) fn list(&self) -> Result<Vec<Installed>, PluginError> {
        let mut list: Vec<Installed> = match self.repo.get_meta(PLUGINS_KEY)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                PluginError::Unavailable(format!("the stored plugin list is damaged: {e}"))
            })?,
            None => Vec::new(),
        };
        list.sort_by(|a, b| a.info.name.cmp(&b.info.name));
        Ok(list)
    }

    fn save(&self, list: &[Installed]) -> Result<(), PluginError> {
        let bytes = serde_json::to_vec(list)
            .map_err(|e| PluginError::Unavailable(format!("cannot encode the plugin list: {e}")))?;
        Ok(self.repo.put_meta(PLUGINS_KEY, bytes)?)
    }

    /// One installed plugin.
    pub(crate) fn get(&self, name: &str) -> Result<Installed, PluginError> {
        let name = name.trim();
        self.list()?
            .into_iter()
            .find(|p| p.info.name == name)
            .ok_or_else(|| {
                not_found(format!(
                    "no plugin named `{name}` is installed (`kp plugin list` shows them)"
                ))
            })
    }

    fn wasm_path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.wasm"))
    }

    /// Checks, compiles and records a component. A plugin of the same name is
    /// replaced (an upgrade); the same bytes again change nothing.
    pub(crate) fn install(&self, wasm: &[u8], file: &str) -> Result<Installed, PluginError> {
        let max = self.cfg.max_wasm_kib * 1024;
        if wasm.len() > max {
            return Err(PluginError::Refused(ModelError::TooLarge(format!(
                "{file} is {} KiB; the limit is {} KiB (plugins.max_wasm_kib in kpd.toml)",
                wasm.len() / 1024,
                self.cfg.max_wasm_kib
            ))));
        }
        let plugin = self
            .host()?
            .load(wasm)
            .map_err(|e| invalid(format!("{file}: {e}")))?;
        std::fs::create_dir_all(&self.dir).map_err(|e| io_error("plugins directory", e))?;
        let path = self.wasm_path(plugin.sha256());
        let tmp = path.with_extension("wasm.tmp");
        std::fs::write(&tmp, wasm)
            .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| io_error(&path.display().to_string(), e))?;
        let installed = Installed {
            info: plugin.info().clone(),
            sha256: plugin.sha256().to_owned(),
            size: wasm.len() as u64,
            installed_at: now_secs(),
            contract: plugin.contract().package(),
        };
        let _guard = lock(&self.list);
        let mut list = self.list()?;
        if let Some(same) = list
            .iter()
            .find(|p| p.info.name == installed.info.name && p.sha256 == installed.sha256)
        {
            return Ok(same.clone());
        }
        let replaced: Vec<String> = list
            .iter()
            .filter(|p| p.info.name == installed.info.name)
            .map(|p| p.sha256.clone())
            .collect();
        list.retain(|p| p.info.name != installed.info.name);
        list.push(installed.clone());
        self.save(&list)?;
        lock(&self.loaded).insert(installed.sha256.clone(), Arc::new(plugin));
        self.forget_unused(&list, &replaced);
        Ok(installed)
    }

    /// Removes a plugin. Analyses it made stay.
    pub(crate) fn remove(&self, name: &str) -> Result<Installed, PluginError> {
        let _guard = lock(&self.list);
        let gone = self.get(name)?;
        let mut list = self.list()?;
        list.retain(|p| p.info.name != gone.info.name);
        self.save(&list)?;
        self.forget_unused(&list, std::slice::from_ref(&gone.sha256));
        Ok(gone)
    }

    /// Drops the files of components no installed plugin uses any more.
    fn forget_unused(&self, list: &[Installed], shas: &[String]) {
        for sha in shas {
            if list.iter().all(|p| &p.sha256 != sha) {
                lock(&self.loaded).remove(sha);
                let _ = std::fs::remove_file(self.wasm_path(sha));
            }
        }
    }

    /// The loaded plugin of a record (compiled, or from the cache).
    fn loaded(&self, p: &Installed) -> Result<Arc<Plugin>, PluginError> {
        if let Some(l) = lock(&self.loaded).get(&p.sha256) {
            return Ok(Arc::clone(l));
        }
        let path = self.wasm_path(&p.sha256);
        let wasm = std::fs::read(&path).map_err(|e| io_error(&path.display().to_string(), e))?;
        if kp_plugin_host::sha256_hex(&wasm) != p.sha256 {
            return Err(PluginError::Unavailable(format!(
                "{} does not match its recorded hash; install the plugin again",
                path.display()
            )));
        }
        let plugin = Arc::new(
            self.host()?
                .load(&wasm)
                .map_err(|e| PluginError::Refused(ModelError::Plugin(e.to_string())))?,
        );
        lock(&self.loaded).insert(p.sha256.clone(), Arc::clone(&plugin));
        Ok(plugin)
    }

    /// Runs `name` on `doc` (its kind, themes and parameters are checked
    /// first; `given` gets the plugin's defaults). Waits for a free run slot.
    pub(crate) fn run(
        &self,
        name: &str,
        mut doc: DocumentView,
        given: &BTreeMap<String, String>,
    ) -> Result<(Installed, kp_plugin_host::RunOutput, DocumentView), PluginError> {
        let record = self.get(name)?;
        record
            .info
            .check_applies(doc.kind, &doc.themes)
            .map_err(invalid)?;
        doc.params = record.info.apply_params(given).map_err(invalid)?;
        let plugin = self.loaded(&record)?;
        let host = self.host()?;
        let _slot = self.slot(host.limits().max_concurrent.max(1));
        let out = host.run(&plugin, &doc).map_err(|e| {
            let mut msg = format!("plugin {}: {}", record.info.name, e.error);
            if let Some(last) = e.logs.iter().rev().find(|l| l.level != "stderr") {
                msg.push_str(&format!(" (last log: {}: {})", last.level, last.message));
            }
            PluginError::Refused(ModelError::Plugin(msg))
        })?;
        Ok((record, out, doc))
    }

    fn slot(&self, max: u32) -> Slot<'_> {
        let mut running = lock(&self.running);
        while *running >= max {
            running = self
                .slot_free
                .wait(running)
                .unwrap_or_else(|e| e.into_inner());
        }
        *running += 1;
        Slot(self)
    }
}

/// A run slot, given back when dropped.
struct Slot<'a>(&'a Plugins);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut running = lock(&self.0.running);
        *running = running.saturating_sub(1);
        self.0.slot_free.notify_one();
    }
}
