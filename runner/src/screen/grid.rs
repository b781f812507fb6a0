//! Tables with comfy-table, fitted to a width (cells wrap when the columns do not fit):
//! `bordered` for the tables in lab text, `Grid` for the command tables (`lab list`,
//! `lab status`, `lab tools`, `lab class status`): aligned columns under an underlined header,
//! no borders, so they read like `ps` and still fit an 80-column terminal.
use comfy_table::{
    presets, CellAlignment, ColumnConstraint, ContentArrangement, ContentLineStyle, LineStyle,
    Table, TableStyle,
};
use pulldown_cmark::Alignment;

use super::Screen;
use crate::term::Style;

/// A markdown table with rounded borders, header in bold.
pub fn bordered(
    style: Style,
    width: usize,
    align: &[Alignment],
    header: &[String],
    rows: &[Vec<String>],
) -> String {
    let mut t = new_table(style, width);
    t.load_style(presets::UTF8_FULL_CONDENSED.with_rounded_corners());
    t.set_header(header.iter().map(|h| style.bold(h)));
    for r in rows {
        t.add_row(r.clone());
    }
    for (i, a) in align.iter().enumerate() {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(match a {
                Alignment::Right => CellAlignment::Right,
                Alignment::Center => CellAlignment::Center,
                _ => CellAlignment::Left,
            });
        }
    }
    t.to_string()
}

/// Columns separated by spaces under a header underlined with `─`.
const GRID: TableStyle = TableStyle::new()
    .header_separator(LineStyle::none().fill('─').junction('─'))
    .header_lines(ContentLineStyle::none())
    .content_lines(ContentLineStyle::none());

/// A command's table: `Grid::new(screen, &["lab", "title", ...])`, `.row(...)`, `.render()`.
pub struct Grid {
    table: Table,
    width: usize,
    /// Columns that never wrap (names, numbers): the others give way.
    keep: Vec<usize>,
    /// Columns left out, in this order, while the table is wider than the screen.
    optional: Vec<usize>,
}

impl Grid {
    pub fn new(screen: Screen, header: &[&str]) -> Grid {
        let mut table = new_table(screen.style, screen.width);
        table.load_style(GRID);
        table.set_header(header.iter().map(|h| screen.style.bold(h)));
        // Two spaces between columns (one of padding, one where a border would be), none before.
        for c in table.column_iter_mut() {
            c.set_padding((0, 1));
        }
        Grid {
            table,
            width: screen.width,
            keep: Vec::new(),
            optional: Vec::new(),
        }
    }

    /// Right-align these columns (numbers).
    pub fn right(mut self, columns: &[usize]) -> Grid {
        for &i in columns {
            if let Some(c) = self.table.column_mut(i) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        self
    }

    /// Never wrap these columns (names, numbers): the other columns give way.
    pub fn keep(mut self, columns: &[usize]) -> Grid {
        self.keep.extend_from_slice(columns);
        self
    }

    /// Columns to leave out, in this order, rather than wrap the table (what they hold is
    /// said elsewhere too).
    pub fn optional(mut self, columns: &[usize]) -> Grid {
        self.optional.extend_from_slice(columns);
        self
    }

    pub fn row<S: ToString>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Grid {
        self.table
            .add_row(cells.into_iter().map(|c| c.to_string()).collect::<Vec<_>>());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The table's lines, each ending in a newline, without trailing spaces.
    pub fn render(mut self) -> String {
        let widths = self.table.column_max_content_widths();
        let mut shown: Vec<usize> = (0..widths.len()).collect();
        // Each column is followed by two spaces (padding and the empty border), but the last.
        let natural =
            |shown: &[usize]| shown.iter().map(|&i| widths[i] as usize + 2).sum::<usize>() - 2;
        for &i in &self.optional {
            if shown.is_empty() || natural(&shown) <= self.width {
                break;
            }
            shown.retain(|&c| c != i);
            if let Some(c) = self.table.column_mut(i) {
                c.set_constraint(ColumnConstraint::Hidden);
            }
        }
        // No padding after the last column: the header's rule ends with the text.
        if let Some(c) = shown.last().and_then(|&i| self.table.column_mut(i)) {
            c.set_padding((0, 0));
        }
        // comfy-table's dynamic arrangement may wrap a column that would have fitted: only let
        // it arrange when the table is too wide as it is.
        if natural(&shown) <= self.width {
            self.table
                .set_content_arrangement(ContentArrangement::Disabled);
        }
        for &i in &self.keep {
            if let Some(c) = self.table.column_mut(i) {
                c.set_constraint(ColumnConstraint::ContentWidth);
            }
        }
        self.table
            .lines()
            .map(|l| format!("{}\n", l.trim_end()))
            .collect()
    }
}

fn new_table(style: Style, width: usize) -> Table {
    let mut t = Table::new();
    t.set_content_arrangement(ContentArrangement::Dynamic);
    t.set_width(width.min(u16::MAX as usize) as u16);
    // The colours are already in the cells (term::Style decides, NO_COLOR included).
    if style.color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t
}
