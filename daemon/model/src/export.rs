//! A draft as Markdown, or as one standalone HTML page (styles inline, no
//! scripts, nothing fetched), for publication and for reading offline.
//!
//! The body is CommonMark with tables, footnotes and strikethrough, rendered
//! by [`markdown_html`] — the same renderer as the web workspace's preview,
//! so the page and the preview agree; the Markdown export is the text as
//! written, under a title block. A heading named "References" (or
//! "Bibliography") starts the references section, set as a numbered list in
//! HTML. A body that starts with the title as its heading does not repeat it.

use super::ModelError;
use super::date::format_day;
use super::draft::{Author, Comment};

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Markdown with a title block.
    Markdown,
    /// A standalone HTML page.
    Html,
}

impl Format {
    /// Parses `md` / `markdown` or `html`.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        match s.trim() {
            "" | "md" | "markdown" => Ok(Format::Markdown),
            "html" => Ok(Format::Html),
            other => Err(ModelError::invalid(format!(
                "unknown format `{other}`: use md, html or pdf"
            ))),
        }
    }
}

/// What goes into an export.
#[derive(Debug)]
pub struct Export<'a> {
    /// The title.
    pub title: &'a str,
    /// `working-paper`, `policy-brief`, …
    pub draft_type: &'a str,
    /// The space's name.
    pub space: &'a str,
    /// Credited authors.
    pub authors: &'a [Author],
    /// The version exported (`published-1`, `round-2`, `current`).
    pub version: &'a str,
    /// Publication time, or the time of export (Unix seconds).
    pub date: i64,
    /// Whether `date` is a publication date.
    pub published: bool,
    /// The text.
    pub body: &'a str,
    /// Comments to append (empty: none).
    pub comments: &'a [Comment],
    /// How many referees reported on it.
    pub referees: usize,
    /// The HTML page links to its PDF, `brief.pdf` beside it.
    pub pdf_link: bool,
    /// The figures the body names (`![caption](analysis:ID)`), drawn: by
    /// the image's address, an `<svg>` ([`figure_refs`] lists them).
    pub figures: &'a Figures,
}

/// Figures by the address a body's image gives (`analysis:ID` or
/// `analysis:ID#TABLE`): each an `<svg>` element.
pub type Figures = std::collections::BTreeMap<String, String>;

/// The scheme of an image that is a figure drawn from one of the space's
/// analyses: `![caption](analysis:ID)` (its first table that makes a
/// chart) or `![caption](analysis:ID#TABLE)`.
pub const FIGURE_SCHEME: &str = "analysis:";

/// The figure addresses a text's images name, in order, each once.
pub fn figure_refs(text: &str) -> Vec<String> {
    use pulldown_cmark::{Event, Parser, Tag};
    let mut out: Vec<String> = Vec::new();
    for e in Parser::new_ext(text, options()) {
        if let Event::Start(Tag::Image { dest_url, .. }) = e
            && dest_url.starts_with(FIGURE_SCHEME)
            && !out.iter().any(|d| *d == *dest_url)
        {
            out.push(dest_url.into_string());
        }
    }
    out
}

/// A figure: its drawing and its caption, as phrasing content (a figure
/// written as an image sits inside a paragraph), styled as a block.
pub fn figure_html(svg: &str, caption: &str) -> String {
    let caption = escape_html(caption);
    format!(
        "<span class=\"figure\" role=\"figure\" aria-label=\"{caption}\">{svg}\
         <span class=\"figcaption\">{caption}</span></span>"
    )
}

/// The style of figures, in every page that shows them.
pub const FIGURE_STYLE: &str = ".figure{display:block;margin:1rem 0}.figure svg{display:block;max-width:40rem;height:auto}\
.figcaption{display:block;color:#555;font-size:.9rem}.missing-figure{color:#a00}";

fn options() -> pulldown_cmark::Options {
    use pulldown_cmark::Options;
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_FOOTNOTES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options
}

/// Renders `e` in `format`.
pub fn render(e: &Export<'_>, format: Format) -> String {
    match format {
        Format::Markdown => markdown(e),
        Format::Html => html(e),
    }
}

fn kind_words(t: &str) -> String {
    let mut s = t.replace('-', " ");
    if let Some(first) = s.get(..1) {
        s = first.to_uppercase() + &s[1..];
    }
    s
}

