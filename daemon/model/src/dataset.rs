//! Datasets: tables with named, typed columns, a source and a licence (theme 1
//! keeps its migration and remittance figures in these).

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use serde::Serialize;

use super::{
    DocKind, ModelError, SCHEMA, check_line, expect_kind, get_i64, get_obj, get_str, list_obj,
};
use kp_core::ids::DocId;

/// The type of a column, inferred from its values at import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// Whole numbers.
    Integer,
    /// Decimal numbers.
    Number,
    /// true / false.
    Boolean,
    /// Anything else.
    Text,
}

impl ColumnType {
    /// The word stored in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Integer => "integer",
            ColumnType::Number => "number",
            ColumnType::Boolean => "boolean",
            ColumnType::Text => "text",
        }
    }
}

/// A column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    /// Its name, from the header.
    pub name: String,
    /// Its type.
    pub column_type: ColumnType,
}

/// A cell; `Empty` for a missing value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    /// No value.
    Empty,
    /// A whole number.
    Integer(i64),
    /// A decimal number.
    Number(f64),
    /// A truth value.
    Boolean(bool),
    /// Text.
    Text(String),
}

/// A table parsed from CSV, ready to store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// The columns.
    pub columns: Vec<Column>,
    /// The rows, each as long as `columns`.
    pub rows: Vec<Vec<Cell>>,
}

/// A dataset as read from its document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dataset {
    /// The space's id.
    pub space: String,
    /// Title.
    pub title: String,
    /// Where the figures come from.
    pub source: String,
    /// Their licence.
    pub licence: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The table (rows possibly cut to a limit).
    pub table: Table,
    /// Rows in the dataset (before any limit).
    pub total_rows: usize,
    /// Marked open by its space: a public portal shows it and offers it for
    /// download.
    pub open: bool,
}

impl Dataset {
    /// A dataset of `table` that no node holds yet (a file read as a node
    /// would read it): no space, source or licence.
    pub fn of_table(title: String, table: Table) -> Dataset {
        Dataset {
            space: String::new(),
            title,
            source: String::new(),
            licence: String::new(),
            created_at: 0,
            total_rows: table.rows.len(),
            table,
            open: false,
        }
    }
}

/// A CSV file read for import: its columns typed, its rows counted, its
/// cells parsed as they are written into the dataset and never held as values
/// (a wide or long file costs no allocation per cell or per column beyond
/// the names). The reader is `kp_plugin_types::csv`, the one the plugin
/// SDK's native tests use too.
#[derive(Debug)]
pub struct CsvTable<'a> {
    /// The columns.
    pub columns: Vec<Column>,
    checked: kp_plugin_types::csv::Checked<'a>,
}

impl CsvTable<'_> {
    /// The number of rows under the header.
    pub fn rows(&self) -> usize {
        self.checked.rows
    }

    /// Calls `f` with each row's cells, as their columns' types read them.
    fn for_each_row(
        &self,
        mut f: impl FnMut(&mut dyn Iterator<Item = CellRef<'_>>) -> Result<(), ModelError>,
    ) -> Result<(), ModelError> {
        self.checked.for_each_record(ModelError::invalid, |cells| {
            f(&mut cells
                .zip(&self.columns)
                .map(|(cell, c)| CellRef::parse(c.column_type, cell)))
        })
    }
}

/// Reads CSV (with a header row) for import. Each column's type is the
/// narrowest that fits all its non-empty values: integer, number, boolean,
/// text. Errors name the line.
pub fn read_csv<'a>(bytes: &'a [u8], file: &str) -> Result<CsvTable<'a>, ModelError> {
    use kp_plugin_types::csv::Kind;
    let mut checked = kp_plugin_types::csv::check(bytes, file).map_err(ModelError::invalid)?;
    let columns = std::mem::take(&mut checked.names)
        .into_iter()
        .zip(&checked.kinds)
        .map(|(name, kind)| Column {
            name,
            column_type: match kind {
                Kind::Integer => ColumnType::Integer,
                Kind::Number => ColumnType::Number,
                Kind::Boolean => ColumnType::Boolean,
                Kind::Text => ColumnType::Text,
            },
        })
        .collect();
    Ok(CsvTable { columns, checked })
}

/// Parses CSV (with a header row) into a typed table of values, as
/// [`read_csv`] types it.
pub fn parse_csv(bytes: &[u8], file: &str) -> Result<Table, ModelError> {
    let csv = read_csv(bytes, file)?;
    let mut rows = Vec::with_capacity(csv.rows());
    csv.for_each_row(|cells| {
        rows.push(cells.map(Cell::from).collect());
        Ok(())
    })?;
    Ok(Table {
        columns: csv.columns,
        rows,
    })
}

/// A cell on its way into a dataset: a [`Cell`] borrowed, or a CSV cell
/// parsed as its column's type.
#[derive(Debug, Clone, Copy)]
enum CellRef<'a> {
    Empty,
    Integer(i64),
    Number(f64),
    Boolean(bool),
    Text(&'a str),
}

impl<'a> CellRef<'a> {
    /// A CSV cell (trimmed) of a column of type `t`; one that does not parse
    /// as it (never in a column typed by its own cells) is empty.
    fn parse(t: ColumnType, cell: &'a str) -> Self {
        use kp_plugin_types::csv as read;
        let value = match t {
            _ if cell.is_empty() => None,
            ColumnType::Integer => read::integer(cell).map(CellRef::Integer),
            ColumnType::Number => read::number(cell).map(CellRef::Number),
            ColumnType::Boolean => read::parse_bool(cell).map(CellRef::Boolean),
            ColumnType::Text => Some(CellRef::Text(cell)),
        };
        value.unwrap_or(CellRef::Empty)
    }
}

