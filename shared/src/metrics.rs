//! CloudWatch metrics as Embedded Metric Format (EMF) log lines: the functions print one JSON
//! line per invocation to standard output and CloudWatch Logs turns it into metrics. No API
//! call, no permission. Pure: the caller gives the figures and the time.
//!
//! Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>
//! (`_aws.Timestamp` in epoch milliseconds, `_aws.CloudWatchMetrics` a list of directives
//! `{Namespace, Dimensions: [[key, ...]], Metrics: [{Name, Unit}]}`, each dimension key and
//! metric name a root member of the line, dimensions strings and metrics numbers).

use serde_json::{json, Map, Value};

use crate::engine::Report;

/// The one namespace of every metric this project emits.
pub const NAMESPACE: &str = "PortAwsIntegration";
/// The dimension every metric carries: the stack's `IntegrationIdentifier`.
pub const INTEGRATION_DIMENSION: &str = "IntegrationIdentifier";
/// The second dimension of the event metrics: the kind of trigger.
pub const EVENT_KIND_DIMENSION: &str = "EventKind";
/// The template's default `IntegrationIdentifier`, used when the environment has none.
pub const DEFAULT_INTEGRATION_IDENTIFIER: &str = "aws-v3-multi";
/// Environment variable both functions read the identifier from.
pub const INTEGRATION_ENV: &str = "INTEGRATION_IDENTIFIER";

/// The level Lambda's log-level filter reads a metrics line at. The line has no `level` field,
/// and Lambda gives such a line INFO (AWS Lambda developer guide, "Log-level filtering": "If
/// the "level" value field is invalid or missing, Lambda will assign the log output the level
/// INFO"). So the metrics reach CloudWatch only while the function's
/// `LoggingConfig.ApplicationLogLevel` is this level or a more detailed one (DEBUG, TRACE):
/// template.yaml keeps it there whatever `LogLevel` is, and the functions apply `LogLevel`
/// to their own lines (`crate::logging`). `tests/template/test_alarms.py` checks the template
/// against this constant; the test bed's Lambda runner applies the filter end to end.
pub const LAMBDA_LEVEL: &str = "INFO";

/// Prints one metrics line (from [`render`]) to standard output, where Lambda sends it to
/// CloudWatch Logs. Not through `tracing`: the function's own level (`LOG_LEVEL`) never drops
/// it. Lambda's filter reads it at [`LAMBDA_LEVEL`].
pub fn print(line: &str) {
    println!("{line}");
}

/// Metric names (docs/operate.md lists them; the template's alarms use them).
pub mod names {
    pub const ACCOUNTS_IN_SCOPE: &str = "AccountsInScope";
    pub const ACCOUNTS_ENROLLED: &str = "AccountsEnrolled";
    pub const ACCOUNTS_FAILED: &str = "AccountsFailed";
    pub const ACCOUNTS_SKIPPED: &str = "AccountsSkipped";
    pub const OPERATIONS_STARTED: &str = "StackSetOperationsStarted";
    pub const ORGANIZATIONS_CALLS: &str = "OrganizationsCalls";
    pub const CLOUDFORMATION_CALLS: &str = "CloudFormationCalls";
    pub const RECONCILE_DURATION: &str = "ReconcileDuration";
    pub const RECONCILE_SUCCEEDED: &str = "ReconcileSucceeded";
    pub const SCHEDULED_RECONCILE_SUCCEEDED: &str = "ScheduledReconcileSucceeded";
    pub const EVENTS_RECEIVED: &str = "EventsReceived";
    pub const EVENTS_TOUCHING_SCOPE: &str = "EventsTouchingScope";
    pub const CHANGE_EVENTS_PUT: &str = "ChangeEventsPut";
    pub const CHANGE_EVENTS_FAILED: &str = "ChangeEventsFailed";
}

/// AWS calls made (through the ports) during one invocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    pub organizations: u64,
    pub cloudformation: u64,
}

