//! A report's figures drawn as SVG: one drawing for the workspace, the
//! portal and `kp analyze --svg`. The plugin chose what to show
//! ([`Figure`]); this chooses scales, ticks and colours: a value axis from
//! zero when every value is at or above it (a level is not exaggerated), at
//! most eight labels on an axis, a legend when there is more than one
//! series, and every number written by the one rule ([`number`]).

use std::fmt::Write;

use kp_plugin_types::{Bar, Chart, Figure, Histogram, Lines, Mark};

use crate::export::{escape_html, number};

/// Line colours, in order (distinguishable in grey too).
const COLOURS: [&str; 6] = [
    "#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#4a5568",
];
/// The mark colour.
const MARK: &str = "#c53030";

const WIDTH: f64 = 720.0;
/// Room for the title above the chart.
const TOP: f64 = 40.0;

/// `f` as a standalone SVG document (with its title inside): what
/// `kp analyze --svg` writes and the pages set inline.
pub fn svg(f: &Figure) -> String {
    let body = match &f.chart {
        Chart::Lines(l) => lines(f, l),
        Chart::Bars(b) => bars(f, b),
        Chart::Histogram(h) => histogram(f, h),
    };
    let title = escape_html(&f.title);
    let height = body.height;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{title}\" \
         viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<title>{title}</title>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n\
         <text x=\"8\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{title}</text>\n{}</svg>\n",
        body.content
    )
}

struct Drawn {
    content: String,
    height: f64,
}

/// A step of 1, 2, 2.5 or 5 times a power of ten, about `span / 5`.
fn step(span: f64) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / 5.0;
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    let nice = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 2.5 {
        2.5
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * p
}

/// The value axis: from zero when nothing is below it, to a round number
/// above the highest; its ticks.
fn value_axis(values: impl Iterator<Item = f64>) -> (f64, f64, Vec<f64>) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if lo >= 0.0 {
        lo = 0.0;
    }
    if hi <= lo {
        hi = lo + 1.0;
    }
    let s = step(hi - lo);
    let (lo, hi) = ((lo / s).floor() * s, (hi / s).ceil() * s);
    let n = ((hi - lo) / s).round() as usize;
    let ticks = (0..=n).map(|i| lo + s * i as f64).collect();
    (lo, hi, ticks)
}

/// Horizontal reference lines (or vertical, for bars) with their labels.
fn marks(
    out: &mut String,
    marks: &[Mark],
    at: impl Fn(f64) -> f64,
    horizontal: bool,
    span: (f64, f64),
) {
    for m in marks {
        let p = at(m.value);
        let label = escape_html(&m.label);
        if horizontal {
            let _ = writeln!(
                out,
                "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{p:.1}\" y2=\"{p:.1}\" stroke=\"{MARK}\" \
                 stroke-dasharray=\"6 4\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"{MARK}\">{label}</text>",
                span.0,
                span.1,
                span.1 + 6.0,
                p + 4.0
            );
        } else {
            let _ = writeln!(
                out,
                "<line x1=\"{p:.1}\" x2=\"{p:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{MARK}\" \
                 stroke-dasharray=\"6 4\"/><text x=\"{p:.1}\" y=\"{:.1}\" fill=\"{MARK}\" \
                 text-anchor=\"middle\">{label}</text>",
                span.0,
                span.1,
                span.1 + 14.0
            );
        }
    }
}

/// The value axis' ticks: a grid line and its number at each.
fn grid(out: &mut String, ticks: &[f64], y: impl Fn(f64) -> f64, (x0, x1): (f64, f64)) {
    for t in ticks {
        let _ = writeln!(
            out,
            "<line x1=\"{x0}\" x2=\"{x1}\" y1=\"{0:.1}\" y2=\"{0:.1}\" stroke=\"#e2e8f0\"/>\
             <text x=\"{1}\" y=\"{2:.1}\" text-anchor=\"end\" fill=\"#4a5568\">{3}</text>",
            y(*t),
            x0 - 6.0,
            y(*t) + 4.0,
            number(*t)
        );
    }
}

