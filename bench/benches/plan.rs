//! The reconcile planner at 10,000 accounts: 10,000 desired, 9,500 existing instances with a
//! mix of statuses, 300 out of scope (see `bench::plan_inputs`). Measured twice: wall time
//! (criterion's default) and this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), which other
//! processes on a busy machine do not inflate. Target: under 5 ms.
//!
//! Run: `cargo bench -p bench --bench plan`; `cargo run --release -p bench --bin plan_figures`
//! then prints the table (and an instruction count from callgrind when valgrind is installed).

use std::hint::black_box;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shared::core::plan;

const N: usize = 10_000;

fn bench<M: Measurement>(c: &mut Criterion<M>, group: &str) {
    let (desired, instances, attempts, policy) = bench::plan_inputs(N);
    let p = plan(&desired, &instances, &attempts, &policy);
    assert!(!p.is_noop() && !p.create.is_empty() && !p.delete.is_empty());
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(N as u64));
    g.bench_with_input(BenchmarkId::from_parameter(N), &N, |b, _| {
        b.iter(|| {
            plan(
                black_box(&desired),
                black_box(&instances),
                black_box(&attempts),
                black_box(&policy),
            )
        })
    });
    g.finish();
}

fn wall(c: &mut Criterion) {
    bench(c, "plan_wall");
}

fn cpu(c: &mut Criterion<ThreadCpu>) {
    bench(c, "plan_cpu");
}

/// CPU time of the benchmarking thread, in nanoseconds.
struct ThreadCpu;

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, i: u64) -> u64 {
        thread_cpu_ns().saturating_sub(i)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, typical_ns: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if typical_ns < 1e3 {
            (1.0, "ns cpu")
        } else if typical_ns < 1e6 {
            (1e-3, "µs cpu")
        } else {
            (1e-6, "ms cpu")
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }

    fn scale_throughputs(
        &self,
        typical_ns: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let n = match *throughput {
            Throughput::Elements(n) | Throughput::ElementsAndBytes { elements: n, .. } => n,
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => n,
            Throughput::Bits(n) => n,
        } as f64;
        let _ = typical_ns;
        values.iter_mut().for_each(|v| *v = n * 1e9 / *v);
        "elem/s cpu"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

criterion_group!(wall_group, wall);
criterion_group! {
    name = cpu_group;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = cpu
}
criterion_main!(wall_group, cpu_group);
