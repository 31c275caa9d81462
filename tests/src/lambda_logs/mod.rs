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
//!
//! By concern: `filter` (levels and `LoggingConfig`, Lambda's filter), `rfc3339` (the
//! timestamp check the filter needs), `template` (a function's configuration read from
//! template.yaml), `run` (a running function's output and what CloudWatch receives of it).

mod filter;
mod rfc3339;
mod run;
mod template;

pub use filter::{Level, LogFormat, LoggingConfig};
pub use rfc3339::is_rfc3339;
pub use run::{metric_lines, received_metrics, FunctionLogs, RunningFunction};
pub use template::TemplateFunction;