/// At most `max` evenly spread indices of `0..n`, the last one always in.
fn spread(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    let every = n.div_ceil(max);
    let mut out: Vec<usize> = (0..n).step_by(every).collect();
    if out.last() != Some(&(n - 1)) {
        if (n - 1) - out[out.len() - 1] < every / 2 + 1 {
            out.pop();
        }
        out.push(n - 1);
    }
    out
}

/// Of `indices`, those whose positions are at least `gap` apart (the last
/// one kept, its nearest neighbour dropped), so that labels never overlap.
fn apart(indices: &[usize], at: impl Fn(usize) -> f64, gap: f64) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for (k, &i) in indices.iter().enumerate() {
        let last = k + 1 == indices.len();
        match out.last() {
            Some(&j) if at(i) - at(j) < gap => {
                if last && out.len() > 1 {
                    out.pop();
                    out.push(i);
                } else if last {
                    out.push(i);
                    out.remove(0);
                }
            }
            _ => out.push(i),
        }
    }
    out
}

fn lines(f: &Figure, l: &Lines) -> Drawn {
    let (left, right, bottom) = (64.0, 170.0, 48.0);
    let height = 360.0;
    let (x0, x1) = (left, WIDTH - right);
    let (y0, y1) = (height - bottom, TOP + 12.0);
    let values = l
        .series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied());
    let (lo, hi, ticks) = value_axis(values.chain(f.marks.iter().map(|m| m.value)));
    let y = |v: f64| y0 - (v - lo) / (hi - lo) * (y0 - y1);
    let (xa, xb) = (l.x[0], l.x[l.x.len() - 1]);
    let x = |v: f64| {
        if xb > xa {
            x0 + (v - xa) / (xb - xa) * (x1 - x0)
        } else {
            (x0 + x1) / 2.0
        }
    };
    let mut out = String::new();
    // Grid and value ticks, the unit above them.
    grid(&mut out, &ticks, y, (x0, x1));
    if !f.unit.is_empty() {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#4a5568\">{}</text>",
            x0 - 6.0,
            y1 - 10.0,
            escape_html(&f.unit)
        );
    }
    // The axis and its labels.
    let _ = writeln!(
        out,
        "<line x1=\"{x0}\" x2=\"{x1}\" y1=\"{y0}\" y2=\"{y0}\" stroke=\"#4a5568\"/>"
    );
    for i in apart(&spread(l.x.len(), 8), |i| x(l.x[i]), 64.0) {
        let label = l.labels.get(i).cloned().unwrap_or_else(|| number(l.x[i]));
        let px = x(l.x[i]);
        let _ = writeln!(
            out,
            "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{y0}\" y2=\"{}\" stroke=\"#4a5568\"/>\
             <text x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#4a5568\">{}</text>",
            y0 + 4.0,
            y0 + 18.0,
            escape_html(&label)
        );
    }
    if !l.axis.is_empty() {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#4a5568\">{}</text>",
            (x0 + x1) / 2.0,
            y0 + 36.0,
            escape_html(&l.axis)
        );
    }
    marks(&mut out, &f.marks, y, true, (x0, x1));
    // The series: a line through each run without a gap, a dot on each value
    // where there are few.
    let dots = l.x.len() <= 40;
    for (k, s) in l.series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let mut run: Vec<(f64, f64)> = Vec::new();
        let flush = |out: &mut String, run: &mut Vec<(f64, f64)>| {
            if run.len() >= 2 {
                let pts: Vec<String> = run.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
                let _ = writeln!(
                    out,
                    "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
                    pts.join(" ")
                );
            }
            run.clear();
        };
        for (i, v) in s.values.iter().enumerate() {
            match v {
                Some(v) => {
                    run.push((x(l.x[i]), y(*v)));
                    if dots || s.values.iter().filter(|v| v.is_some()).count() == 1 {
                        let _ = writeln!(
                            out,
                            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"/>",
                            x(l.x[i]),
                            y(*v)
                        );
                    }
                }
                None => flush(&mut out, &mut run),
            }
        }
        flush(&mut out, &mut run);
    }
    // The legend, and each series' last value at its end.
    if l.series.len() > 1 {
        for (k, s) in l.series.iter().enumerate() {
            let colour = COLOURS[k % COLOURS.len()];
            let ly = TOP + 8.0 + 18.0 * k as f64;
            let _ = writeln!(
                out,
                "<rect x=\"{}\" y=\"{ly}\" width=\"12\" height=\"4\" fill=\"{colour}\"/>\
                 <text x=\"{}\" y=\"{}\">{}</text>",
                WIDTH - 160.0,
                WIDTH - 142.0,
                ly + 6.0,
                escape_html(&s.name)
            );
        }
    } else if let Some(s) = l.series.first()
        && let Some((i, v)) = s
            .values
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, v)| Some((i, (*v)?)))
    {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{}\">{}</text>",
            x(l.x[i]) + 6.0,
            y(v) - 6.0,
            COLOURS[0],
            escape_html(format!("{} {}", number(v), f.unit).trim_end())
        );
    }
    Drawn {
        content: out,
        height,
    }
}

