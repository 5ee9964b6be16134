//! Terminal output: aligned tables and readable numbers.

use std::io::IsTerminal;

/// Columns padded to their widest cell; numbers (cells starting with a digit) right-aligned.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                if c.starts_with(|ch: char| ch.is_ascii_digit()) {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A one-line progress indicator on stderr: redrawn in place on a terminal, printed every few
/// updates otherwise (logs of CI runs stay short).
pub struct Progress {
    tty: bool,
    frame: usize,
}

impl Progress {
    pub fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            frame: 0,
        }
    }

    pub fn update(&mut self, message: &str) {
        const SPINNER: [char; 4] = ['|', '/', '-', '\\'];
        if self.tty {
            eprint!("\r\x1b[2K{} {message}", SPINNER[self.frame % SPINNER.len()]);
        } else if self.frame.is_multiple_of(8) {
            eprintln!("  {message}");
        }
        self.frame += 1;
    }

    /// A progress bar: `[#######.............]  35%  message`.
    pub fn bar(&mut self, fraction: f64, message: &str) {
        const WIDTH: usize = 24;
        let filled = ((fraction.clamp(0.0, 1.0) * WIDTH as f64) as usize).min(WIDTH);
        let line = format!(
            "[{}{}] {:>3.0}%  {message}",
            "#".repeat(filled),
            ".".repeat(WIDTH - filled),
            fraction * 100.0
        );
        if self.tty {
            eprint!("\r\x1b[2K{line}");
        } else if self.frame.is_multiple_of(4) {
            eprintln!("  {line}");
        }
        self.frame += 1;
    }

    pub fn finish(&mut self, message: &str) {
        if self.tty {
            eprintln!("\r\x1b[2K{message}");
        } else {
            eprintln!("  {message}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["node", "height"],
            &[
                vec!["node0".into(), "7".into()],
                vec!["node10".into(), "1234".into()],
            ],
        );
        assert_eq!(t, "node    height\nnode0        7\nnode10    1234\n");
    }
}