impl Calls {
    /// The calls made since `earlier` (both running totals).
    pub fn since(self, earlier: Calls) -> Calls {
        Calls {
            organizations: self.organizations.saturating_sub(earlier.organizations),
            cloudformation: self.cloudformation.saturating_sub(earlier.cloudformation),
        }
    }
}

/// What one completed reconcile pass found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileFigures {
    /// Accounts the scope selects (StackSet targets).
    pub in_scope: u64,
    /// Of those, accounts whose stack instances all ended CURRENT.
    pub enrolled: u64,
    /// Accounts (in scope, or whose instance could not be removed) not in the wanted state.
    pub failed: u64,
    /// Accounts under the targets left out (suspended, management account, filtered out).
    pub skipped: u64,
    /// StackSet operations this pass started or waited on (create, update, delete).
    pub operations_started: u64,
    /// The pass read the whole scope. An event's pass that read only its accounts knows
    /// nothing of the others: it reports no `AccountsInScope`, `AccountsEnrolled`,
    /// `AccountsFailed` or `AccountsSkipped` (which would understate the scope, and hide an
    /// account failing elsewhere from `AccountsFailedAlarm`).
    pub whole_scope: bool,
}

impl ReconcileFigures {
    pub fn from_report(r: &Report) -> Self {
        let failed: std::collections::BTreeSet<_> = r.failures.iter().map(|f| &f.account).collect();
        // Undecided accounts the StackSet holds (a pass that read one slice of the tags) are
        // in the scope by an earlier decision: counted in, not skipped, so the gauges do not
        // drop on a sliced run.
        let kept = r.kept_undecided.len() as u64;
        let in_scope = r.expansion.included.len() as u64 + kept;
        let failed_in_scope = r
            .expansion
            .included
            .iter()
            .filter(|e| failed.contains(&e.id))
            .count() as u64;
        Self {
            in_scope,
            enrolled: in_scope - failed_in_scope,
            failed: failed.len() as u64,
            skipped: (r.expansion.skipped.len() as u64).saturating_sub(kept),
            operations_started: r.operations.len() as u64,
            whole_scope: true,
        }
    }
}

/// An org-events trigger, for the event metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFigures {
    /// The trigger's kind (`schedule`, `account_moved`, ...); for a batch, its leading event's.
    pub kind: String,
    /// The events the invocation was given: 1, or an SQS batch's records.
    pub received: u64,
    /// The invocation changed the StackSet (started an operation) because of it.
    pub touched_scope: bool,
}

/// Everything one invocation reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `custom-resource` or `org-events` (a property, not a dimension).
    pub function: &'static str,
    /// What started the invocation (`Create`, `schedule`, `account_moved`, ...): a property.
    pub trigger: String,
    /// `None` when the clients were not counted.
    pub calls: Option<Calls>,
    pub duration_ms: u64,
    /// `Some` when a reconcile pass ran to its end.
    pub reconcile: Option<ReconcileFigures>,
    /// A scheduled reconcile: `ScheduledReconcileSucceeded` is 1 when `reconcile` is `Some`,
    /// 0 otherwise (an error, or the deadline came first).
    pub scheduled: bool,
    pub event: Option<EventFigures>,
    /// The change event of this invocation: `None` when nothing changed (no put).
    pub change_event: Option<crate::feed::Put>,
}

#[derive(Clone, Copy)]
enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

fn directive(
    dimensions: &[&str],
    metrics: &[(&str, Unit, u64)],
    root: &mut Map<String, Value>,
) -> Value {
    for (name, _, value) in metrics {
        root.insert((*name).to_owned(), json!(value));
    }
    json!({
        "Namespace": NAMESPACE,
        "Dimensions": [dimensions],
        "Metrics": metrics
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
            .collect::<Vec<_>>(),
    })
}

