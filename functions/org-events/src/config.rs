//! The function's configuration. The settings that never change while the stack lives
//! (regions, retries, settle times, the stack's own ID) come from the environment that
//! `template.yaml` sets, once, at start-up; invalid values fail the start-up with the scope
//! engine's messages.
//!
//! The scope itself (TargetOUIds, AccountScope, TargetAccountIds, OnAccountLeavesScope,
//! StackSetName) is NOT in the environment of the deployed function: it is read from the
//! deployment stack's own parameters (`DescribeStacks` on `STACK_ID`) at every invocation,
//! and acted on only while the stack is settled (see `StackPhase`). The stack's parameters are
//! exactly the custom resource's properties, so org-events never plans with a scope other than
//! the one the custom resource last applied. Without `STACK_ID` (local runs, tests) the scope
//! comes from `TARGET_OU_IDS`, `ACCOUNT_SCOPE`, `TARGET_ACCOUNT_IDS`, `TARGET_ACCOUNT_TAGS` and
//! `EXCLUDED_ACCOUNT_TAGS`. The tag filter (`TargetAccountTags`, `ExcludedAccountTags`) is
//! parsed by `Scope::with_tag_parameters`, as the custom resource parses it: a bad term fails
//! the start-up (or the run, from the stack) with the same message.

use std::collections::BTreeSet;
use std::time::Duration;

use shared::core::mode::MANAGEMENT_ACCOUNT_ID;
use shared::core::{
    parse_regions, parse_stack_set_name, schedule_interval, schedule_tick, AccountScope, CallAs,
    Declared, LeavePolicy, PlanPolicy, RawList, Scope, ScopeError, TagReads,
    DEFAULT_TAG_READS_PER_RUN, TAG_READS_PER_RUN_RANGE,
};
use shared::ports::StackState;
use thiserror::Error;

/// Attempts per account when `MAX_RETRY_ATTEMPTS` is not set.
pub const DEFAULT_MAX_RETRY_ATTEMPTS: u32 = 3;
/// How long what an event-triggered reconcile read must stay unchanged before it acts. None by
/// default: the events reach the function through an SQS queue whose 20 s batching window
/// (template.yaml) gathers a burst into one invocation, and a settle wait on top would read the
/// batch's accounts once more.
pub const DEFAULT_SETTLE: Duration = Duration::ZERO;
/// The longest an event-triggered reconcile waits for the organization to settle.
pub const DEFAULT_SETTLE_MAX: Duration = Duration::from_secs(120);
/// How often a run that waits for the deployment stack to settle looks again.
pub const DEFAULT_STACK_POLL: Duration = Duration::from_secs(10);

/// The schedule org-events assumes when neither the stack's `ReconcileSchedule` parameter nor
/// `RECONCILE_SCHEDULE` says (the template's default).
pub const DEFAULT_RECONCILE_SCHEDULE: &str = "rate(6 hours)";

/// The stack parameters that make the scope; the custom resource gets the same values as its
/// properties.
pub const SCOPE_PARAMETERS: [&str; 7] = [
    "TargetOUIds",
    "AccountScope",
    "TargetAccountIds",
    "OnAccountLeavesScope",
    "StackSetName",
    TARGET_ACCOUNT_TAGS,
    EXCLUDED_ACCOUNT_TAGS,
];

/// The tag filter's parameters. A stack created before they existed has neither: that reads as
/// empty (no tag filter), which is what the template's defaults give too.
pub const TARGET_ACCOUNT_TAGS: &str = "TargetAccountTags";
pub const EXCLUDED_ACCOUNT_TAGS: &str = "ExcludedAccountTags";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("{0}")]
    Scope(#[from] ScopeError),
    #[error(
        "MAX_RETRY_ATTEMPTS: `{value}` is not a whole number from 0 to 100 (0 turns retries \
         off; the default is 3)."
    )]
    BadRetryAttempts { value: String },
    #[error("{name}: `{value}` is not a number of seconds from 0 to 600.")]
    BadSeconds { name: &'static str, value: String },
    #[error(
        "STACK_ID: `{value}` is not a CloudFormation stack ID \
         (arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id>); the template \
         sets it to !Ref AWS::StackId."
    )]
    BadStackId { value: String },
    #[error(
        "the deployment stack has no parameter {key}: org-events reads the scope from its own \
         stack's parameters, which this template defines"
    )]
    MissingParameter { key: &'static str },
    #[error("{0}")]
    Mode(#[from] shared::core::ModeError),
    #[error(
        "TAG_READS_PER_RUN: `{value}` is not a whole number from {} to {}: the most \
         ListTagsForResource calls one whole-scope run makes (default {}; at 5 calls/s, {} \
         calls take {} s).",
        TAG_READS_PER_RUN_RANGE.0,
        TAG_READS_PER_RUN_RANGE.1,
        DEFAULT_TAG_READS_PER_RUN,
        TAG_READS_PER_RUN_RANGE.1,
        TAG_READS_PER_RUN_RANGE.1 / 5
    )]
    BadTagReads { value: String },
    #[error("{0}")]
    Schedule(#[from] shared::core::ScheduleError),
}

