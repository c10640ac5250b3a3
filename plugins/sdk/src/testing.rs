//! Documents for native tests, built the way a node builds them: CSV files typed
//! column by column (integer, number, boolean, text: the narrowest type that fits
//! every non-empty cell) and drafts split into sections at lines starting with `#`.

use crate::{DocKind, Document, Report, Table};

/// A CSV file that could not be read as a table.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The CSV is malformed: the message names the line, as the node's does.
    #[error("{0}")]
    Invalid(String),
}

/// Reads CSV text (with a header row) as the typed table `name`, with the
/// node's own reader (`kp_plugin_types::csv::read`): the table a node stores
/// when the file is imported, and refused where the node would refuse it.
pub fn table_from_csv(name: &str, csv_text: &str) -> Result<Table, CsvError> {
    kp_plugin_types::csv::read(csv_text.as_bytes(), name, name).map_err(CsvError::Invalid)
}

/// A dataset document holding `table`, with the given parameters.
pub fn dataset(title: &str, themes: &[u8], table: Table, params: &[(&str, &str)]) -> Document {
    Document {
        id: format!("test-{}", title.to_lowercase().replace(' ', "-")),
        kind: DocKind::Dataset,
        heads: vec![],
        title: title.to_owned(),
        themes: themes.to_vec(),
        metadata: Default::default(),
        sections: vec![],
        tables: vec![table],
        params: params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// Splits a draft's text into sections, as the node does: the one splitter of
/// `kp-plugin-types`, whose documentation says where each section starts (text before
/// the first heading is section 0 whenever it is not empty, even when it is blank).
pub use kp_plugin_types::split_sections as sections;

/// A draft document of the given `type` (for example `policy-brief`) with its text
/// split into [`sections`], and the given parameters.
pub fn draft(title: &str, draft_type: &str, text: &str, params: &[(&str, &str)]) -> Document {
    Document {
        id: format!("test-{}", title.to_lowercase().replace(' ', "-")),
        kind: DocKind::Draft,
        heads: vec![],
        title: title.to_owned(),
        themes: vec![],
        metadata: [
            ("type".to_owned(), draft_type.to_owned()),
            ("status".to_owned(), "draft".to_owned()),
        ]
        .into(),
        sections: sections(text),
        tables: vec![],
        params: params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// Builds the plugin crate `package` of the workspace at `workspace` to a wasm
/// component (`cargo build --profile plugin --target wasm32-wasip2`, into
/// `$CARGO_TARGET_DIR` or `target/`), once per process, and returns its path.
/// Panics with the reason if the build fails.
pub fn build_component(workspace: &std::path::Path, package: &str) -> std::path::PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let file = target
        .join("wasm32-wasip2/plugin")
        .join(format!("{}.wasm", package.replace('-', "_")));
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == package) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .current_dir(workspace)
            .args(["build", "--quiet", "--profile", "plugin"])
            .args(["--target", "wasm32-wasip2", "-p", package])
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "building {package} to wasm failed (`rustup target add wasm32-wasip2` if the target is missing)"
        );
        built.push(package.to_owned());
    }
    assert!(
        file.exists(),
        "{} is missing after the build",
        file.display()
    );
    file
}

/// The value of the metric `name` of a report; panics, listing the metrics, if
/// there is none.
pub fn metric(report: &Report, name: &str) -> f64 {
    report
        .get_metric(name)
        .unwrap_or_else(|| panic!("no metric {name}: {:?}", report.metrics))
        .value
}