/// One EMF line (no newline) for `record`, at `timestamp_ms` (epoch milliseconds).
pub fn render(integration: &str, timestamp_ms: u64, record: &Record) -> String {
    use names::*;
    let mut root = Map::new();
    root.insert(INTEGRATION_DIMENSION.into(), json!(integration));
    root.insert("Function".into(), json!(record.function));
    root.insert("Trigger".into(), json!(record.trigger));

    let mut main: Vec<(&str, Unit, u64)> = Vec::new();
    if let Some(c) = record.calls {
        main.push((ORGANIZATIONS_CALLS, Unit::Count, c.organizations));
        main.push((CLOUDFORMATION_CALLS, Unit::Count, c.cloudformation));
    }
    if let Some(f) = record.reconcile {
        if f.whole_scope {
            main.extend([
                (ACCOUNTS_IN_SCOPE, Unit::Count, f.in_scope),
                (ACCOUNTS_ENROLLED, Unit::Count, f.enrolled),
                (ACCOUNTS_FAILED, Unit::Count, f.failed),
                (ACCOUNTS_SKIPPED, Unit::Count, f.skipped),
            ]);
        }
        main.extend([
            (OPERATIONS_STARTED, Unit::Count, f.operations_started),
            (RECONCILE_DURATION, Unit::Milliseconds, record.duration_ms),
            (RECONCILE_SUCCEEDED, Unit::Count, u64::from(f.failed == 0)),
        ]);
    }
    if record.scheduled {
        main.push((
            SCHEDULED_RECONCILE_SUCCEEDED,
            Unit::Count,
            u64::from(record.reconcile.is_some()),
        ));
    }
    if let Some(put) = record.change_event {
        let ok = put == crate::feed::Put::Accepted;
        main.push((CHANGE_EVENTS_PUT, Unit::Count, u64::from(ok)));
        main.push((CHANGE_EVENTS_FAILED, Unit::Count, u64::from(!ok)));
    }
    let mut directives = Vec::new();
    if !main.is_empty() {
        directives.push(directive(&[INTEGRATION_DIMENSION], &main, &mut root));
    }
    if let Some(e) = &record.event {
        root.insert(EVENT_KIND_DIMENSION.into(), json!(e.kind));
        directives.push(directive(
            &[INTEGRATION_DIMENSION, EVENT_KIND_DIMENSION],
            &[
                (EVENTS_RECEIVED, Unit::Count, e.received),
                (
                    EVENTS_TOUCHING_SCOPE,
                    Unit::Count,
                    u64::from(e.touched_scope),
                ),
            ],
            &mut root,
        ));
    }
    root.insert(
        "_aws".into(),
        json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}),
    );
    Value::Object(root).to_string()
}

/// One metric of a checked EMF line.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    pub name: String,
    pub unit: String,
    pub value: f64,
    /// Dimension name → value.
    pub dimensions: Vec<(String, String)>,
    pub namespace: String,
}

