//! `Custom::PortAlarmWindow`: the same function, asked only to turn the stack's
//! `ReconcileSchedule` into the alarms' `Period` and `EvaluationPeriods`
//! (`shared::core::alarm_window`), which CloudFormation cannot compute. No AWS call; Delete
//! does nothing.

use std::collections::BTreeMap;

use serde_json::Value;
use shared::core::alarm_window;

/// The `ResourceType` that asks for the alarm window.
pub const RESOURCE_TYPE: &str = "Custom::PortAlarmWindow";
/// Its PhysicalResourceId: there is nothing behind it.
pub const PHYSICAL_ID: &str = "orgscope-alarm-window";

/// `Data` for `Fn::GetAtt`: `PeriodSeconds`, `EvaluationPeriods`, `IntervalSeconds`. `Err`
/// holds the text for CloudFormation's Reason.
pub fn data(props: &Value) -> Result<BTreeMap<String, String>, String> {
    let expr = props
        .get("ReconcileSchedule")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let w = alarm_window(expr).map_err(|e| e.to_string())?;
    Ok(BTreeMap::from([
        ("PeriodSeconds".to_owned(), w.period_secs.to_string()),
        (
            "EvaluationPeriods".to_owned(),
            w.evaluation_periods.to_string(),
        ),
        ("IntervalSeconds".to_owned(), w.interval_secs.to_string()),
    ]))
}
