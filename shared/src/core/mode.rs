//! Where this integration runs from, decided by facts: the organization's management account
//! (StackSets `CallAs: SELF`) or a registered delegated administrator for CloudFormation
//! StackSets (`CallAs: DELEGATED_ADMIN`). The one place this rule lives: the preflight, the
//! custom resource, `orgscope doctor` and the CLI's StackSet calls all ask [`decide`].
//!
//! The stack parameter `ManagementAccountId` only declares the mode: empty = "deployed in the
//! management account", a 12-digit ID = "deployed in a delegated administrator, and this is
//! the organization's management account". The facts decide; a declaration that disagrees
//! fails, naming the exact value to set.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ids::AccountId;

/// The service principal of CloudFormation StackSets in AWS Organizations (trusted access and
/// delegated administrators).
pub const STACKSETS_PRINCIPAL: &str = "member.org.stacksets.cloudformation.amazonaws.com";

/// What trusted access off means, in the one wording the doctor, the preflight and the
/// engine's error use.
pub const TRUSTED_ACCESS_OFF: &str = "trusted access for CloudFormation StackSets is not enabled \
     in AWS Organizations: service-managed StackSets cannot deploy";
/// The fix for [`TRUSTED_ACCESS_OFF`] (AWS CloudFormation User Guide, "Activate trusted access
/// for stack sets with AWS Organizations").
pub const TRUSTED_ACCESS_FIX: &str = "aws cloudformation activate-organizations-access   (in the \
     management account; or CloudFormation console > StackSets > Activate trusted access)";

/// The stack parameter (and custom resource property) that declares the mode.
pub const MANAGEMENT_ACCOUNT_ID: &str = "ManagementAccountId";

/// The `CallAs` every StackSet call carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum CallAs {
    /// `SELF`: the caller is the management account (AWS's default).
    #[default]
    #[serde(rename = "SELF")]
    Self_,
    /// `DELEGATED_ADMIN`: the caller is a registered delegated administrator for StackSets;
    /// the StackSet lives in the management account.
    #[serde(rename = "DELEGATED_ADMIN")]
    DelegatedAdmin,
}

impl CallAs {
    /// AWS's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Self_ => "SELF",
            Self::DelegatedAdmin => "DELEGATED_ADMIN",
        }
    }
}

impl fmt::Display for CallAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The register command, for the caller's account.
pub fn register_command(account: &AccountId) -> String {
    format!(
        "aws organizations register-delegated-administrator --service-principal \
         {STACKSETS_PRINCIPAL} --account-id {account}"
    )
}

/// What `ListDelegatedAdministrators` (for the StackSets principal) told about the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Registration {
    /// Not asked: the caller is the management account (it cannot be its own delegated
    /// administrator), so one call is saved.
    NotAsked,
    /// The accounts registered as delegated administrators for StackSets.
    Listed(Vec<AccountId>),
    /// AWS refused the listing (`AccessDenied`): a plain member account, which only the
    /// management account and delegated administrators may ask; or a delegated administrator
    /// whose role lacks `organizations:ListDelegatedAdministrators`. AWS's words.
    Denied(String),
}

impl Registration {
    fn lists(&self, account: &AccountId) -> bool {
        matches!(self, Self::Listed(v) if v.contains(account))
    }
}

/// What the stack declares in `ManagementAccountId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Declared {
    /// No declaration to check (the CLI, run without a stack).
    Unknown,
    /// Empty: deployed in the management account.
    InManagementAccount,
    /// A delegated administrator deployment for this management account.
    DelegatedAdminFor(AccountId),
}

impl Declared {
    /// Parses the parameter's value; absent or empty = in the management account.
    pub fn parse(raw: Option<&str>) -> Result<Self, ModeError> {
        let v = raw.unwrap_or_default().trim();
        if v.is_empty() {
            return Ok(Self::InManagementAccount);
        }
        AccountId::parse(v)
            .map(Self::DelegatedAdminFor)
            .map_err(|_| ModeError::BadDeclaration {
                value: v.to_owned(),
            })
    }

    /// The `CallAs` the declaration stands for (`Unknown`: `SELF`, AWS's default).
    pub fn call_as(&self) -> CallAs {
        match self {
            Self::DelegatedAdminFor(_) => CallAs::DelegatedAdmin,
            _ => CallAs::Self_,
        }
    }
}