impl<'a> From<&'a Cell> for CellRef<'a> {
    fn from(c: &'a Cell) -> Self {
        match c {
            Cell::Empty => CellRef::Empty,
            Cell::Integer(n) => CellRef::Integer(*n),
            Cell::Number(x) => CellRef::Number(*x),
            Cell::Boolean(b) => CellRef::Boolean(*b),
            Cell::Text(s) => CellRef::Text(s),
        }
    }
}

impl From<CellRef<'_>> for Cell {
    fn from(c: CellRef<'_>) -> Self {
        match c {
            CellRef::Empty => Cell::Empty,
            CellRef::Integer(n) => Cell::Integer(n),
            CellRef::Number(x) => Cell::Number(x),
            CellRef::Boolean(b) => Cell::Boolean(b),
            CellRef::Text(s) => Cell::Text(s.to_owned()),
        }
    }
}

/// Metadata of a new dataset.
#[derive(Debug, Clone, Copy)]
pub struct Info<'a> {
    /// Title.
    pub title: &'a str,
    /// Where the figures come from.
    pub source: &'a str,
    /// Their licence.
    pub licence: &'a str,
}

/// Fills a new dataset document with `table`.
pub fn init(
    doc: &mut AutoCommit,
    space: &DocId,
    info: Info<'_>,
    table: &Table,
    now: i64,
) -> Result<(), ModelError> {
    init_info(doc, space, info, now)?;
    let mut rows = Rows::new();
    for row in &table.rows {
        rows.push(&mut row.iter().map(CellRef::from))?;
    }
    write_table(doc, &table.columns, table.rows.len(), rows)
}

/// Fills a new dataset document with the table of a CSV file, each cell
/// parsed on its way in.
pub fn init_csv(
    doc: &mut AutoCommit,
    space: &DocId,
    info: Info<'_>,
    table: &CsvTable<'_>,
    now: i64,
) -> Result<(), ModelError> {
    init_info(doc, space, info, now)?;
    let mut rows = Rows::new();
    table.for_each_row(|cells| rows.push(cells))?;
    write_table(doc, &table.columns, table.rows(), rows)
}

/// A new dataset's fields other than its table.
fn init_info(
    doc: &mut AutoCommit,
    space: &DocId,
    info: Info<'_>,
    now: i64,
) -> Result<(), ModelError> {
    let title = check_line("a title", info.title, super::draft::MAX_TITLE_CHARS)?;
    doc.put(ROOT, "kind", DocKind::Dataset.as_str())?;
    doc.put(ROOT, "schema", SCHEMA)?;
    doc.put(ROOT, "space", space.to_string())?;
    doc.put(ROOT, "title", title)?;
    doc.put(ROOT, "source", info.source.trim())?;
    doc.put(ROOT, "licence", info.licence.trim())?;
    doc.put(ROOT, "created_at", now)?;
    Ok(())
}

/// A table's rows as [`TABLE_FORMAT`] keeps them: chunks of CSV records.
struct Rows {
    writer: csv::Writer<Vec<u8>>,
    chunks: Vec<Vec<u8>>,
    cell: String,
    float: ryu::Buffer,
}

impl Rows {
    fn new() -> Self {
        Self {
            writer: Self::writer(),
            chunks: Vec::new(),
            cell: String::new(),
            float: ryu::Buffer::new(),
        }
    }

    fn writer() -> csv::Writer<Vec<u8>> {
        csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new())
    }

    /// Writes a row.
    fn push(&mut self, cells: &mut dyn Iterator<Item = CellRef<'_>>) -> Result<(), ModelError> {
        use std::fmt::Write;
        let w = &mut self.writer;
        for c in cells {
            let cell = &mut self.cell;
            cell.clear();
            // Writing to a String cannot fail.
            let _ = match c {
                CellRef::Empty => Ok(()),
                CellRef::Integer(n) => write!(cell, "{n}"),
                // The shortest text that parses back to the same bits.
                CellRef::Number(x) if x.is_finite() => cell.write_str(self.float.format_finite(x)),
                CellRef::Number(x) => write!(cell, "{x}"),
                CellRef::Boolean(b) => write!(cell, "{b}"),
                CellRef::Text(s) => cell.write_str(s),
            };
            w.write_field(&*cell).map_err(csv_error)?;
        }
        w.write_record(None::<&[u8]>).map_err(csv_error)?;
        w.flush().map_err(csv_error)?;
        if w.get_ref().len() >= CHUNK_BYTES {
            let full = std::mem::replace(w, Self::writer());
            self.chunks.push(full.into_inner().map_err(csv_error)?);
        }
        Ok(())
    }

    /// The chunks, as the texts of the table's list.
    fn finish(mut self) -> Result<Vec<ScalarValue>, ModelError> {
        let last = self.writer.into_inner().map_err(csv_error)?;
        if !last.is_empty() {
            self.chunks.push(last);
        }
        self.chunks
            .into_iter()
            .map(|b| String::from_utf8(b).map(|s| ScalarValue::Str(s.into())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ModelError::invalid("a cell is not UTF-8"))
    }
}

/// Writes a table of `columns` and `rows` into the dataset as
/// [`TABLE_FORMAT`] says.
fn write_table(
    doc: &mut AutoCommit,
    columns: &[Column],
    count: usize,
    rows: Rows,
) -> Result<(), ModelError> {
    let t = doc.put_object(ROOT, "table", ObjType::Map)?;
    doc.put(&t, "format", TABLE_FORMAT)?;
    doc.put(
        &t,
        "columns",
        record(columns.iter().map(|c| c.name.as_str())),
    )?;
    doc.put(
        &t,
        "types",
        record(columns.iter().map(|c| c.column_type.as_str())),
    )?;
    doc.put(&t, "rows", i64::try_from(count).unwrap_or(i64::MAX))?;
    let chunks = doc.put_object(&t, "chunks", ObjType::List)?;
    doc.splice(&chunks, 0, 0, rows.finish()?)?;
    Ok(())
}

