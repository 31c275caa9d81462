//! The checks without which CloudFormation cannot even create the StackSet (deployment mode,
//! trusted access, all features), as `orgscope doctor` shows them and the stack's preflight
//! custom resource (`Custom::PortPreflight`) answers them. Pure: the caller gathers the facts
//! (read-only AWS calls); this module decides PASS / WARN / FAIL, the one-line explanation,
//! and the exact fix. The CLI's other checks are in its `doctor` module.

use serde::{Deserialize, Serialize};

use crate::core::mode::other_mode_needs;
use crate::core::{decide, Declared, Registration, TRUSTED_ACCESS_FIX, TRUSTED_ACCESS_OFF};
use crate::ports::{AwsError, OrgInfo};
use crate::preflight::{ModeReading, Unread};

/// `PASS`, `WARN` or `FAIL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Warn => "WARN",
            Self::Fail => "FAIL",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Stable machine name, e.g. `trusted-access`, `target-ou:ou-abcd-12345678`.
    pub id: String,
    pub status: Status,
    pub title: String,
    /// One line: what was found.
    pub detail: String,
    /// The exact fix, when there is something to do.
    pub fix: Option<String>,
}

/// A check without a fix (add one with [`Check::fix`]).
pub fn check(id: impl Into<String>, status: Status, title: &str, detail: String) -> Check {
    Check {
        id: id.into(),
        status,
        title: title.into(),
        detail,
        fix: None,
    }
}

impl Check {
    /// The same check, with the exact fix.
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// The checks without which CloudFormation cannot even create the StackSet: the deployment
/// mode (management account or registered delegated administrator), trusted access, all
/// features. The stack's preflight custom resource (`Custom::PortPreflight`) runs these before
/// the StackSet, so a first deploy from the wrong account fails with these words, not with
/// AWS's StackSet error.
pub fn before_stack_set(
    mode: &ModeReading,
    declared: &Declared,
    trusted: &Result<bool, AwsError>,
) -> Vec<Check> {
    vec![
        deployment_mode(mode, declared),
        trusted_access(&trusted.clone().map_err(organization_error)),
        all_features(&mode.organization.clone().map_err(organization_error)),
    ]
}

/// The FAIL checks as one text, each `<title>: <detail>. Fix: <fix>`, for a place that shows
/// a single message (a CloudFormation Reason). `None` when nothing failed.
pub fn failure_text(checks: &[Check]) -> Option<String> {
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| match &c.fix {
            Some(fix) => format!("{}: {}. Fix: {fix}", c.title, c.detail),
            None => format!("{}: {}", c.title, c.detail),
        })
        .collect();
    (!failed.is_empty()).then(|| failed.join(" | "))
}

/// How an Organizations read error reads in a check's detail.
pub fn organization_error(e: AwsError) -> String {
    crate::preflight::organization_error(e).to_string()
}

/// Exit status: any FAIL.
pub fn has_failure(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.status == Status::Fail)
}

/// Which mode the deployment runs in and why (`core::mode::decide`), and what the other mode
/// would need.
fn deployment_mode(mode: &ModeReading, declared: &Declared) -> Check {
    const ID: &str = "deployment-mode";
    const T: &str = "Deployment mode";
    let facts =
        match mode.facts(declared.clone()) {
            Ok(f) => f,
            Err(Unread::Organization(e)) => {
                return check(ID, Status::Fail, T, organization_error(e)).fix(
                    "Sign in to your organization's management account (AWS Organizations > \
                 Settings shows it), or to a delegated administrator for CloudFormation \
                 StackSets, and run again.",
                )
            }
            Err(Unread::Caller(e)) => {
                return check(
                    ID,
                    Status::Fail,
                    T,
                    format!("could not tell which account you are signed in to: {e}"),
                )
                .fix("Check your AWS credentials (`aws sts get-caller-identity`).")
            }
            Err(Unread::Registration(e)) => {
                let caller = mode.caller.as_ref().map(|c| c.as_str()).unwrap_or("?");
                let org = mode
                    .organization
                    .as_ref()
                    .map(|o| o.id.as_str())
                    .unwrap_or("?");
                return check(
                ID,
                Status::Fail,
                T,
                format!(
                    "signed in to {caller}, a member account of organization {org}; whether it \
                     is a delegated administrator for CloudFormation StackSets could not be \
                     read: {e}"
                ),
            )
            .fix("Allow organizations:ListDelegatedAdministrators to this identity and run again.");
            }
        };
    // What the other mode needs is told from the listing, when it was read (in the management
    // account too, under `Listing::Always`).
    let listed = mode.registration.clone().unwrap_or(Registration::NotAsked);
    let org_id = mode
        .organization
        .as_ref()
        .map(|o| o.id.as_str())
        .unwrap_or("?");
    match decide(&facts) {
        Ok(decided) => check(
            ID,
            Status::Pass,
            T,
            format!(
                "{} of organization {org_id}. For the other mode: {}",
                decided.why(),
                other_mode_needs(&decided, &listed)
            ),
        ),
        Err(e) => check(ID, Status::Fail, T, e.problem()).fix(e.fix()),
    }
}

fn trusted_access(trusted: &Result<bool, String>) -> Check {
    const T: &str = "Trusted access";
    const FIX: &str = TRUSTED_ACCESS_FIX;
    match trusted {
        Ok(true) => check(
            "trusted-access",
            Status::Pass,
            T,
            "trusted access for CloudFormation StackSets is enabled in AWS Organizations".into(),
        ),
        Ok(false) => check(
            "trusted-access",
            Status::Fail,
            T,
            format!("{TRUSTED_ACCESS_OFF} (\"You must enable organizations access\")"),
        )
        .fix(FIX),
        Err(e) => check(
            "trusted-access",
            Status::Fail,
            T,
            format!("could not read the organization's service access: {e}"),
        )
        .fix(format!(
            "Run this from the management account or a delegated administrator for \
             CloudFormation StackSets; if access is off: {FIX}"
        )),
    }
}

fn all_features(organization: &Result<OrgInfo, String>) -> Check {
    const T: &str = "All features";
    match organization {
        Ok(o) if o.all_features => check(
            "all-features",
            Status::Pass,
            T,
            format!("organization {} has all features enabled", o.id),
        ),
        Ok(o) => check(
            "all-features",
            Status::Fail,
            T,
            format!(
                "organization {} has only consolidated billing: StackSets cannot deploy through \
                 AWS Organizations",
                o.id
            ),
        )
        .fix(
            "aws organizations enable-all-features   (or AWS Organizations > Settings; every \
             member account must accept)",
        ),
        Err(e) => check(
            "all-features",
            Status::Fail,
            T,
            format!("could not read the organization: {e}"),
        ),
    }
}
