//! Port's role's managed policies and permissions boundary (template parameters
//! `PortRolePolicyArns` and `PortRolePermissionsBoundaryArn`): short names resolved, ARNs
//! checked, the count kept to IAM's quota. The one place these rules live: the custom
//! resource's preflight refuses a bad value with this text before anything changes, and
//! `orgscope doctor` checks the same. The templates' AllowedPattern and their slot expressions
//! (tests/template/test_role_permissions.py) follow the same rules.

use std::fmt;

/// IAM's default quota of managed policies attached to one role (IAM User Guide, "IAM and
/// AWS STS quotas": "Managed policies attached to an IAM role", default 10, adjustable up to
/// 25). The templates cut the list into this many slots.
pub const MAX_MANAGED_POLICIES_PER_ROLE: usize = 10;

/// The AWS managed policies that may be given by name, with their path. ViewOnlyAccess is a
/// job-function policy: `arn:aws:iam::aws:policy/job-function/ViewOnlyAccess` (AWS Managed
/// Policy Reference, "ViewOnlyAccess"). Any other AWS managed policy goes by its ARN.
pub const SHORT_NAMES: &[(&str, &str)] = &[
    ("ReadOnlyAccess", "ReadOnlyAccess"),
    ("ViewOnlyAccess", "job-function/ViewOnlyAccess"),
    ("SecurityAudit", "SecurityAudit"),
    (
        "AWSCloudFormationReadOnlyAccess",
        "AWSCloudFormationReadOnlyAccess",
    ),
];

/// What Port's guide lists as the minimum (port-docs pull request #1727): AWS Cloud Control
/// API's read actions, which IAM authorizes under the `cloudformation` prefix (Service
/// Authorization Reference, "Actions, resources, and condition keys for AWS Cloud Control
/// API": ListResources, GetResource). Without them Port can read no resource kind.
pub const CLOUD_CONTROL_READ: [&str; 2] =
    ["cloudformation:ListResources", "cloudformation:GetResource"];

/// The `cloudformation:` actions each short name's policy document grants, on `*` (AWS
/// Managed Policy Reference: ReadOnlyAccess, ViewOnlyAccess, SecurityAudit,
/// AWSCloudFormationReadOnlyAccess; their versions of September 2026). Enough for the Cloud
/// Control check without reading them from IAM.
pub const SHORT_NAME_CLOUDFORMATION_ACTIONS: &[(&str, &[&str])] = &[
    (
        "ReadOnlyAccess",
        &[
            "cloudformation:BatchDescribeTypeConfigurations",
            "cloudformation:Describe*",
            "cloudformation:Detect*",
            "cloudformation:Estimate*",
            "cloudformation:Get*",
            "cloudformation:List*",
            "cloudformation:ValidateTemplate",
        ],
    ),
    (
        "job-function/ViewOnlyAccess",
        &[
            "cloudformation:DescribeStacks",
            "cloudformation:GetTemplateSummary",
            "cloudformation:List*",
        ],
    ),
    (
        "SecurityAudit",
        &[
            "cloudformation:DescribeStack*",
            "cloudformation:GetStackPolicy",
            "cloudformation:GetTemplate",
            "cloudformation:GetTemplateSummary",
            "cloudformation:ListStackResources",
            "cloudformation:ListStack*",
        ],
    ),
    (
        "AWSCloudFormationReadOnlyAccess",
        &[
            "cloudformation:Describe*",
            "cloudformation:BatchDescribe*",
            "cloudformation:EstimateTemplateCost",
            "cloudformation:Get*",
            "cloudformation:List*",
            "cloudformation:ValidateTemplate",
            "cloudformation:Detect*",
        ],
    ),
];

/// The `cloudformation:` part of a short name's document (`path_and_name` as resolved), as a
/// policy document; `None` for any other AWS managed policy.
pub fn known_cloudformation_document(path_and_name: &str) -> Option<serde_json::Value> {
    SHORT_NAME_CLOUDFORMATION_ACTIONS
        .iter()
        .find(|(p, _)| *p == path_and_name)
        .map(|(_, actions)| {
            serde_json::json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": actions, "Resource": "*"}
            ]})
        })
}

/// The default of `PortRolePolicyArns`: what Port's guide recommends.
pub const DEFAULT_POLICIES: &str = "ReadOnlyAccess";

/// One managed policy of Port's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolePolicy {
    /// An AWS managed policy; `path_and_name` as in its ARN after `policy/`.
    AwsManaged { path_and_name: String },
    /// A customer managed policy: the one of this path and name in each role's own account
    /// (IAM attaches a customer managed policy only to identities of the account that owns
    /// it: IAM User Guide, "Managed policies and inline policies"). `given_account` is the
    /// account of the ARN as given.
    CustomerManaged {
        given_account: String,
        path_and_name: String,
    },
}