/// The authors with their institutions, as the title block credits them.
pub fn byline(authors: &[Author]) -> String {
    authors
        .iter()
        .map(Author::credit)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The title block's line under the authors: the kind of paper, the
/// working group, the date, the version and the referees' count.
pub fn meta_line(e: &Export<'_>) -> String {
    format!(
        "{} · {} · {}",
        kind_words(e.draft_type),
        e.space,
        dateline(e)
    )
}

fn dateline(e: &Export<'_>) -> String {
    let what = if e.published { "Published" } else { "Exported" };
    let reviewed = match e.referees {
        0 => String::new(),
        1 => " · reviewed by 1 referee".to_string(),
        n => format!(" · reviewed by {n} referees"),
    };
    format!(
        "{what} {} · version {}{reviewed}",
        format_day(e.date),
        e.version
    )
}

/// The body without a first heading that only repeats the title.
pub fn body_of<'a>(e: &Export<'a>) -> &'a str {
    let text = e.body.trim_start();
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    match first.strip_prefix("# ") {
        Some(h) if h.trim() == e.title.trim() => rest.trim_start_matches('\n'),
        _ => e.body,
    }
}

fn markdown(e: &Export<'_>) -> String {
    let mut out = format!("# {}\n\n", e.title);
    let authors = byline(e.authors);
    if !authors.is_empty() {
        out.push_str(&format!("**{authors}**\n\n"));
    }
    out.push_str(&format!(
        "*{} · {} · {}*\n\n",
        kind_words(e.draft_type),
        e.space,
        dateline(e)
    ));
    out.push_str(body_of(e).trim_end());
    out.push('\n');
    if !e.comments.is_empty() {
        out.push_str("\n## Comments\n\n");
        for c in e.comments {
            out.push_str(&format!(
                "- **{}** on “{}” ({}{}): {}\n",
                c.author,
                c.quote,
                c.anchor.as_str(),
                if c.resolved { ", resolved" } else { "" },
                c.body.replace('\n', " ")
            ));
            for r in &c.replies {
                out.push_str(&format!(
                    "  - **{}**: {}\n",
                    r.author,
                    r.body.replace('\n', " ")
                ));
            }
        }
    }
    out
}

/// A draft's Markdown as HTML (CommonMark with tables, footnotes and
/// strikethrough). HTML written in the text is shown as text, never passed
/// through, and links keep only web and mail schemes, so what a draft holds
/// cannot run in a reader's page.
pub fn markdown_html(text: &str) -> String {
    render_markdown(text, 0, &Figures::new())
}

/// [`markdown_html`] with the figures the text names drawn from `figures`
/// (a figure not there says so in the page).
pub fn markdown_html_with(text: &str, figures: &Figures) -> String {
    render_markdown(text, 0, figures)
}

/// [`markdown_html`] with every heading `shift` levels lower (at most h6)
/// and the figures the text names drawn from `figures`.
fn render_markdown(text: &str, shift: usize, figures: &Figures) -> String {
    use pulldown_cmark::{CowStr, Event, HeadingLevel, Parser, Tag, TagEnd};
    let lower = |l: HeadingLevel| {
        HeadingLevel::try_from((l as usize + shift).min(6)).unwrap_or(HeadingLevel::H6)
    };
    let safe = |url: CowStr<'_>| -> CowStr<'static> {
        let lower = url.trim().to_ascii_lowercase();
        let scheme = lower.split_once(':').map(|(s, _)| s);
        match scheme {
            None | Some("http" | "https" | "mailto") => CowStr::from(url.into_string()),
            Some(s) if s.contains('/') || s.contains('#') || s.contains('?') => {
                CowStr::from(url.into_string())
            }
            Some(_) => CowStr::from(""),
        }
    };
    let events = Parser::new_ext(text, options()).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Event::Start(Tag::Heading {
            level: lower(level),
            id,
            classes,
            attrs,
        }),
        Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(lower(level))),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) if !dest_url.starts_with(FIGURE_SCHEME) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe(dest_url),
            title,
            id,
        }),
        e => e,
    });
    // A figure's image: its events up to the image's end become one block
    // (the drawing and the alt text as its caption).
    let mut figure: Option<(String, String)> = None;
    let events = events.filter_map(move |e| {
        if let Some((dest, caption)) = &mut figure {
            return match e {
                Event::End(TagEnd::Image) => {
                    let html = match figures.get(dest.as_str()) {
                        Some(svg) => figure_html(svg, caption),
                        None => format!(
                            "<span class=\"missing-figure\">[figure “{}”: {} is not an analysis \
                             of this working group held here]</span>",
                            escape_html(caption),
                            escape_html(dest)
                        ),
                    };
                    figure = None;
                    Some(Event::InlineHtml(CowStr::from(html)))
                }
                Event::Text(t) | Event::Code(t) => {
                    caption.push_str(&t);
                    None
                }
                _ => None,
            };
        }
        if let Event::Start(Tag::Image { dest_url, .. }) = &e
            && dest_url.starts_with(FIGURE_SCHEME)
        {
            figure = Some((dest_url.to_string(), String::new()));
            return None;
        }
        Some(e)
    });
    let mut out = String::with_capacity(text.len() * 5 / 4);
    pulldown_cmark::html::push_html(&mut out, events);
    out
}

