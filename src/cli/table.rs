//! Plain, aligned text tables (like `kafka-topics.sh --describe` and `kubectl get`): a header
//! row in capitals, columns padded to their widest cell with two spaces between, no borders,
//! so the output reads well and `awk '{print $2}'` still works.
//!
//! Runs on the main thread of an admin command.
use std::fmt::Write as _;

/// Rows of cells under a header; every row has the header's width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// Spaces between columns.
const GAP: usize = 2;

impl Table {
    /// # Panics
    /// When `header` is empty (a programmer error).
    #[must_use]
    pub fn new(header: &[&str]) -> Self {
        assert!(!header.is_empty(), "a table has columns");
        Self {
            header: header.iter().map(|cell| (*cell).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    ///
    /// # Panics
    /// When the row's width differs from the header's (a programmer error).
    pub fn push(&mut self, row: Vec<String>) {
        assert_eq!(row.len(), self.header.len(), "row width {row:?}");
        self.rows.push(row);
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, each ending in '\n'; trailing spaces trimmed.
    #[must_use]
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self
            .header
            .iter()
            .map(|cell| cell.chars().count())
            .collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut text = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (cell, width) in row.iter().zip(&widths) {
                // Writing to a String cannot fail.
                let _ = write!(line, "{cell:<width$}", width = width + GAP);
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_to_the_widest_cell() {
        let mut table = Table::new(&["TOPIC", "PARTITIONS"]);
        table.push(vec!["a-much-longer-name".into(), "3".into()]);
        table.push(vec!["b".into(), "12".into()]);
        assert_eq!(
            table.render(),
            "TOPIC               PARTITIONS\n\
             a-much-longer-name  3\n\
             b                   12\n"
        );
    }

    #[test]
    #[should_panic(expected = "row width")]
    fn a_short_row_is_a_programmer_error() {
        Table::new(&["A", "B"]).push(vec!["1".into()]);
    }
}