impl RolePolicy {
    /// The ARN of this policy for a role in `account`, in `partition`.
    pub fn arn_in(&self, partition: &str, account: &str) -> String {
        match self {
            RolePolicy::AwsManaged { path_and_name } => {
                format!("arn:{partition}:iam::aws:policy/{path_and_name}")
            }
            RolePolicy::CustomerManaged { path_and_name, .. } => {
                format!("arn:{partition}:iam::{account}:policy/{path_and_name}")
            }
        }
    }

    pub fn is_customer_managed(&self) -> bool {
        matches!(self, RolePolicy::CustomerManaged { .. })
    }
}

/// The checked values of the two parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePolicies {
    pub policies: Vec<RolePolicy>,
    pub boundary: Option<RolePolicy>,
}

impl RolePolicies {
    /// Every policy, the boundary last.
    pub fn all(&self) -> impl Iterator<Item = &RolePolicy> {
        self.policies.iter().chain(self.boundary.iter())
    }
}

/// A value refused, naming it and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolePolicyError {
    Empty,
    EmptyEntry {
        field: &'static str,
        given: String,
    },
    Whitespace {
        field: &'static str,
        given: String,
    },
    UnknownShortName {
        field: &'static str,
        name: String,
    },
    NotAPolicyArn {
        field: &'static str,
        given: String,
    },
    OtherPartition {
        field: &'static str,
        arn: String,
        partition: String,
        stack: String,
    },
    Duplicate {
        arn: String,
    },
    TooMany {
        count: usize,
    },
}

fn short_names() -> String {
    SHORT_NAMES
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for RolePolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RolePolicyError::Empty => write!(
                f,
                "PortRolePolicyArns is empty: give at least one managed policy, e.g. \
                 {DEFAULT_POLICIES} (the default)."
            ),
            RolePolicyError::EmptyEntry { field, given } => write!(
                f,
                "{field} `{given}` has an empty entry: separate the policies by single commas, \
                 with none at the start or the end."
            ),
            RolePolicyError::Whitespace { field, given } => write!(
                f,
                "{field} `{given}` contains spaces: separate the policies by commas only, e.g. \
                 ViewOnlyAccess,SecurityAudit."
            ),
            RolePolicyError::UnknownShortName { field, name } => write!(
                f,
                "{field}: `{name}` is not a short name this stack knows ({}). Give any other \
                 policy by its ARN: arn:aws:iam::aws:policy/{name} if it is an AWS managed \
                 policy, arn:aws:iam::<account ID>:policy/{name} if it is your own.",
                short_names()
            ),
            RolePolicyError::NotAPolicyArn { field, given } => write!(
                f,
                "{field}: `{given}` is not a managed policy ARN. Use \
                 arn:aws:iam::aws:policy/<path/name> for an AWS managed policy or \
                 arn:aws:iam::<12-digit account ID>:policy/<path/name> for your own, or a short \
                 name ({}).",
                short_names()
            ),
            RolePolicyError::OtherPartition {
                field,
                arn,
                partition,
                stack,
            } => write!(
                f,
                "{field}: `{arn}` is in partition {partition}, but this stack runs in \
                 {stack}: use arn:{stack}:iam::… ."
            ),
            RolePolicyError::Duplicate { arn } => write!(
                f,
                "PortRolePolicyArns names `{arn}` twice: give each policy once."
            ),
            RolePolicyError::TooMany { count } => write!(
                f,
                "PortRolePolicyArns has {count} policies; a role can have at most \
                 {MAX_MANAGED_POLICIES_PER_ROLE} managed policies (IAM's default quota, IAM \
                 User Guide, \"IAM and AWS STS quotas\"). Combine some into one customer \
                 managed policy."
            ),
        }
    }
}

impl std::error::Error for RolePolicyError {}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=.@_-".contains(c)
}

