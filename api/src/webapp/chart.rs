//! Bar charts drawn as SVG on the server, and the table every chart also shows (the
//! contract's table rule: one row per bar, its first cell the row's name as the API
//! names it, then the API's figures in the API's order).

use maud::{html, Markup};

/// One cell of a figure: the API's value (in `data-value`) and how it is written.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The API's figure as JSON writes it (`null` for none).
    pub value: String,
    /// The figure for people (money, percentages in the locale).
    pub text: String,
    /// Where the figure leads (the rows behind it).
    pub href: Option<String>,
}

impl Cell {
    /// A count.
    pub fn count(n: i64) -> Cell {
        Cell {
            value: n.to_string(),
            text: n.to_string(),
            href: None,
        }
    }

    /// A figure with its text.
    pub fn new(value: impl ToString, text: impl Into<String>) -> Cell {
        Cell {
            value: value.to_string(),
            text: text.into(),
            href: None,
        }
    }

    /// A figure that may be null (then a dash).
    pub fn maybe<T: ToString>(value: Option<T>, text: impl FnOnce(&T) -> String) -> Cell {
        match value {
            Some(v) => Cell {
                text: text(&v),
                value: v.to_string(),
                href: None,
            },
            None => Cell {
                value: "null".into(),
                text: "—".into(),
                href: None,
            },
        }
    }

    /// The same cell leading to `href`.
    pub fn link(mut self, href: impl Into<String>) -> Cell {
        self.href = Some(href.into());
        self
    }
}

/// One row (one bar): its name as the API names it, where it leads, its figures.
#[derive(Debug, Clone)]
pub struct Row {
    /// The name.
    pub name: String,
    /// Where the name leads.
    pub href: Option<String>,
    /// The figures, in the API's order.
    pub cells: Vec<Cell>,
}

/// A table of `rows` under `headers` (the first for the names), with a caption;
/// `sortable` tables sort by a header's click (the page's script).
pub fn table(caption: &str, headers: &[&str], rows: &[Row], sortable: bool) -> Markup {
    table_with(caption, headers, rows, sortable, |_, row| {
        html! { (named(row, &row.name)) }
    })
}

/// A row's name written as `text`, leading where the row leads.
pub fn named(row: &Row, text: &str) -> Markup {
    html! {
        @if let Some(href) = &row.href { a href=(href) { (text) } } @else { (text) }
    }
}

/// [`table`] with each row's first cell written by `name` (given the row's index and
/// the row: a name for people where the API's is an id, a second link); its
/// `data-value` stays the row's name as the API names it.
pub fn table_with(
    caption: &str,
    headers: &[&str],
    rows: &[Row],
    sortable: bool,
    name: impl Fn(usize, &Row) -> Markup,
) -> Markup {
    html! {
        div.scroll tabindex="0" role="region" aria-label=(caption) {
            table.figures.sortable[sortable] {
                caption { (caption) }
                thead { tr { @for (i, h) in headers.iter().enumerate() {
                    th scope="col" data-col=(i) { @if sortable { button type="button" { (h) } } @else { (h) } }
                } } }
                tbody {
                    @for (i, row) in rows.iter().enumerate() {
                        tr {
                            th scope="row" data-value=(row.name) { (name(i, row)) }
                            @for cell in &row.cells {
                                td data-value=(cell.value) {
                                    @if let Some(href) = &cell.href { a href=(href) { (cell.text) } } @else { (cell.text) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The height of one bar's row in the chart, in CSS pixels: its label line and its bar.
const ROW_H: f64 = 38.0;

/// Where a row's label and value text sit (their baseline), from the row's top.
const TEXT_Y: f64 = 14.0;

/// Where a row's bar starts, from the row's top, and how thick it is.
const BAR_Y: f64 = 19.0;
const BAR_H: f64 = 12.0;

/// The longest label drawn (in characters; longer ones are cut with an ellipsis): it
/// leaves room for the value beside it on a phone's 390 px.
const LABEL_CHARS: usize = 28;

/// A horizontal bar chart: one row per `(label, value, text)`, the label and the text
/// on a line above a bar scaled to the largest; described for screen readers by
/// `title` (the table beside it has the figures). Drawn in the page's own pixels (no
/// `viewBox`, the bars' lengths in percent of the width): the text keeps its size at
/// any width, a phone's as a desktop's, and only the bars stretch.
pub fn bars(title: &str, bars: &[(String, f64, String)]) -> Markup {
    let max = bars.iter().map(|b| b.1).fold(0.0_f64, f64::max);
    let height = (bars.len() as f64 * ROW_H).max(ROW_H);
    html! {
        figure.chart {
            svg xmlns="http://www.w3.org/2000/svg" width="100%" height=(height)
                role="img" aria-label=(title) {
                title { (title) }
                @for (i, (label, value, text)) in bars.iter().enumerate() {
                    @let y = i as f64 * ROW_H;
                    text.label x="0" y=(y + TEXT_Y) { (short(label, LABEL_CHARS)) }
                    text.value x="100%" y=(y + TEXT_Y) text-anchor="end" { (text) }
                    rect.track x="0" y=(y + BAR_Y) width="100%" height=(BAR_H) rx="3" {}
                    rect.bar x="0" y=(y + BAR_Y) width=(percent(*value, max)) height=(BAR_H) rx="3" {}
                }
            }
        }
    }
}

/// A bar's length: `value` in percent of `max`, a sliver for any value above zero.
fn percent(value: f64, max: f64) -> String {
    let share = if max > 0.0 && value > 0.0 {
        (value / max * 100.0).clamp(0.5, 100.0)
    } else {
        0.0
    };
    format!("{share:.1}%")
}

/// `text` cut to `max` characters with an ellipsis.
fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// A paragraph saying why a page is empty.
pub fn empty(why: &str) -> Markup {
    html! { p.empty role="status" { (why) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_drawn_in_the_pages_pixels_with_lengths_in_percent() {
        let svg = bars(
            "Deals",
            &[
                ("New".into(), 4.0, "4".into()),
                ("Offer".into(), 1.0, "1".into()),
                ("Won".into(), 0.0, "0".into()),
            ],
        )
        .into_string();
        // No viewBox: nothing scales the text down on a narrow screen.
        assert!(!svg.contains("viewBox"), "{svg}");
        assert!(svg.contains(r#"width="100%" height="114""#), "{svg}");
        for length in [r#"width="100.0%""#, r#"width="25.0%""#, r#"width="0.0%""#] {
            assert!(svg.contains(length), "{length} in {svg}");
        }
        assert!(svg.contains(">New</text>") && svg.contains(">Offer</text>"));
        // Long names are cut so that the value beside them still fits.
        assert_eq!(
            short("Ковальчук Олександра Миколаївна", 28).chars().count(),
            28
        );
        assert_eq!(short("New", 28), "New");
    }
}
