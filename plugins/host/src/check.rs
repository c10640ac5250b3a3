//! Install-time checks of a component and its description, and the checks a
//! report passes before it is returned.

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::view::{ColumnData, DocumentView, PluginInfo, Report, Table};
use crate::{Contract, PluginError};

/// Tells a component from a core module and from anything else by its header.
pub(crate) fn header(wasm: &[u8]) -> Result<(), PluginError> {
    match wasm {
        [0, b'a', b's', b'm', 1, 0, 0, 0, ..] => Err(PluginError::CoreModule),
        [0, b'a', b's', b'm', _, _, 1, 0, ..] => Ok(()),
        [0, b'a', b's', b'm', ..] => Err(PluginError::Invalid(
            "unknown WebAssembly binary version".into(),
        )),
        _ => Err(PluginError::NotWasm),
    }
}

/// The WASI interfaces a plugin may import: those a `wasm32-wasip2` build
/// pulls in through std, all served deterministically.
const WASI_ALLOWED: &[&str] = &[
    "wasi:io/poll",
    "wasi:io/error",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// The interface part of an import name, without `@version`.
fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(n, _)| n)
}

/// Checks what the component exports and imports; returns the version of
/// the contract it was built against.
pub(crate) fn imports_exports(
    engine: &Engine,
    component: &Component,
) -> Result<Contract, PluginError> {
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(n, _)| n).collect();
    let Some(contract) = Contract::ALL
        .iter()
        .copied()
        .find(|c| exports.contains(&c.analyzer_export().as_str()))
    else {
        if let Some(other) = exports
            .iter()
            .find(|n| unversioned(n) == "kp:analysis/analyzer")
        {
            return Err(PluginError::UnsupportedVersion {
                found: (*other).to_owned(),
                supported: Contract::supported(),
            });
        }
        return Err(PluginError::WrongWorld {
            expected: Contract::CURRENT.analyzer_export(),
            detail: if exports.is_empty() {
                "it exports nothing".into()
            } else {
                format!("it exports {}", exports.join(", "))
            },
        });
    };
    for (name, _) in ty.imports(engine) {
        let base = unversioned(name);
        let ours = base.starts_with("kp:analysis/")
            && name
                .split_once('@')
                .is_some_and(|(_, v)| v == contract.version());
        let wasi = WASI_ALLOWED.contains(&base)
            && name
                .split_once('@')
                .is_some_and(|(_, v)| v.starts_with("0.2."));
        if !ours && !wasi {
            return Err(PluginError::ForbiddenImport(name.to_owned()));
        }
    }
    Ok(contract)
}

/// Checks a plugin's description ([`PluginInfo::check`]).
pub(crate) fn describe(info: &PluginInfo) -> Result<(), String> {
    info.check()
}

fn check_table(where_: &str, t: &Table, items: &mut usize) -> Result<(), String> {
    let rows = t.columns.first().map_or(0, |c| c.data.len());
    for c in &t.columns {
        if c.data.len() != rows {
            return Err(format!(
                "{where_} `{}`: column `{}` has {} cells, column `{}` has {rows}",
                t.name,
                c.name,
                c.data.len(),
                t.columns[0].name
            ));
        }
        if let ColumnData::Number(v) = &c.data
            && let Some(i) = v.iter().position(|x| x.is_some_and(|x| !x.is_finite()))
        {
            return Err(format!(
                "{where_} `{}`: column `{}` row {} is not a finite number",
                t.name,
                c.name,
                i + 1
            ));
        }
        *items += c.data.len();
    }
    Ok(())
}

