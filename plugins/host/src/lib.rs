//! The sandboxed host for kp analysis plugins.
//!
//! A plugin is a WebAssembly component of the `analysis` world in
//! `plugins/wit/analysis.wit` (package `kp:analysis@0.2.0`; plugins built
//! against `kp:analysis@0.1.0`, `plugins/wit/0.1.0/`, still run: see
//! [`Contract`]). [`Host`] checks a
//! component when it is installed, compiles it (or loads the artifact it
//! compiled earlier from its cache directory), reads its `describe`, and runs
//! `analyze` on a [`DocumentView`] in a fresh instance each time.
//!
//! The sandbox:
//! - no file system, network, environment or arguments; a deterministic WASI
//!   (frozen wall and monotonic clocks, random generators seeded from the
//!   plugin's hash, the input's heads and the parameters), stdout and stderr
//!   captured into the run's log;
//! - a fuel budget (deterministic: the same run uses the same fuel on every
//!   node), an epoch deadline as a wall-clock backstop, a memory limit, and a
//!   limit on the size of the report;
//! - a report is checked before it is returned: finite numbers, anchors inside
//!   the text and on character boundaries, tables with columns of equal length,
//!   figures that can be drawn as they say ([`view::Figure::check`]).
//!
//! Compiled artifacts are only ever produced by this host: a node never loads
//! compiled code it did not compile itself.

mod cache;
mod check;
mod convert;
mod error;
pub mod view;

use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use ring::digest;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub use error::PluginError;
pub use view::{DocKind, DocumentView, PluginInfo, Report};

/// The generated bindings of the `analysis` world, as of now.
#[allow(missing_docs, missing_debug_implementations, unreachable_pub)]
mod bindings {
    wasmtime::component::bindgen!({ world: "analysis", path: "../wit" });
}

/// The generated bindings of the `analysis` world of contract 0.1.0.
#[allow(missing_docs, missing_debug_implementations, unreachable_pub)]
mod bindings_0_1 {
    wasmtime::component::bindgen!({ world: "analysis", path: "../wit/0.1.0" });
}

/// A version of the plugin contract this host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Contract {
    /// `kp:analysis@0.1.0`: text parameters, reports without figures.
    V0_1,
    /// `kp:analysis@0.2.0`: typed parameters, figures.
    V0_2,
}

impl Contract {
    /// Every version this host runs, newest first.
    pub const ALL: &'static [Contract] = &[Contract::V0_2, Contract::V0_1];
    /// The version plugins are built against now (the SDK's).
    pub const CURRENT: Contract = Contract::V0_2;

    /// `0.2.0`.
    pub fn version(self) -> &'static str {
        match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2 => "0.2.0",
        }
    }

    /// `kp:analysis@0.2.0`.
    pub fn package(self) -> String {
        format!("kp:analysis@{}", self.version())
    }

    /// The interface a plugin of this version exports:
    /// `kp:analysis/analyzer@0.2.0`.
    pub fn analyzer_export(self) -> String {
        format!("kp:analysis/analyzer@{}", self.version())
    }

    /// The versions this host runs, for a message: `kp:analysis@0.2.0 and
    /// kp:analysis@0.1.0`.
    pub fn supported() -> String {
        let all: Vec<String> = Contract::ALL.iter().map(|c| c.package()).collect();
        all.join(" and ")
    }
}

/// The contract plugins are built against now.
pub const SUPPORTED_API: &str = "kp:analysis@0.2.0";

/// The wall-clock tick of the epoch backstop.
const TICK: Duration = Duration::from_millis(10);

/// The limits a run works within. Every field is a setting of `[plugins]` in
/// `kpd.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Fuel per run (roughly one unit per wasm instruction).
    pub fuel: u64,
    /// Wall-clock limit per run, in milliseconds (a backstop behind fuel).
    pub timeout_ms: u64,
    /// Linear memory per run, in MiB.
    pub memory_mib: u64,
    /// Largest report, as canonical JSON, in KiB.
    pub max_report_kib: usize,
    /// Largest number of metrics, findings, table cells and figures' values
    /// in a report.
    pub max_report_items: usize,
    /// Bytes of log kept per run (the `log` import and stdout/stderr each).
    pub max_log_bytes: usize,
    /// Runs that may be in progress at once (sizes the instance pool).
    pub max_concurrent: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: DEFAULT_FUEL,
            timeout_ms: 10_000,
            memory_mib: 64,
            max_report_kib: 16 * 1024,
            max_report_items: 1_000_000,
            max_log_bytes: 64 * 1024,
            max_concurrent: 8,
        }
    }
}

