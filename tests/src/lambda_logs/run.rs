//! A function binary running under the Lambda stub: what it printed, what of that CloudWatch
//! Logs receives, and the metrics CloudWatch extracts from it.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use shared::metrics::{check_emf, Emitted};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::task::JoinHandle;

use super::{Level, LoggingConfig, TemplateFunction};

/// A function binary running under the Lambda stub, its output collected.
pub struct RunningFunction {
    pub child: Child,
    printed: Arc<Mutex<Vec<String>>>,
    drains: Vec<JoinHandle<()>>,
    logging: LoggingConfig,
}

impl RunningFunction {
    pub(crate) fn new(mut child: Child, logging: LoggingConfig) -> Self {
        let printed: Arc<Mutex<Vec<String>>> = Arc::default();
        let mut drains = Vec::new();
        if let Some(out) = child.stdout.take() {
            drains.push(drain(out, printed.clone()));
        }
        if let Some(err) = child.stderr.take() {
            drains.push(drain(err, printed.clone()));
        }
        Self {
            child,
            printed,
            drains,
            logging,
        }
    }

    /// Ends the function and returns everything it printed (stdout and stderr, each in its
    /// order): the pipes are read to their end, so no line is missing.
    pub async fn stop(mut self) -> FunctionLogs {
        let _ = self.child.kill().await;
        for d in self.drains.drain(..) {
            let _ = d.await;
        }
        let printed = std::mem::take(&mut *self.printed.lock().unwrap());
        FunctionLogs {
            printed,
            logging: self.logging.clone(),
        }
    }
}

fn drain(
    r: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            into.lock().unwrap().push(l);
        }
    })
}

/// What a function printed, and the filter Lambda applies to it.
#[derive(Debug, Clone)]
pub struct FunctionLogs {
    pub printed: Vec<String>,
    pub logging: LoggingConfig,
}

impl FunctionLogs {
    /// The lines CloudWatch Logs receives, in order.
    pub fn cloudwatch(&self) -> Vec<&str> {
        self.received_under(&self.logging)
    }

    /// The lines CloudWatch Logs would receive under another configuration.
    pub fn received_under(&self, logging: &LoggingConfig) -> Vec<&str> {
        self.printed
            .iter()
            .map(String::as_str)
            .filter(|l| logging.keeps(l))
            .collect()
    }

    /// The metrics CloudWatch extracts: each received line that is an Embedded Metric Format
    /// object (it has `_aws`), checked against the EMF rules (panics naming a bad line).
    pub fn metrics(&self) -> Vec<Vec<Emitted>> {
        metric_lines(&self.cloudwatch())
    }

    /// What a run at `LOG_LEVEL` = `log_level` must show: the function wrote none of its own
    /// lines below that level; at INFO and DEBUG, lines of that level reach CloudWatch; and
    /// under the template's old filter (`ApplicationLogLevel` = `LogLevel`) the metrics line
    /// would be lost exactly at WARN and ERROR (the runner can tell).
    pub fn assert_filtered_at(&self, log_level: &str) {
        let min = Level::parse(log_level).unwrap_or_else(|| panic!("no level {log_level}"));
        let written = self.levels_printed();
        assert!(
            written.iter().all(|l| *l >= min),
            "{log_level}: {written:?}"
        );
        if min <= Level::Info {
            assert!(
                self.cloudwatch()
                    .iter()
                    .any(|l| LoggingConfig::level_of(l) == min),
                "{log_level}: {:#?}",
                self.printed
            );
        }
        let old = LoggingConfig {
            application: Some(min),
            ..self.logging.clone()
        };
        assert_eq!(
            metric_lines(&self.received_under(&old)).is_empty(),
            min > Level::Info,
            "{log_level}"
        );
    }

    /// The `level` each of the function's own JSON lines was written at, as it printed them
    /// (before Lambda's filter).
    pub fn levels_printed(&self) -> Vec<Level> {
        self.printed
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| {
                v.get("level")
                    .and_then(Value::as_str)
                    .and_then(Level::parse)
            })
            .collect()
    }
}

/// The EMF lines among `lines`, checked.
pub fn metric_lines(lines: &[&str]) -> Vec<Vec<Emitted>> {
    lines
        .iter()
        .filter(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .is_some_and(|v| v.get("_aws").is_some())
        })
        .map(|l| check_emf(l).unwrap_or_else(|e| panic!("not valid EMF ({e}): {l}")))
        .collect()
}

/// What CloudWatch receives of one metrics line a handler returned (tests that call the
/// handler in process): the line through `function`'s filter at `LogLevel` = `log_level`.
/// `None` when Lambda drops it.
pub fn received_metrics(function: &str, log_level: &str, line: &str) -> Option<Vec<Emitted>> {
    let f = TemplateFunction::load(function, &[("LogLevel", log_level)])
        .unwrap_or_else(|e| panic!("{e}"));
    metric_lines(&[line])
        .into_iter()
        .next()
        .filter(|_| f.logging.keeps(line))
}
