//! The functions' own log lines: which level they are written at, and in which format.
//!
//! Why the functions filter their lines themselves, instead of leaving it to Lambda: Lambda's
//! log-level filter (`LoggingConfig.ApplicationLogLevel`) applies to everything the function
//! prints, and it reads a line without a `level` field as INFO (AWS Lambda developer guide,
//! "Log-level filtering": "If the "level" value field is invalid or missing, Lambda will
//! assign the log output the level INFO"). The metrics line (`crate::metrics::print`, CloudWatch
//! Embedded Metric Format) has no `level`, so an ApplicationLogLevel of WARN or ERROR would drop
//! every metric and leave the alarms without data. template.yaml therefore keeps
//! ApplicationLogLevel at INFO (DEBUG when `LogLevel` is DEBUG) and gives the function
//! `LogLevel` as `LOG_LEVEL`, which this module applies to the function's own lines.
//!
//! The rule, in order, the first variable that is set and not empty:
//! 1. `LOG_LEVEL`: template.yaml sets it from the `LogLevel` parameter (ERROR, WARN, INFO,
//!    DEBUG; TRACE is accepted too);
//! 2. `AWS_LAMBDA_LOG_LEVEL`: Lambda sets it from `ApplicationLogLevel` (local runs and tests
//!    that play Lambda set it by hand);
//! 3. `RUST_LOG`: `tracing` directives (`info`, `aws_smithy_runtime=trace,info`), for local
//!    runs;
//! 4. otherwise INFO.
//!
//! A level that is not one of those names is refused: the function logs at INFO and its first
//! line (WARN) names the variable, the bad value and the values it takes.
//!
//! Format: JSON, one object per line, when `AWS_LAMBDA_LOG_FORMAT` is `JSON` (Lambda sets it
//! from `LoggingConfig.LogFormat`), else tracing's text format. Each line carries `level` and
//! an RFC 3339 `timestamp`: Lambda honours a line's level only with a valid timestamp ("If
//! you don't supply a valid timestamp, Lambda will assign the log the level INFO and add a
//! timestamp for you", same page).

use tracing_subscriber::EnvFilter;

/// The variable template.yaml gives both functions from the `LogLevel` parameter.
pub const LEVEL_ENV: &str = "LOG_LEVEL";
/// What Lambda sets from `LoggingConfig.ApplicationLogLevel`.
pub const LAMBDA_LEVEL_ENV: &str = "AWS_LAMBDA_LOG_LEVEL";
/// What Lambda sets from `LoggingConfig.LogFormat` (`JSON` or `Text`).
pub const LAMBDA_FORMAT_ENV: &str = "AWS_LAMBDA_LOG_FORMAT";
/// `tracing` directives, for local runs.
pub const RUST_LOG_ENV: &str = "RUST_LOG";

/// The levels `LOG_LEVEL` takes, most detail first.
pub const LEVELS: [&str; 5] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];

/// The filter the function's lines go through, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// `tracing` directives: a level name in lower case, or `RUST_LOG`'s directives.
    pub directives: String,
    /// The variable that decided (`LOG_LEVEL`, ...), or `default`.
    pub source: &'static str,
    /// A refused value, in words for the log: the variable, the value and the fix.
    pub refused: Option<String>,
    /// JSON lines (`AWS_LAMBDA_LOG_FORMAT=JSON`).
    pub json: bool,
}

/// A level name as `LOG_LEVEL` or Lambda spells it, as a `tracing` directive. Lambda's FATAL
/// (an ApplicationLogLevel value) has no `tracing` level: the closest is ERROR.
fn level_directive(value: &str) -> Option<&'static str> {
    match value.trim().to_ascii_uppercase().as_str() {
        "TRACE" => Some("trace"),
        "DEBUG" => Some("debug"),
        "INFO" => Some("info"),
        "WARN" => Some("warn"),
        "ERROR" | "FATAL" => Some("error"),
        _ => None,
    }
}