/// The facts the decision rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeFacts {
    /// `sts:GetCallerIdentity`.
    pub caller: AccountId,
    /// `DescribeOrganization`'s management account.
    pub management: AccountId,
    pub registration: Registration,
    pub declared: Declared,
}

/// The decided mode, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployMode {
    pub call_as: CallAs,
    pub caller: AccountId,
    pub management: AccountId,
}

impl DeployMode {
    /// One sentence: which mode and why.
    pub fn why(&self) -> String {
        match self.call_as {
            CallAs::Self_ => format!(
                "management-account mode (CallAs SELF): signed in to {}, the management account",
                self.caller
            ),
            CallAs::DelegatedAdmin => format!(
                "delegated-administrator mode (CallAs DELEGATED_ADMIN): signed in to {}, a \
                 registered delegated administrator for CloudFormation StackSets; the StackSet \
                 lives in the management account {}",
                self.caller, self.management
            ),
        }
    }

    /// The value the `ManagementAccountId` parameter must have in this mode.
    pub fn parameter_value(&self) -> &str {
        match self.call_as {
            CallAs::Self_ => "",
            CallAs::DelegatedAdmin => self.management.as_str(),
        }
    }
}

/// Why the integration cannot run from here, with the way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeError {
    /// A member account that is no registered delegated administrator for StackSets.
    NotDelegatedAdmin {
        caller: AccountId,
        management: AccountId,
        /// AWS's words when it refused the listing.
        aws: Option<String>,
    },
    /// `ManagementAccountId` set while deployed in the management account.
    DeclaredInManagementAccount {
        declared: AccountId,
        caller: AccountId,
    },
    /// `ManagementAccountId` empty while deployed in a delegated administrator.
    UndeclaredDelegatedAdmin {
        caller: AccountId,
        management: AccountId,
    },
    /// `ManagementAccountId` names another account than the management account.
    WrongManagementAccount {
        declared: AccountId,
        management: AccountId,
    },
    /// `ManagementAccountId` is not empty and not 12 digits.
    BadDeclaration { value: String },
}

impl fmt::Display for ModeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}. Fix: {}", self.problem(), self.fix())
    }
}

impl std::error::Error for ModeError {}

impl ModeError {
    /// What is wrong, naming the values.
    pub fn problem(&self) -> String {
        match self {
            Self::NotDelegatedAdmin {
                caller,
                management,
                aws,
            } => format!(
                "account {caller} is neither the organization's management account \
                 ({management}) nor a registered delegated administrator for CloudFormation \
                 StackSets{}",
                aws.as_ref()
                    .map(|m| format!(" (AWS said: {m})"))
                    .unwrap_or_default()
            ),
            Self::DeclaredInManagementAccount { declared, caller } => format!(
                "ManagementAccountId is `{declared}`, but this stack is deployed in the \
                 management account {caller} itself"
            ),
            Self::UndeclaredDelegatedAdmin { caller, management } => format!(
                "ManagementAccountId is empty, but this stack is deployed in account {caller}, a \
                 delegated administrator for CloudFormation StackSets of the organization whose \
                 management account is {management}"
            ),
            Self::WrongManagementAccount {
                declared,
                management,
            } => format!(
                "ManagementAccountId is `{declared}`, but the organization's management account \
                 is {management}"
            ),
            Self::BadDeclaration { value } => {
                format!("ManagementAccountId `{value}` is not a 12-digit account ID")
            }
        }
    }

    /// The way out: the command to run or the exact value to set.
    pub fn fix(&self) -> String {
        match self {
            Self::NotDelegatedAdmin {
                caller, management, ..
            } => format!(
                "deploy this stack in the management account {management}; or, from the \
                 management account, register this account: `{}`, then deploy with \
                 ManagementAccountId {management} (the function's role needs \
                 organizations:ListDelegatedAdministrators)",
                register_command(caller)
            ),
            Self::DeclaredInManagementAccount { .. } => "set ManagementAccountId to an empty \
                 value (it is only for a deployment from a delegated administrator account)"
                .to_owned(),
            Self::UndeclaredDelegatedAdmin { management, .. }
            | Self::WrongManagementAccount { management, .. } => {
                format!("set ManagementAccountId to {management}")
            }
            Self::BadDeclaration { .. } => "leave ManagementAccountId empty to deploy in the \
                 management account, or set it to the organization's management account ID \
                 (`aws organizations describe-organization`) to deploy from a delegated \
                 administrator"
                .to_owned(),
        }
    }
}

