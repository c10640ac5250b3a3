//! `brief-readability`: length, sentence length, reading ease and jargon of a draft
//! (all themes, drafts).
//!
//! - Words: runs of letters and digits, with `'`, `’` and `-` inside a word and `.`
//!   or `,` inside a number (`well-known`, `don't`, `3.5` are one word each).
//! - Sentences end at `.`, `!` or `?` (with any closing quotes or brackets) followed
//!   by a space or the end of the text, unless the period follows a single letter, a
//!   dotted initialism (`U.N.`) or a common abbreviation (`e.g.`, `Dr.`, `etc.`) or the next word starts in lower
//!   case; a blank line and a list item (`- `, `* `, `1. `) also end a sentence.
//!   Headings are not part of a section's text, so they are not counted.
//! - Syllables, English heuristic: groups of vowels (`a e i o u y`) in each part of a
//!   word, less a silent final `e` (not `-le` after a consonant), a final `-ed` not
//!   after `t` or `d`, and a final `-es` not after `s x z c g`; at least one per
//!   part. A number counts one syllable.
//! - Flesch reading ease (Flesch, R. 1948, "A new readability yardstick", Journal of
//!   Applied Psychology 32(3)): `206.835 − 1.015 × W/S − 84.6 × Y/W` for W words,
//!   S sentences and Y syllables; higher is easier (60–70 is plain English).
//!
//! Findings anchored to the text (UTF-8 byte ranges of a section's text): the longest
//! sentences over `max-sentence-words` (warnings; when none is, the longest sentence
//! alone, as information) and each use of a term
//! from the jargon list (whole words, case-insensitive; at most 200 such findings). A
//! draft whose metadata `type` is `policy-brief` and which is longer than `max-words`
//! gets a warning. Values are not rounded.

use kp_plugin_sdk::{
    Analysis, AnalysisError, Column, DocKind, Document, Param, ParamKind, PluginInfo, Report,
    Severity, Table, TextRange,
};

/// The plugin.
#[derive(Debug)]
pub struct BriefReadability;

/// The jargon list used when the caller gives none.
pub const DEFAULT_JARGON: &str = "de-risking,correspondent banking,KYC,AML,CFT,MTO,RSP,ODA,FDI,BPM6,\
    interbank,operationalise,operationalize,mainstreaming,leverage,synergies,stakeholders,\
    capacity building,paradigm,utilise,utilize,modalities,going forward";

/// At most this many jargon findings; the rest are counted in one finding.
const MAX_JARGON_FINDINGS: usize = 200;

const ABBREVIATIONS: [&str; 18] = [
    "mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc", "no", "fig", "cf", "al", "approx", "inc",
    "ltd", "jr", "sr", "eg",
];

/// A word: its byte range in the section's text.
fn words(text: &str, from: usize, to: usize) -> Vec<(usize, usize)> {
    let bytes_of = &text[from..to];
    let chars: Vec<(usize, char)> = bytes_of.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].1.is_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i + 1;
        while end < chars.len() {
            let c = chars[end].1;
            if c.is_alphanumeric() {
                end += 1;
                continue;
            }
            let prev = chars[end - 1].1;
            let next = chars.get(end + 1).map(|x| x.1);
            let joins = match c {
                '\'' | '’' | '-' => next.is_some_and(char::is_alphanumeric),
                '.' | ',' => prev.is_ascii_digit() && next.is_some_and(|n| n.is_ascii_digit()),
                _ => false,
            };
            if joins {
                end += 2;
            } else {
                break;
            }
        }
        let s = from + chars[start].0;
        let e = from + chars.get(end).map_or(bytes_of.len(), |x| x.0);
        out.push((s, e));
        i = end;
    }
    out
}

