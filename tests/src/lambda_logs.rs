//! What CloudWatch Logs receives from a function: Lambda's log-level filter, configured from
//! the function's `LoggingConfig` in template.yaml (never from a constant kept here), applied
//! to every line the real binary prints. `LambdaStub::spawn_from_template` runs a binary with
//! the environment Lambda would give it; `RunningFunction::stop` returns what it printed and
//! what of that reaches CloudWatch.
//!
//! Lambda's rules, as the AWS Lambda developer guide states them ("Log-level filtering",
//! "Configuring JSON and plain text log formats") and the API reference (`LoggingConfig`):
//! - Log levels, most detail first: TRACE, DEBUG, INFO, WARN, ERROR, FATAL; Lambda sends an
//!   application log line "at the selected level of detail and lower".
//! - Filtering needs `LogFormat: JSON` ("To use log-level filtering, your function must be
//!   configured to use the JSON log format"); with `Text` nothing is filtered, and a level set
//!   with `Text` is refused here.
//! - A custom runtime's line is read as a JSON object with a `level` key; "If the "level"
//!   value field is invalid or missing, Lambda will assign the log output the level INFO". A
//!   line that is not a JSON object has no `level` field: INFO too.
//! - "If you don't supply a valid timestamp [RFC 3339], Lambda will assign the log the level
//!   INFO": a line's own level counts only with a valid `timestamp`.
//! - `SystemLogLevel` filters Lambda's own platform lines (DEBUG, INFO, WARN); the runner
//!   writes none, so it only checks the value.
//! - Lambda gives the function `AWS_LAMBDA_LOG_FORMAT` and `AWS_LAMBDA_LOG_LEVEL` from
//!   `LogFormat` and `ApplicationLogLevel`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use shared::metrics::{check_emf, Emitted};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::task::JoinHandle;

/// Lambda's application log levels, most detail first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    pub const ALL: [Level; 6] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
        Level::Fatal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }

    /// A line's `level` value; the guide's own example writes `"debug"`, so any case.
    pub fn parse(value: &str) -> Option<Level> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(value.trim()))
    }
}

/// `LoggingConfig.LogFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// A function's `LoggingConfig`, as Lambda applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggingConfig {
    pub format: LogFormat,
    /// `ApplicationLogLevel`; `None`: not set, nothing is filtered (the guide documents no
    /// default; template.yaml sets it for both functions).
    pub application: Option<Level>,
    /// `SystemLogLevel` (DEBUG, INFO or WARN).
    pub system: Option<Level>,
}

