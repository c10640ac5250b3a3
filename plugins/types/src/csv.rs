//! CSV files read as typed tables (feature `csv`): the one reader of the node's
//! `kp dataset import`, of `kp plugin run --csv` and of the SDK's
//! `testing::table_from_csv`, so a plugin's native test sees the table a node
//! would store. Strict RFC 4180 (a malformed file is refused, naming the
//! line), cells trimmed, and each column typed as the narrowest of integer,
//! number, boolean and text that fits every non-empty cell.

use crate::{Column, ColumnData, Table};

/// `true`/`yes` and `false`/`no`, in any case.
pub fn parse_bool(s: &str) -> Option<bool> {
    let is = |word: &str| s.eq_ignore_ascii_case(word);
    if is("true") || is("yes") {
        Some(true)
    } else if is("false") || is("no") {
        Some(false)
    } else {
        None
    }
}

/// A column's type: the narrowest that fits every non-empty cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every non-empty cell is a whole number (`i64`).
    Integer,
    /// Every non-empty cell is a finite decimal number.
    Number,
    /// Every non-empty cell is a boolean ([`parse_bool`]).
    Boolean,
    /// Anything else, and a column with no value at all.
    Text,
}

/// A whole number, or `None` (an empty cell, or one that is not).
pub fn integer(cell: &str) -> Option<i64> {
    cell.parse().ok()
}

/// A finite decimal number, or `None`.
pub fn number(cell: &str) -> Option<f64> {
    cell.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// A CSV file checked and typed but not yet copied: the column names and
/// kinds, how many rows, and the bytes, read again record by record by
/// [`Checked::for_each_record`]. A wide or long file is read without a value
/// held per cell or per column until the caller makes one.
#[derive(Debug)]
pub struct Checked<'a> {
    /// The columns' names, in order, trimmed and distinct.
    pub names: Vec<String>,
    /// Each column's kind.
    pub kinds: Vec<Kind>,
    /// The number of rows under the header.
    pub rows: usize,
    bytes: &'a [u8],
    file: String,
}

impl Checked<'_> {
    /// Calls `f` with each row's cells, trimmed, in order, until it fails; a
    /// record the reader refuses (never one `check` took) fails with
    /// `refused` of the reason.
    pub fn for_each_record<E>(
        &self,
        refused: impl Fn(String) -> E,
        mut f: impl FnMut(&mut dyn Iterator<Item = &str>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut reader = reader(self.bytes);
        let mut record = csv::StringRecord::new();
        let mut next = |record: &mut csv::StringRecord| {
            reader
                .read_record(record)
                .map_err(|e| refused(located(&self.file, &e)))
        };
        // The header was read by `check`.
        next(&mut record)?;
        while next(&mut record)? {
            f(&mut record.iter().map(str::trim))?;
        }
        Ok(())
    }
}

/// The reader of every pass: the header is read as a record.
fn reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
}

fn located(file: &str, e: &csv::Error) -> String {
    match e.position() {
        Some(p) => format!("{file}: line {}: {}", p.line(), csv_reason(e)),
        None => format!("{file}: {}", csv_reason(e)),
    }
}

/// Checks CSV bytes (with a header row; a UTF-8 byte order mark is skipped)
/// and types their columns, in one pass. `file` names the file in errors,
/// which say the line and what to do.
pub fn check<'a>(bytes: &'a [u8], file: &str) -> Result<Checked<'a>, String> {
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
    let mut reader = reader(bytes);
    let mut record = csv::StringRecord::new();
    let read = reader
        .read_record(&mut record)
        .map_err(|e| located(file, &e))?;
    let headers: Vec<&str> = record.iter().map(str::trim).collect();
    if !read || headers.iter().all(|h| h.is_empty()) {
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
    drop(seen);
    // What each column may still be, and whether it has a value at all.
    #[derive(Clone, Copy)]
    struct Fits {
        any: bool,
        integer: bool,
        number: bool,
        boolean: bool,
    }
    let mut fits = vec![
        Fits {
            any: false,
            integer: true,
            number: true,
            boolean: true,
        };
        names.len()
    ];
    let mut rows = 0;
    while reader
        .read_record(&mut record)
        .map_err(|e| located(file, &e))?
    {
        rows += 1;
        for (fit, cell) in fits.iter_mut().zip(record.iter().map(str::trim)) {
            if cell.is_empty() {
                continue;
            }
            fit.any = true;
            // A whole number is a finite number and no boolean: each cell
            // is parsed only as far as its column still needs.
            if (fit.integer || fit.number) && integer(cell).is_some() {
                fit.boolean = false;
                continue;
            }
            fit.integer = false;
            fit.number = fit.number && number(cell).is_some();
            fit.boolean = fit.boolean && parse_bool(cell).is_some();
        }
    }
    let kinds = fits
        .iter()
        .map(|f| match f {
            Fits { any: false, .. } => Kind::Text,
            Fits { integer: true, .. } => Kind::Integer,
            Fits { number: true, .. } => Kind::Number,
            Fits { boolean: true, .. } => Kind::Boolean,
            _ => Kind::Text,
        })
        .collect();
    Ok(Checked {
        names,
        kinds,
        rows,
        bytes,
        file: file.to_owned(),
    })
}

/// Reads CSV bytes (with a header row; a UTF-8 byte order mark is skipped) as
/// the typed table `name`: [`check`], then each cell parsed as its column's
/// kind. `file` names the file in errors, which say the line and what to do.
pub fn read(bytes: &[u8], file: &str, name: &str) -> Result<Table, String> {
    let checked = check(bytes, file)?;
    let rows = checked.rows;
    let mut data: Vec<ColumnData> = checked
        .kinds
        .iter()
        .map(|k| match k {
            Kind::Integer => ColumnData::Integer(Vec::with_capacity(rows)),
            Kind::Number => ColumnData::Number(Vec::with_capacity(rows)),
            Kind::Boolean => ColumnData::Boolean(Vec::with_capacity(rows)),
            Kind::Text => ColumnData::Text(Vec::with_capacity(rows)),
        })
        .collect();
    checked.for_each_record(
        |e| e,
        |cells| {
            for (column, cell) in data.iter_mut().zip(cells) {
                let empty = cell.is_empty();
                match column {
                    ColumnData::Integer(v) => v.push(integer(cell)),
                    ColumnData::Number(v) => v.push(number(cell)),
                    ColumnData::Boolean(v) => v.push(parse_bool(cell)),
                    ColumnData::Text(v) => v.push((!empty).then(|| cell.to_owned())),
                }
            }
            Ok(())
        },
    )?;
    let columns = checked
        .names
        .into_iter()
        .zip(data)
        .map(|(name, data)| Column { name, data })
        .collect();
    Ok(Table {
        name: name.to_owned(),
        columns,
    })
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