/// Where the deployment stack is in its life, for org-events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackPhase {
    /// A create, update or rollback finished: the parameters are the scope the custom resource
    /// last applied. The only phase in which org-events changes the StackSet.
    Settled,
    /// CloudFormation is working on the stack (the custom resource may be applying a scope):
    /// wait, then read the parameters again.
    Busy,
    /// Deleted, being deleted, or a failed create that can only be deleted: never act again.
    Gone,
    /// A state that needs a person (`UPDATE_ROLLBACK_FAILED`) or that this code does not know:
    /// stand aside; the next run looks again.
    Stuck,
}

impl StackPhase {
    pub fn of(status: &str) -> Self {
        match status {
            "CREATE_COMPLETE"
            | "UPDATE_COMPLETE"
            | "UPDATE_ROLLBACK_COMPLETE"
            | "IMPORT_COMPLETE"
            | "IMPORT_ROLLBACK_COMPLETE" => Self::Settled,
            "DELETE_IN_PROGRESS"
            | "DELETE_COMPLETE"
            | "DELETE_FAILED"
            | "CREATE_FAILED"
            | "ROLLBACK_IN_PROGRESS"
            | "ROLLBACK_COMPLETE"
            | "ROLLBACK_FAILED" => Self::Gone,
            s if s.ends_with("_IN_PROGRESS") || s == "UPDATE_FAILED" => Self::Busy,
            _ => Self::Stuck,
        }
    }
}

/// What identifies the scope a run planned with: the scope's parameter values and when the
/// stack last changed. A run changes the StackSet only while the stack still shows the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub parameters: Vec<(String, Option<String>)>,
    pub changed_at: Option<String>,
}

impl Generation {
    pub fn of(stack: &StackState) -> Self {
        Self {
            parameters: SCOPE_PARAMETERS
                .iter()
                .map(|k| ((*k).to_owned(), stack.parameters.get(*k).cloned()))
                .collect(),
            changed_at: stack.changed_at.clone(),
        }
    }
}

/// Everything the handler needs to know, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub scope: Scope,
    pub stack_set: String,
    pub regions: BTreeSet<String>,
    pub on_leave: LeavePolicy,
    pub max_retry_attempts: u32,
    /// Quiet period an event-triggered change waits for (0: act at once).
    pub settle: Duration,
    /// Upper bound on that wait.
    pub settle_max: Duration,
    /// The deployment stack (`STACK_ID`): when set, the scope fields above are read from its
    /// parameters at every invocation (`with_stack_parameters`), never from the environment.
    pub stack_id: Option<String>,
    /// How often to look again while the stack is busy (`STACK_POLL_SECONDS`, default 10).
    pub stack_poll: Duration,
    /// The `CallAs` of every StackSet call: the stack's `ManagementAccountId` parameter
    /// (non-empty: `DELEGATED_ADMIN`), which the custom resource's preflight checked against
    /// the facts; without a stack, `MANAGEMENT_ACCOUNT_ID`.
    pub call_as: CallAs,
    /// The most `ListTagsForResource` calls one whole-scope run makes, with a tag filter
    /// (`TAG_READS_PER_RUN`, default [`DEFAULT_TAG_READS_PER_RUN`]): more candidates than
    /// this are read one slice per run ([`shared::core::TagSlice`]).
    pub tag_reads_per_run: u32,
    /// The longest gap between two scheduled runs (the stack's `ReconcileSchedule`, or
    /// `RECONCILE_SCHEDULE` without a stack): a run's slice is its time in these periods.
    pub schedule_period_secs: u64,
}