/// Syllables of one word, by the heuristic in the crate's docs.
pub fn syllables(word: &str) -> usize {
    if !word.chars().any(char::is_alphabetic) {
        return 1;
    }
    word.split(|c: char| !c.is_alphabetic())
        .filter(|p| !p.is_empty())
        .map(|part| {
            let w: Vec<char> = part.to_lowercase().chars().collect();
            let vowel = |c: char| matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y');
            let mut groups = 0;
            let mut in_group = false;
            for &c in &w {
                if vowel(c) && !in_group {
                    groups += 1;
                }
                in_group = vowel(c);
            }
            let n = w.len();
            let ends = |s: &str| part.to_lowercase().ends_with(s);
            let before = |k: usize| if n > k { Some(w[n - k - 1]) } else { None };
            // `before(2)` is the letter before a two-letter ending.
            let silent = (ends("e") && !(ends("le") && before(2).is_some_and(|c| !vowel(c))))
                || (ends("ed") && !matches!(before(2), Some('t' | 'd')))
                || (ends("es") && !matches!(before(2), Some('s' | 'x' | 'z' | 'c' | 'g')));
            if silent && groups > 1 {
                groups - 1
            } else {
                groups.max(1)
            }
        })
        .sum::<usize>()
        .max(1)
}

/// A sentence: byte range and its words.
#[derive(Debug, Clone)]
struct Sentence {
    section: usize,
    start: usize,
    end: usize,
    words: Vec<(usize, usize)>,
}

fn is_closing(c: char) -> bool {
    matches!(c, '"' | '\'' | '”' | '’' | ')' | ']' | '»')
}

/// Length in bytes of a list marker (`- `, `* `, `+ `, `> `, `12. `, `3) `) at the
/// start of `s`, with the spaces after it.
fn list_marker(s: &str) -> usize {
    let b = s.as_bytes();
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let mark = if matches!(b.first(), Some(b'-' | b'*' | b'+' | b'>')) {
        1
    } else if digits > 0 && matches!(b.get(digits), Some(b'.' | b')')) {
        digits + 1
    } else {
        return 0;
    };
    let spaces = b[mark..]
        .iter()
        .take_while(|c| **c == b' ' || **c == b'\t')
        .count();
    if spaces == 0 && mark < b.len() {
        0
    } else {
        mark + spaces
    }
}

/// Splits a section's text into sentences.
fn sentences(section: usize, text: &str) -> Vec<Sentence> {
    let mut out = Vec::new();
    let mut push = |start: usize, end: usize| {
        let w = words(text, start, end);
        if !w.is_empty() {
            out.push(Sentence {
                section,
                start,
                end,
                words: w,
            });
        }
    };
    let mut start: Option<usize> = None;
    let mut line_start = true;
    let mut last_solid = 0;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if c == '\n' {
            // A blank line or a list item on the next line ends the sentence.
            let rest = &text[i + 1..];
            let next_line = rest.trim_start_matches([' ', '\t']);
            if let Some(s) = start
                && (next_line.starts_with('\n')
                    || next_line.is_empty()
                    || list_marker(next_line) > 0)
            {
                push(s, last_solid);
                start = None;
            }
            line_start = true;
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        if start.is_none() {
            let skip = if line_start {
                list_marker(&text[i..])
            } else {
                0
            };
            if skip > 0 {
                // Skip the marker itself.
                while iter.peek().is_some_and(|(j, _)| *j < i + skip) {
                    iter.next();
                }
                line_start = false;
                continue;
            }
            start = Some(i);
        }
        line_start = false;
        last_solid = i + c.len_utf8();
        if matches!(c, '.' | '!' | '?') {
            let mut end = i + c.len_utf8();
            while let Some((j, n)) = iter.peek().copied() {
                if matches!(n, '.' | '!' | '?') || is_closing(n) {
                    end = j + n.len_utf8();
                    iter.next();
                } else {
                    break;
                }
            }
            last_solid = end;
            let rest = &text[end..];
            let at_space = rest.is_empty() || rest.starts_with(char::is_whitespace);
            if !at_space {
                continue;
            }
            let next_word = rest.trim_start().chars().next();
            let abbreviation = c == '.' && {
                let before = &text[start.unwrap_or(i)..i];
                let last = before
                    .rsplit(|ch: char| !ch.is_alphanumeric() && ch != '.')
                    .next()
                    .unwrap_or("");
                let dotted = last.contains('.');
                let last = last.replace('.', "").to_lowercase();
                dotted || last.chars().count() == 1 || ABBREVIATIONS.contains(&last.as_str())
            };
            if (abbreviation || next_word.is_some_and(char::is_lowercase)) && next_word.is_some() {
                continue;
            }
            if let Some(s) = start {
                push(s, end);
                start = None;
            }
        }
    }
    if let Some(s) = start {
        push(s, last_solid);
    }
    out
}

