//! CloudFormation StackSets: one service-managed StackSet's instances and operations.

use aws_sdk_cloudformation::types::{
    AccountFilterType, CallAs, ConcurrencyMode, DeploymentTargets, Parameter,
    RegionConcurrencyType, StackInstanceSummary, StackSetOperationPreferences,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use aws_smithy_types::DateTime;

use crate::core::operations::newest_first;
use crate::core::{AccountId, DetailedStatus, DriftStatus, InstanceStatus, StackInstance};
use crate::ports::{
    AwsError, AwsResult, OpKind, Operation, OperationResult, StackSetInfo, StackSetReader,
    StackSetWriter, Targets,
};

use super::errors::classify;

pub struct CfnStackSets {
    client: aws_sdk_cloudformation::Client,
    /// `true`: every call sends `CallAs: DELEGATED_ADMIN`; else `SELF`.
    delegated: AtomicBool,
    /// The operations this process started (or found it had started: an ID that already
    /// exists) that the eventually consistent lists have not shown yet. `ListStackSetOperations`
    /// and `ListStackSetOperationResults` "provide eventually consistent reads", and
    /// `DescribeStackSetOperation` "strongly consistent reads" (CloudFormation API Reference):
    /// an operation of ours the list lags behind is described by its ID instead, so that no
    /// reader concludes "idle" or "no failures" from a list that has not caught up with it.
    own: Mutex<Vec<Own>>,
}

/// One operation of ours, not yet seen in the lists.
#[derive(Debug, Clone)]
struct Own {
    stack_set: String,
    id: String,
    /// Not yet seen in `ListStackSetOperations`.
    unlisted: bool,
    /// Its targets name accounts, so it has result rows; none seen yet.
    awaits_results: bool,
}

/// How long `operation_results` waits, at most, for the results of an operation of ours
/// that ended to be listed: the lists' lag is undocumented; past this the (empty) list is
/// taken as it is.
const RESULTS_LAG_BOUND: Duration = Duration::from_secs(30);

impl CfnStackSets {
    /// Calls as `SELF` until `set_call_as`.
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_cloudformation::Client::new(conf),
            delegated: AtomicBool::new(false),
            own: Mutex::new(Vec::new()),
        }
    }

    /// The same, calling as `call_as` from the start.
    pub fn calling_as(conf: &aws_config::SdkConfig, call_as: crate::core::CallAs) -> Self {
        let s = Self::new(conf);
        s.set_call_as(call_as);
        s
    }

    /// Remembers an operation this process started (see `own`).
    fn remember(&self, name: &str, id: &str, kind: OpKind, targets: &Targets) {
        let mut own = self.own.lock().expect("own operations");
        if own.iter().any(|o| o.stack_set == name && o.id == id) {
            return;
        }
        own.push(Own {
            stack_set: name.to_owned(),
            id: id.to_owned(),
            unlisted: true,
            awaits_results: kind != OpKind::DetectDrift
                && !targets.accounts.is_empty()
                && targets.filter != "DIFFERENCE",
        });
    }

    fn forget(&self, name: &str, id: &str) {
        let mut own = self.own.lock().expect("own operations");
        own.retain(|o| !(o.stack_set == name && o.id == id));
    }

    /// Every page of `ListStackSetOperations`, in the order AWS gave (none documented).
    async fn list_operations(&self, name: &str) -> AwsResult<Vec<Operation>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_stack_set_operations()
                .stack_set_name(name)
                .call_as(self.call_as())
                .set_next_token(token.clone())
                .max_results(100)
                .send()
                .await
                .map_err(|e| classify("cloudformation", "ListStackSetOperations", e))?;
            out.extend(page.summaries().iter().map(|o| {
                Operation {
                    id: o.operation_id().unwrap_or_default().to_owned(),
                    action: o
                        .action()
                        .map(|a| a.as_str().to_owned())
                        .unwrap_or_default(),
                    status: o
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    status_reason: o.status_reason().map(str::to_owned),
                    started: ts(o.creation_timestamp()),
                    ended: ts(o.end_timestamp()),
                    duration_secs: secs(o.creation_timestamp(), o.end_timestamp()),
                }
            }));
            match page.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(out),
            }
        }
    }

    /// Every page of `ListStackSetOperationResults`.
    async fn list_results(&self, name: &str, id: &str) -> AwsResult<Vec<OperationResult>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_stack_set_operation_results()
                .stack_set_name(name)
                .operation_id(id)
                .call_as(self.call_as())
                .set_next_token(token.clone())
                .max_results(100)
                .send()
                .await
                .map_err(|e| classify("cloudformation", "ListStackSetOperationResults", e))?;
            for r in page.summaries() {
                let Ok(account) = AccountId::parse(r.account().unwrap_or_default()) else {
                    continue;
                };
                out.push(OperationResult {
                    account,
                    region: r.region().unwrap_or_default().to_owned(),
                    status: r
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    status_reason: r.status_reason().map(str::to_owned),
                });
            }
            match page.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(out),
            }
        }
    }

    /// The SDK's `CallAs` for the port's mode: the one value every operation below sends.
    fn call_as(&self) -> CallAs {
        if self.delegated.load(Ordering::Relaxed) {
            CallAs::DelegatedAdmin
        } else {
            CallAs::SelfValue
        }
    }
}

