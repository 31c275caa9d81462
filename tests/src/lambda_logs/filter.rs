//! Lambda's application log levels and a function's `LoggingConfig`: which printed lines Lambda
//! sends to CloudWatch Logs, by the rules the `lambda_logs` module documentation quotes.

use serde_json::Value;

use super::is_rfc3339;

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

    /// The level Lambda gives one line the function printed ([`super`] documentation).
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
}