impl Config {
    /// Reads `TARGET_OU_IDS`, `ACCOUNT_SCOPE` (default ALL), `TARGET_ACCOUNT_IDS`,
    /// `TARGET_ACCOUNT_TAGS` and `EXCLUDED_ACCOUNT_TAGS` (default empty: no tag filter),
    /// `STACK_SET_NAME`, `STACK_SET_REGIONS` (default: `default_region`),
    /// `ON_ACCOUNT_LEAVES_SCOPE` (default DELETE), `MAX_RETRY_ATTEMPTS` (default 3),
    /// `SETTLE_SECONDS` (default 5) and `SETTLE_MAX_SECONDS` (default 120).
    ///
    /// With `STACK_ID` set (the deployed function), the scope variables are not read at all:
    /// the scope, StackSet name and leave policy come from the stack at each invocation, and
    /// until then the config holds an empty scope that the handler never acts on.
    pub fn from_env(
        lookup: impl Fn(&str) -> Option<String>,
        default_region: &str,
    ) -> Result<Self, ConfigError> {
        let get = |k: &str| lookup(k).unwrap_or_default();
        let stack_id = match lookup("STACK_ID").map(|v| v.trim().to_owned()) {
            Some(v) if v.is_empty() => None,
            Some(v) if is_stack_id(&v) => Some(v),
            Some(v) => return Err(ConfigError::BadStackId { value: v }),
            None => None,
        };
        let call_as = if stack_id.is_some() {
            CallAs::Self_
        } else {
            Declared::parse(lookup("MANAGEMENT_ACCOUNT_ID").as_deref())?.call_as()
        };
        let (scope, stack_set, on_leave) = if stack_id.is_some() {
            let unread = Scope {
                targets: Default::default(),
                mode: AccountScope::All,
                accounts: Default::default(),
                tags: Default::default(),
            };
            (unread, String::new(), LeavePolicy::Delete)
        } else {
            let mode = lookup("ACCOUNT_SCOPE").unwrap_or_else(|| "ALL".into());
            let scope = Scope::parse(
                &RawList::Text(get("TARGET_OU_IDS")),
                &mode,
                &RawList::Text(get("TARGET_ACCOUNT_IDS")),
            )?
            .with_tag_parameters(&get("TARGET_ACCOUNT_TAGS"), &get("EXCLUDED_ACCOUNT_TAGS"))?;
            let stack_set = parse_stack_set_name(&get("STACK_SET_NAME"))?;
            let on_leave: LeavePolicy = get("ON_ACCOUNT_LEAVES_SCOPE").parse()?;
            (scope, stack_set, on_leave)
        };
        let regions = parse_regions(&RawList::Text(get("STACK_SET_REGIONS")), default_region)?;
        let max_retry_attempts = match lookup("MAX_RETRY_ATTEMPTS") {
            None => DEFAULT_MAX_RETRY_ATTEMPTS,
            Some(v) if v.trim().is_empty() => DEFAULT_MAX_RETRY_ATTEMPTS,
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= 100)
                .ok_or(ConfigError::BadRetryAttempts { value: v })?,
        };
        let settle = seconds(&lookup, "SETTLE_SECONDS", DEFAULT_SETTLE)?;
        let settle_max = seconds(&lookup, "SETTLE_MAX_SECONDS", DEFAULT_SETTLE_MAX)?;
        let stack_poll = seconds(&lookup, "STACK_POLL_SECONDS", DEFAULT_STACK_POLL)?;
        let tag_reads_per_run = match lookup("TAG_READS_PER_RUN") {
            None => DEFAULT_TAG_READS_PER_RUN,
            Some(v) if v.trim().is_empty() => DEFAULT_TAG_READS_PER_RUN,
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (TAG_READS_PER_RUN_RANGE.0..=TAG_READS_PER_RUN_RANGE.1).contains(n))
                .ok_or(ConfigError::BadTagReads { value: v })?,
        };
        let schedule = lookup("RECONCILE_SCHEDULE")
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_RECONCILE_SCHEDULE.into());
        let schedule_period_secs = schedule_interval(&schedule)?;
        Ok(Self {
            scope,
            stack_set,
            regions,
            on_leave,
            max_retry_attempts,
            settle,
            settle_max,
            stack_id,
            stack_poll,
            call_as,
            tag_reads_per_run,
            schedule_period_secs,
        })
    }

    /// This config with the scope, StackSet name and leave policy of the deployment stack's
    /// parameters. Bad values get the scope engine's messages (the template's own parameter
    /// rules make them unlikely).
    pub fn with_stack_parameters(&self, stack: &StackState) -> Result<Self, ConfigError> {
        let get = |key: &'static str| {
            stack
                .parameters
                .get(key)
                .cloned()
                .ok_or(ConfigError::MissingParameter { key })
        };
        // Absent in a stack created before the tag parameters existed: no tag filter.
        let optional = |key: &str| stack.parameters.get(key).map(String::as_str).unwrap_or("");
        let scope = Scope::parse(
            &RawList::Text(get("TargetOUIds")?),
            &get("AccountScope")?,
            &RawList::Text(get("TargetAccountIds")?),
        )?
        .with_tag_parameters(
            optional(TARGET_ACCOUNT_TAGS),
            optional(EXCLUDED_ACCOUNT_TAGS),
        )?;
        Ok(Self {
            scope,
            stack_set: parse_stack_set_name(&get("StackSetName")?)?,
            on_leave: get("OnAccountLeavesScope")?.parse()?,
            // Absent in a stack deployed before the parameter existed: the management account.
            call_as: Declared::parse(
                stack
                    .parameters
                    .get(MANAGEMENT_ACCOUNT_ID)
                    .map(String::as_str),
            )?
            .call_as(),
            schedule_period_secs: match stack.parameters.get("ReconcileSchedule") {
                Some(expr) => schedule_interval(expr)?,
                None => self.schedule_period_secs,
            },
            ..self.clone()
        })
    }

    /// What a whole-scope run at `epoch_secs` (the scheduled event's time) reads of the
    /// candidates' tags: a slice of at most `tag_reads_per_run`, the `tick`th of the sweep,
    /// where `tick` counts schedule periods since the epoch. While the candidates stay the
    /// same, runs one period apart read the slices in turn, so every candidate's tags are read
    /// within `of` scheduled runs.
    pub fn tag_sweep(&self, epoch_secs: f64) -> TagReads {
        TagReads::Sweep {
            budget: self.tag_reads_per_run,
            tick: schedule_tick(epoch_secs.max(0.0) as u64, self.schedule_period_secs),
        }
    }

    /// The scheduled run: retries within the bound, drift repaired.
    pub fn schedule_policy(&self) -> PlanPolicy {
        PlanPolicy {
            on_leave: self.on_leave,
            max_retry_attempts: self.max_retry_attempts,
            repair_drift: true,
        }
    }

    /// An event-triggered run enrolls and withdraws only: retries and drift repairs are the
    /// schedule's, so that a burst of events cannot spend the retry budget. An account that
    /// awaits its execution role (`StackInstance::awaits_account`) spends none: the event's
    /// run enrolls it too.
    pub fn event_policy(&self) -> PlanPolicy {
        PlanPolicy {
            on_leave: self.on_leave,
            max_retry_attempts: 0,
            repair_drift: false,
        }
    }
}

