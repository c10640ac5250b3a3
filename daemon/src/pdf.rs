//! A brief as a PDF, for those who circulate briefs by mail: the same title
//! block and CommonMark body as the exported page (headings, paragraphs with
//! emphasis and links, lists, quotes, tables, code, footnotes as notes at the
//! end, and figures drawn from the space's analyses), typeset on A4 with
//! krilla and the DejaVu fonts built into kpd (Latin, Greek and Cyrillic
//! scripts; other scripts show as missing glyphs).
//!
//! Layout first makes a list of what to draw on each page, then krilla draws
//! it; nothing is fetched and nothing runs.

use std::collections::BTreeMap;

use kp_model::export::{Export, FIGURE_SCHEME, number};
use krilla::Document;
use krilla::action::{Action, LinkAction};
use krilla::annotation::{Annotation, LinkAnnotation, Target};
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::text::{Font, TextDirection};
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// The bars of the figures a body names, by the image's address: the
/// table's name and `(label, value)` pairs.
pub(crate) type FigureData = BTreeMap<String, (String, Vec<(String, f64)>)>;

/// The PDF could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PdfError {
    /// A font built into kpd could not be read (a broken build).
    #[error("a font built into kpd cannot be read")]
    Font,
    /// The PDF writer refused.
    #[error("the PDF could not be written: {0}")]
    Write(String),
}

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const LEFT: f32 = 64.0;
const WIDTH: f32 = PAGE_W - 2.0 * LEFT;
const TOP: f32 = 64.0;
const BOTTOM: f32 = PAGE_H - 64.0;
const BODY: f32 = 10.5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Regular,
    Bold,
    Italic,
    BoldItalic,
    Mono,
}

const INK: (u8, u8, u8) = (34, 34, 34);
const GREY: (u8, u8, u8) = (90, 90, 90);
const LINK: (u8, u8, u8) = (11, 92, 173);
const BAR: (u8, u8, u8) = (43, 108, 176);
const RULE: (u8, u8, u8) = (200, 200, 200);

/// What to draw.
#[derive(Debug)]
enum Item {
    Text {
        at: (f32, f32),
        style: Style,
        size: f32,
        colour: (u8, u8, u8),
        text: String,
    },
    Rect {
        at: (f32, f32),
        size: (f32, f32),
        colour: (u8, u8, u8),
    },
    Link {
        at: (f32, f32),
        size: (f32, f32),
        url: String,
    },
}

struct Fonts {
    data: [&'static [u8]; 5],
    faces: Vec<rustybuzz::Face<'static>>,
}

impl Fonts {
    fn load() -> Result<Self, PdfError> {
        let data = [
            dejavu::sans::regular(),
            dejavu::sans::bold(),
            dejavu::sans::oblique(),
            dejavu::sans::bold_oblique(),
            dejavu::sans_mono::regular(),
        ];
        let faces = data
            .iter()
            .map(|d| rustybuzz::Face::from_slice(d, 0).ok_or(PdfError::Font))
            .collect::<Result<_, _>>()?;
        Ok(Self { data, faces })
    }

    fn index(style: Style) -> usize {
        match style {
            Style::Regular => 0,
            Style::Bold => 1,
            Style::Italic => 2,
            Style::BoldItalic => 3,
            Style::Mono => 4,
        }
    }

    /// The advance of `text` in `style` at `size` points, as drawn.
    fn width(&self, style: Style, size: f32, text: &str) -> f32 {
        let face = &self.faces[Self::index(style)];
        let mut buf = rustybuzz::UnicodeBuffer::new();
        buf.push_str(text);
        buf.guess_segment_properties();
        let out = rustybuzz::shape(face, &[], buf);
        let units: i32 = out.glyph_positions().iter().map(|p| p.x_advance).sum();
        units as f32 / f32::from(face.units_per_em() as u16) * size
    }
}

/// A piece of inline text.
#[derive(Debug, Clone)]
struct Run {
    text: String,
    style: Style,
    link: Option<String>,
}

/// Lays out pages.
struct Layout<'f> {
    fonts: &'f Fonts,
    pages: Vec<Vec<Item>>,
    y: f32,
}