fn bars(f: &Figure, bars: &[Bar]) -> Drawn {
    let (row, label_w, value_w) = (22.0, 200.0, 110.0);
    let bar_w = WIDTH - label_w - value_w - 10.0;
    let (lo, hi, _) = value_axis(
        bars.iter()
            .map(|b| b.value)
            .chain(f.marks.iter().map(|m| m.value)),
    );
    let x = |v: f64| label_w + (v - lo) / (hi - lo) * bar_w;
    let top = TOP + 4.0;
    let bottom = top + row * bars.len() as f64;
    let mut out = String::new();
    for (i, b) in bars.iter().enumerate() {
        let y = top + row * i as f64;
        let (a, c) = (x(0.0_f64.max(lo)), x(b.value));
        let (start, len) = if c < a { (c, a - c) } else { (a, c - a) };
        let short: String = if b.label.chars().count() > 30 {
            b.label.chars().take(29).chain(['…']).collect()
        } else {
            b.label.clone()
        };
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{start:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            label_w - 6.0,
            y + 15.0,
            escape_html(&short),
            y + 3.0,
            len.max(1.0),
            row - 6.0,
            COLOURS[0],
            start + len + 6.0,
            y + 15.0,
            escape_html(format!("{} {}", number(b.value), f.unit).trim_end()),
        );
    }
    marks(&mut out, &f.marks, x, false, (top, bottom));
    Drawn {
        content: out,
        height: bottom + if f.marks.is_empty() { 8.0 } else { 24.0 },
    }
}

fn histogram(f: &Figure, h: &Histogram) -> Drawn {
    let (left, right, bottom) = (64.0, 40.0, 48.0);
    let height = 340.0;
    let (x0, x1) = (left, WIDTH - right);
    let (y0, y1) = (height - bottom, TOP + 12.0);
    let (lo, hi, ticks) = value_axis(h.counts.iter().map(|c| *c as f64));
    let y = |v: f64| y0 - (v - lo) / (hi - lo) * (y0 - y1);
    let (ea, eb) = (h.edges[0], h.edges[h.edges.len() - 1]);
    let x = |v: f64| x0 + (v - ea) / (eb - ea) * (x1 - x0);
    let mut out = String::new();
    grid(&mut out, &ticks, y, (x0, x1));
    for (i, c) in h.counts.iter().enumerate() {
        let (a, b) = (x(h.edges[i]), x(h.edges[i + 1]));
        let top = y(*c as f64);
        let _ = writeln!(
            out,
            "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\" \
             stroke=\"#fff\"><title>{} to {}: {c}</title></rect>",
            a,
            (b - a).max(1.0),
            y0 - top,
            COLOURS[0],
            number(h.edges[i]),
            number(h.edges[i + 1]),
        );
    }
    let _ = writeln!(
        out,
        "<line x1=\"{x0}\" x2=\"{x1}\" y1=\"{y0}\" y2=\"{y0}\" stroke=\"#4a5568\"/>"
    );
    for i in apart(&spread(h.edges.len(), 10), |i| x(h.edges[i]), 48.0) {
        let px = x(h.edges[i]);
        let _ = writeln!(
            out,
            "<text x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#4a5568\">{}</text>",
            y0 + 18.0,
            escape_html(format!("{} {}", number(h.edges[i]), f.unit).trim_end())
        );
    }
    marks(&mut out, &f.marks, x, false, (y1, y0));
    Drawn {
        content: out,
        height,
    }
}