/// Decides the mode from the facts, then checks the declaration against it.
pub fn decide(f: &ModeFacts) -> Result<DeployMode, ModeError> {
    let call_as = if f.caller == f.management {
        CallAs::Self_
    } else if f.registration.lists(&f.caller) {
        CallAs::DelegatedAdmin
    } else {
        return Err(ModeError::NotDelegatedAdmin {
            caller: f.caller.clone(),
            management: f.management.clone(),
            aws: match &f.registration {
                Registration::Denied(m) => Some(m.clone()),
                _ => None,
            },
        });
    };
    match (&f.declared, call_as) {
        (Declared::DelegatedAdminFor(d), CallAs::Self_) => {
            return Err(ModeError::DeclaredInManagementAccount {
                declared: d.clone(),
                caller: f.caller.clone(),
            })
        }
        (Declared::InManagementAccount, CallAs::DelegatedAdmin) => {
            return Err(ModeError::UndeclaredDelegatedAdmin {
                caller: f.caller.clone(),
                management: f.management.clone(),
            })
        }
        (Declared::DelegatedAdminFor(d), CallAs::DelegatedAdmin) if *d != f.management => {
            return Err(ModeError::WrongManagementAccount {
                declared: d.clone(),
                management: f.management.clone(),
            })
        }
        _ => {}
    }
    Ok(DeployMode {
        call_as,
        caller: f.caller.clone(),
        management: f.management.clone(),
    })
}

