//! The JSON forms (feature `serde`): a column as `{"name", "type", "values"}`, and a
//! report's canonical bytes.

use serde_json::Value;

use crate::{Column, ColumnData, Report};

/// The JSON form of a [`Column`]: `{"name", "type", "values"}`.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawColumn {
    name: String,
    #[serde(rename = "type")]
    column_type: String,
    values: Vec<Value>,
}

impl From<Column> for RawColumn {
    fn from(c: Column) -> Self {
        fn cells<T>(v: Vec<Option<T>>, f: impl Fn(T) -> Value) -> Vec<Value> {
            v.into_iter().map(|x| x.map_or(Value::Null, &f)).collect()
        }
        let column_type = c.data.type_name().to_owned();
        let values = match c.data {
            ColumnData::Integer(v) => cells(v, Value::from),
            // A non-finite number has no JSON form (it becomes `null`); reports are
            // checked before they are serialised, so this only affects hand-made values.
            ColumnData::Number(v) => cells(v, Value::from),
            ColumnData::Boolean(v) => cells(v, Value::from),
            ColumnData::Text(v) => cells(v, Value::from),
        };
        RawColumn {
            name: c.name,
            column_type,
            values,
        }
    }
}

impl TryFrom<RawColumn> for Column {
    type Error = String;

    fn try_from(raw: RawColumn) -> Result<Self, String> {
        let name = raw.name;
        let values = raw.values;
        let data = match raw.column_type.as_str() {
            "integer" => ColumnData::Integer(cells(&name, values, "an integer", |v| v.as_i64())?),
            "number" => ColumnData::Number(cells(&name, values, "a number", |v| v.as_f64())?),
            "boolean" => ColumnData::Boolean(cells(&name, values, "true, false", |v| v.as_bool())?),
            "text" => ColumnData::Text(cells(&name, values, "a string", |v| match v {
                Value::String(s) => Some(s),
                _ => None,
            })?),
            other => {
                return Err(format!(
                    "column `{name}`: type `{other}` is not one of integer, number, boolean, text"
                ));
            }
        };
        Ok(Column { name, data })
    }
}

/// The cells of column `name`: each value is `null` (an empty cell) or what `read`
/// takes, which `what` names in the message otherwise.
fn cells<T>(
    name: &str,
    values: Vec<Value>,
    what: &str,
    read: impl Fn(Value) -> Option<T>,
) -> Result<Vec<Option<T>>, String> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Null => Ok(None),
            v => read(v)
                .map(Some)
                .ok_or_else(|| format!("column `{name}`: value {} is not {what} or null", i + 1)),
        })
        .collect()
}

impl Report {
    /// The canonical JSON bytes of the report: the same report always gives the
    /// same bytes.
    pub fn canonical_json(&self) -> Vec<u8> {
        // Serialising plain structs, vectors and strings cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use crate::{ColumnData, Document, Finding, Metric, Report, Section, Severity, Table};

    #[test]
    fn documents_round_trip_through_json_and_bad_cells_are_refused() {
        let json = r#"{"id":"d","kind":"dataset","themes":[7],
            "tables":[{"name":"t","columns":[
              {"name":"y","type":"integer","values":[2010,null]},
              {"name":"x","type":"number","values":[1.5,2]},
              {"name":"ok","type":"boolean","values":[true,null]},
              {"name":"c","type":"text","values":["a",null]}]}],
            "params":{"k":"v"}}"#;
        let doc: Document = serde_json::from_str(json).unwrap();
        assert_eq!(
            doc.tables[0].columns[1].data,
            ColumnData::Number(vec![Some(1.5), Some(2.0)])
        );
        let again: Document = serde_json::from_slice(&serde_json::to_vec(&doc).unwrap()).unwrap();
        assert_eq!(doc, again);

        let bad = r#"{"id":"d","kind":"dataset","tables":[{"name":"t","columns":[
              {"name":"y","type":"integer","values":[1, "two"]}]}]}"#;
        let err = serde_json::from_str::<Document>(bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column `y`: value 2 is not an integer"),
            "{err}"
        );
        let bad = r#"{"id":"d","kind":"dataset","tables":[{"name":"t","columns":[
              {"name":"y","type":"date","values":[]}]}]}"#;
        let err = serde_json::from_str::<Document>(bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("type `date`"), "{err}");
        let err = serde_json::from_str::<Document>(r#"{"id":"d","kind":"spreadsheet"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("spreadsheet"), "{err}");
    }

    #[test]
    fn every_cell_type_refuses_the_wrong_value() {
        for (ty, value, what) in [
            ("integer", "1.5", "an integer"),
            ("number", "\"x\"", "a number"),
            ("boolean", "1", "true, false"),
            ("text", "1", "a string"),
        ] {
            let json = format!(r#"{{"name":"c","type":"{ty}","values":[null,{value}]}}"#);
            let err = serde_json::from_str::<crate::Column>(&json)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("column `c`: value 2 is not {what} or null")),
                "{ty}: {err}"
            );
        }
    }

    #[test]
    fn a_report_of_a_later_contract_is_read_for_what_this_one_knows() {
        let json = r#"{"summary":"s","metrics":[{"name":"m","value":1,"unit":"","note":"new"}],
            "findings":[],"tables":[],"verdict":"a later field",
            "figures":[{"title":"A","unit":"%","chart":{"scatter":{"points":[]}},"marks":[]},
                       {"title":"B","unit":"%","chart":{"bars":[{"label":"x","value":1}]},"marks":[]}]}"#;
        let r: Report = serde_json::from_str(json).unwrap();
        assert_eq!(r.metrics[0].value, 1.0);
        assert_eq!(r.figures.len(), 1);
        assert_eq!(r.figures[0].title, "B");
    }

    #[test]
    fn a_report_has_one_canonical_form() {
        let mut r = Report {
            summary: "s".into(),
            ..Report::default()
        };
        r.metric("share", 0.1 + 0.2, "%");
        r.findings.push(Finding::new(Severity::Warning, "w"));
        r.tables.push(Table {
            name: "t".into(),
            columns: vec![crate::Column::integer("n", vec![Some(-1), None])],
        });
        assert_eq!(
            String::from_utf8(r.canonical_json()).unwrap(),
            r#"{"summary":"s","metrics":[{"name":"share","value":0.30000000000000004,"unit":"%"}],"findings":[{"severity":"warning","message":"w","anchor":null}],"tables":[{"name":"t","columns":[{"name":"n","type":"integer","values":[-1,null]}]}]}"#
        );
        let back: Report = serde_json::from_slice(&r.canonical_json()).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            back.get_metric("share"),
            Some(&Metric {
                name: "share".into(),
                value: 0.1 + 0.2,
                unit: "%".into()
            })
        );
        let s: Section = serde_json::from_str(r#"{"text":"t"}"#).unwrap();
        assert_eq!((s.heading.as_str(), s.level), ("", 0));
    }
}