/// A horizontal bar chart as an inline `<svg>` (no script, no external
/// file): one bar per `(label, value)`, in the order given, negative values
/// drawn left of the axis; `caption` is its title. Non-finite values are left
/// out. [`figure_html`] sets it with its caption.
pub fn bar_chart_svg(caption: &str, bars: &[(String, f64)], unit: &str) -> String {
    let bars: Vec<&(String, f64)> = bars.iter().filter(|(_, v)| v.is_finite()).collect();
    let max = bars.iter().map(|(_, v)| v.abs()).fold(0.0, f64::max);
    let (row, label_w, bar_w, value_w) = (22.0, 200.0, 320.0, 110.0);
    let has_neg = bars.iter().any(|(_, v)| *v < 0.0);
    let zero = if has_neg {
        label_w + bar_w / 2.0
    } else {
        label_w
    };
    let scale = if max > 0.0 {
        if has_neg {
            bar_w / 2.0 / max
        } else {
            bar_w / max
        }
    } else {
        0.0
    };
    let height = row * bars.len() as f64 + 8.0;
    let width = label_w + bar_w + value_w;
    let caption = escape_html(caption);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" \
         viewBox=\"0 0 {width} {height}\" width=\"100%\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<title>{caption}</title>\n"
    );
    for (i, (label, value)) in bars.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        let len = value.abs() * scale;
        let x = if *value < 0.0 { zero - len } else { zero };
        let short: String = label.chars().take(30).collect();
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{x:.1}\" y=\"{}\" width=\"{len:.1}\" height=\"{}\" fill=\"#2b6cb0\"/>\
             <text x=\"{}\" y=\"{}\">{}</text>\n",
            label_w - 6.0,
            y + 14.0,
            escape_html(&short),
            y + 3.0,
            row - 6.0,
            label_w + bar_w + 6.0,
            y + 14.0,
            escape_html(format!("{} {unit}", number(*value)).trim()),
        ));
    }
    out.push_str("</svg>");
    out
}

