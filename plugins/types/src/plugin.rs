//! What a plugin says it is (its `describe`), and the checks the node makes with it
//! before a run.

use std::collections::BTreeMap;

use crate::DocKind;

/// What a parameter's value must be. The node checks the plugin's default
/// against it at install and a caller's value before a run, so a plugin reads
/// a value of its kind (or a blank one, which means "not given").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum ParamKind {
    /// Any text.
    #[default]
    Text,
    /// A whole number, such as `10` or `-3`.
    Integer,
    /// A finite number, such as `3` or `0.25`.
    Number,
    /// `true` or `false`.
    Boolean,
    /// One of these words.
    Choice(Vec<String>),
}

impl ParamKind {
    /// What a value of this kind is, for a message: "an integer", "one of a, b".
    pub fn describe(&self) -> String {
        match self {
            ParamKind::Text => "text".into(),
            ParamKind::Integer => "an integer".into(),
            ParamKind::Number => "a number".into(),
            ParamKind::Boolean => "true or false".into(),
            ParamKind::Choice(words) => format!("one of {}", words.join(", ")),
        }
    }

    /// The short name of the kind: `text`, `integer`, `number`, `boolean`,
    /// `choice`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ParamKind::Text => "text",
            ParamKind::Integer => "integer",
            ParamKind::Number => "number",
            ParamKind::Boolean => "boolean",
            ParamKind::Choice(_) => "choice",
        }
    }

    /// Whether `value` is of this kind; a blank value always is (it means the
    /// parameter is not given).
    pub fn accepts(&self, value: &str) -> bool {
        let v = value.trim();
        v.is_empty()
            || match self {
                ParamKind::Text => true,
                ParamKind::Integer => v.parse::<i64>().is_ok(),
                ParamKind::Number => v.parse::<f64>().is_ok_and(f64::is_finite),
                ParamKind::Boolean => v == "true" || v == "false",
                ParamKind::Choice(words) => words.iter().any(|w| w == v),
            }
    }
}

/// A parameter a plugin accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Param {
    /// Its name: lower-case words joined by `-`.
    pub name: String,
    /// One line: what it sets, with its unit.
    pub description: String,
    /// What its value must be (plugins of contract 0.1 declare none: text).
    #[cfg_attr(feature = "serde", serde(default))]
    pub kind: ParamKind,
    /// Used when the caller gives none; `None` means the parameter is optional.
    pub default: Option<String>,
}

impl Param {
    /// A text parameter with a default value; [`Param::of`] sets another kind.
    pub fn new(name: &str, default: &str, description: &str) -> Param {
        Param {
            name: name.to_owned(),
            description: description.to_owned(),
            kind: ParamKind::Text,
            default: Some(default.to_owned()),
        }
    }

    /// An optional text parameter, without a default; [`Param::of`] sets
    /// another kind.
    pub fn optional(name: &str, description: &str) -> Param {
        Param {
            name: name.to_owned(),
            description: description.to_owned(),
            kind: ParamKind::Text,
            default: None,
        }
    }

    /// The same parameter, of `kind`:
    /// `Param::new("top", "10", "rows to rank").of(ParamKind::Integer)`.
    pub fn of(mut self, kind: ParamKind) -> Param {
        self.kind = kind;
        self
    }

    /// Fails, saying why, unless `value` is of the parameter's kind.
    pub fn check(&self, value: &str) -> Result<(), String> {
        if self.kind.accepts(value) {
            Ok(())
        } else {
            Err(format!(
                "parameter `{}` takes {}; `{}` is not",
                self.name,
                self.kind.describe(),
                value.trim()
            ))
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
    /// override. An unknown parameter is refused, naming the ones accepted, and
    /// so is a value not of its parameter's kind.
    pub fn apply_params(
        &self,
        given: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, String> {
        for (name, value) in given {
            if let Some(p) = self.params.iter().find(|p| &p.name == name) {
                p.check(value)
                    .map_err(|e| format!("plugin {}: {e}", self.name))?;
            } else {
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

impl PluginInfo {
    /// Fails, saying what is wrong, unless the description is one a node
    /// installs: a name of lower-case words joined by `-`, a semantic version,
    /// a one-line summary, a document kind, themes 1 to 11, parameters with
    /// distinct names and one-line descriptions, choices of distinct words, and
    /// each default of its parameter's kind (else every run without the
    /// parameter would fail). The node checks it at install; a plugin's native
    /// test can check it with the SDK's `check_describe`.
    pub fn check(&self) -> Result<(), String> {
        let info = self;
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
                && p.name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
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
            if let ParamKind::Choice(words) = &p.kind {
                if words.is_empty() {
                    return Err(format!("parameter `{}` is a choice of no words", p.name));
                }
                for (j, w) in words.iter().enumerate() {
                    if w.trim().is_empty() || w.trim() != w || words[..j].contains(w) {
                        return Err(format!(
                            "parameter `{}`'s choices must be distinct words without surrounding \
                             spaces; `{w}` is not",
                            p.name
                        ));
                    }
                    one_line(&format!("parameter `{}`'s choice", p.name), w, 64)?;
                }
            }
            if let Some(d) = &p.default
                && !p.kind.accepts(d)
            {
                return Err(format!(
                    "the default of parameter `{}`, `{d}`, is not {}: every run without the \
                     parameter would fail",
                    p.name,
                    p.kind.describe()
                ));
            }
        }
        Ok(())
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
            params: vec![
                Param::new("top", "5", "").of(ParamKind::Integer),
                Param::optional("country", ""),
                Param::optional("mode", "").of(ParamKind::Choice(vec!["a".into(), "b".into()])),
            ],
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
            err.contains("no parameter `topp`; it accepts: top, country, mode"),
            "{err}"
        );
    }

    #[test]
    fn a_value_not_of_its_parameters_kind_is_refused() {
        let i = info();
        for (name, value, ok) in [
            ("top", "10", true),
            ("top", " -3 ", true),
            ("top", "", true),
            ("top", "ten", false),
            ("top", "2.5", false),
            ("mode", "b", true),
            ("mode", "c", false),
            ("country", "anything at all", true),
        ] {
            let given = BTreeMap::from([(name.to_owned(), value.to_owned())]);
            let r = i.apply_params(&given);
            assert_eq!(r.is_ok(), ok, "{name}={value}: {r:?}");
        }
        let given = BTreeMap::from([("top".to_owned(), "ten".to_owned())]);
        let err = i.apply_params(&given).unwrap_err();
        assert_eq!(
            err,
            "plugin p: parameter `top` takes an integer; `ten` is not"
        );
        let err = Param::optional("m", "")
            .of(ParamKind::Choice(vec!["x".into(), "y".into()]))
            .check("z")
            .unwrap_err();
        assert!(err.contains("takes one of x, y; `z` is not"), "{err}");
        assert!(ParamKind::Number.accepts("1e3"));
        assert!(!ParamKind::Number.accepts("NaN"));
        assert!(!ParamKind::Boolean.accepts("yes"));
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
}
