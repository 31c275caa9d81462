//! Where one account stands (`State`): most urgent first, with its label and tag.

use serde::Serialize;

/// Where one account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// In scope, stack instance CURRENT.
    Current,
    /// In scope, no stack instance.
    Missing,
    /// A stack instance for an account the scope does not want.
    Extra,
    /// The last operation failed on the account.
    Failed,
    Outdated,
    Inoperable,
    /// The account is suspended: StackSets skip it.
    SkippedSuspended,
    /// CURRENT, but the last drift detection found the role edited out of band.
    Drifted,
    /// An operation is working on it now.
    Running,
}

impl State {
    pub(super) const ALL: [State; 9] = [
        State::Current,
        State::Missing,
        State::Extra,
        State::Failed,
        State::Outdated,
        State::Inoperable,
        State::SkippedSuspended,
        State::Drifted,
        State::Running,
    ];

    /// Most urgent first.
    pub(super) fn rank(&self) -> u8 {
        match self {
            Self::Failed => 0,
            Self::Missing => 1,
            Self::Inoperable => 2,
            Self::Outdated => 3,
            Self::Drifted => 4,
            Self::Extra => 5,
            Self::Running => 6,
            Self::SkippedSuspended => 7,
            Self::Current => 8,
        }
    }

    pub(super) fn label(&self) -> &'static str {
        match self {
            Self::Current => "enrolled (CURRENT)",
            Self::Missing => "missing",
            Self::Extra => "extra (out of scope)",
            Self::Failed => "failed",
            Self::Outdated => "outdated",
            Self::Inoperable => "inoperable",
            Self::SkippedSuspended => "skipped (suspended)",
            Self::Drifted => "drifted",
            Self::Running => "in progress",
        }
    }

    pub(super) fn tag(&self) -> &'static str {
        match self {
            Self::Current => "CURRENT",
            Self::Missing => "MISSING",
            Self::Extra => "EXTRA",
            Self::Failed => "FAILED",
            Self::Outdated => "OUTDATED",
            Self::Inoperable => "INOPERABLE",
            Self::SkippedSuspended => "SUSPENDED",
            Self::Drifted => "DRIFTED",
            Self::Running => "RUNNING",
        }
    }
}
