//! Figures: the numbers of a chart, which a report may carry beside its tables.
//! The node checks them like the rest of the report ([`Figure::check`]) and draws
//! them wherever the report is shown (the workspace, `kp analyze --svg`); a plugin
//! chooses what to show, the drawing chooses scales, ticks and colours.

/// A figure of a report.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Figure {
    /// A title for a reader, such as "Cost of sending USD 200, global average".
    pub title: String,
    /// The unit of the values (`%`, `USD bn`); empty for a pure number.
    #[cfg_attr(feature = "serde", serde(default))]
    pub unit: String,
    /// What is drawn.
    pub chart: Chart,
    /// Reference values drawn across the chart, such as a target.
    #[cfg_attr(feature = "serde", serde(default))]
    pub marks: Vec<Mark>,
}

/// What a figure draws.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Chart {
    /// Series over an ordered axis (years, quarters): a line each.
    Lines(Lines),
    /// A value per category, drawn in the order given (a ranking).
    Bars(Vec<Bar>),
    /// How values are distributed: counts in adjacent bins.
    Histogram(Histogram),
}

/// Series over an ordered axis.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Lines {
    /// The axis' name, such as `year`.
    pub axis: String,
    /// Positions on the axis, increasing: a year, or a quarter as
    /// year + (quarter − 1) / 4.
    pub x: Vec<f64>,
    /// What to write for each position (`2023Q3`); empty to write the numbers.
    #[cfg_attr(feature = "serde", serde(default))]
    pub labels: Vec<String>,
    /// The series, each with a value (or a gap) at every position.
    pub series: Vec<Series>,
}

/// One line of a [`Lines`] chart.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Series {
    /// Its name in the legend.
    pub name: String,
    /// A value for each position of the axis; `None` is a gap.
    pub values: Vec<Option<f64>>,
}

/// One bar of a [`Chart::Bars`] chart.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Bar {
    /// The category.
    pub label: String,
    /// Its value.
    pub value: f64,
}

/// Counts in adjacent bins.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Histogram {
    /// The bins' edges, increasing: one more than the counts. Bin `i` holds
    /// the values from `edges[i]` up to `edges[i + 1]`.
    pub edges: Vec<f64>,
    /// How many values fall in each bin.
    pub counts: Vec<u64>,
}

/// A reference value drawn across a chart.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Mark {
    /// What it is, such as "SDG 10.c target".
    pub label: String,
    /// Where it is, in the figure's unit.
    pub value: f64,
}

impl Mark {
    /// A mark.
    pub fn new(label: impl Into<String>, value: f64) -> Mark {
        Mark {
            label: label.into(),
            value,
        }
    }
}

impl Figure {
    /// Fails, saying what is wrong, unless the figure can be drawn as it says:
    /// a one-line title, finite numbers, an increasing axis with a value (or
    /// gap) for each position in every series and a label for each position if
    /// any, increasing histogram edges, one more than the counts. Returns the
    /// number of values it holds (counted against the report's item limit).
    pub fn check(&self) -> Result<usize, String> {
        let title = self.title.trim();
        if title.is_empty() {
            return Err("a figure has no title".into());
        }
        let what = format!("figure `{title}`");
        if self.title.chars().any(char::is_control) || self.title.chars().count() > 200 {
            return Err(format!(
                "{what}: the title must be one line of at most 200 characters"
            ));
        }
        for m in &self.marks {
            if !m.value.is_finite() {
                return Err(format!("{what}: mark `{}` is not a finite number", m.label));
            }
        }
        let values = match &self.chart {
            Chart::Lines(l) => {
                if l.series.is_empty() || l.x.is_empty() {
                    return Err(format!("{what}: a line chart needs positions and a series"));
                }
                if l.x.iter().any(|x| !x.is_finite()) || l.x.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(format!(
                        "{what}: the axis' positions must be finite and increasing"
                    ));
                }
                if !l.labels.is_empty() && l.labels.len() != l.x.len() {
                    return Err(format!(
                        "{what}: {} labels for {} positions",
                        l.labels.len(),
                        l.x.len()
                    ));
                }
                for s in &l.series {
                    if s.values.len() != l.x.len() {
                        return Err(format!(
                            "{what}: series `{}` has {} values for {} positions",
                            s.name,
                            s.values.len(),
                            l.x.len()
                        ));
                    }
                    if s.values.iter().flatten().any(|v| !v.is_finite()) {
                        return Err(format!(
                            "{what}: series `{}` has a value that is not a finite number",
                            s.name
                        ));
                    }
                }
                l.x.len() * (1 + l.series.len())
            }
            Chart::Bars(bars) => {
                if bars.is_empty() {
                    return Err(format!("{what}: a bar chart needs a bar"));
                }
                if let Some(b) = bars.iter().find(|b| !b.value.is_finite()) {
                    return Err(format!("{what}: bar `{}` is not a finite number", b.label));
                }
                bars.len()
            }
            Chart::Histogram(h) => {
                if h.counts.is_empty() || h.edges.len() != h.counts.len() + 1 {
                    return Err(format!(
                        "{what}: a histogram needs one more edge than counts ({} edges, {} counts)",
                        h.edges.len(),
                        h.counts.len()
                    ));
                }
                if h.edges.iter().any(|e| !e.is_finite())
                    || h.edges.windows(2).any(|w| w[0] >= w[1])
                {
                    return Err(format!("{what}: the edges must be finite and increasing"));
                }
                h.counts.len() + h.edges.len()
            }
        };
        Ok(values + self.marks.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(x: Vec<f64>, values: Vec<Option<f64>>) -> Figure {
        Figure {
            title: "Cost".into(),
            unit: "%".into(),
            chart: Chart::Lines(Lines {
                axis: "year".into(),
                x,
                labels: vec![],
                series: vec![Series {
                    name: "average".into(),
                    values,
                }],
            }),
            marks: vec![Mark::new("target", 3.0)],
        }
    }

    #[test]
    fn a_figure_is_checked_before_it_is_drawn() {
        assert_eq!(
            lines(vec![2010.0, 2011.0], vec![Some(9.0), None]).check(),
            Ok(5)
        );
        let bad = [
            (lines(vec![2011.0, 2010.0], vec![None, None]), "increasing"),
            (
                lines(vec![2010.0], vec![Some(1.0), None]),
                "2 values for 1 positions",
            ),
            (
                lines(vec![2010.0], vec![Some(f64::NAN)]),
                "not a finite number",
            ),
            (
                Figure {
                    title: " ".into(),
                    ..lines(vec![1.0], vec![None])
                },
                "no title",
            ),
            (
                Figure {
                    chart: Chart::Histogram(Histogram {
                        edges: vec![0.0, 1.0],
                        counts: vec![1, 2],
                    }),
                    ..lines(vec![1.0], vec![None])
                },
                "one more edge than counts",
            ),
            (
                Figure {
                    chart: Chart::Bars(vec![]),
                    ..lines(vec![1.0], vec![None])
                },
                "needs a bar",
            ),
        ];
        for (f, want) in bad {
            let err = f.check().unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }
}