/// Whether `text[at..]` starts with `term`, case-insensitively, a space of the term
/// matching any run of whitespace; returns the end of the match.
fn match_term(text: &str, at: usize, term: &str) -> Option<usize> {
    let mut t = text[at..].char_indices().peekable();
    let mut end = at;
    for tc in term.chars() {
        if tc == ' ' {
            let mut any = false;
            while let Some((j, c)) = t.peek().copied() {
                if !c.is_whitespace() {
                    break;
                }
                any = true;
                end = at + j + c.len_utf8();
                t.next();
            }
            if !any {
                return None;
            }
            continue;
        }
        let (j, c) = t.next()?;
        if !c.to_lowercase().eq(tc.to_lowercase()) {
            return None;
        }
        end = at + j + c.len_utf8();
    }
    Some(end)
}

/// Every whole-word use of each term in the text, in text order.
fn find_terms(text: &str, terms: &[String]) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() && !prev.is_some_and(char::is_alphanumeric) {
            for (k, term) in terms.iter().enumerate() {
                if let Some(end) = match_term(text, i, term)
                    && !text[end..].starts_with(char::is_alphanumeric)
                {
                    out.push((i, end, k));
                    break;
                }
            }
        }
        prev = Some(c);
    }
    out
}

fn flesch(words: usize, sentences: usize, syllables: usize) -> Option<f64> {
    let (w, s, y) = (words as f64, sentences as f64, syllables as f64);
    (words > 0 && sentences > 0).then(|| 206.835 - 1.015 * (w / s) - 84.6 * (y / w))
}

fn range(section: usize, start: usize, end: usize) -> Result<TextRange, AnalysisError> {
    let too_long =
        || AnalysisError::InvalidInput("the draft is too long for 32-bit offsets".into());
    Ok(TextRange {
        section: u32::try_from(section).map_err(|_| too_long())?,
        start: u32::try_from(start).map_err(|_| too_long())?,
        end: u32::try_from(end).map_err(|_| too_long())?,
    })
}

fn excerpt(s: &str) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 60 {
        format!("{}…", flat.chars().take(60).collect::<String>())
    } else {
        flat
    }
}

