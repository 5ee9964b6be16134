//! Terminal output: aligned tables and readable numbers.

use std::io::IsTerminal;

/// Writing command output failed: a closed pipe ends the program quietly (its reader has all
/// it wanted); anything else is an error.
pub fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write to stdout: {e}");
    std::process::exit(1);
}

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
                // "-" stands for a number a down node could not give: aligned as one.
                if c.starts_with(|ch: char| ch.is_ascii_digit()) || *c == "-" {
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

/// Milliseconds since the Unix epoch as `2026-11-27 22:36:06.123 UTC`.
pub fn utc(ms: u64) -> String {
    let (days, rest) = ((ms / 86_400_000) as i64, ms % 86_400_000);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1_000 % 60,
        rest % 1_000,
    );
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}.{milli:03} UTC")
}

/// Now, UTC, as a folder name that sorts by time and reads as one: `2026-11-27T22-36-06Z`.
pub fn utc_folder_name() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let text = utc(ms);
    let (date, time) = text.split_once(' ').expect("date and time");
    let time = time.split('.').next().expect("seconds").replace(':', "-");
    format!("{date}T{time}Z")
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
    fn folder_names_are_utc_times() {
        let name = utc_folder_name();
        assert_eq!(name.len(), "2026-11-27T22-36-06Z".len(), "{name}");
        let shape: String = name
            .chars()
            .map(|c| if c.is_ascii_digit() { '9' } else { c })
            .collect();
        assert_eq!(shape, "9999-99-99T99-99-99Z", "{name}");
    }

    #[test]
    fn utc_times() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00.000 UTC");
        assert_eq!(utc(1_795_818_966_123), "2026-11-27 22:36:06.123 UTC");
    }

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