/// `arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id>`.
fn is_stack_id(v: &str) -> bool {
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "cloudformation"
        && parts[5].starts_with("stack/")
        && parts[5].split('/').count() == 3
}

fn seconds(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match lookup(name) {
        None => Ok(default),
        Some(v) if v.trim().is_empty() => Ok(default),
        Some(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| (0.0..=600.0).contains(s))
            .map(Duration::from_secs_f64)
            .ok_or(ConfigError::BadSeconds { name, value: v }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_env(move |k| m.get(k).cloned(), "eu-west-1")
    }

    const OK: &[(&str, &str)] = &[
        ("TARGET_OU_IDS", "ou-abcd-12345678"),
        ("ACCOUNT_SCOPE", "ALL"),
        ("TARGET_ACCOUNT_IDS", ""),
        ("STACK_SET_NAME", "Port-Integration-v3"),
    ];

    fn with(over: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut v: Vec<(&str, &str)> = OK.to_vec();
        for (k, val) in over {
            v.retain(|(kk, _)| kk != k);
            v.push((k, val));
        }
        v
    }

    #[test]
    fn defaults_fill_region_policy_retries_and_settle() {
        let c = env(OK).unwrap();
        assert_eq!(c.regions.iter().collect::<Vec<_>>(), ["eu-west-1"]);
        assert_eq!(c.on_leave, LeavePolicy::Delete);
        assert_eq!(c.max_retry_attempts, 3);
        assert_eq!(c.settle, DEFAULT_SETTLE);
        assert_eq!(c.stack_set, "Port-Integration-v3");
    }

    #[test]
    fn the_tag_read_budget_and_the_schedule_set_the_sweep_and_bad_values_are_refused() {
        let c = env(OK).unwrap();
        assert_eq!(c.tag_reads_per_run, DEFAULT_TAG_READS_PER_RUN);
        assert_eq!(c.schedule_period_secs, 6 * 3_600);
        // Runs one period apart walk the ticks one by one.
        let at = |t: f64| match c.tag_sweep(t) {
            TagReads::Sweep { tick, budget } => (tick, budget),
            other => panic!("{other:?}"),
        };
        assert_eq!(at(21_600.0 * 7.0), (7, 1_000));
        assert_eq!(at(21_600.0 * 8.0 + 30.0), (8, 1_000));
        let c = env(&with(&[
            ("TAG_READS_PER_RUN", "250"),
            ("RECONCILE_SCHEDULE", "rate(1 hour)"),
        ]))
        .unwrap();
        assert_eq!((c.tag_reads_per_run, c.schedule_period_secs), (250, 3_600));
        for bad in ["0", "3001", "lots"] {
            let e = env(&with(&[("TAG_READS_PER_RUN", bad)])).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(&format!("`{bad}`")), "{msg}");
            assert!(msg.contains("from 1 to 3000"), "{msg}");
        }
        let e = env(&with(&[("RECONCILE_SCHEDULE", "every day")])).unwrap_err();
        assert!(e.to_string().contains("`every day`"), "{e}");
    }

    #[test]
    fn explicit_values_are_taken() {
        let c = env(&with(&[
            ("STACK_SET_REGIONS", "us-east-1, eu-west-1"),
            ("ON_ACCOUNT_LEAVES_SCOPE", "retain"),
            ("MAX_RETRY_ATTEMPTS", "5"),
            ("SETTLE_SECONDS", "0.5"),
        ]))
        .unwrap();
        assert_eq!(c.regions.len(), 2);
        assert_eq!(c.on_leave, LeavePolicy::Retain);
        assert_eq!(c.max_retry_attempts, 5);
        assert_eq!(c.settle, Duration::from_millis(500));
    }

    #[test]
    fn invalid_settings_fail_with_the_scope_engine_messages() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("TARGET_OU_IDS", "")], "TargetOUIds is empty"),
            (
                &[("TARGET_OU_IDS", "Prod")],
                "`Prod` is not an OU or root ID",
            ),
            (
                &[("TARGET_OU_IDS", "[\"ou-abcd-12345678\"]")],
                "looks like a JSON array",
            ),
            (&[("ACCOUNT_SCOPE", "SOME")], "`SOME` is not one of ALL"),
            (
                &[("ACCOUNT_SCOPE", "INTERSECTION")],
                "nothing would be deployed",
            ),
            (&[("TARGET_ACCOUNT_IDS", "12345678901")], "it has 11 digits"),
            (&[("STACK_SET_NAME", "")], "StackSetName is required"),
            (&[("STACK_SET_NAME", "1bad")], "not a valid StackSet name"),
            (&[("STACK_SET_REGIONS", "Europe")], "not an AWS region"),
            (
                &[("ON_ACCOUNT_LEAVES_SCOPE", "KEEP")],
                "not DELETE or RETAIN",
            ),
            (&[("MAX_RETRY_ATTEMPTS", "many")], "MAX_RETRY_ATTEMPTS"),
            (&[("SETTLE_SECONDS", "-1")], "SETTLE_SECONDS"),
        ];
        for (over, want) in cases {
            let e = env(&with(over)).unwrap_err().to_string();
            assert!(e.contains(want), "{over:?}: {e}");
        }
    }

    const STACK: &str =
        "arn:aws:cloudformation:us-east-1:123456789012:stack/port-aws/2f6a1c30-9a2b-11ef-8d4e-0affd1a2b3c4";

    fn stack(status: &str, params: &[(&str, &str)]) -> StackState {
        StackState {
            status: status.into(),
            parameters: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            changed_at: Some("2026-12-01T10:00:00Z".into()),
        }
    }

    const PARAMS: &[(&str, &str)] = &[
        ("TargetOUIds", "ou-abcd-12345678"),
        ("AccountScope", "DIFFERENCE"),
        ("TargetAccountIds", "012345678901"),
        ("OnAccountLeavesScope", "RETAIN"),
        ("StackSetName", "Port-Integration-v3"),
        ("PortOrgId", "org_1"),
    ];

    #[test]
    fn with_a_stack_id_the_scope_is_not_read_from_the_environment() {
        let c = env(&[("STACK_ID", STACK), ("TARGET_OU_IDS", "ou-abcd-12345678")]).unwrap();
        assert_eq!(c.stack_id.as_deref(), Some(STACK));
        assert!(c.scope.targets.is_empty(), "{c:?}");
        let e = env(&[("STACK_ID", "port-aws")]).unwrap_err().to_string();
        assert!(
            e.contains("`port-aws` is not a CloudFormation stack ID"),
            "{e}"
        );
    }

    #[test]
    fn the_call_as_comes_from_the_management_account_id_parameter() {
        let base = env(&[("STACK_ID", STACK)]).unwrap();
        let with_mgmt = |v: Option<&'static str>| {
            let mut p: Vec<(&str, &str)> = PARAMS.to_vec();
            if let Some(v) = v {
                p.push(("ManagementAccountId", v));
            }
            base.with_stack_parameters(&stack("UPDATE_COMPLETE", &p))
        };
        // Absent (a stack from before the parameter) and empty: the management account.
        assert_eq!(with_mgmt(None).unwrap().call_as, CallAs::Self_);
        assert_eq!(with_mgmt(Some("")).unwrap().call_as, CallAs::Self_);
        assert_eq!(
            with_mgmt(Some("111111111111")).unwrap().call_as,
            CallAs::DelegatedAdmin
        );
        let e = with_mgmt(Some("11111")).unwrap_err().to_string();
        assert!(e.contains("ManagementAccountId `11111`"), "{e}");
        // Without a stack, from the environment.
        assert_eq!(env(OK).unwrap().call_as, CallAs::Self_);
        assert_eq!(
            env(&with(&[("MANAGEMENT_ACCOUNT_ID", "111111111111")]))
                .unwrap()
                .call_as,
            CallAs::DelegatedAdmin
        );
    }

    #[test]
    fn the_scope_comes_from_the_stack_parameters() {
        let base = env(&[("STACK_ID", STACK), ("MAX_RETRY_ATTEMPTS", "5")]).unwrap();
        let c = base
            .with_stack_parameters(&stack("UPDATE_COMPLETE", PARAMS))
            .unwrap();
        assert_eq!(c.scope.mode, AccountScope::Difference);
        assert_eq!(c.scope.accounts.len(), 1);
        assert_eq!(c.on_leave, LeavePolicy::Retain);
        assert_eq!(c.stack_set, "Port-Integration-v3");
        assert_eq!(c.max_retry_attempts, 5, "start-up settings are kept");
        let mut bad: Vec<(&str, &str)> = PARAMS.to_vec();
        bad.retain(|(k, _)| *k != "AccountScope");
        let e = base
            .with_stack_parameters(&stack("UPDATE_COMPLETE", &bad))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no parameter AccountScope"), "{e}");
    }

    #[test]
    fn the_tag_filter_comes_from_the_environment_and_a_bad_term_fails_the_start_up() {
        let c = env(&with(&[
            ("TARGET_ACCOUNT_TAGS", "env=prod|staging"),
            ("EXCLUDED_ACCOUNT_TAGS", "port:exclude=true"),
        ]))
        .unwrap();
        assert_eq!(c.scope.tags.target.to_string(), "env=prod|staging");
        assert_eq!(c.scope.tags.excluded.to_string(), "port:exclude=true");
        assert!(!env(OK).unwrap().scope.tags.is_set(), "unset: no filter");
        // The custom resource's words (Scope::with_tag_parameters), naming the parameter.
        let e = env(&with(&[("TARGET_ACCOUNT_TAGS", "env=prod,env=dev")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("TargetAccountTags: the key `env` is given twice"),
            "{e}"
        );
        let e = env(&with(&[("EXCLUDED_ACCOUNT_TAGS", "=true")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("ExcludedAccountTags: the term `=true` has an empty key"),
            "{e}"
        );
    }

    #[test]
    fn the_tag_filter_comes_from_the_stack_and_a_stack_without_its_parameters_has_none() {
        let base = env(&[("STACK_ID", STACK)]).unwrap();
        // A stack created before TargetAccountTags / ExcludedAccountTags existed.
        let old = base
            .with_stack_parameters(&stack("UPDATE_COMPLETE", PARAMS))
            .unwrap();
        assert!(!old.scope.tags.is_set(), "{:?}", old.scope.tags);
        let mut p: Vec<(&str, &str)> = PARAMS.to_vec();
        p.push(("TargetAccountTags", "env=prod"));
        p.push(("ExcludedAccountTags", ""));
        let c = base
            .with_stack_parameters(&stack("UPDATE_COMPLETE", &p))
            .unwrap();
        assert_eq!(c.scope.tags.target.to_string(), "env=prod");
        assert!(c.scope.tags.excluded.is_empty());
        p.retain(|(k, _)| *k != "ExcludedAccountTags");
        p.push(("ExcludedAccountTags", "port:exclude=tr ue!"));
        let e = base
            .with_stack_parameters(&stack("UPDATE_COMPLETE", &p))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("ExcludedAccountTags: `tr ue!` holds `!`"),
            "{e}"
        );
        // A change of the filter is a new generation: a run planned with the old one stops.
        let before = Generation::of(&stack("UPDATE_COMPLETE", PARAMS));
        let mut q: Vec<(&str, &str)> = PARAMS.to_vec();
        q.push(("TargetAccountTags", "env=prod"));
        assert_ne!(before, Generation::of(&stack("UPDATE_COMPLETE", &q)));
    }

    #[test]
    fn only_a_finished_create_update_or_rollback_lets_org_events_act() {
        for s in [
            "CREATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
            "IMPORT_COMPLETE",
        ] {
            assert_eq!(StackPhase::of(s), StackPhase::Settled, "{s}");
        }
        for s in [
            "CREATE_IN_PROGRESS",
            "UPDATE_IN_PROGRESS",
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
            "UPDATE_ROLLBACK_IN_PROGRESS",
            "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
            "REVIEW_IN_PROGRESS",
        ] {
            assert_eq!(StackPhase::of(s), StackPhase::Busy, "{s}");
        }
        for s in [
            "DELETE_IN_PROGRESS",
            "DELETE_COMPLETE",
            "DELETE_FAILED",
            "ROLLBACK_COMPLETE",
            "CREATE_FAILED",
        ] {
            assert_eq!(StackPhase::of(s), StackPhase::Gone, "{s}");
        }
        assert_eq!(StackPhase::of("UPDATE_ROLLBACK_FAILED"), StackPhase::Stuck);
        assert_eq!(StackPhase::of("SOMETHING_NEW"), StackPhase::Stuck);
    }

    #[test]
    fn the_generation_changes_with_the_scope_or_the_update_time_only() {
        let a = Generation::of(&stack("UPDATE_COMPLETE", PARAMS));
        let mut other: Vec<(&str, &str)> = PARAMS.to_vec();
        other.retain(|(k, _)| *k != "PortOrgId");
        assert_eq!(a, Generation::of(&stack("UPDATE_COMPLETE", &other)));
        other.retain(|(k, _)| *k != "TargetAccountIds");
        other.push(("TargetAccountIds", "012345678902"));
        assert_ne!(a, Generation::of(&stack("UPDATE_COMPLETE", &other)));
        let mut later = stack("UPDATE_COMPLETE", PARAMS);
        later.changed_at = Some("2026-12-01T11:00:00Z".into());
        assert_ne!(a, Generation::of(&later));
    }

    #[test]
    fn event_runs_neither_retry_nor_repair() {
        let c = env(OK).unwrap();
        assert_eq!(c.event_policy().max_retry_attempts, 0);
        assert!(!c.event_policy().repair_drift);
        assert!(c.schedule_policy().repair_drift);
    }
}