/// The default fuel budget: an infinite loop uses it up in about a second on
/// the development machine.
pub const DEFAULT_FUEL: u64 = 8_000_000_000;

/// One line of a run's log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogLine {
    /// `debug`, `info`, `warn`, `error` (from the `log` import), or `stdout`,
    /// `stderr` (what the plugin printed).
    pub level: String,
    /// The message.
    pub message: String,
}

/// What a successful run returns.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The checked report.
    pub report: Report,
    /// Its canonical JSON bytes.
    pub report_json: Vec<u8>,
    /// Fuel the run used.
    pub fuel_used: u64,
    /// The plugin's log.
    pub logs: Vec<LogLine>,
}

/// A run that failed, with what the plugin logged before it failed.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct RunError {
    /// Why it failed.
    pub error: PluginError,
    /// Fuel used until then.
    pub fuel_used: u64,
    /// The plugin's log until then.
    pub logs: Vec<LogLine>,
}

impl From<PluginError> for RunError {
    fn from(error: PluginError) -> Self {
        Self {
            error,
            fuel_used: 0,
            logs: Vec::new(),
        }
    }
}

/// A component linked for the version of the contract it speaks.
#[derive(Clone)]
enum Pre {
    V0_1(bindings_0_1::AnalysisPre<State>),
    V0_2(bindings::AnalysisPre<State>),
}

/// A compiled, checked plugin, ready to run.
#[derive(Clone)]
pub struct Plugin {
    sha256: String,
    info: PluginInfo,
    size: usize,
    from_cache: bool,
    pre: Pre,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("sha256", &self.sha256)
            .field("info", &self.info)
            .field("size", &self.size)
            .field("from_cache", &self.from_cache)
            .field("contract", &self.contract())
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// The version of the contract it was built against.
    pub fn contract(&self) -> Contract {
        match self.pre {
            Pre::V0_1(_) => Contract::V0_1,
            Pre::V0_2(_) => Contract::V0_2,
        }
    }

    /// The hex SHA-256 of the component's bytes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// What the plugin said it is.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The component's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether it was loaded from the compiled cache rather than compiled.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }
}

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, bytes).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The engine, its linker and its cache: one per node.
pub struct Host {
    engine: Engine,
    linker: Linker<State>,
    limits: Limits,
    cache_dir: Option<PathBuf>,
    pooling: bool,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("limits", &self.limits)
            .field("cache_dir", &self.cache_dir)
            .field("pooling", &self.pooling)
            .finish_non_exhaustive()
    }
}

fn host_err(e: impl std::fmt::Display) -> PluginError {
    PluginError::Host(e.to_string())
}

fn engine_config(limits: &Limits, pooling: bool) -> wasmtime::Config {
    let mut cfg = wasmtime::Config::new();
    cfg.consume_fuel(true);
    cfg.epoch_interruption(true);
    cfg.max_wasm_stack(512 * 1024);
    cfg.memory_init_cow(true);
    if pooling {
        let n = limits.max_concurrent.max(1);
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            .total_core_instances(n * 16)
            .total_memories(n * 2)
            .total_tables(n * 8)
            .max_memory_size(usize::try_from(limits.memory_mib << 20).unwrap_or(usize::MAX));
        cfg.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    }
    cfg
}

