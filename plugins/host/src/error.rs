//! What can go wrong when installing or running a plugin.

/// A plugin could not be installed or did not produce a report. The messages
/// are for the person who ran the command: they say what was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The bytes are not WebAssembly at all.
    #[error(
        "not a WebAssembly component: the file does not start with the wasm magic bytes \
         (expected a component built with `cargo build --target wasm32-wasip2`)"
    )]
    NotWasm,
    /// The bytes are a core module, not a component.
    #[error(
        "this is a core WebAssembly module, not a component: build the plugin with \
         `cargo build --target wasm32-wasip2` (or wrap the module with `wasm-tools component new`)"
    )]
    CoreModule,
    /// The component did not compile.
    #[error("the component is not valid: {0}")]
    Invalid(String),
    /// The component exports the analyzer of another version of the contract.
    #[error(
        "the plugin was built against {found}; this node supports {supported} \
         (rebuild it against that version of plugins/wit)"
    )]
    UnsupportedVersion {
        /// The interface it exports.
        found: String,
        /// The versions this host supports.
        supported: String,
    },
    /// The component is not an analysis plugin.
    #[error(
        "not an analysis plugin: expected a component of world `analysis` exporting \
         `{expected}`; {detail}"
    )]
    WrongWorld {
        /// The export expected.
        expected: String,
        /// What it has instead.
        detail: String,
    },
    /// The component imports something outside the sandbox.
    #[error(
        "the plugin imports `{0}`, which plugins may not use: only kp:analysis/* and \
         the deterministic WASI set (io, cli streams and environment, clocks, random) are linked"
    )]
    ForbiddenImport(String),
    /// `describe` returned something unusable.
    #[error("the plugin's describe() is not valid: {0}")]
    BadDescription(String),
    /// The plugin does not analyse this document or was given bad parameters.
    #[error("{0}")]
    NotApplicable(String),
    /// The run used its whole fuel budget.
    #[error(
        "the plugin ran out of fuel (budget {budget}); it may loop forever, or need a larger plugins.fuel"
    )]
    OutOfFuel {
        /// The budget it had.
        budget: u64,
    },
    /// The run tried to grow its memory past the limit.
    #[error(
        "the plugin exceeded its memory limit of {limit_mib} MiB (it asked for {wanted_mib} MiB)"
    )]
    MemoryLimit {
        /// The limit.
        limit_mib: u64,
        /// What it asked for.
        wanted_mib: u64,
    },
    /// The run went past the wall-clock deadline.
    #[error("the plugin ran past its time limit of {ms} ms")]
    Timeout {
        /// The limit.
        ms: u64,
    },
    /// The plugin trapped (a panic, an invalid operation).
    #[error("the plugin trapped: {0}")]
    Trapped(String),
    /// The plugin said it could not analyse the document.
    #[error("the plugin could not analyse the document: {0}")]
    Refused(String),
    /// The report broke the contract.
    #[error("the plugin returned a malformed report: {0}")]
    MalformedReport(String),
    /// The report is over the size limit.
    #[error(
        "the plugin's report is too large: {size} bytes of JSON; the limit is {limit} \
         (max_report_kib in the [plugins] section of kpd.toml)"
    )]
    ReportTooLarge {
        /// Its size as JSON.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The report has more items than the limit.
    #[error(
        "the plugin's report is too large: it has {items} metrics, findings and table cells; \
         the limit is {limit} (max_report_items in the [plugins] section of kpd.toml)"
    )]
    ReportTooManyItems {
        /// Its metrics, findings and table cells.
        items: usize,
        /// The limit.
        limit: usize,
    },
    /// The host itself failed (engine, instantiation, cache directory).
    #[error("the plugin host failed: {0}")]
    Host(String),
}