/// How a table is kept: `table` is a map of `format` (this word),
/// `columns` and `types` (one CSV record each: the names, and the type words),
/// `rows` (how many) and `chunks`, a list of texts of whole CSV records of at
/// most 256 KiB each (a longer row is a chunk of its own). A table
/// is written once, at import, and never edited, so its cells need no
/// identity of their own: a text per chunk costs one operation where a cell
/// per operation cost one each (about 18 µs a cell; a 370,000-row file took
/// half a minute). Numbers are written in their shortest exact form (`ryu`),
/// so a table reads back bit for bit. Datasets imported before this layout keep
/// theirs (`columns` and `rows` lists at the root) and read as before.
pub const TABLE_FORMAT: &str = "csv-chunks/1";

/// The size a chunk of a table's rows is cut at.
const CHUNK_BYTES: usize = 256 * 1024;

fn csv_error(e: impl std::fmt::Display) -> ModelError {
    ModelError::invalid(format!("the table could not be written: {e}"))
}

/// One CSV record of `fields`.
fn record<'a>(fields: impl IntoIterator<Item = &'a str>) -> String {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    // Writing to memory cannot fail, and the fields are UTF-8.
    let _ = w.write_record(fields);
    let bytes = w.into_inner().unwrap_or_default();
    let mut s = String::from_utf8(bytes).unwrap_or_default();
    s.truncate(s.trim_end_matches(['\r', '\n']).len());
    s
}

/// A reader of CSV text as this module stores it. The `csv` crate drops a
/// byte order mark at the start of its input, and a stored name or cell may
/// begin with U+FEFF: the reader is handed a blank line (skipped) first, so
/// the text's first byte is never the input's.
fn stored_reader(text: &str) -> csv::Reader<impl std::io::Read + '_> {
    use std::io::Read;
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader((&b"\n"[..]).chain(text.as_bytes()))
}

/// The fields of one CSV record as [`record`] wrote it.
fn fields(text: &str) -> Vec<String> {
    let mut r = stored_reader(text);
    r.records()
        .next()
        .and_then(Result::ok)
        .map(|rec| rec.iter().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// A stored cell of a column of type `t` (one that does not parse as its
/// type reads as empty, as a stored value of the wrong type always has).
fn parse_cell(t: ColumnType, s: &str) -> Cell {
    if s.is_empty() {
        return Cell::Empty;
    }
    match t {
        ColumnType::Integer => s.parse().map_or(Cell::Empty, Cell::Integer),
        ColumnType::Number => s.parse().map_or(Cell::Empty, Cell::Number),
        ColumnType::Boolean => match s {
            "true" => Cell::Boolean(true),
            "false" => Cell::Boolean(false),
            _ => Cell::Empty,
        },
        ColumnType::Text => Cell::Text(s.to_owned()),
    }
}

/// Reads a table kept as [`TABLE_FORMAT`] says: the columns, the first
/// `limit` rows and how many rows it has.
fn read_table(
    doc: &AutoCommit,
    t: &ObjId,
    limit: Option<usize>,
) -> (Vec<Column>, Vec<Vec<Cell>>, usize) {
    let names = fields(&get_str(doc, t, "columns"));
    let types = fields(&get_str(doc, t, "types"));
    let columns: Vec<Column> = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| Column {
            name,
            column_type: column_type(types.get(i).map_or("", String::as_str)),
        })
        .collect();
    let stored = usize::try_from(get_i64(doc, t, "rows")).unwrap_or(0);
    let take = limit.unwrap_or(usize::MAX);
    let width = columns.len();
    let mut rows = Vec::with_capacity(take.min(stored));
    let mut seen = 0usize;
    if let Some(chunks) = get_obj(doc, t, "chunks", ObjType::List) {
        let mut rec = csv::StringRecord::new();
        for item in doc.list_range(&chunks, ..) {
            let automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(text)) = &item.value
            else {
                continue;
            };
            let mut r = stored_reader(text);
            // A chunk damaged past its good records ends there.
            while let Ok(true) = r.read_record(&mut rec) {
                seen += 1;
                if rows.len() < take {
                    let mut row: Vec<Cell> = columns
                        .iter()
                        .zip(rec.iter())
                        .map(|(c, s)| parse_cell(c.column_type, s))
                        .collect();
                    row.resize(width, Cell::Empty);
                    rows.push(row);
                } else if limit.is_some() {
                    // Only the count is needed from here: the stored one.
                    return (columns, rows, stored.max(seen));
                }
            }
        }
    }
    (columns, rows, seen)
}

fn column_type(s: &str) -> ColumnType {
    match s {
        "integer" => ColumnType::Integer,
        "number" => ColumnType::Number,
        "boolean" => ColumnType::Boolean,
        _ => ColumnType::Text,
    }
}

/// Up to this many rows, a read visits each row (a seek each); beyond, it
/// reads the whole table in one pass over the document.
const ROWS_BY_SEEK: usize = 2000;

/// A stored cell.
fn cell_of(v: &automerge::ScalarValueRef<'_>) -> Cell {
    use automerge::ScalarValueRef as S;
    match v {
        S::Int(n) => Cell::Integer(*n),
        S::Uint(n) => Cell::Integer(i64::try_from(*n).unwrap_or(i64::MAX)),
        S::F64(x) => Cell::Number(*x),
        S::Boolean(b) => Cell::Boolean(*b),
        S::Str(t) => Cell::Text(t.to_string()),
        _ => Cell::Empty,
    }
}

/// The first `take` rows of `list`, each read where it is.
fn rows_by_row(doc: &AutoCommit, list: &ObjId, width: usize, take: usize) -> Vec<Vec<Cell>> {
    doc.list_range(list, ..take)
        .map(|row| {
            if !matches!(row.value, automerge::ValueRef::Object(ObjType::List)) {
                return vec![Cell::Empty; width];
            }
            let mut cells: Vec<Cell> = doc
                .list_range(row.id(), ..width)
                .map(|c| match &c.value {
                    automerge::ValueRef::Scalar(v) => cell_of(v),
                    automerge::ValueRef::Object(_) => Cell::Empty,
                })
                .collect();
            cells.resize(width, Cell::Empty);
            cells
        })
        .collect()
}

