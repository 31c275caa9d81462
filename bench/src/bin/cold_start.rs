//! Cold start of each release function binary: process spawn to its first
//! `GET /2018-06-01/runtime/invocation/next` on a local Lambda runtime API stub, 20 runs each,
//! median. Also the zipped bootstrap size (deflate, as `sam build` / `cargo lambda` would
//! ship it).
//!
//! Needs `cargo build --release -p custom-resource -p org-events`. Run:
//! `cargo run --release -p bench --bin cold_start`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use bench::{emit, load, machine, median_ms, verdict};
use e2e::lambda::LambdaStub;

const RUNS: usize = 20;
const INIT_TARGET_MS: f64 = 30.0;
const ZIP_TARGET_MB: f64 = 8.0;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let load_before = load();
    let release = bench::repo_root().join("target/release");
    let common: Vec<(&str, String)> = vec![
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        // Nothing is invoked: the endpoint is never reached.
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9".into()),
    ];
    let mut org_events_env = common.clone();
    org_events_env.extend([
        (
            "TARGET_OU_IDS",
            "ou-abcd-12345678,ou-abcd-87654321".to_owned(),
        ),
        ("ACCOUNT_SCOPE", "DIFFERENCE".into()),
        ("TARGET_ACCOUNT_IDS", "123456789012,098765432109".into()),
        ("STACK_SET_NAME", "Port-Integration-v3".into()),
        ("STACK_SET_REGIONS", "us-east-1,eu-west-1".into()),
    ]);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### Cold start and bootstrap size\n\nCommand: `cargo run --release -p bench --bin cold_start` \
         (after `cargo build --release -p custom-resource -p org-events`). Machine: {}. \
         Init time = spawn of the release binary to its first `GET /2018-06-01/runtime/invocation/next` \
         on `e2e::lambda::LambdaStub` (a local Lambda runtime API), {RUNS} runs each, one after \
         another; the first run of each is included (the page cache is warm after the build). \
         Zipped size = the binary stored as `bootstrap` in a deflate zip (Python's `zipfile`, \
         level 9). **The binaries are x86_64**, the machine's own: an arm64 binary would not run here. \
         The arm64 bootstraps Lambda runs are built and zipped by the release check \
         (`tests/release/check`, table \"Release build (issue 13)\"), which gives their sizes.\n\n\
         | function | init median | min | max | target | ratio | verdict | binary | zipped | zip target | ratio | verdict |\n\
         |---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
        machine()
    );
    for (name, env) in [
        ("custom-resource", common.clone()),
        ("org-events", org_events_env),
    ] {
        let bin = release.join(name);
        assert!(
            bin.exists(),
            "{} is missing: run `cargo build --release -p custom-resource -p org-events`",
            bin.display()
        );
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            times.push(init_time(&bin, &env).await);
        }
        let min = times.iter().min().copied().unwrap_or_default();
        let max = times.iter().max().copied().unwrap_or_default();
        let med = median_ms(&mut times);
        let (r1, v1) = verdict(med, INIT_TARGET_MS);
        let raw = std::fs::metadata(&bin).expect("binary").len();
        let zipped = zipped_size(&bin);
        let mb = |b: u64| b as f64 / 1_000_000.0;
        let (r2, v2) = verdict(mb(zipped), ZIP_TARGET_MB);
        let _ = writeln!(
            s,
            "| {name} | {med:.1} ms | {:.1} ms | {:.1} ms | {INIT_TARGET_MS:.0} ms | {r1} | {v1} | {:.2} MB | {:.2} MB | {ZIP_TARGET_MB:.0} MB | {r2} | {v2} |",
            min.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3,
            mb(raw),
            mb(zipped),
        );
    }
    let _ = writeln!(
        s,
        "\nLoad average before {load_before}, after {} (other builds share the 2 cores: the \
         maximum is the figure most exposed to them).\n",
        load()
    );
    emit("cold_start.md", &s);
}

async fn init_time(bin: &Path, env: &[(&str, String)]) -> Duration {
    let stub = LambdaStub::start(Duration::from_secs(60)).await;
    let start = Instant::now();
    let mut child = stub.spawn(bin, env);
    let deadline = start + Duration::from_secs(10);
    let first = loop {
        if let Some(t) = stub.first_next() {
            break t;
        }
        if let Some(err) = stub.init_error() {
            panic!("{} failed to start: {err}", bin.display());
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("{} exited during init: {st}", bin.display());
        }
        assert!(Instant::now() < deadline, "no /next within 10 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let _ = child.kill().await;
    first.saturating_duration_since(start)
}

fn zipped_size(bin: &Path) -> u64 {
    let out = std::env::temp_dir().join(format!("bootstrap-{}.zip", std::process::id()));
    let script = "import sys, zipfile\n\
                  with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:\n\
                  \x20   z.write(sys.argv[1], 'bootstrap')\n";
    let st = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(bin)
        .arg(&out)
        .status()
        .expect("python3");
    assert!(st.success(), "zipping failed");
    let n = std::fs::metadata(&out).expect("zip").len();
    let _ = std::fs::remove_file(&out);
    n
}
