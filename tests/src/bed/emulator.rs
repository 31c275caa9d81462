//! One emulator per test, started the cheap way: a fork of a warmed emulator process (the
//! "zygote", `tests/emulator/server.py --zygote`), started once per test binary. A fork is a
//! copy of a process that has imported moto and warmed it, taken before any request reached
//! it: each test gets a fresh, private emulator, as a new process would give it, in about
//! 20 ms instead of about 3 CPU seconds of imports. `E2E_EMULATOR=process` starts a new
//! process per test instead (the way to rule the fork out when a test misbehaves).

use std::io::{BufRead, BufReader as StdBufReader};
use std::path::PathBuf;
use std::process::{Child as StdChild, ChildStdin, Command as StdCommand, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::repo_root;

/// The setting that chooses how emulators start: `fork` (the default) or `process`.
pub const EMULATOR_VAR: &str = "E2E_EMULATOR";

/// A running emulator, stopped when dropped.
pub(crate) enum Emulator {
    /// Its own process (killed on drop).
    Process(Child),
    /// A fork of the zygote, which lives while this connection is open.
    Forked(Option<TcpStream>),
}

/// The zygote of this test binary: its address, and the pipe whose end (when the test
/// process exits) tells it to exit.
struct Zygote {
    addr: String,
    _child: StdChild,
    _stdin: ChildStdin,
}

fn python() -> PathBuf {
    let python = repo_root().join(".venv/emulator/bin/python");
    assert!(
        python.exists(),
        "the emulator is not installed: run tests/emulator/setup (scripts/test does)"
    );
    python
}

fn zygote() -> &'static Zygote {
    static ZYGOTE: OnceLock<Zygote> = OnceLock::new();
    ZYGOTE.get_or_init(|| {
        let mut child = StdCommand::new(python())
            .arg(repo_root().join("tests/emulator/server.py"))
            .args(["--zygote", "--quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the emulator zygote");
        let stdin = child.stdin.take().expect("stdin");
        let mut line = String::new();
        StdBufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the zygote's stdout");
        let addr = line
            .strip_prefix("ZYGOTE ")
            .unwrap_or_else(|| panic!("the emulator zygote did not start: {line:?}"))
            .trim()
            .to_owned();
        Zygote {
            addr,
            _child: child,
            _stdin: stdin,
        }
    })
}

impl Emulator {
    /// Starts one; returns it with its endpoint (`http://127.0.0.1:PORT`).
    pub(crate) async fn start() -> (Self, String) {
        match std::env::var(EMULATOR_VAR).as_deref() {
            Ok("process") => Self::process().await,
            Ok("fork") | Err(_) => Self::fork().await,
            Ok(other) => panic!("{EMULATOR_VAR}={other}: use fork (the default) or process"),
        }
    }

    async fn fork() -> (Self, String) {
        let addr = tokio::task::spawn_blocking(|| zygote().addr.clone())
            .await
            .expect("the zygote");
        let stream = TcpStream::connect(&addr)
            .await
            .expect("connect to the emulator zygote");
        let mut lines = BufReader::new(stream);
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(60), lines.read_line(&mut line))
            .await
            .expect("the forked emulator did not answer within 60 s")
            .expect("read the forked emulator's endpoint");
        let endpoint = endpoint_of(&line);
        (Self::Forked(Some(lines.into_inner())), endpoint)
    }

    async fn process() -> (Self, String) {
        let mut child = Command::new(python())
            .arg(repo_root().join("tests/emulator/server.py"))
            .args(["--port", "0", "--quiet"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start emulator");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("emulator did not start within 60 s")
            .expect("read emulator stdout")
            .expect("emulator exited before announcing its endpoint");
        // Keep draining stdout so the pipe never fills.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        (Self::Process(child), endpoint_of(&line))
    }

    /// Stops it now, as a crash would; returns once its port refuses connections.
    pub(crate) async fn kill(&mut self, endpoint: &str) {
        match self {
            Self::Process(child) => {
                let _ = child.kill().await;
            }
            Self::Forked(conn) => {
                drop(conn.take());
                let addr = endpoint.trim_start_matches("http://").to_owned();
                for _ in 0..500 {
                    if TcpStream::connect(&addr).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!(
                    "the forked emulator at {addr} still accepts connections 5 s after its kill"
                );
            }
        }
    }
}

fn endpoint_of(line: &str) -> String {
    line.strip_prefix("ENDPOINT ")
        .unwrap_or_else(|| panic!("unexpected first line from the emulator: {line:?}"))
        .trim()
        .to_owned()
}
