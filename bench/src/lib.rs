//! Shared pieces of the benchmarks: the in-process organization and StackSet (re-exported from
//! `test-support`, which the tests share), with a fixed latency per call,
//! the call lower bound and critical path of a tree, the planner's 10,000-account inputs, and
//! small output helpers. Figures are printed by `src/bin/*` and `benches/*`; `scripts/bench`
//! runs them all and splices the tables into `BENCHMARKS.md`.

pub mod cost;
pub mod tags;

pub use test_support::{Calls, CfnCalls, MemOrg, MemStackSet, Tree, CFN_PAGE, PAGE};

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use shared::core::{
    AccountId, Desired, DetailedStatus, DriftStatus, InstanceStatus, PlanPolicy, StackInstance,
};

/// The workspace root.
pub fn repo_root() -> PathBuf {
    e2e::repo_root()
}

/// Where the binaries leave their tables for `scripts/bench`.
pub fn results_dir() -> PathBuf {
    let d = repo_root().join("target/bench-results");
    std::fs::create_dir_all(&d).expect("create target/bench-results");
    d
}

/// Writes `text` to `target/bench-results/<name>` and prints it.
pub fn emit(name: &str, text: &str) {
    print!("{text}");
    std::fs::write(results_dir().join(name), text).expect("write results");
}

/// A tiny deterministic generator (no dependency needed).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// The planner's inputs at organization scale: `n` desired accounts in one region; instances
/// for 95% of them with a mix of statuses (most CURRENT; some FAILED with earlier attempts,
/// OUTDATED, drifted, RUNNING, skipped because suspended); 300 instances of accounts no longer
/// in scope.
pub fn plan_inputs(
    n: usize,
) -> (
    Desired,
    Vec<StackInstance>,
    BTreeMap<AccountId, u32>,
    PlanPolicy,
) {
    let id = |i: usize| {
        AccountId::parse(&format!("{:012}", 100_000_000_000u64 + i as u64 * 7919))
            .expect("12 digits")
    };
    let region = "us-east-1".to_owned();
    let desired = Desired {
        accounts: (0..n).map(id).collect::<BTreeSet<_>>(),
        regions: [region.clone()].into(),
    };
    let mut rng = Lcg(7);
    let mut attempts = BTreeMap::new();
    let mut instances = Vec::with_capacity(n);
    let existing = n * 95 / 100;
    for i in (0..existing).chain(n + 1000..n + 1300) {
        let roll = rng.below(1000);
        let (status, detailed, drift) = match roll {
            0..=19 => (
                InstanceStatus::Outdated,
                DetailedStatus::Failed,
                DriftStatus::NotChecked,
            ),
            20..=29 => (
                InstanceStatus::Outdated,
                DetailedStatus::Succeeded,
                DriftStatus::InSync,
            ),
            30..=39 => (
                InstanceStatus::Current,
                DetailedStatus::Succeeded,
                DriftStatus::Drifted,
            ),
            40..=44 => (
                InstanceStatus::Outdated,
                DetailedStatus::Running,
                DriftStatus::NotChecked,
            ),
            45..=69 => (
                InstanceStatus::Outdated,
                DetailedStatus::SkippedSuspendedAccount,
                DriftStatus::NotChecked,
            ),
            _ => (
                InstanceStatus::Current,
                DetailedStatus::Succeeded,
                DriftStatus::InSync,
            ),
        };
        if detailed == DetailedStatus::Failed {
            attempts.insert(id(i), rng.below(5) as u32);
        }
        instances.push(StackInstance {
            account: id(i),
            region: region.clone(),
            status,
            detailed,
            status_reason: (detailed == DetailedStatus::Failed)
                .then(|| "ResourceLogicalId:PortIntegrationRole, ResourceStatusReason: Role already exists".into()),
            drift,
            ou: Some(format!("ou-abcd-{:08}", i % 1000)),
        });
    }
    (desired, instances, attempts, PlanPolicy::default())
}

/// `(ratio, verdict)` of a figure against a target where lower is better.
pub fn verdict(measured: f64, target: f64) -> (String, &'static str) {
    let ratio = measured / target;
    (
        format!("{ratio:.2}"),
        if measured <= target { "met" } else { "MISSED" },
    )
}

/// The median of some durations, in milliseconds.
pub fn median_ms(v: &mut [Duration]) -> f64 {
    v.sort();
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let mid = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    };
    mid.as_secs_f64() * 1e3
}

/// One line about the machine and its load, for the tables.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cores} cores, {cpu}, load average {}", load())
}

/// `/proc/loadavg`'s first three fields.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Runs a command to completion and returns (exit status, wall time, peak RSS in KiB, stdout).
///
/// The peak RSS is `ru_maxrss` from `wait4`, taken by a small helper process (this binary
/// re-executed with `--rss-of`, see [`rss_helper`]) rather than by the caller: Linux carries
/// the high-water RSS of the address space a process replaces at `exec` into its `maxrss`, and
/// a child spawned by a big process (vfork/posix_spawn share its memory) would report the
/// parent's peak instead of its own.
pub fn run_measured(
    cmd: &mut std::process::Command,
) -> std::io::Result<(i32, Duration, u64, Vec<u8>)> {
    use std::io::Read;
    let me = std::env::current_exe()?;
    let mut wrapped = std::process::Command::new(me);
    wrapped
        .arg("--rss-of")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    let start = std::time::Instant::now();
    let mut child = wrapped
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut out = Vec::new();
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t = std::thread::spawn(move || {
        let mut err = Vec::new();
        let _ = se.read_to_end(&mut err);
        err
    });
    so.read_to_end(&mut out)?;
    let err = String::from_utf8_lossy(&t.join().unwrap_or_default()).into_owned();
    let status = child.wait()?;
    let wall = start.elapsed();
    let code = status.code().unwrap_or(-1);
    if code != 0 {
        eprintln!("{err}");
    }
    let rss = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("BENCH_MAXRSS_KIB "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    Ok((code, wall, rss, out))
}

/// The `--rss-of PROGRAM ARGS...` mode of a bench binary: runs the program (same stdio and
/// environment), waits for it with `wait4`, prints `BENCH_MAXRSS_KIB <n>` on stderr and
/// returns its exit code. Returns `None` when the process was not started in this mode. Call
/// it first thing in `main`.
pub fn rss_helper() -> Option<i32> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).map(|a| a == "--rss-of") != Some(true) {
        return None;
    }
    // Reaped below by `wait4`, which std cannot do (it would discard the rusage).
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new(&args[2])
        .args(&args[3..])
        .spawn()
        .expect("spawn the measured program");
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; wait4 fills it for the child we spawned and have not
    // waited for (std's Child is never waited on here, so it does not reap it first).
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert!(r == pid, "wait4: {}", std::io::Error::last_os_error());
    // Linux reports ru_maxrss in KiB.
    eprintln!("BENCH_MAXRSS_KIB {}", ru.ru_maxrss);
    Some(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    })
}