/// Checks `line` against the EMF specification's rules and returns its metrics: a JSON
/// object; `_aws.Timestamp` a non-negative integer; `_aws.CloudWatchMetrics` a non-empty list
/// of directives each with a `Namespace` string, `Dimensions` a list of lists of at most 30
/// root keys holding strings, `Metrics` at most 100 `{Name, Unit}` with `Name` a root key
/// holding a number and `Unit` one of CloudWatch's units. Used by the tests.
pub fn check_emf(line: &str) -> Result<Vec<Emitted>, String> {
    const UNITS: &[&str] = &[
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
    if line.contains('\n') {
        return Err("an EMF record must be one line".into());
    }
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let root = v.as_object().ok_or("not a JSON object")?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no _aws object")?;
    aws.get("Timestamp")
        .and_then(Value::as_u64)
        .ok_or("_aws.Timestamp is not a non-negative integer (epoch ms)")?;
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("_aws.CloudWatchMetrics is not a list")?;
    if directives.is_empty() {
        return Err("_aws.CloudWatchMetrics is empty".into());
    }
    let mut out = Vec::new();
    for d in directives {
        let ns = d
            .get("Namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or("a directive has no Namespace")?;
        let dim_sets = d
            .get("Dimensions")
            .and_then(Value::as_array)
            .ok_or("a directive has no Dimensions list")?;
        let mut dims = Vec::new();
        for set in dim_sets {
            let set = set.as_array().ok_or("a dimension set is not a list")?;
            if set.len() > 30 {
                return Err("more than 30 dimensions in a set".into());
            }
            for k in set {
                let k = k.as_str().ok_or("a dimension name is not a string")?;
                let val = root
                    .get(k)
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("dimension {k} is not a root string member"))?;
                dims.push((k.to_owned(), val.to_owned()));
            }
        }
        let metrics = d
            .get("Metrics")
            .and_then(Value::as_array)
            .ok_or("a directive has no Metrics list")?;
        if metrics.len() > 100 {
            return Err("more than 100 metrics in a directive".into());
        }
        for m in metrics {
            let name = m
                .get("Name")
                .and_then(Value::as_str)
                .ok_or("a metric has no Name")?;
            let unit = m.get("Unit").and_then(Value::as_str).unwrap_or("None");
            if !UNITS.contains(&unit) {
                return Err(format!(
                    "metric {name}: unit {unit} is not a CloudWatch unit"
                ));
            }
            let value = root
                .get(name)
                .and_then(Value::as_f64)
                .ok_or_else(|| format!("metric {name} is not a root number member"))?;
            out.push(Emitted {
                name: name.to_owned(),
                unit: unit.to_owned(),
                value,
                dimensions: dims.clone(),
                namespace: ns.to_owned(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(ms: &[Emitted], name: &str) -> f64 {
        ms.iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .value
    }

    fn record() -> Record {
        Record {
            function: "org-events",
            trigger: "schedule".into(),
            calls: Some(Calls {
                organizations: 7,
                cloudformation: 5,
            }),
            duration_ms: 1234,
            reconcile: Some(ReconcileFigures {
                in_scope: 10,
                enrolled: 9,
                failed: 1,
                skipped: 2,
                operations_started: 1,
                whole_scope: true,
            }),
            scheduled: true,
            event: Some(EventFigures {
                kind: "schedule".into(),
                received: 1,
                touched_scope: true,
            }),
            change_event: None,
        }
    }

    #[test]
    fn a_scheduled_reconcile_line_is_valid_emf_with_every_metric_under_one_namespace() {
        let line = render("aws-v3-multi", 1_700_000_000_000, &record());
        let ms = check_emf(&line).expect("valid EMF");
        let names: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
        for n in [
            names::ACCOUNTS_IN_SCOPE,
            names::ACCOUNTS_ENROLLED,
            names::ACCOUNTS_FAILED,
            names::ACCOUNTS_SKIPPED,
            names::OPERATIONS_STARTED,
            names::ORGANIZATIONS_CALLS,
            names::CLOUDFORMATION_CALLS,
            names::RECONCILE_DURATION,
            names::RECONCILE_SUCCEEDED,
            names::SCHEDULED_RECONCILE_SUCCEEDED,
            names::EVENTS_RECEIVED,
            names::EVENTS_TOUCHING_SCOPE,
        ] {
            assert!(names.contains(&n), "{n} missing from {line}");
        }
        assert!(ms.iter().all(|m| m.namespace == NAMESPACE));
        assert!(ms.iter().all(|m| m
            .dimensions
            .contains(&(INTEGRATION_DIMENSION.to_owned(), "aws-v3-multi".to_owned()))));
        assert_eq!(value(&ms, names::ACCOUNTS_FAILED), 1.0);
        assert_eq!(value(&ms, names::RECONCILE_SUCCEEDED), 0.0);
        assert_eq!(value(&ms, names::SCHEDULED_RECONCILE_SUCCEEDED), 1.0);
        assert_eq!(value(&ms, names::ORGANIZATIONS_CALLS), 7.0);
        let d = ms
            .iter()
            .find(|m| m.name == names::RECONCILE_DURATION)
            .unwrap();
        assert_eq!((d.unit.as_str(), d.value), ("Milliseconds", 1234.0));
        let e = ms
            .iter()
            .find(|m| m.name == names::EVENTS_RECEIVED)
            .unwrap();
        assert!(e
            .dimensions
            .contains(&(EVENT_KIND_DIMENSION.into(), "schedule".into())));
    }

    #[test]
    fn a_scheduled_run_that_did_not_finish_reports_zero_scheduled_success() {
        let mut r = record();
        r.reconcile = None;
        let ms = check_emf(&render("x", 1, &r)).unwrap();
        assert_eq!(value(&ms, names::SCHEDULED_RECONCILE_SUCCEEDED), 0.0);
        assert!(ms.iter().all(|m| m.name != names::ACCOUNTS_IN_SCOPE));
    }

    #[test]
    fn a_failed_change_event_is_counted_and_none_is_counted_when_nothing_changed() {
        let mut r = record();
        r.change_event = Some(crate::feed::Put::Failed);
        let ms = check_emf(&render("x", 1, &r)).unwrap();
        assert_eq!(value(&ms, names::CHANGE_EVENTS_FAILED), 1.0);
        assert_eq!(value(&ms, names::CHANGE_EVENTS_PUT), 0.0);
        r.change_event = Some(crate::feed::Put::Accepted);
        let ms = check_emf(&render("x", 1, &r)).unwrap();
        assert_eq!(value(&ms, names::CHANGE_EVENTS_FAILED), 0.0);
        assert_eq!(value(&ms, names::CHANGE_EVENTS_PUT), 1.0);
        r.change_event = None;
        let ms = check_emf(&render("x", 1, &r)).unwrap();
        assert!(ms
            .iter()
            .all(|m| m.name != names::CHANGE_EVENTS_PUT && m.name != names::CHANGE_EVENTS_FAILED));
    }

    #[test]
    fn a_pass_over_some_accounts_only_reports_no_scope_gauges_but_its_operations_and_success() {
        let mut r = record();
        r.scheduled = false;
        if let Some(f) = r.reconcile.as_mut() {
            f.whole_scope = false;
        }
        let ms = check_emf(&render("x", 1, &r)).unwrap();
        for gauge in [
            names::ACCOUNTS_IN_SCOPE,
            names::ACCOUNTS_ENROLLED,
            names::ACCOUNTS_FAILED,
            names::ACCOUNTS_SKIPPED,
        ] {
            assert!(ms.iter().all(|m| m.name != gauge), "{gauge}");
        }
        assert_eq!(value(&ms, names::OPERATIONS_STARTED), 1.0);
        assert_eq!(value(&ms, names::RECONCILE_SUCCEEDED), 0.0);
    }

    #[test]
    fn uncounted_clients_emit_no_call_metrics_rather_than_a_false_zero() {
        let mut r = record();
        r.calls = None;
        let ms = check_emf(&render("x", 1, &r)).unwrap();
        assert!(ms.iter().all(|m| m.name != names::ORGANIZATIONS_CALLS));
    }

    #[test]
    fn the_checker_rejects_what_cloudwatch_would_not_extract() {
        assert!(check_emf("{\"a\":1}").is_err());
        let bad_unit = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M","Unit":"Accounts"}]}]},"M":1}"#;
        assert!(check_emf(bad_unit).unwrap_err().contains("unit"));
        let missing = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["D"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"M":1}"#;
        assert!(check_emf(missing).unwrap_err().contains("dimension D"));
        let text_value = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"M":"1"}"#;
        assert!(check_emf(text_value).unwrap_err().contains("metric M"));
    }
}
