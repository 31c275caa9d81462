//! Conversions between the SDK's types and the ports' types: deployment targets and
//! parameter overrides out, stack instances and timestamps in.

use aws_sdk_cloudformation::types::{
    AccountFilterType, DeploymentTargets, Parameter, StackInstanceSummary,
};
use aws_smithy_types::DateTime;

use crate::core::{AccountId, DetailedStatus, DriftStatus, InstanceStatus, StackInstance};
use crate::ports::Targets;

pub(super) fn deployment_targets(t: &Targets) -> DeploymentTargets {
    DeploymentTargets::builder()
        .set_organizational_unit_ids(Some(t.ous.clone()))
        .set_accounts(if t.accounts.is_empty() {
            None
        } else {
            Some(t.accounts.iter().map(|a| a.as_str().to_owned()).collect())
        })
        .account_filter_type(AccountFilterType::from(t.filter.as_str()))
        .build()
}

/// `ParameterOverrides`, or `None` (left out: AWS keeps each instance's overrides).
pub(super) fn parameter_overrides(t: &Targets) -> Option<Vec<Parameter>> {
    if t.parameter_overrides.is_empty() {
        return None;
    }
    Some(
        t.parameter_overrides
            .iter()
            .map(|(k, v)| {
                Parameter::builder()
                    .parameter_key(k)
                    .parameter_value(v)
                    .build()
            })
            .collect(),
    )
}

/// One `ListStackInstances` summary; `None` when AWS gives no valid account ID.
pub(super) fn to_instance(s: &StackInstanceSummary) -> Option<StackInstance> {
    let account = AccountId::parse(s.account().unwrap_or_default()).ok()?;
    Some(StackInstance {
        account,
        region: s.region().unwrap_or_default().to_owned(),
        status: match s.status().map(|x| x.as_str()) {
            Some("CURRENT") => InstanceStatus::Current,
            Some("INOPERABLE") => InstanceStatus::Inoperable,
            _ => InstanceStatus::Outdated,
        },
        detailed: match s
            .stack_instance_status()
            .and_then(|d| d.detailed_status())
            .map(|x| x.as_str())
        {
            Some("PENDING") => DetailedStatus::Pending,
            Some("RUNNING") => DetailedStatus::Running,
            Some("SUCCEEDED") => DetailedStatus::Succeeded,
            Some("FAILED") => DetailedStatus::Failed,
            Some("CANCELLED") => DetailedStatus::Cancelled,
            Some("INOPERABLE") => DetailedStatus::Inoperable,
            Some("SKIPPED_SUSPENDED_ACCOUNT") => DetailedStatus::SkippedSuspendedAccount,
            _ => DetailedStatus::Unknown,
        },
        status_reason: s.status_reason().map(str::to_owned),
        drift: match s.drift_status().map(|x| x.as_str()) {
            Some("DRIFTED") => DriftStatus::Drifted,
            Some("IN_SYNC") => DriftStatus::InSync,
            Some("UNKNOWN") => DriftStatus::Unknown,
            _ => DriftStatus::NotChecked,
        },
        ou: s.organizational_unit_id().map(str::to_owned),
    })
}

pub(super) fn ts(d: Option<&DateTime>) -> Option<String> {
    d.and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}

pub(super) fn secs(a: Option<&DateTime>, b: Option<&DateTime>) -> Option<f64> {
    Some(b?.as_secs_f64() - a?.as_secs_f64())
}