#[cfg(test)]
mod tests {
    use kp_plugin_types::{Lines, Series};

    use super::*;

    fn cost() -> Figure {
        Figure {
            title: "Cost <of> sending".into(),
            unit: "%".into(),
            chart: Chart::Lines(Lines {
                axis: "period".into(),
                x: vec![2022.0, 2022.25, 2022.5],
                labels: vec!["2022Q1".into(), "2022Q2".into(), "2022Q3".into()],
                series: vec![Series {
                    name: "average".into(),
                    values: vec![Some(6.0), None, Some(6.2)],
                }],
            }),
            marks: vec![Mark::new("target", 3.0)],
        }
    }

    #[test]
    fn a_series_is_drawn_with_its_gaps_marks_and_labels_escaped() {
        let s = svg(&cost());
        assert!(
            s.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{s}"
        );
        assert!(s.contains("<title>Cost &lt;of&gt; sending</title>"), "{s}");
        assert!(!s.contains("<of>"), "{s}");
        // A gap: no line joins the two values, each has its dot.
        assert!(!s.contains("<polyline"), "{s}");
        assert_eq!(s.matches("<circle").count(), 2, "{s}");
        assert!(s.contains(">2022Q3<") && s.contains(">target<"), "{s}");
        // The value axis starts at zero and ends at a round number above 6.2.
        assert!(s.contains(">0<") && s.contains(">8<"), "{s}");
        assert!(s.contains(">6.2 %<"), "{s}");
    }

    #[test]
    fn bars_and_histograms_are_drawn() {
        let f = Figure {
            title: "Top".into(),
            unit: "USD bn".into(),
            chart: Chart::Bars(vec![
                Bar {
                    label: "India".into(),
                    value: 58.0,
                },
                Bar {
                    label: "China".into(),
                    value: -5.5,
                },
            ]),
            marks: vec![],
        };
        let s = svg(&f);
        assert_eq!(s.matches("<rect").count(), 3, "{s}");
        assert!(
            s.contains(">58 USD bn<") && s.contains(">-5.5 USD bn<"),
            "{s}"
        );
        let h = Figure {
            title: "Spread".into(),
            unit: String::new(),
            chart: Chart::Histogram(Histogram {
                edges: vec![0.0, 2.5, 5.0],
                counts: vec![3, 1],
            }),
            marks: vec![Mark::new("5%", 5.0)],
        };
        let s = svg(&h);
        assert!(s.contains("<title>0 to 2.5: 3</title>"), "{s}");
        assert!(s.contains(">5%<"), "{s}");
    }

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(step(10.0), 2.0);
        assert_eq!(step(450.0), 100.0);
        assert_eq!(step(12.0), 2.5);
        let (lo, hi, ticks) = value_axis([312.5, 451.0].into_iter());
        assert_eq!((lo, hi), (0.0, 500.0));
        assert_eq!(ticks.len(), 6);
        assert_eq!(spread(3, 8), vec![0, 1, 2]);
        assert_eq!(spread(50, 8).last(), Some(&49));
        assert!(spread(50, 8).len() <= 9);
        // Labels too close keep the last one.
        assert_eq!(
            apart(&[0, 1, 2, 3], |i| [0.0, 10.0, 100.0, 110.0][i], 64.0),
            vec![0, 3]
        );
        assert_eq!(apart(&[0, 1], |i| [0.0, 10.0][i], 64.0), vec![1]);
    }
}
