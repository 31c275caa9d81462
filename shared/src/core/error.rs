//! The errors a user can cause, each written for the person who must act on it.

use thiserror::Error;

/// A problem with the scope as typed: nothing was read or changed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScopeError {
    #[error(
        "TargetOUIds: `{token}` is not an OU or root ID: {why}. Example: ou-abcd-12345678 \
         (an OU) or r-abcd (the root, meaning the whole organization)."
    )]
    BadOuId { token: String, why: String },

    #[error(
        "TargetAccountIds: `{token}` is not an AWS account ID: {why}. Example: 123456789012; \
         separate several with commas: 123456789012,098765432109."
    )]
    BadAccountId { token: String, why: String },

    #[error(
        "{field}: the value looks like a JSON array (`{token}`). Give a comma-separated list \
         instead, for example {example}."
    )]
    JsonArrayString {
        field: &'static str,
        token: String,
        example: &'static str,
    },

    #[error(
        "TargetOUIds is empty. Give at least one OU ID (ou-abcd-12345678) or the root ID \
         (r-abcd) to target the whole organization. OU IDs are in the AWS Organizations console \
         of the management account, under AWS accounts."
    )]
    NoTargets,

    #[error(
        "AccountScope: `{value}` is not one of ALL, INTERSECTION, DIFFERENCE.\n  ALL: every \
         account under the target OUs (TargetAccountIds stays empty).\n  INTERSECTION: only the \
         listed accounts, and only if they are under the target OUs.\n  DIFFERENCE: every \
         account under the target OUs except the listed ones."
    )]
    BadAccountScope { value: String },

    #[error(
        "AccountScope is INTERSECTION but TargetAccountIds is empty, so nothing would be \
         deployed. List the accounts to deploy to (for example 123456789012,234567890123), or \
         use ALL to deploy to every account under the target OUs."
    )]
    IntersectionWithoutAccounts,

    #[error(
        "AccountScope is DIFFERENCE but TargetAccountIds is empty: there is nothing to exclude. \
         List the accounts to leave out (for example 345678901234), or use ALL to deploy to \
         every account under the target OUs."
    )]
    DifferenceWithoutAccounts,

    #[error(
        "AccountScope is ALL, so TargetAccountIds ({count} listed) would be ignored. Leave \
         TargetAccountIds empty, or choose INTERSECTION (only the listed accounts) or \
         DIFFERENCE (every account under the OUs except the listed ones)."
    )]
    AccountsWithAll { count: usize },

    #[error(
        "{field}: {count} IDs given; at most {max} are accepted. To cover many accounts, \
         target their OU and use ALL or DIFFERENCE instead of listing them."
    )]
    TooManyIds {
        field: &'static str,
        count: usize,
        max: usize,
    },

    #[error(
        "{field}: the value is {len} bytes long; at most {max} are accepted. Check that the \
         right value was pasted."
    )]
    ValueTooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },

    #[error(
        "OnAccountLeavesScope: `{value}` is not DELETE or RETAIN. DELETE removes Port's role \
         from accounts that leave the scope; RETAIN leaves it in place."
    )]
    BadLeavePolicy { value: String },

    #[error(
        "StackSetName: `{value}` is not a valid StackSet name: it must start with a letter and \
         contain only letters, digits and hyphens, at most 128 characters (default: \
         Port-Integration-v3)."
    )]
    BadStackSetName { value: String },

    #[error(
        "{field}: `{value}` is not an AWS region name such as us-east-1 (several: \
         us-east-1,eu-west-1)."
    )]
    BadRegion { field: &'static str, value: String },

    #[error("{field} is required. {help}")]
    Missing {
        field: &'static str,
        help: &'static str,
    },

    #[error("{field}: expected a string or a list of strings, got {got}.")]
    WrongType { field: &'static str, got: String },

    #[error("{field}: expected a single string such as {example}, got {got}.")]
    NotAString {
        field: &'static str,
        got: String,
        example: &'static str,
    },

    /// `TargetAccountTags` / `ExcludedAccountTags`: the same words from the custom resource's
    /// preflight, org-events' start-up and the CLI.
    #[error("{0}")]
    Tags(#[from] super::tags::TagFilterError),
}