/// The first `take` rows of `list`, read in one pass over the list and its
/// rows (the document iterator visits the list, then each row, in turn),
/// and put in the list's order.
fn rows_in_one_pass(doc: &AutoCommit, list: &ObjId, width: usize, take: usize) -> Vec<Vec<Cell>> {
    use automerge::iter::DocItem;
    let mut order: Vec<Option<ObjId>> = Vec::with_capacity(take);
    let mut cells: std::collections::HashMap<ObjId, Vec<Cell>> =
        std::collections::HashMap::with_capacity(take);
    // The object being read: its items come one after another, so it is
    // compared (and its cells filed) once, not at every cell.
    let mut current: Option<(std::sync::Arc<ObjId>, bool, Vec<Cell>)> = None;
    let mut file = |done: Option<(std::sync::Arc<ObjId>, bool, Vec<Cell>)>| {
        if let Some((obj, false, row)) = done {
            cells.entry((*obj).clone()).or_default().extend(row);
        }
    };
    for item in doc.iter_at(list, None) {
        let DocItem::List(li) = item.item else {
            continue;
        };
        let same = current
            .as_ref()
            .is_some_and(|(o, ..)| std::sync::Arc::ptr_eq(o, &item.obj) || **o == *item.obj);
        if !same {
            file(current.take());
            let is_list = *item.obj == *list;
            current = Some((item.obj, is_list, Vec::with_capacity(width)));
        }
        let Some((_, is_list, row)) = current.as_mut() else {
            continue;
        };
        if *is_list {
            if order.len() < take {
                order.push(
                    matches!(li.value, automerge::ValueRef::Object(ObjType::List)).then(|| li.id()),
                );
            }
        } else if li.index < width {
            row.push(match &li.value {
                automerge::ValueRef::Scalar(v) => cell_of(v),
                automerge::ValueRef::Object(_) => Cell::Empty,
            });
        }
    }
    file(current);
    order
        .into_iter()
        .map(|row| {
            let mut c = row.and_then(|r| cells.remove(&r)).unwrap_or_default();
            c.resize(width, Cell::Empty);
            c
        })
        .collect()
}

/// Reads a dataset with at most `limit` rows (all when `None`).
pub fn read(doc: &AutoCommit, limit: Option<usize>) -> Result<Dataset, ModelError> {
    expect_kind(doc, DocKind::Dataset)?;
    let (columns, rows, total_rows) = match get_obj(doc, &ROOT, "table", ObjType::Map) {
        Some(t) => read_table(doc, &t, limit),
        None => read_rows(doc, limit),
    };
    Ok(Dataset {
        space: get_str(doc, &ROOT, "space"),
        title: get_str(doc, &ROOT, "title"),
        source: get_str(doc, &ROOT, "source"),
        licence: get_str(doc, &ROOT, "licence"),
        created_at: get_i64(doc, &ROOT, "created_at"),
        table: Table { columns, rows },
        total_rows,
        open: super::get_bool(doc, &ROOT, "open"),
    })
}

/// Reads a table kept as datasets imported before [`TABLE_FORMAT`] were: a
/// list of column maps and a list of rows, each a list of cells.
fn read_rows(doc: &AutoCommit, limit: Option<usize>) -> (Vec<Column>, Vec<Vec<Cell>>, usize) {
    let columns: Vec<Column> = get_obj(doc, &ROOT, "columns", ObjType::List)
        .map(|l| {
            (0..doc.length(&l))
                .filter_map(|i| list_obj(doc, &l, i, ObjType::Map))
                .map(|c| Column {
                    name: get_str(doc, &c, "name"),
                    column_type: column_type(&get_str(doc, &c, "type")),
                })
                .collect()
        })
        .unwrap_or_default();
    let (rows, total_rows) = match get_obj(doc, &ROOT, "rows", ObjType::List) {
        Some(list) => {
            let total = doc.length(&list);
            let take = limit.unwrap_or(total).min(total);
            let rows = if take > ROWS_BY_SEEK {
                rows_in_one_pass(doc, &list, columns.len(), take)
            } else {
                rows_by_row(doc, &list, columns.len(), take)
            };
            (rows, total)
        }
        None => (Vec::new(), 0),
    };
    (columns, rows, total_rows)
}

/// Marks a dataset open (a public portal shows it and offers it for
/// download) or closed again. Open data needs a licence and a source: given
/// ones replace the stored ones, and an open dataset left without either is
/// refused.
pub fn set_open(
    doc: &mut AutoCommit,
    open: bool,
    source: Option<&str>,
    licence: Option<&str>,
) -> Result<(), ModelError> {
    expect_kind(doc, DocKind::Dataset)?;
    let source = source.map(str::trim).filter(|s| !s.is_empty());
    let licence = licence.map(str::trim).filter(|s| !s.is_empty());
    for (what, v) in [("a source", source), ("a licence", licence)] {
        if let Some(v) = v {
            check_line(what, v, super::draft::MAX_TITLE_CHARS)?;
        }
    }
    if open {
        if source.is_none() && get_str(doc, &ROOT, "source").trim().is_empty() {
            return Err(ModelError::invalid(
                "open data says where its figures come from: give --source (for example \
                 \"World Bank, Migration and Development Brief 17\")",
            ));
        }
        if licence.is_none() && get_str(doc, &ROOT, "licence").trim().is_empty() {
            return Err(ModelError::invalid(
                "open data needs a licence its readers can rely on: give --licence (for \
                 example CC-BY-4.0)",
            ));
        }
    }
    if let Some(s) = source {
        doc.put(ROOT, "source", s)?;
    }
    if let Some(l) = licence {
        doc.put(ROOT, "licence", l)?;
    }
    doc.put(ROOT, "open", open)?;
    Ok(())
}