/// StackSet operation preferences, in AWS's own words (the values `OperationPreferences` takes
/// in the API and in a template).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preferences {
    pub region_concurrency_type: &'static str,
    pub max_concurrent_percentage: i32,
    pub failure_tolerance_percentage: i32,
    pub concurrency_mode: &'static str,
}

/// Regions in parallel, every account at once, and failures tolerated so that one account's
/// failure (a role that already exists, say) does not stop the others: each account's
/// outcome is read back and reported by name afterwards. The one source of these values:
/// every operation the functions start uses them, and template.yaml's `PortStackSet` carries
/// the same `OperationPreferences` (the test below compares the two).
pub const PREFERENCES: Preferences = Preferences {
    region_concurrency_type: "PARALLEL",
    max_concurrent_percentage: 100,
    failure_tolerance_percentage: 100,
    concurrency_mode: "SOFT_FAILURE_TOLERANCE",
};

pub fn preferences() -> StackSetOperationPreferences {
    StackSetOperationPreferences::builder()
        .region_concurrency_type(RegionConcurrencyType::from(
            PREFERENCES.region_concurrency_type,
        ))
        .max_concurrent_percentage(PREFERENCES.max_concurrent_percentage)
        .failure_tolerance_percentage(PREFERENCES.failure_tolerance_percentage)
        .concurrency_mode(ConcurrencyMode::from(PREFERENCES.concurrency_mode))
        .build()
}

