//! CSV files read as typed tables (feature `csv`): the one reader of the node's
//! `kp dataset import`, of `kp plugin run --csv` and of the SDK's
//! `testing::table_from_csv`, so a plugin's native test sees the table a node
//! would store. Strict RFC 4180 (a malformed file is refused, naming the
//! line), cells trimmed, and each column typed as the narrowest of integer,
//! number, boolean and text that fits every non-empty cell.

use crate::{Column, ColumnData, Table};

/// `true`/`yes` and `false`/`no`, in any case.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" => Some(true),
        "false" | "no" => Some(false),
        _ => None,
    }
}

/// Reads CSV bytes (with a header row; a UTF-8 byte order mark is skipped) as
/// the typed table `name`. `file` names the file in errors, which say the line
/// and what to do.
pub fn read(bytes: &[u8], file: &str, name: &str) -> Result<Table, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Err(e) = std::str::from_utf8(bytes) {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        return Err(format!(
            "{file}: line {line}: not UTF-8 text (save the file as UTF-8 and try again)"
        ));
    }
    let line = check_shape(bytes, file)?;
    // Cells are trimmed where they are read (`str::trim`, as the `csv`
    // crate's own trimming does), without a copy of every record.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let at = |e: &csv::Error| -> String {
        match e.position() {
            Some(p) => format!("{file}: line {}", p.line()),
            None => file.to_owned(),
        }
    };
    let headers = reader
        .headers()
        .map_err(|e| format!("{}: {}", at(&e), csv_reason(&e)))?
        .clone();
    let headers: Vec<&str> = headers.iter().map(str::trim).collect();
    if headers.is_empty() || headers.iter().all(|h| h.is_empty()) {
        return Err(format!(
            "{file}: line {line}: the file has no header row naming the columns; put the column names, separated by commas, on the first line"
        ));
    }
    let mut names: Vec<String> = Vec::with_capacity(headers.len());
    let mut seen = std::collections::HashSet::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        if h.is_empty() {
            return Err(format!(
                "{file}: line {line}: column {} has no name; name every column in the header row",
                i + 1
            ));
        }
        if !seen.insert(h) {
            return Err(format!(
                "{file}: line {line}: column name `{h}` appears twice; give each column a name of its own"
            ));
        }
        names.push((*h).to_owned());
    }
    let mut raw: Vec<csv::StringRecord> = Vec::new();
    for record in reader.records() {
        raw.push(record.map_err(|e| format!("{}: {}", at(&e), csv_reason(&e)))?);
    }
    let columns = names
        .into_iter()
        .enumerate()
        .map(|(c, name)| Column {
            name,
            data: typed(raw.iter().map(|r| r.get(c).unwrap_or_default().trim())),
        })
        .collect();
    Ok(Table {
        name: name.to_owned(),
        columns,
    })
}

/// A column's cells typed as the narrowest type that fits every non-empty
/// one; an empty cell is none, and a column with no value at all is text.
fn typed<'a>(cells: impl Iterator<Item = &'a str> + Clone) -> ColumnData {
    /// Every cell parsed by `parse`, or none as soon as one does not parse.
    fn all<'a, T>(
        cells: impl Iterator<Item = &'a str>,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<Vec<Option<T>>> {
        cells
            .map(|v| {
                if v.is_empty() {
                    Some(None)
                } else {
                    parse(v).map(Some)
                }
            })
            .collect()
    }
    if cells.clone().all(str::is_empty) {
        ColumnData::Text(cells.map(|_| None).collect())
    } else if let Some(v) = all(cells.clone(), |v| v.parse::<i64>().ok()) {
        ColumnData::Integer(v)
    } else if let Some(v) = all(cells.clone(), |v| {
        v.parse::<f64>().ok().filter(|x| x.is_finite())
    }) {
        ColumnData::Number(v)
    } else if let Some(v) = all(cells.clone(), parse_bool) {
        ColumnData::Boolean(v)
    } else {
        ColumnData::Text(
            cells
                .map(|v| (!v.is_empty()).then(|| v.to_owned()))
                .collect(),
        )
    }
}

