//! An analysis plugin that reads a file, so it imports `wasi:filesystem`: the
//! host must refuse it at install.

#![allow(unsafe_code)] // wit-bindgen's generated export glue

wit_bindgen::generate!({ world: "analysis", path: "../../wit" });

use exports::kp::analysis::analyzer::Guest;
use kp::analysis::types::{AnalysisError, DocKind, Document, PluginInfo, Report};

struct ReadsFiles;

impl Guest for ReadsFiles {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "reads-files".into(),
            version: "0.1.0".into(),
            summary: "Reads /etc/passwd".into(),
            kinds: vec![DocKind::Draft],
            themes: Vec::new(),
            params: Vec::new(),
        }
    }

    fn analyze(_doc: Document) -> Result<Report, AnalysisError> {
        let text = std::fs::read_to_string("/etc/passwd")
            .map_err(|e| AnalysisError::InvalidInput(e.to_string()))?;
        Ok(Report {
            summary: text,
            metrics: Vec::new(),
            findings: Vec::new(),
            tables: Vec::new(),
            figures: Vec::new(),
        })
    }
}

export!(ReadsFiles);