/// What the other mode would need, for `orgscope doctor`.
pub fn other_mode_needs(mode: &DeployMode, registration: &Registration) -> String {
    match mode.call_as {
        CallAs::DelegatedAdmin => format!(
            "management-account mode needs the stack deployed in the management account {} \
             (with ManagementAccountId empty)",
            mode.management
        ),
        CallAs::Self_ => {
            match registration {
                Registration::Listed(v) if !v.is_empty() => format!(
                "delegated-administrator mode: registered delegated administrators for StackSets: \
                 {}; deploy the stack in one of them with ManagementAccountId {} (and the \
                 companion template templates/management-account.yaml here)",
                v.iter().map(AccountId::as_str).collect::<Vec<_>>().join(", "),
                mode.management
            ),
                Registration::Listed(_) => format!(
                    "delegated-administrator mode: no account is registered as a delegated \
                 administrator for StackSets; register one from this account (`aws organizations \
                 register-delegated-administrator --service-principal {STACKSETS_PRINCIPAL} \
                 --account-id <id>`), then deploy the stack there with ManagementAccountId {}",
                    mode.management
                ),
                Registration::Denied(m) => format!(
                "delegated-administrator mode: the registered delegated administrators could not \
                 be listed ({m})"
            ),
                Registration::NotAsked => "delegated-administrator mode: not checked".to_owned(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MGMT: &str = "111111111111";
    const DA: &str = "222222222222";
    const OTHER: &str = "333333333333";

    fn id(s: &str) -> AccountId {
        AccountId::parse(s).unwrap()
    }

    fn facts(caller: &str, registered: &[&str], declared: Declared) -> ModeFacts {
        ModeFacts {
            caller: id(caller),
            management: id(MGMT),
            registration: if caller == MGMT {
                Registration::NotAsked
            } else {
                Registration::Listed(registered.iter().map(|a| id(a)).collect())
            },
            declared,
        }
    }

    #[test]
    fn the_management_account_calls_as_self() {
        for d in [Declared::Unknown, Declared::InManagementAccount] {
            let m = decide(&facts(MGMT, &[], d)).unwrap();
            assert_eq!(m.call_as, CallAs::Self_);
            assert_eq!(m.parameter_value(), "");
            assert!(m.why().contains("management-account mode"), "{}", m.why());
        }
    }

    #[test]
    fn a_registered_delegated_administrator_calls_as_delegated_admin() {
        for d in [Declared::Unknown, Declared::DelegatedAdminFor(id(MGMT))] {
            let m = decide(&facts(DA, &[OTHER, DA], d)).unwrap();
            assert_eq!(m.call_as, CallAs::DelegatedAdmin);
            assert_eq!(m.parameter_value(), MGMT);
            assert!(
                m.why().contains("delegated-administrator mode"),
                "{}",
                m.why()
            );
            assert!(m.why().contains(MGMT), "{}", m.why());
        }
    }

    #[test]
    fn an_unregistered_member_fails_naming_both_ways_out_with_its_own_id() {
        let e = decide(&facts(OTHER, &[DA], Declared::Unknown)).unwrap_err();
        let text = e.to_string();
        assert!(text.contains(&register_command(&id(OTHER))), "{text}");
        assert!(
            text.contains(&format!(
                "Fix: deploy this stack in the management account {MGMT}"
            )),
            "{text}"
        );
        assert!(
            text.contains("deploy with ManagementAccountId 111111111111"),
            "{text}"
        );
    }

    #[test]
    fn a_refused_listing_counts_as_not_registered_and_quotes_aws() {
        let mut f = facts(OTHER, &[], Declared::Unknown);
        f.registration = Registration::Denied("You don't have permissions".into());
        let text = decide(&f).unwrap_err().to_string();
        assert!(
            text.contains("AWS said: You don't have permissions"),
            "{text}"
        );
        assert!(text.contains(&register_command(&id(OTHER))), "{text}");
    }

    #[test]
    fn a_declaration_in_the_management_account_must_be_empty() {
        let e = decide(&facts(MGMT, &[], Declared::DelegatedAdminFor(id(MGMT)))).unwrap_err();
        assert!(matches!(e, ModeError::DeclaredInManagementAccount { .. }));
        assert!(
            e.to_string()
                .contains("Fix: set ManagementAccountId to an empty value"),
            "{e}"
        );
    }

    #[test]
    fn a_delegated_administrator_must_declare_the_management_account() {
        let e = decide(&facts(DA, &[DA], Declared::InManagementAccount)).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("Fix: set ManagementAccountId to 111111111111"),
            "{e}"
        );
        let e = decide(&facts(DA, &[DA], Declared::DelegatedAdminFor(id(OTHER)))).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("ManagementAccountId is `333333333333`"),
            "{text}"
        );
        assert!(
            text.ends_with("Fix: set ManagementAccountId to 111111111111"),
            "{text}"
        );
    }

    #[test]
    fn the_declaration_parses_empty_or_twelve_digits_and_names_a_bad_value() {
        assert_eq!(
            Declared::parse(None).unwrap(),
            Declared::InManagementAccount
        );
        assert_eq!(
            Declared::parse(Some(" ")).unwrap(),
            Declared::InManagementAccount
        );
        assert_eq!(
            Declared::parse(Some(MGMT)).unwrap(),
            Declared::DelegatedAdminFor(id(MGMT))
        );
        assert_eq!(
            Declared::parse(Some(MGMT)).unwrap().call_as(),
            CallAs::DelegatedAdmin
        );
        let e = Declared::parse(Some("1234")).unwrap_err();
        assert!(e.to_string().contains("ManagementAccountId `1234`"), "{e}");
    }

    #[test]
    fn doctor_says_what_the_other_mode_needs() {
        let m = decide(&facts(MGMT, &[], Declared::Unknown)).unwrap();
        let none = other_mode_needs(&m, &Registration::Listed(vec![]));
        assert!(none.contains("register-delegated-administrator"), "{none}");
        let some = other_mode_needs(&m, &Registration::Listed(vec![id(DA)]));
        assert!(some.contains(DA) && some.contains(MGMT), "{some}");
        let m = decide(&facts(DA, &[DA], Declared::Unknown)).unwrap();
        let back = other_mode_needs(&m, &Registration::Listed(vec![id(DA)]));
        assert!(
            back.contains(&format!("management account {MGMT}")),
            "{back}"
        );
    }

    #[test]
    fn call_as_is_spelled_as_aws_spells_it() {
        assert_eq!(CallAs::Self_.as_str(), "SELF");
        assert_eq!(CallAs::DelegatedAdmin.to_string(), "DELEGATED_ADMIN");
        assert_eq!(
            serde_json::to_string(&CallAs::DelegatedAdmin).unwrap(),
            "\"DELEGATED_ADMIN\""
        );
    }
}