/// Refuses quoting that is not RFC 4180 and rows whose length differs from the
/// header's, naming the line; returns the header's line. The `csv` crate takes
/// bad quoting without complaint and guesses: a quote never closed swallows the
/// rest of the file into one cell, a quote inside an unquoted field is kept as
/// text, and text after a closing quote is glued to the field. Each guess
/// stores a table other than the one the file's author meant. It does refuse
/// ragged rows, but names the line after the previous record, before any blank
/// lines it skipped. Quotes, commas and line ends are ASCII, so scanning bytes
/// is scanning characters; lines are counted at `\n`, and blank lines are
/// skipped, as the `csv` crate does.
fn check_shape(bytes: &[u8], file: &str) -> Result<usize, String> {
    #[derive(Clone, Copy)]
    enum State {
        /// Between records.
        Between,
        /// At the start of a field.
        Start,
        /// In a field that does not start with a quote; `blank` while it holds
        /// only spaces and tabs so far.
        Unquoted { blank: bool },
        /// Inside a quoted field opened on line `opened`.
        Quoted { opened: usize },
        /// Just after a quote inside a quoted field: the closing quote, or the
        /// first of a doubled one.
        AfterQuote { opened: usize },
    }
    let refuse = |line: usize, what: String| format!("{file}: line {line}: {what}");
    let mut line = 1;
    let mut state = State::Between;
    // The record being read: the line it starts on and its fields so far.
    let mut record = (1, 0);
    // The header's line and length, once read.
    let mut header: Option<(usize, usize)> = None;
    let mut end_record = |(start, fields): (usize, usize)| match header {
        None => {
            header = Some((start, fields));
            Ok(())
        }
        Some((_, expected)) if fields != expected => Err(refuse(
            start,
            format!(
                "this row has {fields} field{} but the header has {expected}; give every row {expected} fields (a field with a comma in it goes in quotes)",
                if fields == 1 { "" } else { "s" }
            ),
        )),
        Some(_) => Ok(()),
    };
    for &b in bytes {
        // Blank lines are skipped; anything else starts a record, and is then
        // read as the start of its first field.
        if let State::Between = state {
            if matches!(b, b'\r' | b'\n') {
                line += usize::from(b == b'\n');
                continue;
            }
            record = (line, 1);
        }
        state = match (state, b) {
            (
                State::Between | State::Start | State::Unquoted { .. } | State::AfterQuote { .. },
                b',',
            ) => {
                record.1 += 1;
                State::Start
            }
            (
                State::Between | State::Start | State::Unquoted { .. } | State::AfterQuote { .. },
                b'\r' | b'\n',
            ) => {
                end_record(record)?;
                State::Between
            }
            (State::Between | State::Start, b'"') => State::Quoted { opened: line },
            (State::Between | State::Start, b' ' | b'\t') => State::Unquoted { blank: true },
            (State::Between | State::Start, _) => State::Unquoted { blank: false },
            (State::Unquoted { blank: true }, b'"') => {
                return Err(refuse(
                    line,
                    "a quoted field starts after a space; remove the spaces before the opening quote".into(),
                ));
            }
            (State::Unquoted { .. }, b'"') => {
                return Err(refuse(
                    line,
                    "a quote inside a field that does not start with one; put the whole field in quotes and double each quote inside it (\"5 \"\"ft\"\"\")".into(),
                ));
            }
            (State::Unquoted { blank }, b' ' | b'\t') => State::Unquoted { blank },
            (State::Unquoted { .. }, _) => State::Unquoted { blank: false },
            (State::Quoted { opened }, b'"') => State::AfterQuote { opened },
            (State::Quoted { opened }, _) => State::Quoted { opened },
            (State::AfterQuote { opened }, b'"') => State::Quoted { opened },
            (State::AfterQuote { .. }, _) => {
                return Err(refuse(
                    line,
                    "text after the closing quote of a field; end the field with a comma or the line right after its closing quote, or double a quote inside a field as \"\"".into(),
                ));
            }
        };
        line += usize::from(b == b'\n');
    }
    match state {
        State::Quoted { opened } => Err(refuse(
            opened,
            "a quoted field opened here is never closed; close it with \", or double a quote inside a field as \"\"".into(),
        )),
        State::Between => Ok(()),
        _ => end_record(record),
    }?;
    Ok(header.map_or(line, |(start, _)| start))
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("this row has {len} fields but the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".into(),
        _ => e.to_string(),
    }
}
