//! The standard `process_*` metrics (CPU time, memory, descriptors, start time), read from
//! `/proc/self` on each scrape, as the Prometheus client libraries of other languages do.
//! Elsewhere than Linux they are left out.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// `/proc` reports CPU times in USER_HZ ticks, 100 per second on every Linux architecture.
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug)]
pub struct ProcessCollector;

#[derive(Debug, Default, PartialEq)]
pub struct Sample {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub start_time_seconds: f64,
    pub open_fds: u64,
    pub max_fds: u64,
}

/// Fields of `/proc/self/stat` after the command name (which may hold spaces and parentheses).
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().collect())
}

fn kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()
        .map(|k| k * 1024)
}

/// Parse what `/proc` says; `None` where a file is missing or unexpected.
pub fn parse(stat: &str, status: &str, boot_stat: &str) -> Option<(f64, u64, u64, f64)> {
    let f = stat_fields(stat)?;
    // After the name: state is field 3 of the whole line, so utime (14) is index 11 here.
    let ticks = |i: usize| f.get(i)?.parse::<f64>().ok();
    let cpu = (ticks(11)? + ticks(12)?) / TICKS_PER_SECOND;
    let started_after_boot = ticks(19)? / TICKS_PER_SECOND;
    let boot: f64 = boot_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some((
        cpu,
        kib(status, "VmRSS:")?,
        kib(status, "VmSize:")?,
        boot + started_after_boot,
    ))
}

pub fn sample() -> Option<Sample> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let (cpu, rss, vsize, start) = parse(
        &read("/proc/self/stat")?,
        &read("/proc/self/status")?,
        &read("/proc/stat")?,
    )?;
    let open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    let max_fds = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(0, |(soft, _)| soft);
    Some(Sample {
        cpu_seconds: cpu,
        resident_bytes: rss,
        virtual_bytes: vsize,
        start_time_seconds: start,
        open_fds,
        max_fds,
    })
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(s) = sample() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(s.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu",
            "Total user and system CPU time spent",
            Some(&Unit::Seconds),
            cpu.metric_type(),
        )?)?;
        let gauges: [(&str, &str, Option<Unit>, f64); 5] = [
            (
                "process_resident_memory",
                "Resident memory size",
                Some(Unit::Bytes),
                s.resident_bytes as f64,
            ),
            (
                "process_virtual_memory",
                "Virtual memory size",
                Some(Unit::Bytes),
                s.virtual_bytes as f64,
            ),
            (
                "process_start_time",
                "Start time of the process since the Unix epoch",
                Some(Unit::Seconds),
                s.start_time_seconds,
            ),
            (
                "process_open_fds",
                "Open file descriptors",
                None,
                s.open_fds as f64,
            ),
            (
                "process_max_fds",
                "Most file descriptors the process may open",
                None,
                s.max_fds as f64,
            ),
        ];
        for (name, help, unit, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(
                name,
                help,
                unit.as_ref(),
                gauge.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_parse_even_with_a_strange_command_name() {
        // The command name may hold spaces and parentheses; fields are counted after it.
        let stat = "4242 (my (odd) node) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 8 0 12345 1000000 500 18446744073709551615";
        let status = "Name:\tlantau\nVmSize:\t  204800 kB\nVmRSS:\t    1024 kB\n";
        let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n";
        let (cpu, rss, vsize, start) = parse(stat, status, boot).unwrap();
        assert_eq!(cpu, 3.0, "utime 250 + stime 50 ticks");
        assert_eq!((rss, vsize), (1024 * 1024, 204800 * 1024));
        assert_eq!(start, 1_700_000_000.0 + 123.45);
        assert_eq!(parse("garbage", status, boot), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_sampled() {
        let s = sample().unwrap();
        assert!(
            s.resident_bytes > 0 && s.virtual_bytes >= s.resident_bytes,
            "{s:?}"
        );
        assert!(s.open_fds > 0 && s.max_fds >= s.open_fds, "{s:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            s.start_time_seconds <= now + 1.0 && s.start_time_seconds > now - 86_400.0,
            "{s:?}"
        );
    }
}
