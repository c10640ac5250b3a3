//! `kp plugin new NAME`: a plugin crate to start from, which builds and tests
//! anywhere: the starter plugin (`plugins/starter`, built and tested with kp
//! itself) under the new name, and beside it, in `kp/`, the plugin SDK, its
//! types and the WIT contract of this very kp, so that the plugin is made
//! against the contract the node speaks, with no path into kp's sources.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;

use crate::output::emit;

/// The files written as they are, by their place in the new crate.
const VENDORED: &[(&str, &str)] = &[
    (
        "kp/wit/analysis.wit",
        include_str!("../../../plugins/wit/analysis.wit"),
    ),
    (
        "kp/sdk/src/lib.rs",
        include_str!("../../../plugins/sdk/src/lib.rs"),
    ),
    (
        "kp/sdk/src/glue.rs",
        include_str!("../../../plugins/sdk/src/glue.rs"),
    ),
    (
        "kp/sdk/src/log.rs",
        include_str!("../../../plugins/sdk/src/log.rs"),
    ),
    (
        "kp/sdk/src/testing.rs",
        include_str!("../../../plugins/sdk/src/testing.rs"),
    ),
    (
        "kp/types/src/lib.rs",
        include_str!("../../../plugins/types/src/lib.rs"),
    ),
    (
        "kp/types/src/csv.rs",
        include_str!("../../../plugins/types/src/csv.rs"),
    ),
    (
        "kp/types/src/document.rs",
        include_str!("../../../plugins/types/src/document.rs"),
    ),
    (
        "kp/types/src/error.rs",
        include_str!("../../../plugins/types/src/error.rs"),
    ),
    (
        "kp/types/src/figure.rs",
        include_str!("../../../plugins/types/src/figure.rs"),
    ),
    (
        "kp/types/src/json.rs",
        include_str!("../../../plugins/types/src/json.rs"),
    ),
    (
        "kp/types/src/plugin.rs",
        include_str!("../../../plugins/types/src/plugin.rs"),
    ),
    (
        "kp/types/src/report.rs",
        include_str!("../../../plugins/types/src/report.rs"),
    ),
    (
        "kp/types/src/table.rs",
        include_str!("../../../plugins/types/src/table.rs"),
    ),
];

/// The starter plugin's files, written under the new name.
const STARTER: &[(&str, &str)] = &[
    (
        "src/lib.rs",
        include_str!("../../../plugins/starter/src/lib.rs"),
    ),
    (
        "tests/plugin.rs",
        include_str!("../../../plugins/starter/tests/row_count.rs"),
    ),
    (
        "data.csv",
        include_str!("../../../plugins/starter/data.csv"),
    ),
];

/// The version of the SDK written out: this kp's.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Whether `name` is a plugin's name: lower-case words of letters and digits
/// joined by `-`, starting with a letter (the node's rule).
fn is_name(name: &str) -> bool {
    name.split('-').all(|w| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    }) && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.len() <= 64
}

/// `row-count` as `RowCount`.
fn camel(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The starter's text with its names replaced by the new plugin's: the
/// plugin's name, its crate's path (`row_count::`, not the method
/// `row_count()`) and its type.
fn renamed(text: &str, name: &str) -> String {
    text.replace("row-count", name)
        .replace("row_count::", &format!("{}::", name.replace('-', "_")))
        .replace("RowCount", &camel(name))
}

fn manifest(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[lib]
# cdylib: the wasm component; rlib: native tests.
crate-type = ["cdylib", "rlib"]

[dependencies]
kp-plugin-sdk = {{ path = "kp/sdk" }}

[dev-dependencies]
kp-plugin-sdk = {{ path = "kp/sdk", features = ["testing"] }}

# `cargo build --profile plugin --target wasm32-wasip2`: a self-contained
# component optimised for speed; a panic is a trap either way.
[profile.plugin]
inherits = "release"
opt-level = 3
lto = true
codegen-units = 1
panic = "abort"
strip = true
debug = false

# A workspace of its own, even inside another one.
[workspace]
"#
    )
}

/// The `[package]` of a crate of `kp/`, at this kp's version.
fn package(name: &str, description: &str) -> String {
    format!(
        "[package]\nname = \"{name}\"\ndescription = \"{description} (kp {VERSION}, written out by \
         kp plugin new)\"\nversion = \"{VERSION}\"\nedition = \"2024\"\npublish = false\n"
    )
}