impl<'f> Layout<'f> {
    fn new(fonts: &'f Fonts) -> Self {
        Self {
            fonts,
            pages: vec![Vec::new()],
            y: TOP,
        }
    }

    fn page(&mut self) -> &mut Vec<Item> {
        self.pages.last_mut().expect("a page")
    }

    /// Room for `h` points more, on a new page if this one is full.
    fn need(&mut self, h: f32) {
        if self.y + h > BOTTOM && self.y > TOP {
            self.pages.push(Vec::new());
            self.y = TOP;
        }
    }

    fn gap(&mut self, h: f32) {
        if self.y > TOP {
            self.y += h;
        }
    }

    fn rect(&mut self, at: (f32, f32), size: (f32, f32), colour: (u8, u8, u8)) {
        self.page().push(Item::Rect { at, size, colour });
    }

    fn text(&mut self, at: (f32, f32), style: Style, size: f32, colour: (u8, u8, u8), text: &str) {
        self.page().push(Item::Text {
            at,
            style,
            size,
            colour,
            text: text.to_owned(),
        });
    }

    /// Lines of `runs` within `width`, broken at spaces (a word wider than
    /// the line is cut by characters).
    fn lines(&self, runs: &[Run], size: f32, width: f32) -> Vec<Vec<(Run, f32)>> {
        let mut lines: Vec<Vec<(Run, f32)>> = vec![Vec::new()];
        let mut x = 0.0;
        for run in runs {
            if run.text == "\n" {
                lines.push(Vec::new());
                x = 0.0;
                continue;
            }
            for word in split_keep_spaces(&run.text) {
                let w = self.fonts.width(run.style, size, word);
                let is_space = word.trim().is_empty();
                if x + w > width && x > 0.0 {
                    if is_space {
                        continue;
                    }
                    lines.push(Vec::new());
                    x = 0.0;
                }
                if is_space && x == 0.0 {
                    continue;
                }
                if w > width {
                    // A word wider than the line: cut it by characters.
                    let mut piece = String::new();
                    for c in word.chars() {
                        piece.push(c);
                        if self.fonts.width(run.style, size, &piece) > width - x && piece.len() > 1
                        {
                            piece.pop();
                            let pw = self.fonts.width(run.style, size, &piece);
                            push_piece(&mut lines, run, std::mem::take(&mut piece), pw);
                            lines.push(Vec::new());
                            x = 0.0;
                            piece.push(c);
                        }
                    }
                    let pw = self.fonts.width(run.style, size, &piece);
                    push_piece(&mut lines, run, piece, pw);
                    x += pw;
                    continue;
                }
                push_piece(&mut lines, run, word.to_owned(), w);
                x += w;
            }
        }
        lines
    }

    /// A paragraph of `runs` at `indent`, `size` points, line height `lead`.
    /// `marker` (a bullet or number) goes left of the first line.
    fn paragraph(
        &mut self,
        runs: &[Run],
        size: f32,
        lead: f32,
        indent: f32,
        colour: (u8, u8, u8),
        marker: Option<&str>,
    ) {
        let lines = self.lines(runs, size, WIDTH - indent);
        for (i, line) in lines.iter().enumerate() {
            self.need(lead);
            let base = self.y + size;
            if i == 0
                && let Some(m) = marker
            {
                let w = self.fonts.width(Style::Regular, size, m);
                self.text(
                    (LEFT + indent - w - 5.0, base),
                    Style::Regular,
                    size,
                    colour,
                    m,
                );
            }
            let mut x = LEFT + indent;
            for (run, w) in line {
                let c = if run.link.is_some() { LINK } else { colour };
                self.text((x, base), run.style, size, c, &run.text);
                if let Some(url) = &run.link {
                    let y = self.y;
                    self.page().push(Item::Link {
                        at: (x, y),
                        size: (*w, lead),
                        url: url.clone(),
                    });
                }
                x += w;
            }
            self.y += lead;
        }
    }

