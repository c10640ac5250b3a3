//! A plugin whose parameter `top` is declared an integer with the default
//! `ten`: every run without the parameter would fail, so the node must
//! refuse it at install, saying which default is wrong.

#![allow(unsafe_code)] // wit-bindgen's generated export glue

wit_bindgen::generate!({ world: "analysis", path: "../../wit" });

use exports::kp::analysis::analyzer::Guest;
use kp::analysis::types::{AnalysisError, DocKind, Document, Param, ParamKind, PluginInfo, Report};

struct BadDefault;

impl Guest for BadDefault {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "bad-default".into(),
            version: "0.1.0".into(),
            summary: "Declares a default that is not of its parameter's kind".into(),
            kinds: vec![DocKind::Dataset],
            themes: Vec::new(),
            params: vec![Param {
                name: "top".into(),
                description: "how many to list".into(),
                kind: ParamKind::Integer,
                default: Some("ten".into()),
            }],
        }
    }

    fn analyze(_doc: Document) -> Result<Report, AnalysisError> {
        Err(AnalysisError::InvalidInput("never run".into()))
    }
}

export!(BadDefault);
