//! One stack instance as the StackSet reports it: its statuses, and what they mean for a plan.

use serde::{Deserialize, Serialize};

use crate::core::advice::{is_execution_role_denied, is_existing_oidc_provider};
use crate::core::ids::AccountId;

/// `StackInstanceSummary.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstanceStatus {
    Current,
    Outdated,
    Inoperable,
}

/// `StackInstanceStatus.DetailedStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DetailedStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Inoperable,
    SkippedSuspendedAccount,
    Unknown,
}

/// `StackInstanceSummary.DriftStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DriftStatus {
    Drifted,
    InSync,
    Unknown,
    NotChecked,
}

/// One stack instance as the StackSet reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackInstance {
    pub account: AccountId,
    pub region: String,
    pub status: InstanceStatus,
    pub detailed: DetailedStatus,
    pub status_reason: Option<String>,
    pub drift: DriftStatus,
    /// The OU the instance was deployed through (service-managed StackSets record it).
    pub ou: Option<String>,
}

impl StackInstance {
    /// In flight: an operation is working on it.
    pub fn is_busy(&self) -> bool {
        matches!(
            self.detailed,
            DetailedStatus::Pending | DetailedStatus::Running
        )
    }

    /// A delete failed and left it INOPERABLE: StackSets exclude it from updates; only a
    /// delete (with RetainStacks when the account cannot be reached) removes it.
    pub fn is_inoperable(&self) -> bool {
        self.status == InstanceStatus::Inoperable || self.detailed == DetailedStatus::Inoperable
    }

    /// Needs another attempt: its last operation failed or left it outdated.
    pub fn needs_retry(&self) -> bool {
        if self.is_busy()
            || self.is_inoperable()
            || self.detailed == DetailedStatus::SkippedSuspendedAccount
        {
            return false;
        }
        self.status != InstanceStatus::Current || self.detailed == DetailedStatus::Failed
    }

    /// Its last operation failed because the StackSets execution role is denied in the
    /// account ([`is_execution_role_denied`]: a service control policy, or the account's setup
    /// not finished): the account is not ready yet, and such a failure ends by itself when the
    /// deny lifts. It is no failure to give up on: every plan that sees it retries it,
    /// whatever the earlier attempts and `max_retry_attempts` (an event's run too, whose bound
    /// is 0), and the engine does not count it as an attempt.
    pub fn awaits_account(&self) -> bool {
        (self.needs_retry() || self.is_inoperable())
            && self
                .status_reason
                .as_deref()
                .is_some_and(is_execution_role_denied)
    }

    /// Needs another attempt, and failed because Port's OIDC provider already exists in the
    /// account ([`is_existing_oidc_provider`]): the attempt must reuse it (per-instance
    /// override `CreateOIDCProvider=false`), not try to create it again.
    pub fn needs_oidc_reuse(&self) -> bool {
        self.needs_retry()
            && self
                .status_reason
                .as_deref()
                .is_some_and(is_existing_oidc_provider)
    }
}
