//! The function's configuration, read once at start-up from the environment that
//! `template.yaml` sets. Invalid values fail the start-up with the scope engine's messages.

use std::collections::BTreeSet;
use std::time::Duration;

use shared::core::{
    parse_regions, parse_stack_set_name, LeavePolicy, PlanPolicy, RawList, Scope, ScopeError,
};
use thiserror::Error;

/// Attempts per account when `MAX_RETRY_ATTEMPTS` is not set.
pub const DEFAULT_MAX_RETRY_ATTEMPTS: u32 = 3;
/// How long the organization must stay unchanged before an event-triggered reconcile acts.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(5);
/// The longest an event-triggered reconcile waits for the organization to settle.
pub const DEFAULT_SETTLE_MAX: Duration = Duration::from_secs(120);

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
}

impl Config {
    /// Reads `TARGET_OU_IDS`, `ACCOUNT_SCOPE` (default ALL), `TARGET_ACCOUNT_IDS`,
    /// `STACK_SET_NAME`, `STACK_SET_REGIONS` (default: `default_region`),
    /// `ON_ACCOUNT_LEAVES_SCOPE` (default DELETE), `MAX_RETRY_ATTEMPTS` (default 3),
    /// `SETTLE_SECONDS` (default 5) and `SETTLE_MAX_SECONDS` (default 120).
    pub fn from_env(
        lookup: impl Fn(&str) -> Option<String>,
        default_region: &str,
    ) -> Result<Self, ConfigError> {
        let get = |k: &str| lookup(k).unwrap_or_default();
        let mode = lookup("ACCOUNT_SCOPE").unwrap_or_else(|| "ALL".into());
        let scope = Scope::parse(
            &RawList::Text(get("TARGET_OU_IDS")),
            &mode,
            &RawList::Text(get("TARGET_ACCOUNT_IDS")),
        )?;
        let stack_set = parse_stack_set_name(&get("STACK_SET_NAME"))?;
        let regions = parse_regions(&RawList::Text(get("STACK_SET_REGIONS")), default_region)?;
        let on_leave: LeavePolicy = get("ON_ACCOUNT_LEAVES_SCOPE").parse()?;
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
        Ok(Self {
            scope,
            stack_set,
            regions,
            on_leave,
            max_retry_attempts,
            settle,
            settle_max,
        })
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
    /// schedule's, so that a burst of events cannot spend the retry budget.
    pub fn event_policy(&self) -> PlanPolicy {
        PlanPolicy {
            on_leave: self.on_leave,
            max_retry_attempts: 0,
            repair_drift: false,
        }
    }
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

    #[test]
    fn event_runs_neither_retry_nor_repair() {
        let c = env(OK).unwrap();
        assert_eq!(c.event_policy().max_retry_attempts, 0);
        assert!(!c.event_policy().repair_drift);
        assert!(c.schedule_policy().repair_drift);
    }
}
