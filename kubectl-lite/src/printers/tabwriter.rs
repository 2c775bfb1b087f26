//! Go's `text/tabwriter` (as vendored by kubectl, with `RememberWidths`), because kubectl
//! lays out every table and every `describe` through it and we want the same columns.
//!
//! Text is cut into cells at `\t`; only tab-terminated cells form columns (the text after
//! a line's last tab is printed as is). A *column block* is a run of consecutive lines that
//! all have a cell in that column; its width is its widest cell plus `padding`, at least
//! `min_width`. Blocks are found left to right, recursively, exactly as Go does.

/// A tab writer with Go's parameters.
#[derive(Debug, Clone)]
pub struct TabWriter {
    min_width: usize,
    padding: usize,
    /// `RememberWidths`: widths only grow from one [`TabWriter::format`] to the next.
    remember: bool,
    remembered: Vec<usize>,
}

impl TabWriter {
    /// kubectl's table writer: `tabwriter.NewWriter(out, 6, 4, 3, ' ', RememberWidths)`.
    pub fn new() -> TabWriter {
        TabWriter { min_width: 6, padding: 3, remember: true, remembered: Vec::new() }
    }

    /// `kubectl describe`'s writer: `tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)`.
    pub fn describe() -> TabWriter {
        TabWriter { min_width: 0, padding: 2, remember: false, remembered: Vec::new() }
    }

    /// Lays out rows of cells (joined by tabs, one line each).
    pub fn format(&mut self, rows: &[Vec<String>]) -> String {
        let text: String = rows.iter().map(|r| format!("{}\n", r.join("\t"))).collect();
        self.format_text(&text)
    }

    /// Lays out text whose cells are separated by `\t` (a flush of Go's writer).
    pub fn format_text(&mut self, text: &str) -> String {
        let lines: Vec<Vec<&str>> = text.split_terminator('\n').map(|l| l.split('\t').collect()).collect();
        let mut out = String::new();
        let mut widths = Vec::new();
        self.block(&lines, 0, lines.len(), &mut widths, &mut out);
        out
    }

    fn block(&mut self, lines: &[Vec<&str>], mut line0: usize, line1: usize, widths: &mut Vec<usize>, out: &mut String) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            write_lines(&lines[line0..this], widths, out);
            line0 = this;
            let mut width = self.min_width;
            while this < line1 && column + 1 < lines[this].len() {
                width = width.max(lines[this][column].chars().count() + self.padding);
                this += 1;
            }
            if self.remember {
                if column < self.remembered.len() {
                    width = width.max(self.remembered[column]);
                    self.remembered[column] = width;
                } else {
                    self.remembered.push(width);
                }
            }
            widths.push(width);
            self.block(lines, line0, this, widths, out);
            widths.pop();
            line0 = this;
        }
        write_lines(&lines[line0..line1], widths, out);
    }
}

impl Default for TabWriter {
    fn default() -> Self {
        TabWriter::new()
    }
}

fn write_lines(lines: &[Vec<&str>], widths: &[usize], out: &mut String) {
    for line in lines {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j + 1 < line.len() && j < widths.len() {
                let pad = widths[j].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_blocks_are_measured_separately_as_in_go() {
        let mut tw = TabWriter::describe();
        let text = "Name:\tnginx\nNamespace:\tdefault\nContainers:\n  web:\n    Image:\tnginx\n";
        assert_eq!(
            tw.format_text(text),
            "Name:       nginx\nNamespace:  default\nContainers:\n  web:\n    Image:  nginx\n"
        );
    }
}