    /// A table: the header row bold, cells wrapped within equal columns.
    fn table(&mut self, rows: &[(bool, Vec<Vec<Run>>)]) {
        let cols = rows.iter().map(|(_, r)| r.len()).max().unwrap_or(0);
        if cols == 0 {
            return;
        }
        let size = 9.0;
        let lead = 12.0;
        let pad = 4.0;
        let col_w = WIDTH / cols as f32;
        for (head, row) in rows {
            let cells: Vec<Vec<Vec<(Run, f32)>>> = row
                .iter()
                .map(|runs| {
                    let runs: Vec<Run> = runs
                        .iter()
                        .map(|r| Run {
                            style: if *head { Style::Bold } else { r.style },
                            ..r.clone()
                        })
                        .collect();
                    self.lines(&runs, size, col_w - 2.0 * pad)
                })
                .collect();
            let height = cells.iter().map(Vec::len).max().unwrap_or(1) as f32 * lead + 2.0 * pad;
            self.need(height);
            let top = self.y;
            for (c, lines) in cells.iter().enumerate() {
                let mut y = top + pad;
                for line in lines {
                    let mut x = LEFT + c as f32 * col_w + pad;
                    for (run, w) in line {
                        self.text((x, y + size), run.style, size, INK, &run.text);
                        x += w;
                    }
                    y += lead;
                }
            }
            self.y = top + height;
            let weight = if *head { 0.8 } else { 0.4 };
            self.rect((LEFT, self.y - weight), (WIDTH, weight), RULE);
        }
        self.y += 6.0;
    }

    /// A bar chart of `bars` with its caption.
    fn figure(&mut self, caption: &str, bars: &[(String, f64)]) {
        let size = 8.5;
        let row = 15.0;
        let label_w = 140.0;
        let value_w = 70.0;
        let bar_w = WIDTH - label_w - value_w - 12.0;
        let max = bars.iter().map(|(_, v)| v.abs()).fold(0.0, f64::max);
        let neg = bars.iter().any(|(_, v)| *v < 0.0);
        let zero = if neg { label_w + bar_w / 2.0 } else { label_w } + 6.0;
        let scale = if max > 0.0 {
            (if neg { bar_w / 2.0 } else { bar_w }) as f64 / max
        } else {
            0.0
        };
        self.gap(4.0);
        self.need(row * bars.len().min(6) as f32 + 20.0);
        for (label, v) in bars {
            self.need(row);
            let base = self.y + size + 2.0;
            let short: String = label.chars().take(28).collect();
            let lw = self.fonts.width(Style::Regular, size, &short);
            self.text(
                (LEFT + label_w - lw, base),
                Style::Regular,
                size,
                INK,
                &short,
            );
            let len = (v.abs() * scale) as f32;
            let x = if *v < 0.0 {
                LEFT + zero - len
            } else {
                LEFT + zero
            };
            self.rect((x, self.y + 3.0), (len.max(0.5), row - 6.0), BAR);
            self.text(
                (LEFT + label_w + bar_w + 18.0, base),
                Style::Regular,
                size,
                INK,
                &number(*v),
            );
            self.y += row;
        }
        self.need(14.0);
        let runs = [Run {
            text: caption.to_owned(),
            style: Style::Italic,
            link: None,
        }];
        self.paragraph(&runs, 9.0, 12.0, 0.0, GREY, None);
        self.y += 6.0;
    }
}

fn push_piece(lines: &mut [Vec<(Run, f32)>], run: &Run, text: String, w: f32) {
    if let Some(line) = lines.last_mut() {
        line.push((
            Run {
                text,
                style: run.style,
                link: run.link.clone(),
            },
            w,
        ));
    }
}