impl Host {
    /// A host with `limits`, keeping compiled components in `cache_dir` (none:
    /// compile every time). Uses the pooling instance allocator, or allocates
    /// on demand where the pool's address space cannot be reserved.
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Self, PluginError> {
        if limits.fuel == 0 || limits.timeout_ms == 0 || limits.memory_mib == 0 {
            return Err(host_err("fuel, timeout_ms and memory_mib must be above 0"));
        }
        let (engine, pooling) = match Engine::new(&engine_config(&limits, true)) {
            Ok(e) => (e, true),
            Err(e) => {
                tracing::warn!("pooling allocator unavailable ({e}); allocating on demand");
                (
                    Engine::new(&engine_config(&limits, false)).map_err(host_err)?,
                    false,
                )
            }
        };
        let mut linker = Linker::<State>::new(&engine);
        bindings::Analysis::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            .map_err(host_err)?;
        bindings_0_1::Analysis::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            .map_err(host_err)?;
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(host_err)?;
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| host_err(format!("{}: {e}", dir.display())))?;
        }
        // The ticker ends once the engine is dropped.
        let weak = engine.weak();
        thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                loop {
                    thread::sleep(TICK);
                    match weak.upgrade() {
                        Some(e) => e.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(host_err)?;
        Ok(Self {
            engine,
            linker,
            limits,
            cache_dir,
            pooling,
        })
    }

    /// The limits runs work within.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the pooling allocator is in use.
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// Checks and loads a component: it must be a component (not a core module
    /// nor anything else), export the analyzer of a contract version this host
    /// runs ([`Contract::ALL`]), import nothing outside that version's
    /// `kp:analysis/*` and the deterministic WASI set, and describe itself
    /// validly (a parameter's default of its declared kind, among the rest).
    /// The compiled form is cached by content hash.
    pub fn load(&self, wasm: &[u8]) -> Result<Plugin, PluginError> {
        check::header(wasm)?;
        let sha256 = sha256_hex(wasm);
        let (component, from_cache) = self.compile(wasm, &sha256)?;
        let contract = check::imports_exports(&self.engine, &component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::WrongWorld {
                expected: contract.analyzer_export(),
                detail: format!("it cannot be linked: {e:#}"),
            })?;
        let mismatch = |e: wasmtime::Error| PluginError::WrongWorld {
            expected: contract.analyzer_export(),
            detail: format!("its exports do not match: {e:#}"),
        };
        let pre = match contract {
            Contract::V0_1 => Pre::V0_1(bindings_0_1::AnalysisPre::new(pre).map_err(mismatch)?),
            Contract::V0_2 => Pre::V0_2(bindings::AnalysisPre::new(pre).map_err(mismatch)?),
        };
        let mut plugin = Plugin {
            sha256,
            info: PluginInfo {
                name: String::new(),
                version: String::new(),
                summary: String::new(),
                kinds: Vec::new(),
                themes: Vec::new(),
                params: Vec::new(),
            },
            size: wasm.len(),
            from_cache,
            pre,
        };
        let info = self.describe(&plugin).map_err(|e| match e.error {
            PluginError::Trapped(m) => PluginError::BadDescription(format!("it trapped: {m}")),
            other => other,
        })?;
        check::describe(&info).map_err(PluginError::BadDescription)?;
        plugin.info = info;
        Ok(plugin)
    }

    fn compile(&self, wasm: &[u8], sha256: &str) -> Result<(Component, bool), PluginError> {
        let key = cache::key(&self.engine, sha256);
        if let Some(dir) = &self.cache_dir
            && let Some(c) = cache::load(&self.engine, dir, &key)
        {
            return Ok((c, true));
        }
        let component = Component::new(&self.engine, wasm)
            .map_err(|e| PluginError::Invalid(format!("{e:#}")))?;
        if let Some(dir) = &self.cache_dir {
            cache::store(dir, &key, &component);
        }
        Ok((component, false))
    }

    fn store(&self, seed: [u8; 32], fuel: u64) -> Result<Store<State>, PluginError> {
        let cap = self.limits.max_log_bytes;
        // The pipes take more than is kept, so a chatty plugin is cut in its
        // log rather than failing on a full pipe.
        let stdout = MemoryOutputPipe::new(cap.saturating_mul(16).max(1 << 20));
        let stderr = MemoryOutputPipe::new(cap.saturating_mul(16).max(1 << 20));
        let mut second = seed;
        second[0] ^= 1;
        let wasi = WasiCtxBuilder::new()
            .wall_clock(Frozen)
            .monotonic_clock(Frozen)
            .secure_random(StdRng::from_seed(seed))
            .insecure_random(StdRng::from_seed(second))
            .insecure_random_seed(u128::from_le_bytes(
                seed[..16].try_into().unwrap_or_default(),
            ))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        let memory = usize::try_from(self.limits.memory_mib << 20).unwrap_or(usize::MAX);
        let state = State {
            limiter: Limiter {
                limits: StoreLimitsBuilder::new()
                    .memory_size(memory)
                    .table_elements(1 << 20)
                    .instances(64)
                    .tables(64)
                    .memories(8)
                    .trap_on_grow_failure(true)
                    .build(),
                wanted: None,
            },
            wasi,
            table: ResourceTable::new(),
            logs: Vec::new(),
            log_bytes: 0,
            log_cap: cap,
            stdout,
            stderr,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_fuel(fuel).map_err(host_err)?;
        let ticks = self.limits.timeout_ms.div_ceil(TICK.as_millis() as u64) + 1;
        store.set_epoch_deadline(ticks.max(2));
        Ok(store)
    }

    /// Calls `describe` in a fresh instance.
    fn describe(&self, plugin: &Plugin) -> Result<PluginInfo, RunError> {
        let budget = self.limits.fuel.min(100_000_000);
        let mut store = self.store([0; 32], budget)?;
        let result = match &plugin.pre {
            Pre::V0_2(pre) => pre
                .instantiate(&mut store)
                .and_then(|inst| inst.kp_analysis_analyzer().call_describe(&mut store))
                .map(convert::v0_2::info_from_wit),
            Pre::V0_1(pre) => pre
                .instantiate(&mut store)
                .and_then(|inst| inst.kp_analysis_analyzer().call_describe(&mut store))
                .map(convert::v0_1::info_from_wit),
        };
        result.map_err(|e| self.failure(&mut store, budget, &e))
    }

    /// Runs `analyze` on `doc` in a fresh instance and checks the report.
    /// `doc.params` should already hold the plugin's defaults
    /// ([`PluginInfo::apply_params`]).
    pub fn run(&self, plugin: &Plugin, doc: &DocumentView) -> Result<RunOutput, RunError> {
        let budget = self.limits.fuel;
        let mut store = self.store(seed(plugin, doc), budget)?;
        let result = match &plugin.pre {
            Pre::V0_2(pre) => {
                let input = convert::v0_2::doc_to_wit(doc);
                pre.instantiate(&mut store)
                    .and_then(|inst| inst.kp_analysis_analyzer().call_analyze(&mut store, &input))
                    .map(|r| {
                        r.map(convert::v0_2::report_from_wit)
                            .map_err(convert::v0_2::refusal)
                    })
            }
            Pre::V0_1(pre) => {
                let input = convert::v0_1::doc_to_wit(doc);
                pre.instantiate(&mut store)
                    .and_then(|inst| inst.kp_analysis_analyzer().call_analyze(&mut store, &input))
                    .map(|r| {
                        r.map(convert::v0_1::report_from_wit)
                            .map_err(convert::v0_1::refusal)
                    })
            }
        };
        let fuel_used = budget.saturating_sub(store.get_fuel().unwrap_or(0));
        match result {
            Ok(Ok(report)) => {
                let logs = take_logs(&mut store);
                let fail = |error| RunError {
                    error,
                    fuel_used,
                    logs: logs.clone(),
                };
                let items = check::report(&report, doc)
                    .map_err(|m| fail(PluginError::MalformedReport(m)))?;
                if items > self.limits.max_report_items {
                    return Err(fail(PluginError::ReportTooManyItems {
                        items,
                        limit: self.limits.max_report_items,
                    }));
                }
                let report_json = report.canonical_json();
                let limit = self.limits.max_report_kib * 1024;
                if report_json.len() > limit {
                    return Err(fail(PluginError::ReportTooLarge {
                        size: report_json.len(),
                        limit,
                    }));
                }
                Ok(RunOutput {
                    report,
                    report_json,
                    fuel_used,
                    logs,
                })
            }
            Ok(Err(refusal)) => Err(RunError {
                error: PluginError::Refused(refusal),
                fuel_used,
                logs: take_logs(&mut store),
            }),
            Err(e) => Err(self.failure(&mut store, budget, &e)),
        }
    }

    /// Turns a trap or host error into a [`RunError`], with the log so far.
    fn failure(&self, store: &mut Store<State>, budget: u64, e: &wasmtime::Error) -> RunError {
        let fuel_used = budget.saturating_sub(store.get_fuel().unwrap_or(0));
        let logs = take_logs(store);
        let error = if let Some(wanted) = store.data().limiter.wanted {
            PluginError::MemoryLimit {
                limit_mib: self.limits.memory_mib,
                wanted_mib: (wanted as u64).div_ceil(1 << 20),
            }
        } else {
            match e.downcast_ref::<wasmtime::Trap>() {
                Some(wasmtime::Trap::OutOfFuel) => PluginError::OutOfFuel { budget },
                Some(wasmtime::Trap::Interrupt) => PluginError::Timeout {
                    ms: self.limits.timeout_ms,
                },
                Some(trap) => {
                    // What the plugin printed, without Rust's advice to set
                    // RUST_BACKTRACE, which nobody can in the sandbox.
                    let printed: Vec<&str> = logs
                        .iter()
                        .filter(|l| l.level == "stderr")
                        .flat_map(|l| l.message.lines())
                        .map(str::trim)
                        .filter(|m| {
                            !m.is_empty() && !m.starts_with("note: run with `RUST_BACKTRACE")
                        })
                        .collect();
                    if printed.is_empty() {
                        PluginError::Trapped(trap.to_string())
                    } else {
                        PluginError::Trapped(format!("{} ({trap})", printed.join(" ")))
                    }
                }
                None => PluginError::Host(format!("{e:#}")),
            }
        };
        RunError {
            error,
            fuel_used,
            logs,
        }
    }
}

/// The seed of a run's random generators: a hash of the plugin's hash, the
/// input's heads and the parameters.
fn seed(plugin: &Plugin, doc: &DocumentView) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(plugin.sha256.as_bytes());
    for h in &doc.heads {
        ctx.update(b"\0head\0");
        ctx.update(h.as_bytes());
    }
    for (k, v) in &doc.params {
        ctx.update(b"\0param\0");
        ctx.update(k.as_bytes());
        ctx.update(b"\0");
        ctx.update(v.as_bytes());
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// A run's store data.
struct State {
    limiter: Limiter,
    wasi: WasiCtx,
    table: ResourceTable,
    logs: Vec<LogLine>,
    log_bytes: usize,
    log_cap: usize,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

/// wasmtime's store limits, noting when a memory grow was refused.
struct Limiter {
    limits: StoreLimits,
    wanted: Option<usize>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let r = self.limits.memory_growing(current, desired, maximum);
        if !matches!(r, Ok(true)) {
            self.wanted = Some(desired);
        }
        r
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl State {
    fn push_log(&mut self, level: &str, message: &str) {
        if self.log_bytes >= self.log_cap {
            return;
        }
        let room = self.log_cap - self.log_bytes;
        let mut end = message.len().min(room);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        self.log_bytes += end;
        let mut message = message[..end].to_owned();
        if end < message.len() || self.log_bytes >= self.log_cap {
            message.push_str(" [log cut at the limit]");
        }
        self.logs.push(LogLine {
            level: level.into(),
            message,
        });
    }
}

/// The imports of a contract version's bindings: `log`, into the run's log.
macro_rules! imports {
    ($bindings:ident) => {
        impl $bindings::kp::analysis::types::Host for State {}

        impl $bindings::kp::analysis::log::Host for State {
            fn emit(&mut self, level: $bindings::kp::analysis::log::Level, message: String) {
                use $bindings::kp::analysis::log::Level;
                let level = match level {
                    Level::Debug => "debug",
                    Level::Info => "info",
                    Level::Warn => "warn",
                    Level::Error => "error",
                };
                self.push_log(level, &message);
            }
        }
    };
}

imports!(bindings);
imports!(bindings_0_1);

/// The log lines of a run, with what it printed to stdout and stderr.
fn take_logs(store: &mut Store<State>) -> Vec<LogLine> {
    let s = store.data_mut();
    let cap = s.log_cap;
    let mut logs = std::mem::take(&mut s.logs);
    for (level, pipe) in [("stdout", &s.stdout), ("stderr", &s.stderr)] {
        let bytes = pipe.contents();
        if bytes.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(cap)]).into_owned();
        let mut message = text.trim_end().to_owned();
        if bytes.len() > cap {
            message.push_str(" [output cut at the limit]");
        }
        logs.push(LogLine {
            level: level.into(),
            message,
        });
    }
    logs
}

/// Clocks that always read the same: the Unix epoch, and 0 for the monotonic
/// clock.
struct Frozen;

impl wasmtime_wasi::HostWallClock for Frozen {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for Frozen {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}
