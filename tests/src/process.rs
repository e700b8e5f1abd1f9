//! Host processes as the kernel sees them. Every host starts in a process group of its own,
//! because `spin up` serves through a child (`spin trigger http`): a signal to `spin up` alone
//! would leave that child serving. Signals go to the whole group.

use crate::wait::eventually;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a stopped host may take to let go of its port and its processes.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Sends `signal` to every process in group `group`.
pub fn signal_group(group: u32, signal: libc::c_int) {
    // SAFETY: kill(2) with a negative pid signals a process group; it reads no memory of ours.
    unsafe {
        libc::kill(-(group as libc::pid_t), signal);
    }
}

/// Freezes every process in `group` (SIGSTOP) and returns once each of their threads has
/// stopped. The signal is delivered asynchronously: a request sent right after `kill(2)`
/// returned once got its `200` from a board process being stopped (split mode on Spin, in a
/// clean-clone run), so a test that freezes a service waits for the freeze to be real.
pub fn freeze_group(group: u32) {
    signal_group(group, libc::SIGSTOP);
    let frozen = || {
        group_members(group)
            .iter()
            .all(|&pid| threads_stopped(pid))
            .then_some(())
    };
    assert!(
        eventually(STOP_TIMEOUT, frozen).is_some(),
        "group {group} did not stop on SIGSTOP"
    );
}

/// Whether every thread of `pid` is stopped (`T` in its stat); a process gone meanwhile counts.
fn threads_stopped(pid: u32) -> bool {
    thread_files(pid, "stat").is_none_or(|stats| {
        stats.iter().all(|stat| {
            stat.rfind(')')
                .and_then(|end| stat[end + 1..].split_whitespace().next())
                .is_some_and(|state| state == "T")
        })
    })
}

/// File `name` of each thread of `pid` (`/proc/<pid>/task/<tid>/<name>`), of those still there
/// to be read; `None` when the process is gone.
fn thread_files(pid: u32, name: &str) -> Option<Vec<String>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let files = tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join(name)).ok())
        .collect();
    Some(files)
}

/// Live (not zombie) processes whose process group is `group`.
pub fn group_members(group: u32) -> Vec<u32> {
    live_processes()
        .filter(|process| process.group == group)
        .map(|process| process.pid)
        .collect()
}

/// CPU time the processes of `group` have spent so far, summed over their threads
/// (`/proc/<pid>/task/<tid>/schedstat`, in nanoseconds). Unlike an answer's wall time, it is
/// not stretched by other processes' load on the machine: it tells what work a request cost.
pub fn cpu_time(group: u32) -> Duration {
    let nanos = group_members(group)
        .into_iter()
        .filter_map(|pid| thread_files(pid, "schedstat"))
        .flatten()
        .filter_map(|schedstat| schedstat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// Waits until no live process is left in `group` and nothing accepts connections on `addr`;
/// panics, naming what is left, when that takes longer than the stop timeout.
pub fn wait_until_gone(group: u32, addr: SocketAddr) {
    let left = || {
        let members = group_members(group);
        let listening = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok();
        (members, listening)
    };
    if eventually(STOP_TIMEOUT, || left() == (Vec::new(), false)).is_none() {
        let (members, listening) = left();
        panic!(
            "after {STOP_TIMEOUT:?}, group {group} still has {members:?}; {addr} accepting: {listening}"
        );
    }
}

/// Live processes whose command line names `path`, e.g. servers keeping their data under it.
pub fn naming(path: &std::path::Path) -> Vec<u32> {
    let path = path.display().to_string();
    live_processes()
        .filter(|process| {
            std::fs::read(format!("/proc/{}/cmdline", process.pid))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(&path))
        })
        .map(|process| process.pid)
        .collect()
}

struct Process {
    pid: u32,
    group: u32,
}

fn live_processes() -> impl Iterator<Item = Process> {
    std::fs::read_dir("/proc")
        .expect("/proc is readable")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name may hold spaces and parentheses: the fields start after the last ')'.
            let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
            let state = fields.next()?;
            let group = fields.nth(1)?.parse().ok()?;
            (state != "Z" && state != "X").then_some(Process { pid, group })
        })
}
