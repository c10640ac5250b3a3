//! What a plugin says it is (its `describe`), and the checks the node makes with it
//! before a run.

use std::collections::BTreeMap;

use crate::DocKind;

/// A parameter a plugin accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Param {
    /// Its name: lower-case words joined by `-`.
    pub name: String,
    /// One line: what it sets, with its unit.
    pub description: String,
    /// Used when the caller gives none; `None` means the parameter is optional.
    pub default: Option<String>,
}

impl Param {
    /// A parameter with a default value.
    pub fn new(name: &str, default: &str, description: &str) -> Param {
        Param {
            name: name.to_owned(),
            description: description.to_owned(),
            default: Some(default.to_owned()),
        }
    }

    /// An optional parameter, without a default.
    pub fn optional(name: &str, description: &str) -> Param {
        Param {
            name: name.to_owned(),
            description: description.to_owned(),
            default: None,
        }
    }
}

/// What a plugin is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PluginInfo {
    /// Lower-case words joined by `-`, unique among a node's plugins.
    pub name: String,
    /// Semantic version of the plugin.
    pub version: String,
    /// One line: what the analysis does.
    pub summary: String,
    /// Which kinds of document it analyses.
    pub kinds: Vec<DocKind>,
    /// Which themes it is for; empty for all.
    pub themes: Vec<u8>,
    /// The parameters it accepts.
    pub params: Vec<Param>,
}

impl PluginInfo {
    /// Fails unless the plugin analyses documents of `kind` in a space with
    /// `themes`.
    pub fn check_applies(&self, kind: DocKind, themes: &[u8]) -> Result<(), String> {
        if !self.kinds.contains(&kind) {
            let kinds: Vec<&str> = self.kinds.iter().map(|k| k.as_str()).collect();
            return Err(format!(
                "plugin {} analyses {} documents, not a {}",
                self.name,
                kinds.join(" and "),
                kind.as_str()
            ));
        }
        if !self.themes.is_empty() && !themes.iter().any(|t| self.themes.contains(t)) {
            let want: Vec<String> = self.themes.iter().map(u8::to_string).collect();
            let have: Vec<String> = themes.iter().map(u8::to_string).collect();
            return Err(format!(
                "plugin {} is for themes {}; this document's space has theme {}",
                self.name,
                want.join(", "),
                if have.is_empty() {
                    "none".to_owned()
                } else {
                    have.join(", ")
                }
            ));
        }
        Ok(())
    }

    /// The parameters a run gets: `given`, plus each default the caller did not
    /// override. An unknown parameter is refused, naming the ones accepted.
    pub fn apply_params(
        &self,
        given: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, String> {
        for name in given.keys() {
            if !self.params.iter().any(|p| &p.name == name) {
                let known: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
                return Err(format!(
                    "plugin {} has no parameter `{name}`; it accepts: {}",
                    self.name,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        }
        let mut out = given.clone();
        for p in &self.params {
            if let Some(d) = &p.default {
                out.entry(p.name.clone()).or_insert_with(|| d.clone());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> PluginInfo {
        PluginInfo {
            name: "p".into(),
            version: "1.0.0".into(),
            summary: "s".into(),
            kinds: vec![DocKind::Dataset],
            themes: vec![1, 7],
            params: vec![Param::new("top", "5", ""), Param::optional("country", "")],
        }
    }

    #[test]
    fn params_get_defaults_and_unknown_ones_are_refused() {
        let i = info();
        let mut given = BTreeMap::new();
        given.insert("country".to_owned(), "NPL".to_owned());
        let p = i.apply_params(&given).unwrap();
        assert_eq!(p.get("top").map(String::as_str), Some("5"));
        assert_eq!(p.get("country").map(String::as_str), Some("NPL"));
        given.insert("topp".to_owned(), "1".to_owned());
        let err = i.apply_params(&given).unwrap_err();
        assert!(
            err.contains("no parameter `topp`; it accepts: top, country"),
            "{err}"
        );
    }

    #[test]
    fn kinds_and_themes_are_checked() {
        let i = info();
        assert!(i.check_applies(DocKind::Dataset, &[7]).is_ok());
        let err = i.check_applies(DocKind::Draft, &[7]).unwrap_err();
        assert!(
            err.contains("analyses dataset documents, not a draft"),
            "{err}"
        );
        let err = i.check_applies(DocKind::Dataset, &[3]).unwrap_err();
        assert!(err.contains("for themes 1, 7"), "{err}");
    }
}
