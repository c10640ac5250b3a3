//! The document view a plugin receives and the report it returns.
//!
//! The types are defined once, in `kp-plugin-types` (with its `serde` feature: the
//! JSON form of a view that `kp plugin run --input` reads, and a report's canonical
//! JSON), and the plugin SDK uses the same ones; they are re-exported here under the
//! host's names. A draft's body becomes sections with [`split_sections`], the one
//! splitter plugins' native tests use too.

pub use kp_plugin_types::{
    Bar, Chart, Column, ColumnData, DocKind, Document as DocumentView, Figure, Finding, Histogram,
    Lines, Mark, Metric, Param, ParamKind, PluginInfo, Report, Section, Series, Severity, Table,
    TextRange, readable, split_sections,
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Bodies whose sections are easy to number differently.
    const BODIES: &[&str] = &[
        "",
        "\n",
        "\n\n# Title\ntext\n",
        "   \n# Title\n",
        "Preface.\n# One\ntext 1\n## Two ##\ntext 2\n",
        "#NoSpace\nbody\n#\n",
        "# Only\n",
        "no heading at all",
        "a\r\n# One\r\nb",
    ];

    #[test]
    fn the_node_and_a_plugins_native_tests_number_sections_alike() {
        for body in BODIES {
            let node = split_sections(body);
            // What a plugin's native test gets from the SDK, as a whole document:
            // the same type the node hands to `Host::run`.
            let native: DocumentView = kp_plugin_sdk::testing::draft("T", "brief", body, &[]);
            assert_eq!(native.sections, node, "body {body:?}");
            assert_eq!(
                kp_plugin_sdk::testing::sections(body),
                node,
                "body {body:?}"
            );
        }
        // The case the two splitters used to disagree on: blank text before the
        // first heading is section 0, so the heading is section 1.
        let s = split_sections("\n# Title\ntext\n");
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[1].heading.as_str(), s[1].text.as_str()),
            ("Title", "text\n")
        );
    }
}
