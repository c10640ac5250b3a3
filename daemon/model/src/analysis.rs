//! Analyses: a plugin's report on a draft or dataset, kept as a document of the
//! same space so partners see it. It records what is needed to run it again
//! and get the same bytes: the plugin's name, version and content hash, the
//! input document and its heads, and the parameters.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, ScalarValue};
use serde::Serialize;

use super::{DocKind, ModelError, SCHEMA, expect_kind, get_i64, get_obj, get_scalar, get_str};
use kp_core::ids::DocId;

/// An analysis as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// The space's id.
    pub space: String,
    /// `PLUGIN on TITLE`: the plugin's name and the document's title.
    pub title: String,
    /// The analysed document's id.
    pub doc: String,
    /// Its heads (hex) when it was read.
    pub doc_heads: Vec<String>,
    /// The plugin's name.
    pub plugin: String,
    /// Its version.
    pub plugin_version: String,
    /// The hex SHA-256 of its component.
    pub plugin_sha256: String,
    /// Every parameter of the run, defaults included, sorted by name.
    pub params: Vec<(String, String)>,
    /// Fuel the run used.
    pub fuel_used: u64,
    /// The report's canonical JSON.
    pub report: String,
    /// The run's log, as JSON lines `{"level","message"}`.
    pub logs: String,
    /// Who ran it.
    pub author: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// Fills a new analysis document.
pub fn init(doc: &mut AutoCommit, space: &DocId, a: &Analysis) -> Result<(), ModelError> {
    doc.put(ROOT, "kind", DocKind::Analysis.as_str())?;
    doc.put(ROOT, "schema", SCHEMA)?;
    doc.put(ROOT, "space", space.to_string())?;
    doc.put(ROOT, "title", a.title.as_str())?;
    doc.put(ROOT, "doc", a.doc.as_str())?;
    let heads = doc.put_object(ROOT, "doc_heads", ObjType::List)?;
    for (i, h) in a.doc_heads.iter().enumerate() {
        doc.insert(&heads, i, h.as_str())?;
    }
    doc.put(ROOT, "plugin", a.plugin.as_str())?;
    doc.put(ROOT, "plugin_version", a.plugin_version.as_str())?;
    doc.put(ROOT, "plugin_sha256", a.plugin_sha256.as_str())?;
    let params = doc.put_object(ROOT, "params", ObjType::Map)?;
    for (k, v) in &a.params {
        doc.put(&params, k.as_str(), v.as_str())?;
    }
    doc.put(ROOT, "fuel_used", ScalarValue::Uint(a.fuel_used))?;
    doc.put(ROOT, "report", a.report.as_str())?;
    doc.put(ROOT, "logs", a.logs.as_str())?;
    doc.put(ROOT, "author", a.author.as_str())?;
    doc.put(ROOT, "created_at", a.created_at)?;
    Ok(())
}

/// Reads an analysis document.
pub fn read(doc: &AutoCommit) -> Result<Analysis, ModelError> {
    expect_kind(doc, DocKind::Analysis)?;
    let doc_heads = get_obj(doc, &ROOT, "doc_heads", ObjType::List)
        .map(|l| {
            (0..doc.length(&l))
                .filter_map(|i| match doc.get(&l, i) {
                    Ok(Some((automerge::Value::Scalar(s), _))) => match s.as_ref() {
                        ScalarValue::Str(t) => Some(t.to_string()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let params = get_obj(doc, &ROOT, "params", ObjType::Map)
        .map(|m| {
            let mut v: Vec<(String, String)> = doc
                .keys(&m)
                .map(|k| {
                    let value = get_str(doc, &m, &k);
                    (k, value)
                })
                .collect();
            v.sort();
            v
        })
        .unwrap_or_default();
    let fuel_used = match get_scalar(doc, &ROOT, "fuel_used") {
        Some(ScalarValue::Uint(u)) => u,
        _ => u64::try_from(get_i64(doc, &ROOT, "fuel_used")).unwrap_or(0),
    };
    Ok(Analysis {
        space: get_str(doc, &ROOT, "space"),
        title: get_str(doc, &ROOT, "title"),
        doc: get_str(doc, &ROOT, "doc"),
        doc_heads,
        plugin: get_str(doc, &ROOT, "plugin"),
        plugin_version: get_str(doc, &ROOT, "plugin_version"),
        plugin_sha256: get_str(doc, &ROOT, "plugin_sha256"),
        params,
        fuel_used,
        report: get_str(doc, &ROOT, "report"),
        logs: get_str(doc, &ROOT, "logs"),
        author: get_str(doc, &ROOT, "author"),
        created_at: get_i64(doc, &ROOT, "created_at"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_analysis_reads_back_as_written() {
        let space = DocId::random();
        let a = Analysis {
            space: space.to_string(),
            title: "misbehave on Notes".into(),
            doc: DocId::random().to_string(),
            doc_heads: vec!["aa".into(), "bb".into()],
            plugin: "misbehave".into(),
            plugin_version: "0.1.0".into(),
            plugin_sha256: "00ff".into(),
            params: vec![("a".into(), "1".into()), ("mode".into(), "ok".into())],
            fuel_used: 9_000_000_000,
            report: r#"{"summary":"s"}"#.into(),
            logs: String::new(),
            author: "R".into(),
            created_at: 5,
        };
        let mut doc = AutoCommit::new();
        init(&mut doc, &space, &a).unwrap();
        assert_eq!(read(&doc).unwrap(), a);
        assert_eq!(super::super::summarize(&doc).kind, DocKind::Analysis);
        let mut other = AutoCommit::new();
        other.put(ROOT, "kind", "draft").unwrap();
        assert!(matches!(read(&other), Err(ModelError::WrongKind(_))));
    }
}