/// A number as people read it (one rule for the page, the terminal and the
/// PDF: [`kp_plugin_types::readable`]).
pub use kp_plugin_types::readable as number;

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{max-width:44rem;margin:2rem auto;padding:0 1rem;font:18px/1.6 Georgia,serif;color:#222}\
h1{font-size:1.9rem;line-height:1.25;margin-bottom:.3rem}h2{font-size:1.3rem;margin-top:2rem}\
.byline{font-weight:bold;margin:.2rem 0}.meta{color:#555;font-style:italic;margin-bottom:2rem}\
.references li{margin-bottom:.4rem}.comments{border-top:1px solid #ccc;margin-top:2rem;font-size:.9rem}\
blockquote{color:#555;border-left:3px solid #ccc;margin:0;padding-left:1rem}";

fn html(e: &Export<'_>) -> String {
    let mut out =
        String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!("<title>{}</title>\n", escape_html(e.title)));
    let authors = e
        .authors
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if !authors.is_empty() {
        out.push_str(&format!(
            "<meta name=\"author\" content=\"{}\">\n",
            escape_html(&authors)
        ));
    }
    out.push_str(&format!(
        "<style>{STYLE}{FIGURE_STYLE}</style>\n</head>\n<body>\n<article>\n"
    ));
    out.push_str(&format!("<h1>{}</h1>\n", escape_html(e.title)));
    let by = byline(e.authors);
    if !by.is_empty() {
        out.push_str(&format!("<p class=\"byline\">{}</p>\n", escape_html(&by)));
    }
    out.push_str(&format!(
        "<p class=\"meta\">{}</p>\n",
        escape_html(&meta_line(e))
    ));
    if e.pdf_link {
        out.push_str("<p class=\"meta\"><a href=\"brief.pdf\">This brief as a PDF</a></p>\n");
    }
    // The references: from a heading so named to the next heading or the end.
    let body = body_of(e);
    let mut main = String::new();
    let mut refs: Option<(String, Vec<String>)> = None;
    for line in body.lines() {
        let heading = line
            .trim_start()
            .starts_with('#')
            .then(|| line.trim().trim_start_matches('#').trim());
        match (heading, &mut refs) {
            (Some(h), _) if matches!(h.to_lowercase().as_str(), "references" | "bibliography") => {
                refs = Some((h.to_string(), Vec::new()));
            }
            (Some(_), Some(_)) => {
                // A heading after the references ends them; the rest is body.
                main.push_str(line);
                main.push('\n');
            }
            (None, Some((_, items))) => {
                let item = line.trim().trim_start_matches(['-', '*']).trim();
                if !item.is_empty() {
                    items.push(item.to_string());
                }
            }
            (_, None) => {
                main.push_str(line);
                main.push('\n');
            }
        }
    }
    out.push_str(&render_markdown(&main, 1, e.figures));
    if let Some((heading, items)) = refs {
        out.push_str(&format!(
            "<section class=\"references\">\n<h2>{}</h2>\n<ol>\n",
            escape_html(&heading)
        ));
        for item in items {
            let html = render_markdown(&item, 1, e.figures);
            let inner = html
                .trim()
                .strip_prefix("<p>")
                .and_then(|h| h.strip_suffix("</p>"))
                .unwrap_or(html.trim());
            out.push_str(&format!("<li>{inner}</li>\n"));
        }
        out.push_str("</ol>\n</section>\n");
    }
    if !e.comments.is_empty() {
        out.push_str("<section class=\"comments\">\n<h2>Comments</h2>\n");
        for c in e.comments {
            out.push_str(&format!(
                "<div class=\"comment\"><blockquote>{}</blockquote><p><strong>{}</strong> ({}{}): {}</p>",
                escape_html(&c.quote),
                escape_html(&c.author),
                c.anchor.as_str(),
                if c.resolved { ", resolved" } else { "" },
                escape_html(&c.body)
            ));
            for r in &c.replies {
                out.push_str(&format!(
                    "<p>↳ <strong>{}</strong>: {}</p>",
                    escape_html(&r.author),
                    escape_html(&r.body)
                ));
            }
            out.push_str("</div>\n");
        }
        out.push_str("</section>\n");
    }
    out.push_str("</article>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(authors: &'a [Author], body: &'a str) -> Export<'a> {
        Export {
            title: "Remittances & <costs>",
            draft_type: "policy-brief",
            space: "Remittances WG",
            authors,
            version: "published-1",
            date: 1_795_000_000,
            published: true,
            body,
            comments: &[],
            referees: 2,
            figures: &NO_FIGURES,
            pdf_link: false,
        }
    }

    static NO_FIGURES: Figures = Figures::new();

    #[test]
    fn a_figure_named_in_the_text_is_drawn_with_its_caption_and_a_missing_one_says_so() {
        let text = "Flows grew.\n\n![Top <recipients>, 2011](analysis:ABC#top)\n\n\
                    ![Gone](analysis:XYZ)\n\n![web](javascript:alert(1))\n";
        assert_eq!(figure_refs(text), ["analysis:ABC#top", "analysis:XYZ"]);
        let mut figures = Figures::new();
        figures.insert(
            "analysis:ABC#top".into(),
            bar_chart_svg("top", &[("India".into(), 58.0), ("China".into(), 57.0)], ""),
        );
        let html = markdown_html_with(text, &figures);
        assert!(html.contains("<svg") && html.contains(">India<"), "{html}");
        assert!(
            html.contains("aria-label=\"Top &lt;recipients&gt;, 2011\"")
                && html.contains("<span class=\"figcaption\">Top &lt;recipients&gt;, 2011</span>"),
            "{html}"
        );
        assert!(
            html.contains("class=\"missing-figure\">[figure “Gone”"),
            "{html}"
        );
        assert!(!html.contains("javascript:"), "{html}");
        // Without figures (the plain preview), the figure says it is missing.
        assert!(markdown_html(text).contains("missing-figure"));
    }

    #[test]
    fn html_is_escaped_standalone_and_keeps_references() {
        let authors = vec![
            Author {
                name: "Ana".into(),
                institution: "KNOMAD".into(),
            },
            Author {
                name: "Bo".into(),
                institution: "Univ. of Ghana".into(),
            },
        ];
        let body = "Costs fell to **6%** <script>x</script>.\n\n## Method\n\nWe used *RPW*.\n\n# References\n\n- Ratha, D. (2011).\n- World Bank (2024).";
        let page = render(&sample(&authors, body), Format::Html);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<title>Remittances &amp; &lt;costs&gt;</title>"));
        assert!(!page.contains("<script>"), "body text is escaped");
        assert!(page.contains("&lt;script&gt;"));
        assert!(page.contains("<strong>6%</strong>"));
        assert!(page.contains("<em>RPW</em>"));
        assert!(page.contains("Ana (KNOMAD), Bo (Univ. of Ghana)"));
        assert!(page.contains("Published 2026-11-18 · version published-1"));
        assert!(page.contains("<section class=\"references\">"));
        assert!(page.contains("<li>Ratha, D. (2011).</li>"));
        assert!(
            !page.contains("src=") && !page.contains("href="),
            "nothing is fetched"
        );
        assert_eq!(page.matches("<ol>").count(), page.matches("</ol>").count());
    }

    #[test]
    fn a_brief_reads_as_one_with_its_tables_lists_and_notes() {
        let authors = vec![Author {
            name: "Ana".into(),
            institution: "KNOMAD".into(),
        }];
        let body = "# Remittances & <costs>\n\nKey points:\n\n- Flows grew.\n- Costs fell.[^1]\n\n\
                    | country | USD bn |\n|---|---|\n| India | 58 |\n\n> A quote.\n\n## Method\n\n\
                    [^1]: RPW, Q4.\n";
        let page = render(&sample(&authors, body), Format::Html);
        assert_eq!(
            page.matches("Remittances &amp; &lt;costs&gt;</h").count(),
            1,
            "the title once: {page}"
        );
        assert!(page.contains("<li>Flows grew.</li>"), "{page}");
        assert!(
            page.contains("<td>India</td>") && page.contains("<th>USD bn</th>"),
            "{page}"
        );
        assert!(page.contains("<blockquote>"), "{page}");
        assert!(
            page.contains("<h3>Method</h3>"),
            "headings sit under the title: {page}"
        );
        assert!(page.contains("footnote-definition"), "{page}");
        assert!(page.contains("reviewed by 2 referees"), "{page}");
        let md = render(&sample(&authors, body), Format::Markdown);
        assert_eq!(md.matches("# Remittances & <costs>").count(), 1, "{md}");
        assert!(md.contains("| India | 58 |"));
    }

    #[test]
    fn markdown_has_a_title_block_and_the_text() {
        let authors = vec![Author {
            name: "Ana".into(),
            institution: String::new(),
        }];
        let md = render(&sample(&authors, "The text.\n"), Format::Markdown);
        assert!(md.starts_with("# Remittances & <costs>\n\n**Ana**\n\n*Policy brief · Remittances WG · Published 2026-11-18"));
        assert!(md.ends_with("The text.\n"));
        assert!(Format::parse("pdf").is_err());
    }
}

#[cfg(test)]
mod markdown_tests {
    use super::{bar_chart_svg, markdown_html};

    #[test]
    fn a_chart_escapes_its_labels_and_draws_each_bar() {
        let svg = bar_chart_svg(
            "Top <recipients>",
            &[
                ("India".into(), 58.0),
                ("<b>".into(), -2.0),
                ("NaN".into(), f64::NAN),
            ],
            "USD bn",
        );
        assert_eq!(svg.matches("<rect").count(), 2, "{svg}");
        assert!(
            svg.contains("Top &lt;recipients&gt;") && svg.contains("&lt;b&gt;"),
            "{svg}"
        );
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(svg.contains(">58 USD bn<"), "{svg}");
    }

    #[test]
    fn markdown_renders_and_never_passes_html_or_script_links() {
        let html = markdown_html(
            "# Top\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n\n<script>alert(1)</script>\n\n\
             [x](javascript:alert(1)) [y](https://example.org) <img src=x onerror=alert(1)>",
        );
        assert!(html.contains("<h1>Top</h1>"), "{html}");
        assert!(
            html.contains("<table>") && html.contains("<td>1</td>"),
            "{html}"
        );
        assert!(html.contains("<li>one</li>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("href=\"https://example.org\""), "{html}");
    }
}
