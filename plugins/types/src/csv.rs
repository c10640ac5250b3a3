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
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
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
    if headers.is_empty() || headers.iter().all(str::is_empty) {
        return Err(format!(
            "{file}: line {line}: the file has no header row naming the columns; put the column names, separated by commas, on the first line"
        ));
    }
    let mut names: Vec<String> = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if h.is_empty() {
            return Err(format!(
                "{file}: line {line}: column {} has no name; name every column in the header row",
                i + 1
            ));
        }
        if names.iter().any(|n| n == h) {
            return Err(format!(
                "{file}: line {line}: column name `{h}` appears twice; give each column a name of its own"
            ));
        }
        names.push(h.to_owned());
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
            data: typed(raw.iter().map(|r| r.get(c).unwrap_or_default())),
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
    let mut filled = cells.clone().filter(|v| !v.is_empty());
    let some = |v: &str| !v.is_empty();
    if filled.next().is_none() {
        ColumnData::Text(cells.map(|_| None).collect())
    } else if cells
        .clone()
        .filter(|v| some(v))
        .all(|v| v.parse::<i64>().is_ok())
    {
        ColumnData::Integer(cells.map(|v| v.parse().ok()).collect())
    } else if cells
        .clone()
        .filter(|v| some(v))
        .all(|v| v.parse::<f64>().is_ok_and(f64::is_finite))
    {
        ColumnData::Number(cells.map(|v| v.parse().ok()).collect())
    } else if cells
        .clone()
        .filter(|v| some(v))
        .all(|v| parse_bool(v).is_some())
    {
        ColumnData::Boolean(cells.map(parse_bool).collect())
    } else {
        ColumnData::Text(cells.map(|v| some(v).then(|| v.to_owned())).collect())
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