fn deployment_targets(t: &Targets) -> DeploymentTargets {
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
fn parameter_overrides(t: &Targets) -> Option<Vec<Parameter>> {
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
fn to_instance(s: &StackInstanceSummary) -> Option<StackInstance> {
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

fn ts(d: Option<&DateTime>) -> Option<String> {
    d.and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}

fn secs(a: Option<&DateTime>, b: Option<&DateTime>) -> Option<f64> {
    Some(b?.as_secs_f64() - a?.as_secs_f64())
}

impl StackSetReader for CfnStackSets {
    fn set_call_as(&self, call_as: crate::core::CallAs) {
        self.delegated.store(
            call_as == crate::core::CallAs::DelegatedAdmin,
            Ordering::Relaxed,
        );
    }

    async fn describe(&self, name: &str) -> AwsResult<StackSetInfo> {
        let out = self
            .client
            .describe_stack_set()
            .stack_set_name(name)
            .call_as(self.call_as())
            .send()
            .await
            .map_err(|e| classify("cloudformation", "DescribeStackSet", e))?;
        let s = out.stack_set().ok_or_else(|| AwsError::NotFound {
            what: format!("StackSet {name}"),
        })?;
        Ok(StackSetInfo {
            name: s.stack_set_name().unwrap_or(name).to_owned(),
            arn: s.stack_set_arn().map(str::to_owned),
            service_managed: s.permission_model().map(|p| p.as_str()) == Some("SERVICE_MANAGED"),
            auto_deployment: s
                .auto_deployment()
                .and_then(|a| a.enabled())
                .unwrap_or(false),
            status: s
                .status()
                .map(|x| x.as_str().to_owned())
                .unwrap_or_default(),
        })
    }

    async fn instances(&self, name: &str) -> AwsResult<Vec<StackInstance>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_stack_instances()
                .stack_set_name(name)
                .call_as(self.call_as())
                .set_next_token(token.clone())
                .max_results(100)
                .send()
                .await
                .map_err(|e| classify("cloudformation", "ListStackInstances", e))?;
            out.extend(page.summaries().iter().filter_map(to_instance));
            match page.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        out.sort_by(|a, b| (&a.account, &a.region).cmp(&(&b.account, &b.region)));
        Ok(out)
    }

    async fn instances_of(
        &self,
        name: &str,
        accounts: &[AccountId],
    ) -> AwsResult<Vec<StackInstance>> {
        let mut out = Vec::new();
        for a in accounts {
            let mut token: Option<String> = None;
            loop {
                let page = self
                    .client
                    .list_stack_instances()
                    .stack_set_name(name)
                    .call_as(self.call_as())
                    .stack_instance_account(a.as_str())
                    .set_next_token(token)
                    .max_results(100)
                    .send()
                    .await
                    .map_err(|e| classify("cloudformation", "ListStackInstances", e))?;
                out.extend(page.summaries().iter().filter_map(to_instance));
                match page.next_token() {
                    Some(t) => token = Some(t.to_owned()),
                    None => break,
                }
            }
        }
        out.sort_by(|a, b| (&a.account, &a.region).cmp(&(&b.account, &b.region)));
        Ok(out)
    }

    async fn operation(&self, name: &str, id: &str) -> AwsResult<Operation> {
        let out = self
            .client
            .describe_stack_set_operation()
            .stack_set_name(name)
            .operation_id(id)
            .call_as(self.call_as())
            .send()
            .await
            .map_err(|e| classify("cloudformation", "DescribeStackSetOperation", e))?;
        let o = out
            .stack_set_operation()
            .ok_or_else(|| AwsError::NotFound {
                what: format!("operation {id}"),
            })?;
        Ok(Operation {
            id: o.operation_id().unwrap_or(id).to_owned(),
            action: o
                .action()
                .map(|a| a.as_str().to_owned())
                .unwrap_or_default(),
            status: o
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            status_reason: o.status_reason().map(str::to_owned),
            started: ts(o.creation_timestamp()),
            ended: ts(o.end_timestamp()),
            duration_secs: secs(o.creation_timestamp(), o.end_timestamp()),
        })
    }

    async fn recent_operations(&self, name: &str, max: i32) -> AwsResult<Vec<Operation>> {
        // Every page: AWS documents no order, so the newest may be on any page.
        let mut ops = self.list_operations(name).await?;
        let unlisted: Vec<String> = {
            let mut own = self.own.lock().expect("own operations");
            for o in own.iter_mut().filter(|o| o.stack_set == name && o.unlisted) {
                o.unlisted = !ops.iter().any(|l| l.id == o.id);
            }
            own.retain(|o| o.unlisted || o.awaits_results);
            own.iter()
                .filter(|o| o.stack_set == name && o.unlisted)
                .map(|o| o.id.clone())
                .collect()
        };
        for id in unlisted {
            tracing::debug!(operation_id = %id, "own operation not listed yet; describing it");
            match self.operation(name, &id).await {
                Ok(op) => ops.push(op),
                Err(AwsError::NotFound { .. }) => self.forget(name, &id),
                Err(e) => return Err(e),
            }
        }
        newest_first(&mut ops, |o| o.started.as_deref(), |o| o.id.as_str());
        ops.truncate(usize::try_from(max).unwrap_or(0));
        Ok(ops)
    }

    async fn operation_results(&self, name: &str, id: &str) -> AwsResult<Vec<OperationResult>> {
        let mut rows = self.list_results(name, id).await?;
        let awaited = {
            let own = self.own.lock().expect("own operations");
            own.iter()
                .any(|o| o.stack_set == name && o.id == id && o.awaits_results)
        };
        if awaited {
            // An operation of ours that targets accounts has a row per target from its start:
            // none listed means the list lags behind it. Wait for the rows, within a bound.
            let mut delay = Duration::from_millis(250);
            let mut waited = Duration::ZERO;
            while rows.is_empty() && waited < RESULTS_LAG_BOUND {
                tracing::debug!(operation_id = %id, "own operation's results not listed yet; waiting");
                tokio::time::sleep(delay).await;
                waited += delay;
                delay = (delay * 2).min(Duration::from_secs(5));
                rows = self.list_results(name, id).await?;
            }
            let mut own = self.own.lock().expect("own operations");
            for o in own.iter_mut().filter(|o| o.stack_set == name && o.id == id) {
                o.awaits_results = false;
            }
            own.retain(|o| o.unlisted || o.awaits_results);
        }
        Ok(rows)
    }
}

impl StackSetWriter for CfnStackSets {
    async fn start(
        &self,
        name: &str,
        kind: OpKind,
        targets: &Targets,
        regions: &[String],
        operation_id: &str,
    ) -> AwsResult<String> {
        let c = &self.client;
        let dt = deployment_targets(targets);
        let regions = regions.to_vec();
        let started: AwsResult<Option<String>> = match kind {
            OpKind::Create => c
                .create_stack_instances()
                .stack_set_name(name)
                .call_as(self.call_as())
                .deployment_targets(dt.clone())
                .set_regions(Some(regions.clone()))
                .operation_preferences(preferences())
                .operation_id(operation_id)
                .send()
                .await
                .map(|o| o.operation_id().map(str::to_owned))
                .map_err(|e| classify("cloudformation", "CreateStackInstances", e)),
            OpKind::Update => c
                .update_stack_instances()
                .stack_set_name(name)
                .call_as(self.call_as())
                .deployment_targets(dt.clone())
                .set_parameter_overrides(parameter_overrides(targets))
                .set_regions(Some(regions.clone()))
                .operation_preferences(preferences())
                .operation_id(operation_id)
                .send()
                .await
                .map(|o| o.operation_id().map(str::to_owned))
                .map_err(|e| classify("cloudformation", "UpdateStackInstances", e)),
            OpKind::Delete => c
                .delete_stack_instances()
                .stack_set_name(name)
                .call_as(self.call_as())
                .deployment_targets(dt.clone())
                .set_regions(Some(regions.clone()))
                .operation_preferences(preferences())
                .retain_stacks(targets.retain_stacks)
                .operation_id(operation_id)
                .send()
                .await
                .map(|o| o.operation_id().map(str::to_owned))
                .map_err(|e| classify("cloudformation", "DeleteStackInstances", e)),
            OpKind::DetectDrift => c
                .detect_stack_set_drift()
                .stack_set_name(name)
                .call_as(self.call_as())
                .operation_preferences(preferences())
                .operation_id(operation_id)
                .send()
                .await
                .map(|o| o.operation_id().map(str::to_owned))
                .map_err(|e| classify("cloudformation", "DetectStackSetDrift", e)),
        };
        let id = match started {
            Ok(id) => id.unwrap_or_else(|| operation_id.to_owned()),
            // This process's own: an earlier delivery of the same request started it.
            Err(AwsError::OperationIdExists) => {
                self.remember(name, operation_id, kind, targets);
                return Err(AwsError::OperationIdExists);
            }
            Err(e) => return Err(e),
        };
        self.remember(name, &id, kind, targets);
        Ok(id)
    }
}

/// `DescribeStacks` on one stack, by its ID: the deployment stack whose parameters are the
/// scope the custom resource applied.
pub struct CfnStacks {
    client: aws_sdk_cloudformation::Client,
}

impl CfnStacks {
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_cloudformation::Client::new(conf),
        }
    }
}

