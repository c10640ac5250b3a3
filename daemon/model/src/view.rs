//! The views a plugin reads of a draft and of a dataset (the contract's
//! `document`, see `kp-plugin-types`): the one place they are made, for the node
//! and for `kp plugin run`, which shows a plugin's author what a node would give
//! it.

use std::collections::BTreeMap;

use kp_plugin_types::{
    Column, ColumnData, DocKind, Document as DocumentView, Section, Table, split_sections,
};

use crate::dataset::{Cell, ColumnType, Dataset};

/// The view of a draft: its text split into sections, its other fields as
/// metadata.
pub fn draft(
    id: String,
    heads: Vec<String>,
    d: &crate::draft::Draft,
    themes: Vec<u8>,
) -> DocumentView {
    let mut metadata = BTreeMap::new();
    metadata.insert("type".to_owned(), d.draft_type.clone());
    metadata.insert("status".to_owned(), d.status.to_string());
    let authors: Vec<String> = d.authors.iter().map(crate::draft::Author::credit).collect();
    metadata.insert("authors".to_owned(), authors.join("; "));
    DocumentView {
        id,
        kind: DocKind::Draft,
        heads,
        title: d.title.clone(),
        themes,
        metadata,
        sections: split_sections(&d.body),
        tables: Vec::new(),
        params: BTreeMap::new(),
    }
}

/// The view of a dataset: one table of typed columns named `data`.
pub fn dataset(id: String, heads: Vec<String>, d: &Dataset, themes: Vec<u8>) -> DocumentView {
    let rows = &d.table.rows;
    let columns = d
        .table
        .columns
        .iter()
        .enumerate()
        .map(|(j, c)| {
            let cells = rows.iter().map(move |r| r.get(j).unwrap_or(&Cell::Empty));
            let data = match c.column_type {
                ColumnType::Integer => ColumnData::Integer(
                    cells
                        .map(|x| match x {
                            Cell::Integer(n) => Some(*n),
                            _ => None,
                        })
                        .collect(),
                ),
                ColumnType::Number => ColumnData::Number(
                    cells
                        .map(|x| match x {
                            Cell::Number(n) => Some(*n),
                            #[allow(clippy::cast_precision_loss)]
                            Cell::Integer(n) => Some(*n as f64),
                            _ => None,
                        })
                        .collect(),
                ),
                ColumnType::Boolean => ColumnData::Boolean(
                    cells
                        .map(|x| match x {
                            Cell::Boolean(b) => Some(*b),
                            _ => None,
                        })
                        .collect(),
                ),
                ColumnType::Text => ColumnData::Text(
                    cells
                        .map(|x| match x {
                            Cell::Text(t) => Some(t.clone()),
                            Cell::Empty => None,
                            Cell::Integer(n) => Some(n.to_string()),
                            Cell::Number(n) => Some(n.to_string()),
                            Cell::Boolean(b) => Some(b.to_string()),
                        })
                        .collect(),
                ),
            };
            Column {
                name: c.name.clone(),
                data,
            }
        })
        .collect();
    let mut metadata = BTreeMap::new();
    metadata.insert("source".to_owned(), d.source.clone());
    metadata.insert("licence".to_owned(), d.licence.clone());
    DocumentView {
        id,
        kind: DocKind::Dataset,
        heads,
        title: d.title.clone(),
        themes,
        metadata,
        sections: Vec::<Section>::new(),
        tables: vec![Table {
            name: "data".into(),
            columns,
        }],
        params: BTreeMap::new(),
    }
}