/// Checks a report against the contract and the document it is about;
/// returns how many items it has (metrics, findings, table cells and figures'
/// values), which the host holds to its limit.
pub(crate) fn report(r: &Report, doc: &DocumentView) -> Result<usize, String> {
    let mut items = r.metrics.len() + r.findings.len();
    for m in &r.metrics {
        if !m.value.is_finite() {
            return Err(format!(
                "metric `{}` is {} (not a finite number)",
                m.name, m.value
            ));
        }
    }
    for (i, f) in r.findings.iter().enumerate() {
        let Some(a) = f.anchor else { continue };
        let at = format!("finding {}'s anchor", i + 1);
        let Some(section) = doc.sections.get(a.section as usize) else {
            return Err(format!(
                "{at} names section {} but the document has {} sections",
                a.section,
                doc.sections.len()
            ));
        };
        let (start, end) = (a.start as usize, a.end as usize);
        if start > end || end > section.text.len() {
            return Err(format!(
                "{at} {start}..{end} is outside section {}, which has {} bytes",
                a.section,
                section.text.len()
            ));
        }
        if !section.text.is_char_boundary(start) || !section.text.is_char_boundary(end) {
            return Err(format!("{at} {start}..{end} cuts through a character"));
        }
    }
    for t in &r.tables {
        check_table("table", t, &mut items)?;
    }
    for f in &r.figures {
        items += f.check()?;
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::{Column, DocKind, Finding, Metric, ParamKind, Section, Severity, TextRange};

    #[test]
    fn headers_tell_components_from_modules_and_garbage() {
        assert!(matches!(header(b"\0asm\x0d\0\x01\0rest"), Ok(())));
        assert!(matches!(
            header(b"\0asm\x01\0\0\0"),
            Err(PluginError::CoreModule)
        ));
        assert!(matches!(header(b"PK\x03\x04"), Err(PluginError::NotWasm)));
        assert!(matches!(header(b""), Err(PluginError::NotWasm)));
    }

    fn doc() -> DocumentView {
        DocumentView {
            id: "d".into(),
            kind: DocKind::Draft,
            heads: vec![],
            title: String::new(),
            themes: vec![],
            metadata: Default::default(),
            sections: vec![Section {
                heading: String::new(),
                level: 0,
                text: "héllo".into(),
            }],
            tables: vec![],
            params: Default::default(),
        }
    }

    fn anchored(section: u32, start: u32, end: u32) -> Report {
        Report {
            summary: String::new(),
            metrics: vec![],
            findings: vec![Finding {
                severity: Severity::Info,
                message: String::new(),
                anchor: Some(TextRange {
                    section,
                    start,
                    end,
                }),
            }],
            tables: vec![],
            figures: vec![],
        }
    }

    #[test]
    fn a_default_not_of_its_parameters_kind_is_refused_at_install() {
        use crate::view::Param;
        let info = |p: Param| PluginInfo {
            name: "p".into(),
            version: "1.0.0".into(),
            summary: "s".into(),
            kinds: vec![DocKind::Dataset],
            themes: vec![],
            params: vec![p],
        };
        assert!(describe(&info(Param::new("top", "10", "").of(ParamKind::Integer))).is_ok());
        let e = describe(&info(Param::new("top", "ten", "").of(ParamKind::Integer))).unwrap_err();
        assert!(
            e.contains("the default of parameter `top`, `ten`, is not an integer"),
            "{e}"
        );
        let e = describe(&info(
            Param::new("mode", "c", "").of(ParamKind::Choice(vec!["a".into(), "b".into()])),
        ))
        .unwrap_err();
        assert!(e.contains("is not one of a, b"), "{e}");
        let e = describe(&info(
            Param::optional("mode", "").of(ParamKind::Choice(vec![])),
        ))
        .unwrap_err();
        assert!(e.contains("a choice of no words"), "{e}");
        let e = describe(&info(
            Param::optional("mode", "").of(ParamKind::Choice(vec!["a".into(), "a".into()])),
        ))
        .unwrap_err();
        assert!(e.contains("must be distinct"), "{e}");
    }

    #[test]
    fn reports_are_checked() {
        let d = doc();
        assert!(report(&anchored(0, 0, 6), &d).is_ok());
        let e = report(&anchored(1, 0, 1), &d).unwrap_err();
        assert!(e.contains("section 1 but the document has 1"), "{e}");
        let e = report(&anchored(0, 0, 7), &d).unwrap_err();
        assert!(e.contains("outside section 0"), "{e}");
        let e = report(&anchored(0, 2, 3), &d).unwrap_err();
        assert!(e.contains("cuts through a character"), "{e}");
        let e = report(&anchored(0, 3, 2), &d).unwrap_err();
        assert!(e.contains("outside"), "{e}");

        let mut r = anchored(0, 0, 1);
        r.metrics.push(Metric {
            name: "m".into(),
            value: f64::NAN,
            unit: String::new(),
        });
        let e = report(&r, &d).unwrap_err();
        assert!(e.contains("metric `m` is NaN"), "{e}");

        let mut r = anchored(0, 0, 1);
        r.tables.push(Table {
            name: "t".into(),
            columns: vec![Column {
                name: "a".into(),
                data: ColumnData::Number(vec![Some(1.0), Some(f64::INFINITY)]),
            }],
        });
        let e = report(&r, &d).unwrap_err();
        assert!(e.contains("row 2 is not a finite number"), "{e}");
        r.tables[0].columns[0].data = ColumnData::Number(vec![Some(1.0), None]);
        r.tables[0].columns.push(Column {
            name: "b".into(),
            data: ColumnData::Text(vec![None]),
        });
        let e = report(&r, &d).unwrap_err();
        assert!(e.contains("column `b` has 1 cells"), "{e}");
        r.tables[0].columns.pop();
        // A finding and two cells, for the host to hold to its limit.
        assert_eq!(report(&r, &d), Ok(3));
    }
}