/// Applies the rule (module documentation) to an environment.
pub fn choose(get: impl Fn(&str) -> Option<String>) -> Choice {
    let set = |k: &str| get(k).filter(|v| !v.trim().is_empty());
    let json = set(LAMBDA_FORMAT_ENV).is_some_and(|v| v.trim().eq_ignore_ascii_case("json"));
    for var in [LEVEL_ENV, LAMBDA_LEVEL_ENV] {
        if let Some(value) = set(var) {
            return match level_directive(&value) {
                Some(d) => Choice {
                    directives: d.into(),
                    source: var,
                    refused: None,
                    json,
                },
                None => Choice {
                    directives: "info".into(),
                    source: "default",
                    refused: Some(format!(
                        "{var}: `{value}` is not a log level; logging at INFO. Set it to one of {}",
                        LEVELS.join(", ")
                    )),
                    json,
                },
            };
        }
    }
    match set(RUST_LOG_ENV) {
        Some(d) => Choice {
            directives: d,
            source: RUST_LOG_ENV,
            refused: None,
            json,
        },
        None => Choice {
            directives: "info".into(),
            source: "default",
            refused: None,
            json,
        },
    }
}

/// Installs the process's subscriber from the environment (the rule above), writing to
/// standard output. Call once, first thing in `main`.
pub fn init() {
    let choice = choose(|k| std::env::var(k).ok());
    let filter = EnvFilter::builder()
        .with_default_directive(tracing::level_filters::LevelFilter::INFO.into())
        .parse_lossy(&choice.directives);
    let fmt = tracing_subscriber::fmt()
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    if choice.json {
        fmt.json().init();
    } else {
        fmt.init();
    }
    if let Some(refused) = &choice.refused {
        tracing::warn!("{refused}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn log_level_decides_even_where_lambdas_filter_is_kept_at_info() {
        // As deployed with LogLevel=WARN: Lambda's filter at INFO so that the metrics pass,
        // the function's own lines at WARN.
        let c = choose(env(&[
            ("LOG_LEVEL", "WARN"),
            ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ]));
        assert_eq!((c.directives.as_str(), c.source), ("warn", "LOG_LEVEL"));
        assert!(c.json && c.refused.is_none());
        let c = choose(env(&[("LOG_LEVEL", "error"), ("RUST_LOG", "debug")]));
        assert_eq!((c.directives.as_str(), c.source), ("error", "LOG_LEVEL"));
        assert!(!c.json);
    }

    #[test]
    fn without_log_level_lambdas_variable_then_rust_log_then_info_decide() {
        let c = choose(env(&[
            ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
            ("RUST_LOG", "error"),
        ]));
        assert_eq!(
            (c.directives.as_str(), c.source),
            ("debug", "AWS_LAMBDA_LOG_LEVEL")
        );
        let c = choose(env(&[
            ("LOG_LEVEL", " "),
            ("RUST_LOG", "aws_smithy_runtime=trace,info"),
        ]));
        assert_eq!(
            (c.directives.as_str(), c.source),
            ("aws_smithy_runtime=trace,info", "RUST_LOG")
        );
        let c = choose(env(&[]));
        assert_eq!((c.directives.as_str(), c.source), ("info", "default"));
        // Lambda's FATAL has no tracing level: ERROR is the closest.
        let c = choose(env(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]));
        assert_eq!(c.directives, "error");
    }

    #[test]
    fn a_level_that_is_not_one_is_refused_naming_the_variable_the_value_and_the_fix() {
        let c = choose(env(&[
            ("LOG_LEVEL", "VERBOSE"),
            ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
        ]));
        assert_eq!(c.directives, "info");
        let msg = c.refused.expect("refused");
        assert!(
            msg.contains("LOG_LEVEL: `VERBOSE`") && msg.contains("TRACE, DEBUG, INFO, WARN, ERROR"),
            "{msg}"
        );
    }
}