impl crate::ports::StackApi for CfnStacks {
    async fn describe_stack(&self, stack_id: &str) -> AwsResult<crate::ports::StackState> {
        // Retries are the SDK's (see `adapters::retry_config`).
        let out = self
            .client
            .describe_stacks()
            .stack_name(stack_id)
            .send()
            .await
            .map_err(|e| classify("cloudformation", "DescribeStacks", e))
            .map_err(|e| match e {
                // AWS answers ValidationError "Stack with id X does not exist".
                AwsError::Validation(m) if m.contains("does not exist") => AwsError::NotFound {
                    what: format!("stack {stack_id}"),
                },
                other => other,
            })?;
        let s = out.stacks().first().ok_or_else(|| AwsError::NotFound {
            what: format!("stack {stack_id}"),
        })?;
        Ok(crate::ports::StackState {
            status: s
                .stack_status()
                .map(|x| x.as_str().to_owned())
                .unwrap_or_default(),
            parameters: s
                .parameters()
                .iter()
                .filter_map(|p| {
                    Some((
                        p.parameter_key()?.to_owned(),
                        p.parameter_value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect(),
            changed_at: ts(s.last_updated_time().or(s.creation_time())),
        })
    }
}

#[cfg(test)]
mod preference_tests {
    use super::*;

    /// The `Key: value` lines of `OperationPreferences` under template.yaml's `PortStackSet`.
    fn template_preferences() -> Vec<(String, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
        let text = std::fs::read_to_string(path).expect("template.yaml");
        let lines: Vec<&str> = text.lines().collect();
        let start = lines
            .iter()
            .position(|l| *l == "  PortStackSet:")
            .expect("PortStackSet in template.yaml");
        let at = start
            + lines[start..]
                .iter()
                .position(|l| l.trim() == "OperationPreferences:")
                .expect("PortStackSet has OperationPreferences");
        let indent = |l: &str| l.len() - l.trim_start().len();
        let own = indent(lines[at]);
        lines[at + 1..]
            .iter()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .take_while(|l| indent(l) > own)
            .map(|l| {
                let (k, v) = l.trim().split_once(':').expect("Key: value");
                (k.trim().to_owned(), v.trim().to_owned())
            })
            .collect()
    }

    #[test]
    fn the_stack_sets_own_updates_use_the_preferences_of_the_functions_operations() {
        let p = PREFERENCES;
        assert_eq!(
            template_preferences(),
            vec![
                (
                    "RegionConcurrencyType".to_owned(),
                    p.region_concurrency_type.to_owned()
                ),
                (
                    "MaxConcurrentPercentage".to_owned(),
                    p.max_concurrent_percentage.to_string()
                ),
                (
                    "FailureTolerancePercentage".to_owned(),
                    p.failure_tolerance_percentage.to_string()
                ),
                ("ConcurrencyMode".to_owned(), p.concurrency_mode.to_owned()),
            ]
        );
    }

    #[test]
    fn the_preferences_are_values_the_sdk_knows() {
        let built = preferences();
        assert_eq!(
            built.region_concurrency_type(),
            Some(&RegionConcurrencyType::Parallel)
        );
        assert_eq!(
            built.concurrency_mode(),
            Some(&ConcurrencyMode::SoftFailureTolerance)
        );
        assert_eq!(built.max_concurrent_percentage(), Some(100));
        assert_eq!(built.failure_tolerance_percentage(), Some(100));
    }
}
