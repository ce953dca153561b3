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
    html! {
        div.scroll tabindex="0" role="region" aria-label=(caption) {
            table.figures.sortable[sortable] {
                caption { (caption) }
                thead { tr { @for (i, h) in headers.iter().enumerate() {
                    th scope="col" data-col=(i) { @if sortable { button type="button" { (h) } } @else { (h) } }
                } } }
                tbody {
                    @for row in rows {
                        tr {
                            th scope="row" data-value=(row.name) {
                                @if let Some(href) = &row.href { a href=(href) { (row.name) } } @else { (row.name) }
                            }
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

/// A horizontal bar chart: one bar per `(label, value, text)`, scaled to the largest;
/// described for screen readers by `title` (the table beside it has the figures).
pub fn bars(title: &str, bars: &[(String, f64, String)]) -> Markup {
    let max = bars.iter().map(|b| b.1).fold(0.0_f64, f64::max);
    let row_h = 28.0;
    let label_w = 180.0;
    let bar_w = 420.0;
    let height = (bars.len() as f64 * row_h).max(row_h);
    html! {
        figure.chart {
            svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (label_w + bar_w + 160.0) " " (height) }
                role="img" aria-label=(title) preserveAspectRatio="xMinYMin meet" {
                title { (title) }
                @for (i, (label, value, text)) in bars.iter().enumerate() {
                    @let y = i as f64 * row_h;
                    @let w = if max > 0.0 { (value / max * bar_w).max(if *value > 0.0 { 2.0 } else { 0.0 }) } else { 0.0 };
                    text.label x=(label_w - 8.0) y=(y + row_h * 0.65) text-anchor="end" { (short(label, 26)) }
                    rect.bar x=(label_w) y=(y + 4.0) width=(format!("{w:.1}")) height=(row_h - 8.0) rx="3" {}
                    text.value x=(label_w + w + 6.0) y=(y + row_h * 0.65) { (text) }
                }
            }
        }
    }
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