/// One entry: a short name or a managed policy ARN.
fn one(field: &'static str, entry: &str, partition: &str) -> Result<RolePolicy, RolePolicyError> {
    if !entry.starts_with("arn:") {
        return SHORT_NAMES
            .iter()
            .find(|(n, _)| *n == entry)
            .map(|(_, path)| RolePolicy::AwsManaged {
                path_and_name: (*path).to_string(),
            })
            .ok_or_else(|| RolePolicyError::UnknownShortName {
                field,
                name: entry.to_string(),
            });
    }
    let bad = || RolePolicyError::NotAPolicyArn {
        field,
        given: entry.to_string(),
    };
    // arn:<partition>:iam::<aws|account>:policy/<path/>name
    let parts: Vec<&str> = entry.splitn(6, ':').collect();
    let [_, arn_partition, service, region, owner, resource] = parts[..] else {
        return Err(bad());
    };
    let path_and_name = resource.strip_prefix("policy/").ok_or_else(bad)?;
    let segments_ok = !path_and_name.is_empty()
        && path_and_name
            .split('/')
            .all(|s| !s.is_empty() && s.chars().all(is_name_char))
        && path_and_name
            .rsplit('/')
            .next()
            .is_some_and(|n| n.len() <= 128);
    let owner_ok =
        owner == "aws" || (owner.len() == 12 && owner.chars().all(|c| c.is_ascii_digit()));
    if !arn_partition.starts_with("aws")
        || service != "iam"
        || !region.is_empty()
        || !owner_ok
        || !segments_ok
    {
        return Err(bad());
    }
    if arn_partition != partition {
        return Err(RolePolicyError::OtherPartition {
            field,
            arn: entry.to_string(),
            partition: arn_partition.to_string(),
            stack: partition.to_string(),
        });
    }
    Ok(if owner == "aws" {
        RolePolicy::AwsManaged {
            path_and_name: path_and_name.to_string(),
        }
    } else {
        RolePolicy::CustomerManaged {
            given_account: owner.to_string(),
            path_and_name: path_and_name.to_string(),
        }
    })
}

/// Checks `PortRolePolicyArns` (comma-separated) and `PortRolePermissionsBoundaryArn` (empty
/// or one) for a stack in `partition`.
pub fn parse_role_policies(
    policies: &str,
    boundary: &str,
    partition: &str,
) -> Result<RolePolicies, RolePolicyError> {
    const FIELD: &str = "PortRolePolicyArns";
    if policies.is_empty() {
        return Err(RolePolicyError::Empty);
    }
    if policies.chars().any(char::is_whitespace) {
        return Err(RolePolicyError::Whitespace {
            field: FIELD,
            given: policies.to_string(),
        });
    }
    let entries: Vec<&str> = policies.split(',').collect();
    if entries.iter().any(|e| e.is_empty()) {
        return Err(RolePolicyError::EmptyEntry {
            field: FIELD,
            given: policies.to_string(),
        });
    }
    let mut out: Vec<RolePolicy> = Vec::new();
    for e in &entries {
        let p = one(FIELD, e, partition)?;
        if out.contains(&p) {
            return Err(RolePolicyError::Duplicate {
                arn: p.arn_in(partition, "<account>"),
            });
        }
        out.push(p);
    }
    if out.len() > MAX_MANAGED_POLICIES_PER_ROLE {
        return Err(RolePolicyError::TooMany { count: out.len() });
    }
    const BFIELD: &str = "PortRolePermissionsBoundaryArn";
    let boundary = match boundary {
        "" => None,
        b if b.chars().any(char::is_whitespace) => {
            return Err(RolePolicyError::Whitespace {
                field: BFIELD,
                given: b.to_string(),
            })
        }
        b => Some(one(BFIELD, b, partition)?),
    };
    Ok(RolePolicies {
        policies: out,
        boundary,
    })
}