impl Analysis for BriefReadability {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "brief-readability".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Word and sentence counts, Flesch reading ease, long sentences, jargon and the length limit of a policy brief".into(),
            kinds: vec![DocKind::Draft],
            themes: vec![],
            params: vec![
                Param::new("max-words", "2000", "longest policy brief, in words, before a warning").of(ParamKind::Integer),
                Param::new("max-sentence-words", "35", "longest sentence, in words, before a warning").of(ParamKind::Integer),
                Param::new("longest", "3", "how many of the longest sentences to point at").of(ParamKind::Integer),
                Param::new("jargon", DEFAULT_JARGON, "comma-separated terms to flag (whole words, any case)"),
            ],
        }
    }

    fn analyze(doc: &Document) -> Result<Report, AnalysisError> {
        doc.require_kind(DocKind::Draft)?;
        let max_words: usize = doc.param_or("max-words", 2000)?;
        let max_sentence: usize = doc.param_or("max-sentence-words", 35)?;
        let longest: usize = doc.param_or("longest", 3)?;
        let terms = doc.param_list("jargon");

        let mut report = Report::default();
        let mut all: Vec<Sentence> = Vec::new();
        let (mut headings, mut sec_words, mut sec_sentences, mut sec_flesch) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut total_syllables = 0;
        for (k, section) in doc.sections.iter().enumerate() {
            let found = sentences(k, &section.text);
            let w: usize = found.iter().map(|s| s.words.len()).sum();
            let y: usize = found
                .iter()
                .flat_map(|s| &s.words)
                .map(|(a, b)| syllables(&section.text[*a..*b]))
                .sum();
            total_syllables += y;
            headings.push(Some(section.heading.clone()));
            sec_words.push(i64::try_from(w).ok());
            sec_sentences.push(i64::try_from(found.len()).ok());
            sec_flesch.push(flesch(w, found.len(), y));
            all.extend(found);
        }
        let total_words: usize = all.iter().map(|s| s.words.len()).sum();
        let Some(ease) = flesch(total_words, all.len(), total_syllables) else {
            return Err(AnalysisError::InvalidInput(format!(
                "the draft `{}` has no words to analyse",
                doc.title
            )));
        };
        let average = total_words as f64 / all.len() as f64;
        report.metric("words", total_words as f64, "words");
        report.metric("sentences", all.len() as f64, "sentences");
        report.metric("average sentence length", average, "words");
        report.metric(
            "syllables per word",
            total_syllables as f64 / total_words as f64,
            "syllables",
        );
        report.metric("Flesch reading ease", ease, "");

        // The longest sentences, longest first, then in text order.
        let mut by_length: Vec<&Sentence> = all.iter().collect();
        by_length.sort_by(|a, b| {
            b.words
                .len()
                .cmp(&a.words.len())
                .then((a.section, a.start).cmp(&(b.section, b.start)))
        });
        let long_count = all.iter().filter(|s| s.words.len() > max_sentence).count();
        report.metric(
            format!("sentences over {max_sentence} words"),
            long_count as f64,
            "sentences",
        );
        // Only a sentence over the limit is called long; when none is, the
        // longest is named as such, for the record.
        let over = by_length.iter().filter(|s| s.words.len() > max_sentence);
        for s in over.take(longest) {
            let n = s.words.len();
            let text = &doc.sections[s.section].text[s.start..s.end];
            report.anchored(
                Severity::Warning,
                format!(
                    "long sentence, {n} words, over {max_sentence}: consider splitting it: \"{}\"",
                    excerpt(text)
                ),
                range(s.section, s.start, s.end)?,
            );
        }
        if let Some(s) = by_length.first().filter(|_| long_count == 0 && longest > 0) {
            let text = &doc.sections[s.section].text[s.start..s.end];
            report.anchored(
                Severity::Info,
                format!(
                    "the longest sentence has {} words (the limit is {max_sentence}): \"{}\"",
                    s.words.len(),
                    excerpt(text)
                ),
                range(s.section, s.start, s.end)?,
            );
        }

        // Jargon.
        let mut jargon = Vec::new();
        for (k, section) in doc.sections.iter().enumerate() {
            for (s, e, _) in find_terms(&section.text, &terms) {
                jargon.push((k, s, e));
            }
        }
        report.metric("jargon terms", jargon.len() as f64, "uses");
        for (k, s, e) in jargon.iter().take(MAX_JARGON_FINDINGS) {
            report.anchored(
                Severity::Info,
                format!(
                    "jargon: \"{}\": explain it or use a plainer word",
                    &doc.sections[*k].text[*s..*e]
                ),
                range(*k, *s, *e)?,
            );
        }
        if jargon.len() > MAX_JARGON_FINDINGS {
            report.finding(
                Severity::Info,
                format!(
                    "{} more uses of jargon are not listed",
                    jargon.len() - MAX_JARGON_FINDINGS
                ),
            );
        }

        let is_brief = doc
            .metadata("type")
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("policy-brief"));
        if is_brief && total_words > max_words {
            report.finding(
                Severity::Warning,
                format!("this policy brief has {total_words} words, over the limit of {max_words}"),
            );
        }

        report.tables.push(Table {
            name: "sections".into(),
            columns: vec![
                Column::text("heading", headings),
                Column::integer("words", sec_words),
                Column::integer("sentences", sec_sentences),
                Column::number("flesch_reading_ease", sec_flesch),
            ],
        });
        report.summary = format!(
            "{total_words} words in {} sentences ({average:.1} words per sentence); Flesch reading ease {ease:.1}. \
             {long_count} sentence(s) over {max_sentence} words, {} use(s) of jargon.{}",
            all.len(),
            jargon.len(),
            if is_brief {
                format!(
                    " As a policy brief it is {} the limit of {max_words} words.",
                    if total_words > max_words {
                        "over"
                    } else {
                        "within"
                    }
                )
            } else {
                String::new()
            }
        );
        Ok(report)
    }
}

kp_plugin_sdk::export_analysis!(BriefReadability);
