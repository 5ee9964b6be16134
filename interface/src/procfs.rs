//! What Linux's `/proc` says about a process: CPU time and memory. Shared by the node's
//! `process_*` metrics and the bench's per-process accounting; `None` elsewhere than Linux.

/// `/proc` reports CPU times in USER_HZ ticks, 100 per second on every Linux architecture.
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// User plus system CPU time so far.
    pub cpu_secs: f64,
    pub rss_bytes: u64,
    /// The most resident memory it has held (`VmHWM`).
    pub peak_rss_bytes: u64,
    pub virtual_bytes: u64,
    /// Ticks since boot at which it started.
    pub start_ticks_after_boot: f64,
}

/// Read `pid` (`None`: this process).
pub fn usage(pid: Option<i32>) -> Option<Usage> {
    let dir = pid.map_or("/proc/self".to_string(), |p| format!("/proc/{p}"));
    parse(
        &std::fs::read_to_string(format!("{dir}/stat")).ok()?,
        &std::fs::read_to_string(format!("{dir}/status")).ok()?,
    )
}

/// Seconds since the Unix epoch at which the machine booted (`/proc/stat`'s `btime`).
pub fn boot_time_secs() -> Option<f64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

pub const fn ticks_to_secs(ticks: f64) -> f64 {
    ticks / TICKS_PER_SECOND
}

fn kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let value = line[key.len()..].trim().trim_end_matches("kB").trim();
    value.parse::<u64>().ok().map(|k| k * 1024)
}

/// Parse `/proc/<pid>/stat` and `/proc/<pid>/status`.
pub fn parse(stat: &str, status: &str) -> Option<Usage> {
    // Fields are counted after the command name, which may hold spaces and parentheses:
    // the state (field 3) is first, so utime (14), stime (15), starttime (22) are 11, 12, 19.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let number = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some(Usage {
        cpu_secs: ticks_to_secs(number(11)? + number(12)?),
        rss_bytes: kib(status, "VmRSS:")?,
        peak_rss_bytes: kib(status, "VmHWM:").unwrap_or(0),
        virtual_bytes: kib(status, "VmSize:")?,
        start_ticks_after_boot: number(19)?,
    })
}

/// The process holding a POSIX lock on `path` (as RocksDB holds its `LOCK` file), from
/// `/proc/locks`; `None` when there is none, it cannot be told, or not on Linux.
pub fn lock_holder(path: &std::path::Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let dev = meta.dev();
    // Linux's encoding of a device number (glibc's gnu_dev_major / gnu_dev_minor).
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let file = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    parse_lock_holder(&std::fs::read_to_string("/proc/locks").ok()?, &file)
}

/// `/proc/locks` lines read `1: POSIX  ADVISORY  WRITE 4242 08:01:1311 0 EOF`.
fn parse_lock_holder(locks: &str, file: &str) -> Option<u32> {
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (kind, pid, id) = (fields.get(1)?, fields.get(4)?, fields.get(5)?);
        (*kind == "POSIX" && *id == file).then(|| pid.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_parse_even_with_a_strange_command_name() {
        let stat = "4242 (my (odd) node) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 8 0 12345 1000000 500 18446744073709551615";
        let status =
            "Name:\tlantau\nVmHWM:\t    2048 kB\nVmSize:\t  204800 kB\nVmRSS:\t    1024 kB\n";
        let u = parse(stat, status).unwrap();
        assert_eq!(u.cpu_secs, 3.0, "utime 250 + stime 50 ticks");
        assert_eq!(
            (u.rss_bytes, u.peak_rss_bytes, u.virtual_bytes),
            (1024 * 1024, 2048 * 1024, 204800 * 1024)
        );
        assert_eq!(u.start_ticks_after_boot, 12345.0);
        assert_eq!(parse("garbage", status), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_read() {
        let u = usage(None).unwrap();
        assert!(u.rss_bytes > 0 && u.peak_rss_bytes >= u.rss_bytes, "{u:?}");
        assert!(boot_time_secs().unwrap() > 1e9);
    }

    #[test]
    fn a_lock_holder_is_read_from_proc_locks() {
        let locks = "1: FLOCK  ADVISORY  WRITE 77 08:01:1311 0 EOF\n\
2: POSIX  ADVISORY  WRITE 4242 08:01:1311 0 EOF\n\
3: POSIX  ADVISORY  WRITE 99 08:01:99 0 EOF\n";
        assert_eq!(super::parse_lock_holder(locks, "08:01:1311"), Some(4242));
        assert_eq!(super::parse_lock_holder(locks, "08:02:1311"), None);
    }
}
