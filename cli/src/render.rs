//! Human output: aligned tables, dates, shortened ids, and the tables more
//! than one command prints.

use kp_proto::local as pb;

/// Prints rows under a header, each column as wide as its widest cell.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) {
    use unicode_width::UnicodeWidthStr;
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(w - cell.width() + 2));
            }
        }
        outln!("{}", out.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// `YYYY-MM-DD HH:MM` (UTC) of Unix seconds; `-` for 0.
pub(crate) fn time(secs: i64) -> String {
    if secs <= 0 {
        return "-".into();
    }
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// The first characters of a long id.
pub(crate) fn short(id: &str, n: usize) -> String {
    id.chars().take(n).collect()
}

/// A number as people read it (one rule everywhere:
/// [`kp_plugin_host::view::readable`]).
pub(crate) fn number(x: f64) -> String {
    kp_plugin_host::view::readable(x)
}

/// `n` things: "1 row", "370,000 rows".
pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{} {word}s", number(n as f64))
    }
}

/// The first `n` of `items` joined with commas, and how many more of `total`
/// there are (`items` may hold fewer than `total`).
pub(crate) fn some_of(items: impl Iterator<Item = String>, total: usize, n: usize) -> String {
    let more = total.saturating_sub(n);
    let mut shown: Vec<String> = items.take(n).collect();
    if more > 0 {
        shown.push(format!("… {} more", number(more as f64)));
    }
    shown.join(", ")
}

/// Cuts a text to one line of at most `n` characters.
pub(crate) fn one_line(text: &str, n: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= n {
        flat
    } else {
        let mut s: String = flat.chars().take(n.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// A change log (`kp draft log`, `kp doc blame`) as a table, with
/// institutions and signatures if `verified`.
pub(crate) fn change_log(log: &pb::ChangeLog, verified: bool) -> anyhow::Result<()> {
    let rows: Vec<Vec<String>> = log
        .changes
        .iter()
        .map(|c| {
            let mut row = vec![time(c.time), short(&c.hash, 8), short(&c.node_id, 10)];
            if verified {
                row.push(if c.institution.is_empty() {
                    "-".into()
                } else {
                    c.institution.clone()
                });
            }
            row.push(if c.author.is_empty() {
                "-".into()
            } else {
                c.author.clone()
            });
            row.push(c.message.clone());
            row.push(c.ops.to_string());
            if verified {
                row.push(c.signature.clone());
            }
            row
        })
        .collect();
    if verified {
        table(
            &[
                "TIME",
                "CHANGE",
                "NODE",
                "INSTITUTION",
                "AUTHOR",
                "WHAT",
                "OPS",
                "SIGNATURE",
            ],
            &rows,
        );
    } else {
        table(&["TIME", "CHANGE", "NODE", "AUTHOR", "WHAT", "OPS"], &rows);
    }
    if log.total > log.changes.len() as u64 {
        outln!(
            "({} of {} changes; --limit 0 shows all)",
            log.changes.len(),
            log.total
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(time(0), "-");
        assert_eq!(time(951_782_400), "2000-02-29 00:00");
        assert_eq!(time(1_795_824_000 + 3_660), "2026-11-28 01:01");
    }

    #[test]
    fn one_line_cuts() {
        assert_eq!(one_line("a\n b", 10), "a b");
        assert_eq!(one_line("abcdef", 4), "abc…");
    }
}