/// Words and the spaces between them, in order.
fn split_keep_spaces(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space = None;
    for (i, c) in s.char_indices() {
        let space = c == ' ';
        match in_space {
            Some(was) if was != space => {
                out.push(&s[start..i]);
                start = i;
            }
            _ => {}
        }
        in_space = Some(space);
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

fn style_of(bold: bool, italic: bool) -> Style {
    match (bold, italic) {
        (true, true) => Style::BoldItalic,
        (true, false) => Style::Bold,
        (false, true) => Style::Italic,
        (false, false) => Style::Regular,
    }
}

/// The brief `e` (its body the text to typeset) as a PDF.
pub(crate) fn render(
    e: &Export<'_>,
    body: &str,
    figures: &FigureData,
) -> Result<Vec<u8>, PdfError> {
    let fonts = Fonts::load()?;
    let mut l = Layout::new(&fonts);

    // The title block.
    let title = [Run {
        text: e.title.to_owned(),
        style: Style::Bold,
        link: None,
    }];
    l.paragraph(&title, 20.0, 25.0, 0.0, INK, None);
    l.y += 4.0;
    let by = kp_model::export::byline(e.authors);
    if !by.is_empty() {
        let runs = [Run {
            text: by,
            style: Style::Bold,
            link: None,
        }];
        l.paragraph(&runs, 10.5, 14.0, 0.0, INK, None);
    }
    let meta = [Run {
        text: kp_model::export::meta_line(e),
        style: Style::Italic,
        link: None,
    }];
    l.paragraph(&meta, 9.5, 13.0, 0.0, GREY, None);
    l.y += 6.0;
    l.rect((LEFT, l.y), (WIDTH, 0.8), RULE);
    l.y += 14.0;

    body_blocks(&mut l, body, figures);

    // Draw.
    let mut document = Document::new();
    let authors: Vec<String> = e.authors.iter().map(|a| a.name.clone()).collect();
    document.set_metadata(
        Metadata::new()
            .title(e.title.to_owned())
            .authors(authors)
            .language("en".to_owned())
            .creator(format!("kp {}", env!("CARGO_PKG_VERSION"))),
    );
    let font_of: Vec<Font> = fonts
        .data
        .iter()
        .map(|d| Font::new((*d).into(), 0).ok_or(PdfError::Font))
        .collect::<Result<_, _>>()?;
    let total = l.pages.len();
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H).ok_or(PdfError::Font)?;
    for (n, items) in l.pages.iter().enumerate() {
        let mut page = document.start_page_with(settings.clone());
        let mut surface = page.surface();
        let mut links = Vec::new();
        let footer = format!("{} · {} of {}", e.title, n + 1, total);
        let footer_items = [Item::Text {
            at: (LEFT, PAGE_H - 36.0),
            style: Style::Regular,
            size: 8.0,
            colour: GREY,
            text: footer.chars().take(110).collect(),
        }];
        for item in items.iter().chain(&footer_items) {
            match item {
                Item::Text {
                    at,
                    style,
                    size,
                    colour,
                    text,
                } => {
                    surface.set_fill(Some(fill(*colour)));
                    surface.draw_text(
                        Point::from_xy(at.0, at.1),
                        font_of[Fonts::index(*style)].clone(),
                        *size,
                        text,
                        false,
                        TextDirection::Auto,
                    );
                }
                Item::Rect { at, size, colour } => {
                    let Some(rect) = Rect::from_xywh(at.0, at.1, size.0, size.1) else {
                        continue;
                    };
                    let mut pb = PathBuilder::new();
                    pb.push_rect(rect);
                    if let Some(path) = pb.finish() {
                        surface.set_fill(Some(fill(*colour)));
                        surface.draw_path(&path);
                    }
                }
                Item::Link { at, size, url } => links.push((*at, *size, url.clone())),
            }
        }
        surface.finish();
        for (at, size, url) in links {
            if let Some(rect) = Rect::from_xywh(at.0, at.1, size.0.max(1.0), size.1) {
                page.add_annotation(Annotation::new_link(
                    LinkAnnotation::new(
                        rect,
                        Target::Action(Action::Link(LinkAction::new(url.clone()))),
                    ),
                    Some(url),
                ));
            }
        }
        page.finish();
    }
    document
        .finish()
        .map_err(|e| PdfError::Write(format!("{e:?}")))
}

fn fill(c: (u8, u8, u8)) -> Fill {
    Fill {
        paint: rgb::Color::new(c.0, c.1, c.2).into(),
        ..Default::default()
    }
}

/// Where the body's inline text goes.
#[derive(Debug, Default)]
struct Inline {
    runs: Vec<Run>,
    bold: bool,
    italic: bool,
    link: Option<String>,
}

impl Inline {
    fn push(&mut self, text: &str, mono: bool) {
        let style = if mono {
            Style::Mono
        } else {
            style_of(self.bold, self.italic)
        };
        self.runs.push(Run {
            text: text.to_owned(),
            style,
            link: self.link.clone(),
        });
    }
}

/// Typesets the Markdown body.
fn body_blocks(l: &mut Layout<'_>, body: &str, figures: &FigureData) {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_FOOTNOTES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let mut inline = Inline::default();
    // Lists: the next number of each open list (`None`: bullets).
    let mut lists: Vec<Option<u64>> = Vec::new();
    let mut marker: Option<String> = None;
    let mut quote = 0usize;
    let mut code: Option<String> = None;
    let mut table: Option<Vec<(bool, Vec<Vec<Run>>)>> = None;
    let mut in_head = false;
    let mut figure: Option<(String, String)> = None;
    let mut image_alt: Option<String> = None;
    let mut note: Option<String> = None;
    let mut notes: Vec<(String, Vec<Run>)> = Vec::new();
    let indent =
        |lists: &Vec<Option<u64>>, quote: usize| 18.0 * lists.len() as f32 + 14.0 * quote as f32;
    let colour = |quote: usize| if quote > 0 { GREY } else { INK };

    // Flushes the inline text as a paragraph where it stands.
    fn flush(
        l: &mut Layout<'_>,
        inline: &mut Inline,
        indent: f32,
        colour: (u8, u8, u8),
        marker: &mut Option<String>,
        note: &Option<String>,
        notes: &mut Vec<(String, Vec<Run>)>,
    ) {
        let runs = std::mem::take(&mut inline.runs);
        if runs.iter().all(|r| r.text.trim().is_empty()) {
            return;
        }
        if let Some(label) = note {
            notes.push((label.clone(), runs));
            return;
        }
        l.paragraph(&runs, BODY, 14.5, indent, colour, marker.take().as_deref());
        l.y += 5.0;
    }

    // Flushes the inline text where the body stands.
    macro_rules! flush {
        () => {
            flush(
                l,
                &mut inline,
                indent(&lists, quote),
                colour(quote),
                &mut marker,
                &note,
                &mut notes,
            )
        };
    }

    for event in Parser::new_ext(body, options) {
        if let Some((dest, caption)) = &mut figure {
            match event {
                Event::End(TagEnd::Image) => {
                    let ind = indent(&lists, quote);
                    flush(
                        l,
                        &mut inline,
                        ind,
                        colour(quote),
                        &mut marker,
                        &note,
                        &mut notes,
                    );
                    match figures.get(dest.as_str()) {
                        Some((_, bars)) => l.figure(caption, bars),
                        None => {
                            let runs = [Run {
                                text: format!(
                                    "[figure “{caption}”: {dest} is not an analysis of this working group held here]"
                                ),
                                style: Style::Italic,
                                link: None,
                            }];
                            l.paragraph(&runs, 9.0, 12.0, ind, (160, 0, 0), None);
                        }
                    }
                    figure = None;
                }
                Event::Text(t) | Event::Code(t) => caption.push_str(&t),
                _ => {}
            }
            continue;
        }
        if let Some(alt) = &mut image_alt {
            match event {
                Event::End(TagEnd::Image) => {
                    let text = format!("[image: {alt}]");
                    image_alt = None;
                    let was = inline.italic;
                    inline.italic = true;
                    inline.push(&text, false);
                    inline.italic = was;
                }
                Event::Text(t) | Event::Code(t) => alt.push_str(&t),
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(Tag::Image { dest_url, .. }) => {
                if dest_url.starts_with(FIGURE_SCHEME) {
                    figure = Some((dest_url.to_string(), String::new()));
                } else {
                    image_alt = Some(String::new());
                }
            }
            Event::Start(Tag::Paragraph) => {}
            Event::End(TagEnd::Paragraph) if table.is_none() => flush!(),
            Event::Start(Tag::Heading { .. }) => {
                flush!();
            }
            Event::End(TagEnd::Heading(level)) => {
                let runs: Vec<Run> = std::mem::take(&mut inline.runs)
                    .into_iter()
                    .map(|r| Run {
                        style: if r.style == Style::Mono {
                            r.style
                        } else {
                            Style::Bold
                        },
                        ..r
                    })
                    .collect();
                let size = match level {
                    HeadingLevel::H1 => 15.0,
                    HeadingLevel::H2 => 13.0,
                    _ => 11.5,
                };
                l.gap(8.0);
                // A heading is not left alone at the foot of a page.
                l.need(size * 1.4 + 30.0);
                l.paragraph(&runs, size, size * 1.35, 0.0, INK, None);
                l.y += 3.0;
            }
            Event::Start(Tag::List(start)) => {
                flush!();
                lists.push(start);
            }
            Event::End(TagEnd::List(_)) => {
                flush!();
                lists.pop();
                if lists.is_empty() {
                    l.y += 3.0;
                }
            }
            Event::Start(Tag::Item) => {
                flush!();
                marker = Some(match lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}.");
                        *n += 1;
                        m
                    }
                    _ => "•".to_owned(),
                });
            }
            Event::End(TagEnd::Item) => {
                let ind = indent(&lists, quote);
                let runs = std::mem::take(&mut inline.runs);
                if !runs.iter().all(|r| r.text.trim().is_empty()) {
                    l.paragraph(
                        &runs,
                        BODY,
                        14.5,
                        ind,
                        colour(quote),
                        marker.take().as_deref(),
                    );
                    l.y += 2.0;
                }
                marker = None;
            }
            Event::Start(Tag::BlockQuote(_)) => {
                flush!();
                quote += 1;
            }
            Event::End(TagEnd::BlockQuote(_)) => {
                flush!();
                quote = quote.saturating_sub(1);
            }
            Event::Start(Tag::CodeBlock(_)) => {
                flush!();
                code = Some(String::new());
            }
            Event::End(TagEnd::CodeBlock) => {
                let text = code.take().unwrap_or_default();
                let ind = indent(&lists, quote);
                for line in text.trim_end_matches('\n').lines() {
                    let runs = [Run {
                        text: line.to_owned(),
                        style: Style::Mono,
                        link: None,
                    }];
                    l.paragraph(&runs, 9.0, 12.0, ind + 8.0, INK, None);
                }
                l.y += 6.0;
            }
            Event::Start(Tag::Table(_)) => {
                flush!();
                table = Some(Vec::new());
            }
            Event::End(TagEnd::Table) => {
                if let Some(rows) = table.take() {
                    l.gap(4.0);
                    l.table(&rows);
                }
            }
            Event::Start(Tag::TableHead) => {
                in_head = true;
                if let Some(t) = &mut table {
                    t.push((true, Vec::new()));
                }
            }
            Event::End(TagEnd::TableHead) => in_head = false,
            Event::Start(Tag::TableRow) => {
                if let Some(t) = &mut table {
                    t.push((in_head, Vec::new()));
                }
            }
            Event::End(TagEnd::TableCell) => {
                let runs = std::mem::take(&mut inline.runs);
                if let Some((_, row)) = table.as_mut().and_then(|t| t.last_mut()) {
                    row.push(runs);
                }
            }
            Event::Start(Tag::FootnoteDefinition(label)) => {
                flush!();
                note = Some(label.to_string());
            }
            Event::End(TagEnd::FootnoteDefinition) => {
                flush!();
                note = None;
            }
            Event::FootnoteReference(label) => inline.push(&format!("[{label}]"), false),
            Event::Start(Tag::Strong) => inline.bold = true,
            Event::End(TagEnd::Strong) => inline.bold = false,
            Event::Start(Tag::Emphasis) => inline.italic = true,
            Event::End(TagEnd::Emphasis) => inline.italic = false,
            Event::Start(Tag::Link { dest_url, .. }) => {
                let url = dest_url.trim().to_owned();
                let lower = url.to_ascii_lowercase();
                let web = ["http://", "https://", "mailto:"]
                    .iter()
                    .any(|s| lower.starts_with(s));
                inline.link = web.then_some(url);
            }
            Event::End(TagEnd::Link) => inline.link = None,
            Event::Text(t) => match &mut code {
                Some(c) => c.push_str(&t),
                None => inline.push(&t, false),
            },
            Event::Code(t) => inline.push(&t, true),
            Event::Html(t) | Event::InlineHtml(t) => match &mut code {
                Some(c) => c.push_str(&t),
                None => inline.push(&t, false),
            },
            Event::SoftBreak => inline.push(" ", false),
            Event::HardBreak => inline.push("\n", false),
            Event::Rule => {
                flush!();
                l.need(12.0);
                l.y += 5.0;
                l.rect((LEFT, l.y), (WIDTH, 0.6), RULE);
                l.y += 8.0;
            }
            _ => {}
        }
    }
    flush!();
    if !notes.is_empty() {
        l.gap(8.0);
        l.need(40.0);
        l.rect((LEFT, l.y), (WIDTH / 3.0, 0.6), RULE);
        l.y += 8.0;
        for (label, runs) in notes {
            let marker = format!("[{label}]");
            l.paragraph(&runs, 9.0, 12.0, 22.0, GREY, Some(&marker));
            l.y += 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kp_model::draft::Author;

    #[test]
    fn a_brief_becomes_a_pdf_with_its_text_tables_and_figures() {
        let authors = vec![Author {
            name: "Ana Ñúñez".into(),
            institution: "KNOMAD".into(),
        }];
        let body = "Remittances **grew** to [USD 372 bn](https://example.org).[^1]\n\n\
                    | country | USD bn |\n|---|---|\n| India | 58 |\n\n- one\n- two\n\n> quoted\n\n\
                    ![Top](analysis:A)\n\n![Gone](analysis:B)\n\n[^1]: Brief 17.\n"
            .repeat(30);
        let mut figures = FigureData::new();
        figures.insert(
            "analysis:A".into(),
            (
                "top".into(),
                vec![("India".into(), 58.0), ("China".into(), -5.0)],
            ),
        );
        let e = Export {
            title: "Sending money home — Ünïcode",
            draft_type: "policy-brief",
            space: "Remittances WG",
            authors: &authors,
            version: "published-1",
            date: 1_795_000_000,
            published: true,
            body: &body,
            comments: &[],
            referees: 2,
            figures: &kp_model::export::Figures::new(),
            pdf_link: false,
        };
        let pdf = render(&e, &body, &figures).unwrap();
        assert!(pdf.starts_with(b"%PDF-"), "a PDF");
        assert!(
            pdf.ends_with(b"%%EOF\n") || pdf.ends_with(b"%%EOF"),
            "whole"
        );
        // Thirty copies of the body need several pages.
        let pages = pdf
            .windows(b"/Type /Page\n".len())
            .filter(|w| *w == b"/Type /Page\n")
            .count()
            + pdf
                .windows(b"/Type /Page/".len())
                .filter(|w| *w == b"/Type /Page/")
                .count()
            + pdf
                .windows(b"/Type /Page ".len())
                .filter(|w| *w == b"/Type /Page ")
                .count();
        assert!(
            pages > 1 || pdf.len() > 20_000,
            "{pages} pages, {} bytes",
            pdf.len()
        );
    }

    #[test]
    fn lines_break_at_spaces_within_the_width() {
        let fonts = Fonts::load().unwrap();
        let l = Layout::new(&fonts);
        let runs = [Run {
            text: "word ".repeat(200),
            style: Style::Regular,
            link: None,
        }];
        let lines = l.lines(&runs, BODY, WIDTH);
        assert!(lines.len() > 5);
        for line in &lines {
            let w: f32 = line.iter().map(|(_, w)| w).sum();
            assert!(w <= WIDTH + 0.01, "{w}");
        }
        let long = [Run {
            text: "x".repeat(500),
            style: Style::Mono,
            link: None,
        }];
        assert!(l.lines(&long, 9.0, WIDTH).len() > 1, "a long word is cut");
    }
}