/// The table as CSV (a header row, then the rows; numbers in their shortest
/// exact form, empty cells empty).
pub fn to_csv(table: &Table) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = w.write_record(table.columns.iter().map(|c| c.name.as_str()));
    for row in &table.rows {
        let _ = w.write_record(row.iter().map(|c| match c {
            Cell::Empty => String::new(),
            Cell::Integer(n) => n.to_string(),
            Cell::Number(x) => x.to_string(),
            Cell::Boolean(b) => b.to_string(),
            Cell::Text(t) => t.clone(),
        }));
    }
    w.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dataset as imported before [`TABLE_FORMAT`]: a list of column maps
    /// and a list of rows, a cell per list item.
    fn init_legacy(doc: &mut AutoCommit, table: &Table) {
        doc.put(ROOT, "kind", DocKind::Dataset.as_str()).unwrap();
        doc.put(ROOT, "title", "Old").unwrap();
        let cols = doc.put_object(ROOT, "columns", ObjType::List).unwrap();
        for (i, c) in table.columns.iter().enumerate() {
            let o = doc.insert_object(&cols, i, ObjType::Map).unwrap();
            doc.put(&o, "name", c.name.as_str()).unwrap();
            doc.put(&o, "type", c.column_type.as_str()).unwrap();
        }
        let rows = doc.put_object(ROOT, "rows", ObjType::List).unwrap();
        for (i, row) in table.rows.iter().enumerate() {
            let r = doc.insert_object(&rows, i, ObjType::List).unwrap();
            for (j, c) in row.iter().enumerate() {
                let v: ScalarValue = match c {
                    Cell::Empty => ScalarValue::Null,
                    Cell::Integer(n) => ScalarValue::Int(*n),
                    Cell::Number(x) => ScalarValue::F64(*x),
                    Cell::Boolean(b) => ScalarValue::Boolean(*b),
                    Cell::Text(s) => ScalarValue::Str(s.as_str().into()),
                };
                doc.insert(&r, j, v).unwrap();
            }
        }
    }

    fn info() -> Info<'static> {
        Info {
            title: "T",
            source: "",
            licence: "",
        }
    }

    /// A table of every kind of cell, with values at the edges of their types
    /// and text that CSV must quote, over several chunks.
    fn awkward_table(rows: usize) -> Table {
        let columns = [
            ("name, \"quoted\"", ColumnType::Text),
            ("n", ColumnType::Integer),
            ("x", ColumnType::Number),
            ("ok", ColumnType::Boolean),
        ]
        .into_iter()
        .map(|(name, column_type)| Column {
            name: name.into(),
            column_type,
        })
        .collect();
        let texts = [
            "plain",
            "a, b",
            "say \"hi\"",
            "two\nlines",
            "crlf\r\nend",
            "  inner  spaces kept  ",
            "ünïcødé 🌍",
            "=1+2",
        ];
        let numbers = [
            0.1 + 0.2,
            -0.0,
            1e300,
            f64::MIN_POSITIVE,
            5e-324,
            -123456.789,
            f64::MAX,
        ];
        let ints = [i64::MIN, i64::MAX, 0, -1, 42];
        let rows = (0..rows)
            .map(|i| {
                let cell = |k: usize, c: Cell| {
                    if (i + k).is_multiple_of(11) {
                        Cell::Empty
                    } else {
                        c
                    }
                };
                vec![
                    cell(0, Cell::Text(texts[i % texts.len()].into())),
                    cell(1, Cell::Integer(ints[i % ints.len()])),
                    cell(2, Cell::Number(numbers[i % numbers.len()])),
                    cell(3, Cell::Boolean(i.is_multiple_of(3))),
                ]
            })
            .collect();
        Table { columns, rows }
    }

    /// A table reads back as it was written, bit for bit, whole or cut to a
    /// limit, in one chunk or many, and as the same table as the layout
    /// before it.
    #[test]
    fn a_table_reads_back_as_written_in_either_layout() {
        for n in [0, 1, 10, 20_000] {
            let t = awkward_table(n);
            let mut doc = AutoCommit::new();
            init(&mut doc, &DocId::random(), info(), &t, 1).unwrap();
            let d = read(&doc, None).unwrap();
            assert_eq!(d.total_rows, n);
            assert_eq!(d.table.columns, t.columns);
            let bits = |t: &Table| -> Vec<Vec<Option<u64>>> {
                t.rows
                    .iter()
                    .map(|r| {
                        r.iter()
                            .map(|c| match c {
                                Cell::Number(x) => Some(x.to_bits()),
                                _ => None,
                            })
                            .collect()
                    })
                    .collect()
            };
            assert_eq!(d.table, t, "{n} rows");
            assert_eq!(bits(&d.table), bits(&t), "{n} rows: the numbers' bits");
            for limit in [0, 1, 7, n / 2, n, n + 5] {
                let cut = read(&doc, Some(limit)).unwrap();
                assert_eq!(cut.total_rows, n, "limit {limit}");
                assert_eq!(cut.table.rows[..], t.rows[..limit.min(n)], "limit {limit}");
            }
            let mut old = AutoCommit::new();
            init_legacy(&mut old, &t);
            assert_eq!(read(&old, None).unwrap().table, t, "{n} rows, old layout");
            assert_eq!(read(&old, Some(3)).unwrap().total_rows, n);
        }
        // 20,000 rows are several chunks, each a whole number of rows.
        let mut doc = AutoCommit::new();
        init(
            &mut doc,
            &DocId::random(),
            info(),
            &awkward_table(20_000),
            1,
        )
        .unwrap();
        let table = get_obj(&doc, &ROOT, "table", ObjType::Map).unwrap();
        let chunks = get_obj(&doc, &table, "chunks", ObjType::List).unwrap();
        assert!(doc.length(&chunks) > 1);
    }

    /// A wide table (many columns, few rows) is written in a few operations,
    /// not one per column.
    #[test]
    fn a_wide_table_is_a_handful_of_operations() {
        let width = 50_000;
        let columns = (0..width)
            .map(|i| Column {
                name: format!("c{i}"),
                column_type: ColumnType::Integer,
            })
            .collect();
        let rows = vec![(0..width).map(|i| Cell::Integer(i as i64)).collect()];
        let t = Table { columns, rows };
        let mut doc = AutoCommit::new();
        init(&mut doc, &DocId::random(), info(), &t, 1).unwrap();
        doc.commit();
        let ops: usize = doc.get_changes(&[]).iter().map(|c| c.len()).sum();
        assert!(ops < 20, "{ops} operations");
        assert_eq!(read(&doc, None).unwrap().table, t);
    }

    /// Whatever a partner stored in a table's place reads without a panic:
    /// cells that do not parse as their column's type read as empty, a row
    /// short of cells is filled with empty ones, items that are not text are
    /// skipped, and a chunk that is not CSV ends at its last good record.
    #[test]
    fn a_damaged_table_reads_what_can_be_read() {
        let t = awkward_table(30);
        let mut doc = AutoCommit::new();
        init(&mut doc, &DocId::random(), info(), &t, 1).unwrap();
        let table = get_obj(&doc, &ROOT, "table", ObjType::Map).unwrap();
        let chunks = get_obj(&doc, &table, "chunks", ObjType::List).unwrap();
        let n = doc.length(&chunks);
        doc.insert(&chunks, n, "x,not a number,1.5,maybe\nshort\n")
            .unwrap();
        doc.insert(&chunks, n + 1, 17_i64).unwrap();
        doc.insert_object(&chunks, n + 2, ObjType::Map).unwrap();
        doc.insert(&chunks, n + 3, "\"never closed,1,2,true\n")
            .unwrap();
        let d = read(&doc, None).unwrap();
        assert_eq!(d.table.rows[..30], t.rows[..]);
        assert_eq!(
            d.table.rows[30],
            vec![
                Cell::Text("x".into()),
                Cell::Empty,
                Cell::Number(1.5),
                Cell::Empty
            ]
        );
        assert_eq!(d.table.rows[31][0], Cell::Text("short".into()));
        assert_eq!(
            d.table.rows[31][1..],
            [Cell::Empty, Cell::Empty, Cell::Empty]
        );
        assert_eq!(d.total_rows, d.table.rows.len());
        // Types and names gone: every column reads as text, none named.
        doc.put(&table, "types", 3_i64).unwrap();
        doc.delete(&table, "columns").unwrap();
        let d = read(&doc, None).unwrap();
        assert!(d.table.columns.is_empty());
        assert!(d.table.rows.iter().all(Vec::is_empty));
    }

    /// In the layout before [`TABLE_FORMAT`], the one-pass read of a large
    /// table gives what reading row by row gives, on a document two forks changed (rows inserted and deleted, the same
    /// cell set on both, a row that is not a list), merged either way.
    #[test]
    fn a_large_table_reads_alike_in_one_pass_and_row_by_row() {
        let mut csv = String::from("country,year,usd\n");
        for i in 0..(ROWS_BY_SEEK + 300) {
            csv.push_str(&format!("C{},{},{}\n", i % 37, 1900 + i, i as f64 / 7.0));
        }
        let t = parse_csv(csv.as_bytes(), "t.csv").unwrap();
        let mut base = AutoCommit::new();
        init_legacy(&mut base, &t);
        let rows = get_obj(&base, &ROOT, "rows", ObjType::List).unwrap();
        let mut a = base
            .fork()
            .with_actor(automerge::ActorId::from(b"aaaa".as_slice()));
        let mut b = base
            .fork()
            .with_actor(automerge::ActorId::from(b"bbbb".as_slice()));
        let row5 = list_obj(&a, &rows, 5, ObjType::List).unwrap();
        a.put(&row5, 1, 1.5_f64).unwrap();
        a.delete(&rows, 7).unwrap();
        b.put(&row5, 1, 2_i64).unwrap();
        let new = b.insert_object(&rows, 3, ObjType::List).unwrap();
        b.insert(&new, 0, "New").unwrap();
        b.insert(&new, 1, 2030_i64).unwrap();
        b.insert_object(&rows, 9, ObjType::Map).unwrap();
        let mut ab = a.fork();
        ab.merge(&mut b).unwrap();
        let mut ba = b.fork();
        ba.merge(&mut a).unwrap();
        for doc in [&base, &a, &b, &ab, &ba] {
            let total = doc.length(&rows);
            for take in [total, ROWS_BY_SEEK + 1, 10] {
                assert_eq!(
                    rows_in_one_pass(doc, &rows, 3, take),
                    rows_by_row(doc, &rows, 3, take),
                    "take {take}"
                );
            }
        }
        assert_eq!(
            read(&ab, None).unwrap().table,
            read(&ba, None).unwrap().table
        );
        let merged = read(&ab, None).unwrap();
        assert_eq!(merged.table.rows[3][0], Cell::Text("New".into()));
        assert_eq!(merged.table.rows[3][2], Cell::Empty);
        // The row that is a map reads as empty cells.
        let empty = merged
            .table
            .rows
            .iter()
            .filter(|r| r.iter().all(|c| *c == Cell::Empty))
            .count();
        assert_eq!(empty, 1);
    }

    #[test]
    fn infers_types_and_round_trips() {
        let csv = b"country,year,usd_bn,share,official\nIndia,2011,63.8,3.4,true\nNepal,2011,4.2,,false\n";
        let t = parse_csv(csv, "t.csv").unwrap();
        let types: Vec<ColumnType> = t.columns.iter().map(|c| c.column_type).collect();
        assert_eq!(
            types,
            [
                ColumnType::Text,
                ColumnType::Integer,
                ColumnType::Number,
                ColumnType::Number,
                ColumnType::Boolean
            ]
        );
        assert_eq!(t.rows[1][3], Cell::Empty);
        let mut doc = AutoCommit::new();
        let info = Info {
            title: "Top recipients",
            source: "World Bank",
            licence: "CC BY 4.0",
        };
        init(&mut doc, &DocId::random(), info, &t, 1).unwrap();
        let d = read(&doc, None).unwrap();
        assert_eq!(d.table, t);
        assert_eq!(read(&doc, Some(1)).unwrap().table.rows.len(), 1);
        assert_eq!(d.total_rows, 2);
        assert!(!d.open);
        // The CSV written back parses to the same table.
        assert_eq!(parse_csv(&to_csv(&d.table), "again.csv").unwrap(), t);
    }

    /// A file imported as the node imports it (each cell parsed on its way
    /// into the document) stores the table its parse gives, the table the
    /// plugins' reader gives, and the document the table itself would make.
    #[test]
    fn an_imported_file_stores_the_table_it_parses_to() {
        let awkward = to_csv(&awkward_table(300));
        let odd = "  id , yes_no ,plus, x ,blank,mixed\n\
                   1, Yes,+5, 1e3,,1\n\
                   007,no,-0, 2.50 ,,a\n\
                   \n\
                   3,TRUE,12,-inf?,,\n";
        let wide: String = {
            let header: Vec<String> = (0..3_000).map(|i| format!("c{i}")).collect();
            let row: Vec<String> = (0..3_000).map(|i| (i % 7).to_string()).collect();
            format!("{}\n{}\n", header.join(","), row.join(","))
        };
        for bytes in [awkward.as_slice(), odd.as_bytes(), wide.as_bytes()] {
            let parsed = parse_csv(bytes, "t.csv").unwrap();
            let csv = read_csv(bytes, "t.csv").unwrap();
            assert_eq!(csv.columns, parsed.columns);
            assert_eq!(csv.rows(), parsed.rows.len());
            let mut imported = AutoCommit::new();
            let space = DocId::random();
            init_csv(&mut imported, &space, info(), &csv, 1).unwrap();
            let mut made = AutoCommit::new();
            init(&mut made, &space, info(), &parsed, 1).unwrap();
            let stored = read(&imported, None).unwrap();
            assert_eq!(stored.table, parsed);
            assert_eq!(stored, read(&made, None).unwrap());
            let chunks = |doc: &AutoCommit| {
                let t = get_obj(doc, &ROOT, "table", ObjType::Map).unwrap();
                let list = get_obj(doc, &t, "chunks", ObjType::List).unwrap();
                (0..doc.length(&list))
                    .map(|i| doc.get(&list, i).unwrap().unwrap().0.to_string())
                    .collect::<Vec<_>>()
            };
            assert_eq!(chunks(&imported), chunks(&made));
            // The plugins' reader gives the same table.
            let theirs = kp_plugin_types::csv::read(bytes, "t.csv", "t").unwrap();
            assert_eq!(theirs.columns.len(), parsed.columns.len());
            for (i, c) in theirs.columns.iter().enumerate() {
                assert_eq!(c.name, parsed.columns[i].name);
                assert_eq!(c.data.type_name(), parsed.columns[i].column_type.as_str());
                assert_eq!(c.data.len(), parsed.rows.len());
            }
        }
        let odd = parse_csv(odd.as_bytes(), "t.csv").unwrap();
        let types: Vec<&str> = odd.columns.iter().map(|c| c.column_type.as_str()).collect();
        assert_eq!(
            types,
            ["integer", "boolean", "integer", "text", "text", "text"]
        );
        assert_eq!(odd.rows[1][0], Cell::Integer(7));
        assert_eq!(odd.rows[0][1], Cell::Boolean(true));
        assert_eq!(odd.rows[0][3], Cell::Text("1e3".into()));
        assert_eq!(odd.rows[2][5], Cell::Empty);
    }

    /// A name or a cell that begins with U+FEFF (the byte order mark's
    /// character) reads back whole, first in a chunk or not; before, the CSV
    /// reader took it for a mark and dropped it.
    #[test]
    fn a_leading_byte_order_mark_in_a_cell_is_kept() {
        let columns = vec![
            Column {
                name: "\u{feff}first".into(),
                column_type: ColumnType::Text,
            },
            Column {
                name: "n".into(),
                column_type: ColumnType::Integer,
            },
        ];
        let rows = vec![
            vec![Cell::Text("\u{feff}007".into()), Cell::Integer(1)],
            vec![Cell::Text("\u{feff}".into()), Cell::Integer(2)],
        ];
        let t = Table { columns, rows };
        let mut doc = AutoCommit::new();
        init(&mut doc, &DocId::random(), info(), &t, 1).unwrap();
        assert_eq!(read(&doc, None).unwrap().table, t);
        // And one imported from a file whose cell begins with it.
        let csv = "h0,h1\n\u{feff}007,1\n";
        let parsed = parse_csv(csv.as_bytes(), "t.csv").unwrap();
        assert_eq!(parsed.rows[0][0], Cell::Text("\u{feff}007".into()));
        let table = read_csv(csv.as_bytes(), "t.csv").unwrap();
        let mut doc = AutoCommit::new();
        init_csv(&mut doc, &DocId::random(), info(), &table, 1).unwrap();
        assert_eq!(read(&doc, None).unwrap().table, parsed);
    }

    #[test]
    fn open_data_needs_a_source_and_a_licence() {
        let t = parse_csv(b"a\n1\n", "t.csv").unwrap();
        let mut doc = AutoCommit::new();
        let bare = Info {
            title: "T",
            source: "",
            licence: "",
        };
        init(&mut doc, &DocId::random(), bare, &t, 1).unwrap();
        let err = set_open(&mut doc, true, None, Some("CC-BY-4.0")).unwrap_err();
        assert!(err.to_string().contains("--source"), "{err}");
        assert!(!read(&doc, None).unwrap().open, "a refusal changes nothing");
        let err = set_open(&mut doc, true, Some("World Bank"), None).unwrap_err();
        assert!(err.to_string().contains("--licence"), "{err}");
        set_open(&mut doc, true, Some("World Bank"), Some("CC-BY-4.0")).unwrap();
        let d = read(&doc, None).unwrap();
        assert!(d.open && d.source == "World Bank" && d.licence == "CC-BY-4.0");
        set_open(&mut doc, false, None, None).unwrap();
        assert!(!read(&doc, None).unwrap().open);
    }

    #[test]
    fn malformed_csv_names_the_line() {
        let err = parse_csv(b"a,b\n1,2\n3,4,5\n", "x.csv")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.csv: line 3") && err.contains("3 fields"),
            "{err}"
        );
        let err = parse_csv(b"a,b\n1,2\n\xff\xfe,3\n", "x.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains("UTF-8"), "{err}");
        let err = parse_csv(b"a,a\n1,2\n", "x.csv").unwrap_err().to_string();
        assert!(err.contains("appears twice"), "{err}");
        let err = parse_csv(b"a,\n1,2\n", "x.csv").unwrap_err().to_string();
        assert!(err.contains("column 2 has no name"), "{err}");
        assert!(parse_csv(b"", "x.csv").is_err());
    }

    fn refused(csv: &str) -> String {
        match parse_csv(csv.as_bytes(), "x.csv") {
            Ok(t) => panic!("{csv:?} was taken as {t:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_quote_never_closed_names_the_line_it_opened_on() {
        // The csv crate alone would take rows 3 to 5 into one cell.
        let err = refused("a,b\n1,2\n3,\"four\n5,6\n7,8\n");
        assert!(
            err.starts_with("x.csv: line 3: a quoted field opened here is never closed")
                && err.contains("close it with \""),
            "{err}"
        );
        // Line numbers count the line ends inside earlier quoted fields.
        let err = refused("a,b\n\"two\nlines\",1\n\"open,2\n");
        assert!(err.starts_with("x.csv: line 4: a quoted field"), "{err}");
        let err = refused("a,\"b\n1,2\n");
        assert!(err.starts_with("x.csv: line 1: a quoted field"), "{err}");
        // A doubled quote at the end does not close the field.
        let err = refused("a\n\"x\"\"\n");
        assert!(err.starts_with("x.csv: line 2: a quoted field"), "{err}");
    }

    #[test]
    fn a_quote_inside_an_unquoted_field_is_refused() {
        let err = refused("a,b\n1,2\n3,5 \"ft\"\n");
        assert!(
            err.starts_with("x.csv: line 3: a quote inside a field that does not start with one")
                && err.contains("put the whole field in quotes"),
            "{err}"
        );
        let err = refused("a,b\"\n1,2\n");
        assert!(err.starts_with("x.csv: line 1: a quote inside"), "{err}");
        let err = refused("a,b\n1, \"two\"\n");
        assert!(
            err.starts_with("x.csv: line 2: a quoted field starts after a space")
                && err.contains("remove the spaces"),
            "{err}"
        );
    }

    #[test]
    fn text_after_a_closing_quote_is_refused() {
        let err = refused("a,b\n\"one\"two,2\n");
        assert!(
            err.starts_with("x.csv: line 2: text after the closing quote")
                && err.contains("double a quote inside a field as \"\""),
            "{err}"
        );
        let err = refused("a,b\n1,\"one\" \n");
        assert!(err.starts_with("x.csv: line 2: text after"), "{err}");
        let err = refused("a,b\n1,\"x\ny\"z\n");
        assert!(err.starts_with("x.csv: line 3: text after"), "{err}");
    }

    #[test]
    fn ragged_rows_are_refused_at_their_first_line() {
        let err = refused("a,b,c\n1,2,3\n4,5\n");
        assert!(
            err.starts_with("x.csv: line 3: this row has 2 fields but the header has 3")
                && err.contains("give every row 3 fields"),
            "{err}"
        );
        let err = refused("a,b\n1\n");
        assert!(err.contains("line 2: this row has 1 field but"), "{err}");
        let err = refused("a,b\n1,2\n\n\r\n3\n");
        assert!(err.contains("line 5: this row has 1 field but"), "{err}");
        // The row starts on line 2 and its quoted field runs over two lines.
        let err = refused("a,b\n\"x\ny\",1,2\n");
        assert!(
            err.starts_with("x.csv: line 2: this row has 3 fields"),
            "{err}"
        );
    }

    #[test]
    fn header_names_must_be_there_and_distinct() {
        let err = refused("a, ,c\n1,2,3\n");
        assert!(
            err.contains("line 1: column 2 has no name; name every column"),
            "{err}"
        );
        let err = refused("\n\nx,y, x\n1,2,3\n");
        assert!(
            err.contains("line 3: column name `x` appears twice"),
            "{err}"
        );
        let err = refused("\n\n");
        assert!(err.contains("no header row"), "{err}");
    }

    #[test]
    fn valid_rfc_4180_is_taken_as_written() {
        let csv = "name,note,n\r\n\"Smith, J.\",\"said \"\"hi\"\"\r\nthen left\",1\r\n\"\",\"\"\"\",2\r\nplain,a b,3";
        let t = parse_csv(csv.as_bytes(), "x.csv").unwrap();
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["name", "note", "n"]);
        assert_eq!(
            t.rows,
            [
                vec![
                    Cell::Text("Smith, J.".into()),
                    Cell::Text("said \"hi\"\r\nthen left".into()),
                    Cell::Integer(1)
                ],
                vec![Cell::Empty, Cell::Text("\"".into()), Cell::Integer(2)],
                vec![
                    Cell::Text("plain".into()),
                    Cell::Text("a b".into()),
                    Cell::Integer(3)
                ],
            ]
        );
    }
}
