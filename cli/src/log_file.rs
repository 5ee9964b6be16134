//! `lantau start --log-file`: the node's own log file, rotated by size, so a validator left
//! running for months does not fill its disk (journald and logrotate do this for nodes that log
//! to stdout; this is for homes without either, such as `testnet up`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Appends to `path`; past `max_bytes` it renames `path` to `path.1` (shifting `path.1` to
/// `path.2` ...), keeps `keep` old files and deletes older ones.
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    written: u64,
    max_bytes: u64,
    keep: usize,
}

impl RotatingFile {
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            written,
            max_bytes: max_bytes.max(1),
            keep,
        })
    }

    fn old(&self, k: usize) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{k}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.keep == 0 {
            self.file = File::create(&self.path)?;
        } else {
            let _ = fs::remove_file(self.old(self.keep));
            for k in (1..self.keep).rev() {
                let from = self.old(k);
                if from.exists() {
                    fs::rename(&from, self.old(k + 1))?;
                }
            }
            fs::rename(&self.path, self.old(1))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        }
        self.written = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    /// Whole writes land in one file: tracing writes one event per call, so no line is split
    /// across a rotation.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written > 0 && self.written + buf.len() as u64 > self.max_bytes {
            // A log that cannot rotate (a full disk, a removed directory) keeps appending
            // rather than losing the line or stopping the validator.
            if let Err(e) = self.rotate() {
                let _ = writeln!(self.file, "log rotation failed: {e}; appending");
                self.written = 0;
            }
        }
        self.file.write_all(buf)?;
        self.written += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_only_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.log");
        let mut log = RotatingFile::open(&path, 100, 2).unwrap();
        for i in 0..10 {
            // 40 bytes a line: two lines fit, the third rotates.
            log.write_all(format!("{i:039}\n").as_bytes()).unwrap();
        }
        log.flush().unwrap();
        let read = |p: &Path| fs::read_to_string(p).unwrap();
        let lines = |text: String| {
            text.lines()
                .map(|l| l.parse::<u32>().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(lines(read(&path)), [8, 9]);
        assert_eq!(lines(read(&dir.path().join("node.log.1"))), [6, 7]);
        assert_eq!(lines(read(&dir.path().join("node.log.2"))), [4, 5]);
        assert!(!dir.path().join("node.log.3").exists(), "only two are kept");
        for entry in fs::read_dir(dir.path()).unwrap() {
            assert!(entry.unwrap().metadata().unwrap().len() <= 100);
        }
    }

    #[test]
    fn a_reopened_log_counts_what_it_already_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.log");
        fs::write(&path, [b'x'; 90]).unwrap();
        let mut log = RotatingFile::open(&path, 100, 1).unwrap();
        log.write_all(&[b'y'; 20]).unwrap();
        assert_eq!(fs::read(dir.path().join("node.log.1")).unwrap(), [b'x'; 90]);
        assert_eq!(fs::read(&path).unwrap(), [b'y'; 20]);
    }

    #[test]
    fn keeping_none_truncates_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.log");
        let mut log = RotatingFile::open(&path, 10, 0).unwrap();
        log.write_all(b"0123456789").unwrap();
        log.write_all(b"abc").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"abc");
        assert!(!dir.path().join("node.log.1").exists());
    }
}
