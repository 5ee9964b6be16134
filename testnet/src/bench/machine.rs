//! What the machine is (CPU, its instruction sets, cores, memory, kernel) and which build ran:
//! the `machine.txt` of every run.

use std::path::Path;

/// The machine and the `lantau` build at `binary` (its `--version`: version, commit, rustc).
pub fn machine_description(binary: &Path) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split(':').nth(1))
        })
        .map_or("unknown".into(), |m| m.trim().to_string());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or("unknown".into(), |k| k.trim().to_string());
    // The build that runs the validators, not whatever the working directory holds.
    let build = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".into(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        });
    // The instruction sets the verification path can use.
    let flags = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .map(|l| {
            l.split_whitespace()
                .filter(|f| {
                    [
                        "avx2",
                        "avx512f",
                        "avx512ifma",
                        "bmi2",
                        "adx",
                        "sha_ni",
                        "aes",
                    ]
                    .contains(f)
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".into());
    format!(
        "cpu = {model:?}\ncpu_flags = {flags:?}\ncores = {}\nmemory = {memory:?}\nkernel = {kernel:?}\nlantau = {build:?}\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    )
}