/// The partition of an ARN (`arn:<partition>:…`), e.g. of the stack's ID.
pub fn partition_of(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:")?
        .split(':')
        .next()
        .filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arns(p: &RolePolicies, account: &str) -> Vec<String> {
        p.policies
            .iter()
            .map(|x| x.arn_in("aws", account))
            .collect()
    }

    #[test]
    fn the_default_is_read_only_access() {
        let p = parse_role_policies(DEFAULT_POLICIES, "", "aws").unwrap();
        assert_eq!(
            arns(&p, "111122223333"),
            ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
        );
        assert_eq!(p.boundary, None);
    }

    #[test]
    fn short_names_resolve_with_their_path_and_customer_policies_are_each_accounts_own() {
        let p = parse_role_policies(
            "ViewOnlyAccess,SecurityAudit,arn:aws:iam::111122223333:policy/port/PortRead",
            "arn:aws:iam::111122223333:policy/PortBoundary",
            "aws",
        )
        .unwrap();
        assert_eq!(
            arns(&p, "444455556666"),
            [
                "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess",
                "arn:aws:iam::aws:policy/SecurityAudit",
                "arn:aws:iam::444455556666:policy/port/PortRead",
            ]
        );
        assert_eq!(
            p.boundary.unwrap().arn_in("aws", "444455556666"),
            "arn:aws:iam::444455556666:policy/PortBoundary"
        );
    }

    #[test]
    fn an_unknown_short_name_is_refused_naming_it_and_the_arn_to_give() {
        let e = parse_role_policies("ViewOnlyAccess,AdministratorAccess", "", "aws").unwrap_err();
        let t = e.to_string();
        assert!(t.contains("`AdministratorAccess`"), "{t}");
        assert!(
            t.contains("arn:aws:iam::aws:policy/AdministratorAccess"),
            "{t}"
        );
        assert!(t.contains("ViewOnlyAccess, SecurityAudit"), "{t}");
    }

    #[test]
    fn bad_arns_are_refused_naming_the_value() {
        for bad in [
            "arn:aws:iam::12345:policy/PortRead",
            "arn:aws:iam::123456789012:role/PortRead",
            "arn:aws:s3:::bucket",
            "arn:aws:iam:us-east-1:123456789012:policy/X",
            "arn:aws:iam::123456789012:policy/",
            "arn:aws:iam::123456789012:policy/a//b",
        ] {
            let t = parse_role_policies(bad, "", "aws").unwrap_err().to_string();
            assert!(t.contains(&format!("`{bad}`")), "{bad}: {t}");
            assert!(t.contains("is not a managed policy ARN"), "{bad}: {t}");
        }
        let t = parse_role_policies("ReadOnlyAccess", "arn:aws:iam::1:policy/B", "aws")
            .unwrap_err()
            .to_string();
        assert!(
            t.starts_with("PortRolePermissionsBoundaryArn: `arn:aws:iam::1:policy/B`"),
            "{t}"
        );
    }

    #[test]
    fn an_arn_of_another_partition_is_refused_with_the_stacks() {
        let t = parse_role_policies("arn:aws-cn:iam::aws:policy/ReadOnlyAccess", "", "aws")
            .unwrap_err()
            .to_string();
        assert!(t.contains("partition aws-cn"), "{t}");
        assert!(t.contains("runs in aws"), "{t}");
        assert!(
            parse_role_policies("arn:aws-cn:iam::aws:policy/ReadOnlyAccess", "", "aws-cn").is_ok()
        );
    }

    #[test]
    fn at_most_ten_policies_as_iam_allows() {
        let ten: Vec<String> = (0..10)
            .map(|i| format!("arn:aws:iam::aws:policy/P{i}"))
            .collect();
        assert_eq!(
            parse_role_policies(&ten.join(","), "", "aws")
                .unwrap()
                .policies
                .len(),
            10
        );
        let eleven: Vec<String> = (0..11)
            .map(|i| format!("arn:aws:iam::aws:policy/P{i}"))
            .collect();
        let t = parse_role_policies(&eleven.join(","), "", "aws")
            .unwrap_err()
            .to_string();
        assert!(
            t.contains("has 11 policies") && t.contains("at most 10"),
            "{t}"
        );
        assert!(t.contains("IAM and AWS STS quotas"), "{t}");
    }

    #[test]
    fn empty_entries_spaces_and_duplicates_are_refused() {
        assert_eq!(
            parse_role_policies("", "", "aws").unwrap_err(),
            RolePolicyError::Empty
        );
        for (bad, says) in [
            ("ViewOnlyAccess,,SecurityAudit", "empty entry"),
            ("ViewOnlyAccess,", "empty entry"),
            ("ViewOnlyAccess, SecurityAudit", "contains spaces"),
            (
                "ReadOnlyAccess,arn:aws:iam::aws:policy/ReadOnlyAccess",
                "twice",
            ),
        ] {
            let t = parse_role_policies(bad, "", "aws").unwrap_err().to_string();
            assert!(t.contains(says), "{bad}: {t}");
        }
    }

    #[test]
    fn of_the_short_names_only_read_only_and_cloudformation_read_only_allow_cloud_controls_reads() {
        use crate::core::policy_eval::allows;
        let ok = |name: &str| {
            let p = parse_role_policies(name, "", "aws").unwrap();
            let RolePolicy::AwsManaged { path_and_name } = &p.policies[0] else {
                unreachable!()
            };
            let doc = known_cloudformation_document(path_and_name).expect("a known document");
            CLOUD_CONTROL_READ.map(|a| allows(&[&doc], a))
        };
        assert_eq!(ok("ReadOnlyAccess"), [true, true]);
        assert_eq!(ok("AWSCloudFormationReadOnlyAccess"), [true, true]);
        // ViewOnlyAccess lists (cloudformation:List*) but cannot get a resource.
        assert_eq!(ok("ViewOnlyAccess"), [true, false]);
        assert_eq!(ok("SecurityAudit"), [false, false]);
        assert_eq!(SHORT_NAME_CLOUDFORMATION_ACTIONS.len(), SHORT_NAMES.len());
    }

    #[test]
    fn the_partition_of_the_stack_id() {
        assert_eq!(
            partition_of("arn:aws-us-gov:cloudformation:us-gov-west-1:1:stack/s/x"),
            Some("aws-us-gov")
        );
        assert_eq!(partition_of("nope"), None);
    }
}
