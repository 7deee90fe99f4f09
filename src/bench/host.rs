//! The host's side of a stretch of device work (`bench supernet`'s account of a training step):
//! the CPU time of each thread of the process, by name (Linux `/proc/self/task`), with the thread
//! that drives the device told apart, and the device memory the runtime reserved meanwhile.
//!
//! A step that is slow for reasons other than kernel work shows here: time on the driving thread
//! that is not the device's, CubeCL's device thread (`DS...`) busy or spinning, other threads
//! touching the device, new device memory reserved in a steady state.

use std::collections::BTreeMap;

use serde::Serialize;

/// CPU time of every thread of the process at one moment: ticks (1/100 s) by thread id.
#[derive(Clone, Debug, Default)]
pub struct ThreadClock {
    ticks: BTreeMap<u32, (String, u64)>,
    /// The thread that took the snapshot: the one driving the device.
    driver: Option<u32>,
}

/// One group of threads (same name) over the timed steps.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ThreadTime {
    /// The thread's name (`comm`); `driver` for the thread that ran the steps.
    pub name: String,
    pub threads: usize,
    /// User + system CPU milliseconds per step, all threads of the group together.
    pub cpu_ms_per_step: f64,
}

impl ThreadClock {
    /// Every thread's CPU time now (empty off Linux).
    pub fn now() -> ThreadClock {
        let mut ticks = BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
            for tid in dir.flatten().filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()) {
                if let Some(t) = thread_ticks(tid) {
                    ticks.insert(tid, t);
                }
            }
        }
        ThreadClock { ticks, driver: current_tid() }
    }

    /// CPU time per step of each group of threads since `start`, largest first: threads that
    /// ended meanwhile are missing, threads started meanwhile count from zero.
    pub fn since(&self, start: &ThreadClock, steps: usize) -> Vec<ThreadTime> {
        let mut groups: BTreeMap<String, (usize, u64)> = BTreeMap::new();
        for (tid, (name, end)) in &self.ticks {
            let begin = start.ticks.get(tid).map_or(0, |t| t.1);
            let name = if Some(*tid) == start.driver { "driver".to_string() } else { group_name(name) };
            let g = groups.entry(name).or_default();
            g.0 += 1;
            g.1 += end.saturating_sub(begin);
        }
        let mut rows: Vec<ThreadTime> = groups
            .into_iter()
            .map(|(name, (threads, ticks))| ThreadTime {
                name,
                threads,
                cpu_ms_per_step: ticks as f64 * 10.0 / steps.max(1) as f64,
            })
            .collect();
        rows.sort_by(|a, b| b.cpu_ms_per_step.total_cmp(&a.cpu_ms_per_step).then(a.name.cmp(&b.name)));
        rows
    }
}

/// Threads of one pool share a name but for a number (`llvmpipe-0`, `rayon-3`): one group.
fn group_name(comm: &str) -> String {
    comm.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == ':').to_string()
}

/// A thread's name and user + system ticks (`/proc/self/task/TID/stat` fields 14 and 15).
fn thread_ticks(tid: u32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let name = stat[open + 1..close].to_string();
    let mut f = stat[close + 2..].split_whitespace().skip(11);
    let (user, system): (u64, u64) = (f.next()?.parse().ok()?, f.next()?.parse().ok()?);
    Some((name, user + system))
}

fn current_tid() -> Option<u32> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: gettid has no preconditions.
    return u32::try_from(unsafe { libc::gettid() }).ok();
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_group_by_name_and_the_driver_stands_apart() {
        assert_eq!(group_name("llvmpipe-12"), "llvmpipe");
        assert_eq!(group_name("DSD-4-0"), "DSD");
        assert_eq!(group_name("lightnasc"), "lightnasc");
        let clock = |driver, rows: &[(u32, &str, u64)]| ThreadClock {
            ticks: rows.iter().map(|&(t, n, v)| (t, (n.to_string(), v))).collect(),
            driver: Some(driver),
        };
        let start = clock(1, &[(1, "lightnasc", 100), (2, "rayon-0", 10), (3, "rayon-1", 20)]);
        // Thread 3 ended, thread 4 started: 4 counts from zero.
        let end = clock(1, &[(1, "lightnasc", 160), (2, "rayon-0", 30), (4, "rayon-2", 2)]);
        let rows = end.since(&start, 2);
        let want = [("driver", 1, 300.0), ("rayon", 2, 110.0)];
        assert_eq!(rows.len(), want.len());
        for (r, (name, threads, ms)) in rows.iter().zip(want) {
            assert_eq!((r.name.as_str(), r.threads), (name, threads));
            assert!((r.cpu_ms_per_step - ms).abs() < 1e-9, "{r:?}");
        }
    }

    #[test]
    fn this_thread_is_found_and_its_time_grows() {
        let start = ThreadClock::now();
        if start.driver.is_none() || start.ticks.is_empty() {
            return; // not Linux
        }
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed().as_millis() < 60 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let rows = ThreadClock::now().since(&start, 1);
        let driver = rows.iter().find(|r| r.name == "driver").expect("the calling thread");
        assert!(driver.cpu_ms_per_step >= 20.0, "{rows:?}");
    }
}
