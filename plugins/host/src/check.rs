//! Install-time checks of a component and its description, and the checks a
//! report passes before it is returned.

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::view::{ColumnData, DocumentView, PluginInfo, Report, Table};
use crate::{ANALYZER_EXPORT, PluginError, SUPPORTED_API};

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

/// Checks what the component exports and imports.
pub(crate) fn imports_exports(engine: &Engine, component: &Component) -> Result<(), PluginError> {
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(n, _)| n).collect();
    if !exports.contains(&ANALYZER_EXPORT) {
        if let Some(other) = exports
            .iter()
            .find(|n| unversioned(n) == "kp:analysis/analyzer")
        {
            return Err(PluginError::UnsupportedVersion {
                found: (*other).to_owned(),
                supported: SUPPORTED_API.to_owned(),
            });
        }
        return Err(PluginError::WrongWorld {
            expected: ANALYZER_EXPORT.into(),
            detail: if exports.is_empty() {
                "it exports nothing".into()
            } else {
                format!("it exports {}", exports.join(", "))
            },
        });
    }
    for (name, _) in ty.imports(engine) {
        let base = unversioned(name);
        let ours = base.starts_with("kp:analysis/")
            && name
                .split_once('@')
                .is_some_and(|(_, v)| v.starts_with("0.1."));
        let wasi = WASI_ALLOWED.contains(&base)
            && name
                .split_once('@')
                .is_some_and(|(_, v)| v.starts_with("0.2."));
        if !ours && !wasi {
            return Err(PluginError::ForbiddenImport(name.to_owned()));
        }
    }
    Ok(())
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.split('-').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && s.as_bytes()[0].is_ascii_lowercase()
}

fn is_version(s: &str) -> bool {
    let core = s.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    s.len() <= 64
        && parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn one_line(what: &str, s: &str, max: usize) -> Result<(), String> {
    if s.chars().any(char::is_control) {
        return Err(format!("{what} must be one line"));
    }
    if s.chars().count() > max {
        return Err(format!("{what} is longer than {max} characters"));
    }
    Ok(())
}

/// Checks a plugin's description.
pub(crate) fn describe(info: &PluginInfo) -> Result<(), String> {
    if !is_name(&info.name) {
        return Err(format!(
            "name `{}` must be lower-case letters and digits in words joined by `-` \
             (at most 64 characters), starting with a letter",
            info.name
        ));
    }
    if !is_version(&info.version) {
        return Err(format!(
            "version `{}` must be a semantic version such as 1.2.0",
            info.version
        ));
    }
    if info.summary.trim().is_empty() {
        return Err("the summary is empty".into());
    }
    one_line("the summary", &info.summary, 200)?;
    if info.kinds.is_empty() {
        return Err("it names no document kind it analyses".into());
    }
    if let Some(t) = info.themes.iter().find(|t| !(1..=11).contains(*t)) {
        return Err(format!("theme {t} is not a theme (1 to 11)"));
    }
    for (i, p) in info.params.iter().enumerate() {
        let ok = !p.name.is_empty()
            && p.name.len() <= 64
            && p.name.as_bytes()[0].is_ascii_lowercase()
            && p.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return Err(format!(
                "parameter name `{}` must be lower-case letters, digits, `-` and `_`",
                p.name
            ));
        }
        if info.params[..i].iter().any(|q| q.name == p.name) {
            return Err(format!("parameter `{}` is declared twice", p.name));
        }
        one_line(
            &format!("parameter `{}`'s description", p.name),
            &p.description,
            500,
        )?;
    }
    Ok(())
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

/// Checks a report against the document it is about.
/// Checks a report against the contract; returns how many items it has
/// (metrics, findings and table cells), which the host holds to its limit.
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
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::{Column, DocKind, Finding, Metric, Section, Severity, TextRange};

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

    #[test]
    fn names_and_versions() {
        assert!(is_name("remittance-cost"));
        assert!(is_name("a1-b2"));
        assert!(!is_name("Remittance"));
        assert!(!is_name("a--b"));
        assert!(!is_name("-a"));
        assert!(!is_name("1a"));
        assert!(is_version("0.1.0"));
        assert!(is_version("1.2.3-beta.1"));
        assert!(!is_version("1.2"));
        assert!(!is_version("v1.2.3"));
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
        }
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