impl LoggingConfig {
    /// From the template's evaluated `LoggingConfig` (`{"LogFormat": "JSON", ...}`). A value
    /// Lambda does not take is refused, naming it and the values it takes.
    pub fn from_template(v: &Value) -> Result<Self, String> {
        let text = |key: &str| -> Result<Option<String>, String> {
            match v.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(format!(
                    "LoggingConfig.{key}: `{other}` is not a string (did an intrinsic function stay unresolved?)"
                )),
            }
        };
        let format = match text("LogFormat")?.as_deref() {
            None | Some("Text") => LogFormat::Text,
            Some("JSON") => LogFormat::Json,
            Some(other) => {
                return Err(format!(
                "LoggingConfig.LogFormat: `{other}` is not a log format; Lambda takes JSON or Text"
            ))
            }
        };
        let level = |key: &str, allowed: &[Level]| -> Result<Option<Level>, String> {
            let Some(value) = text(key)? else {
                return Ok(None);
            };
            let names: Vec<&str> = allowed.iter().map(|l| l.as_str()).collect();
            let level = allowed
                .iter()
                .copied()
                .find(|l| l.as_str() == value)
                .ok_or_else(|| {
                    format!(
                        "LoggingConfig.{key}: `{value}` is not a level; Lambda takes {}",
                        names.join(", ")
                    )
                })?;
            if format == LogFormat::Text {
                return Err(format!(
                    "LoggingConfig.{key}: `{value}` needs LogFormat JSON: Lambda filters by level only JSON logs"
                ));
            }
            Ok(Some(level))
        };
        Ok(Self {
            format,
            application: level("ApplicationLogLevel", &Level::ALL)?,
            system: level("SystemLogLevel", &[Level::Debug, Level::Info, Level::Warn])?,
        })
    }

    /// The level Lambda gives one line the function printed (module documentation).
    pub fn level_of(line: &str) -> Level {
        let Ok(Value::Object(o)) = serde_json::from_str::<Value>(line.trim()) else {
            return Level::Info;
        };
        let stamped = o
            .get("timestamp")
            .and_then(Value::as_str)
            .is_some_and(is_rfc3339);
        match o
            .get("level")
            .and_then(Value::as_str)
            .and_then(Level::parse)
        {
            Some(level) if stamped => level,
            _ => Level::Info,
        }
    }

    /// Whether Lambda sends this line to CloudWatch Logs.
    pub fn keeps(&self, line: &str) -> bool {
        match (self.format, self.application) {
            (LogFormat::Json, Some(min)) => Self::level_of(line) >= min,
            _ => true,
        }
    }

    /// The variables Lambda sets from this configuration.
    pub fn lambda_env(&self) -> Vec<(String, String)> {
        let mut env = vec![(
            "AWS_LAMBDA_LOG_FORMAT".to_owned(),
            match self.format {
                LogFormat::Json => "JSON",
                LogFormat::Text => "Text",
            }
            .to_owned(),
        )];
        if let Some(l) = self.application {
            env.push(("AWS_LAMBDA_LOG_LEVEL".into(), l.as_str().into()));
        }
        env
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` (RFC 3339, section 5.6).
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| -> Option<u32> {
        let part = b.get(from..from + n)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(part).ok()?.parse().ok())?
    };
    let field =
        |from: usize, n: usize, lo: u32, hi: u32| digits(from, n).filter(|v| (lo..=hi).contains(v));
    let date_time = field(0, 4, 0, 9999).is_some()
        && b.get(4) == Some(&b'-')
        && field(5, 2, 1, 12).is_some()
        && b.get(7) == Some(&b'-')
        && field(8, 2, 1, 31).is_some()
        && matches!(b.get(10), Some(b'T' | b't'))
        && field(11, 2, 0, 23).is_some()
        && b.get(13) == Some(&b':')
        && field(14, 2, 0, 59).is_some()
        && b.get(16) == Some(&b':')
        && field(17, 2, 0, 60).is_some();
    if !date_time {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            field(i + 1, 2, 0, 23).is_some()
                && b.get(i + 3) == Some(&b':')
                && field(i + 4, 2, 0, 59).is_some()
                && i + 6 == b.len()
        }
        _ => false,
    }
}

/// One function of template.yaml as Lambda configures it for given parameter values.
#[derive(Debug, Clone)]
pub struct TemplateFunction {
    pub logical_id: String,
    pub logging: LoggingConfig,
    /// `Environment.Variables`, evaluated.
    pub variables: Vec<(String, String)>,
}

impl TemplateFunction {
    /// Reads `logical_id` (`CustomResourceFunction`, `OrgEventsFunction`) from template.yaml
    /// with these parameter values (the others at their defaults), through
    /// `tests/template/function_config.py` (the template tests' evaluator of intrinsic
    /// functions). A value the parameter does not allow is an error naming it.
    pub fn load(logical_id: &str, params: &[(&str, &str)]) -> Result<Self, String> {
        static CACHE: OnceLock<Mutex<HashMap<String, TemplateFunction>>> = OnceLock::new();
        let key = format!("{logical_id} {params:?}");
        let cache = CACHE.get_or_init(Default::default);
        if let Some(f) = cache.lock().unwrap().get(&key) {
            return Ok(f.clone());
        }
        let root = crate::repo_root();
        let python = root.join(".venv/emulator/bin/python");
        if !python.exists() {
            return Err(format!(
                "{} is missing: run tests/emulator/setup (scripts/test does)",
                python.display()
            ));
        }
        let out = std::process::Command::new(python)
            .arg(root.join("tests/template/function_config.py"))
            .arg(logical_id)
            .args(params.iter().map(|(k, v)| format!("{k}={v}")))
            .output()
            .map_err(|e| format!("running tests/template/function_config.py: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        let v: Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("function_config.py printed no JSON: {e}"))?;
        let logging = LoggingConfig::from_template(&v["LoggingConfig"])
            .map_err(|e| format!("{logical_id}: {e}"))?;
        let variables = v["Variables"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let f = TemplateFunction {
            logical_id: logical_id.to_owned(),
            logging,
            variables,
        };
        cache.lock().unwrap().insert(key, f.clone());
        Ok(f)
    }

    /// The environment Lambda gives the function: the template's variables, then the ones
    /// Lambda sets from `LoggingConfig`.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = self.variables.clone();
        env.extend(self.logging.lambda_env());
        env
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_at(level: Level) -> LoggingConfig {
        LoggingConfig {
            format: LogFormat::Json,
            application: Some(level),
            system: Some(Level::Warn),
        }
    }

    const STAMP: &str = "2024-11-02T16:51:31.587199Z";

    #[test]
    fn the_guides_example_line_is_debug_and_passes_only_at_debug_or_trace() {
        // The guide's example, as printed to stdout.
        let line = r#"{"level": "debug", "msg": "my debug log", "timestamp": "2024-11-02T16:51:31.587199Z"}"#;
        assert_eq!(LoggingConfig::level_of(line), Level::Debug);
        assert!(json_at(Level::Trace).keeps(line) && json_at(Level::Debug).keeps(line));
        assert!(!json_at(Level::Info).keeps(line));
    }

    #[test]
    fn a_line_without_a_level_is_info_so_warn_and_error_drop_it() {
        // An EMF metrics line has no level: what the filter did to the metrics at WARN/ERROR.
        let emf = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]},"AccountsFailed":0}"#;
        assert_eq!(LoggingConfig::level_of(emf), Level::Info);
        assert!(json_at(Level::Info).keeps(emf) && json_at(Level::Debug).keeps(emf));
        assert!(!json_at(Level::Warn).keeps(emf));
        assert!(!json_at(Level::Error).keeps(emf));
        // Not JSON at all: no level field either.
        assert_eq!(
            LoggingConfig::level_of("org-events: invalid configuration"),
            Level::Info
        );
        assert!(!json_at(Level::Error).keeps("org-events: invalid configuration"));
    }

    #[test]
    fn an_invalid_level_or_a_missing_timestamp_counts_as_info() {
        let with = |level: &str, ts: Option<&str>| {
            let mut v = json!({"level": level, "fields": {"message": "m"}});
            if let Some(ts) = ts {
                v["timestamp"] = json!(ts);
            }
            v.to_string()
        };
        assert_eq!(
            LoggingConfig::level_of(&with("ERROR", Some(STAMP))),
            Level::Error
        );
        assert_eq!(
            LoggingConfig::level_of(&with("Warn", Some("2024-11-02T16:51:31+01:00"))),
            Level::Warn
        );
        assert_eq!(
            LoggingConfig::level_of(&with("VERBOSE", Some(STAMP))),
            Level::Info
        );
        assert_eq!(LoggingConfig::level_of(&with("ERROR", None)), Level::Info);
        assert_eq!(
            LoggingConfig::level_of(&with("ERROR", Some("yesterday"))),
            Level::Info
        );
        assert_eq!(
            LoggingConfig::level_of(&with("ERROR", Some("2024-13-02T16:51:31Z"))),
            Level::Info
        );
        // So at ERROR an error line without its timestamp is dropped, one with it is kept.
        assert!(!json_at(Level::Error).keeps(&with("ERROR", None)));
        assert!(json_at(Level::Error).keeps(&with("ERROR", Some(STAMP))));
        assert!(json_at(Level::Error).keeps(&with("FATAL", Some(STAMP))));
    }

    #[test]
    fn text_logs_are_not_filtered_and_a_level_with_text_is_refused() {
        let text = LoggingConfig::from_template(&json!({"LogFormat": "Text"})).unwrap();
        assert!(text.keeps(r#"{"level":"DEBUG","timestamp":"2024-11-02T16:51:31Z"}"#));
        assert_eq!(
            text.lambda_env(),
            vec![("AWS_LAMBDA_LOG_FORMAT".into(), "Text".into())]
        );
        let e = LoggingConfig::from_template(
            &json!({"LogFormat": "Text", "ApplicationLogLevel": "WARN"}),
        )
        .unwrap_err();
        assert!(
            e.contains("ApplicationLogLevel: `WARN` needs LogFormat JSON"),
            "{e}"
        );
    }

    #[test]
    fn values_lambda_does_not_take_are_refused_naming_them() {
        let e = LoggingConfig::from_template(
            &json!({"LogFormat": "JSON", "ApplicationLogLevel": "VERBOSE"}),
        )
        .unwrap_err();
        assert!(
            e.contains("`VERBOSE`") && e.contains("TRACE, DEBUG, INFO, WARN, ERROR, FATAL"),
            "{e}"
        );
        let e =
            LoggingConfig::from_template(&json!({"LogFormat": "JSON", "SystemLogLevel": "ERROR"}))
                .unwrap_err();
        assert!(
            e.contains("SystemLogLevel: `ERROR`") && e.contains("DEBUG, INFO, WARN"),
            "{e}"
        );
        let e = LoggingConfig::from_template(&json!({"LogFormat": "Json"})).unwrap_err();
        assert!(e.contains("`Json`") && e.contains("JSON or Text"), "{e}");
    }

    #[test]
    fn the_template_keeps_lambdas_filter_at_info_or_debug_whatever_log_level_is() {
        for (log_level, lambda) in [
            ("ERROR", Level::Info),
            ("WARN", Level::Info),
            ("INFO", Level::Info),
            ("DEBUG", Level::Debug),
        ] {
            for function in ["CustomResourceFunction", "OrgEventsFunction"] {
                let f = TemplateFunction::load(function, &[("LogLevel", log_level)]).unwrap();
                assert_eq!(f.logging.format, LogFormat::Json, "{function}");
                assert_eq!(
                    f.logging.application,
                    Some(lambda),
                    "{function} {log_level}"
                );
                let env = f.env();
                assert!(
                    env.contains(&("LOG_LEVEL".into(), log_level.into())),
                    "{env:?}"
                );
                assert!(
                    env.contains(&("AWS_LAMBDA_LOG_LEVEL".into(), lambda.as_str().into())),
                    "{env:?}"
                );
                assert!(
                    env.contains(&("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into())),
                    "{env:?}"
                );
            }
        }
    }

    #[test]
    fn a_log_level_the_template_does_not_allow_is_refused_naming_it() {
        let e =
            TemplateFunction::load("OrgEventsFunction", &[("LogLevel", "VERBOSE")]).unwrap_err();
        assert!(
            e.contains("`VERBOSE`") && e.contains("ERROR, WARN, INFO, DEBUG"),
            "{e}"
        );
        let e = TemplateFunction::load("NoSuchFunction", &[]).unwrap_err();
        assert!(
            e.contains("`NoSuchFunction`") && e.contains("OrgEventsFunction"),
            "{e}"
        );
    }
}