fn sdk_manifest() -> String {
    package(
        "kp-plugin-sdk",
        "Write kp analysis plugins in plain Rust: types, helpers and the export macro",
    ) + r#"
[dependencies]
kp-plugin-types = { path = "../types" }
wit-bindgen = { version = "0.61", default-features = false, features = ["macros", "realloc", "std"] }
thiserror = "2"

[features]
# Helpers for native tests: CSV files as tables, drafts split into sections.
testing = ["kp-plugin-types/csv"]
"#
}

fn types_manifest() -> String {
    package(
        "kp-plugin-types",
        "The document a kp analysis plugin reads and the report it returns",
    ) + r#"
[dependencies]
thiserror = "2"
serde = { version = "1", features = ["derive"], optional = true }
serde_json = { version = "1", optional = true }
csv = { version = "1.3", optional = true }

[features]
serde = ["dep:serde", "dep:serde_json"]
csv = ["dep:csv"]
"#
}

fn readme(name: &str) -> String {
    let file = name.replace('-', "_");
    format!(
        r#"# {name}

A kp analysis plugin. `src/lib.rs` is the plugin, `tests/plugin.rs` its tests; `kp/`
holds the plugin SDK and the contract of kp {VERSION}, which wrote this crate (leave it
as it is; `kp plugin new` writes it again for another version).

```sh
cargo test                                              # runs it natively, as a node would
rustup target add wasm32-wasip2                         # once
cargo build --profile plugin --target wasm32-wasip2     # the component
kp plugin run target/wasm32-wasip2/plugin/{file}.wasm --csv data.csv
kp plugin install target/wasm32-wasip2/plugin/{file}.wasm   # on a node
cargo doc --features kp-plugin-sdk/testing --open       # the SDK's documentation
```
"#
    )
}

/// `kp plugin new NAME [--dir DIR]`.
pub(super) fn new_plugin(name: &str, dir: Option<PathBuf>, json_out: bool) -> anyhow::Result<()> {
    if !is_name(name) {
        anyhow::bail!(
            "`{name}` is not a plugin name: use at most 64 characters, lower-case words of letters and digits joined \
             by `-`, starting with a letter (such as `remittance-trends`)"
        );
    }
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    let shown = dir.display().to_string();
    if dir.exists()
        && std::fs::read_dir(&dir)
            .with_context(|| format!("cannot look into {shown}"))?
            .next()
            .is_some()
    {
        anyhow::bail!("{shown} exists and is not empty: name a new directory with --dir");
    }
    let mut files: Vec<(String, String)> = vec![
        ("Cargo.toml".into(), manifest(name)),
        ("README.md".into(), readme(name)),
        (".gitignore".into(), "/target\n".into()),
        ("kp/sdk/Cargo.toml".into(), sdk_manifest()),
        ("kp/types/Cargo.toml".into(), types_manifest()),
    ];
    files.extend(
        STARTER
            .iter()
            .map(|(p, t)| ((*p).to_owned(), renamed(t, name))),
    );
    files.extend(
        VENDORED
            .iter()
            .map(|(p, t)| ((*p).to_owned(), (*t).to_owned())),
    );
    for (path, text) in &files {
        write(&dir.join(path), text)?;
    }
    let made = json!({ "name": name, "dir": dir, "files": files.iter().map(|f| &f.0).collect::<Vec<_>>() });
    emit(json_out, &made, |_| {
        let wasm = name.replace('-', "_");
        eprintln!(
            "wrote the plugin {name} in {shown} (against kp {VERSION}'s contract). Next:\n  \
             cd {shown}\n  cargo test\n  cargo build --profile plugin --target wasm32-wasip2\n  \
             kp plugin run target/wasm32-wasip2/plugin/{wasm}.wasm --csv data.csv"
        );
        Ok(())
    })
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot make {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_of_the_sdk_and_its_types_is_vendored() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
        for (dir, under) in [("sdk/src", "kp/sdk/src"), ("types/src", "kp/types/src")] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                let place = format!("{under}/{name}");
                assert!(
                    VENDORED.iter().any(|(p, _)| *p == place),
                    "plugins/{dir}/{name} is not in VENDORED: a new plugin would not build"
                );
            }
        }
    }

    #[test]
    fn names_are_checked_and_turned_into_rust_names() {
        assert!(is_name("row-count") && is_name("gdp2") && is_name("a"));
        assert!(!is_name("Row") && !is_name("a--b") && !is_name("-a") && !is_name("1a"));
        assert!(!is_name("a_b") && !is_name(""));
        assert_eq!(camel("remittance-trends"), "RemittanceTrends");
        assert_eq!(
            renamed(
                "row-count row_count::RowCount table.row_count()",
                "gdp-share"
            ),
            "gdp-share gdp_share::GdpShare table.row_count()"
        );
    }
}
