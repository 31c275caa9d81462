//! Port's role's policies and boundary: they exist, and allow Cloud Control's read actions.

use std::collections::BTreeMap;

use serde_json::Value;
use shared::core::policy_eval::allows;
use shared::core::{known_cloudformation_document, RolePolicy, CLOUD_CONTROL_READ};
use shared::doctor::{check, Check, Status};

use super::checks::*;

/// The role's policies: they exist in the signed-in account (a customer managed policy must
/// exist in every account in scope: doctor can see this one), and together (within the
/// boundary) they allow Cloud Control's read actions, the minimum Port's guide lists.
pub(super) fn role_policies(i: &Inputs<'_>) -> Vec<Check> {
    const T: &str = "Port role policies";
    let f = &i.role_policies;
    let acct = &f.account;
    let p = match &f.parsed {
        Err(e) => {
            return vec![check("role-policies", Status::Fail, T, e.clone()).fix(
                "Set PortRolePolicyArns (orgscope: --role-policy-arns) and \
                 PortRolePermissionsBoundaryArn (--role-permissions-boundary-arn) to valid \
                 values; the default is ReadOnlyAccess with no boundary.",
            )]
        }
        Ok(p) => p,
    };
    let mut out = Vec::new();
    let read: BTreeMap<&str, &Result<Option<Value>, String>> =
        f.documents.iter().map(|(a, d)| (a.as_str(), d)).collect();
    // The document of each policy, when known: None = unknown (missing or unreadable).
    let doc_of = |x: &RolePolicy| -> Option<Value> {
        if let RolePolicy::AwsManaged { path_and_name } = x {
            if let Some(d) = known_cloudformation_document(path_and_name) {
                return Some(d);
            }
        }
        match read.get(x.arn_in(&f.partition, acct).as_str()) {
            Some(Ok(Some(d))) => Some(d.clone()),
            _ => None,
        }
    };
    for x in p.all() {
        let arn = x.arn_in(&f.partition, acct);
        match read.get(arn.as_str()) {
            Some(Ok(None)) if x.is_customer_managed() => {
                let RolePolicy::CustomerManaged { path_and_name, .. } = x else {
                    unreachable!()
                };
                let (path, name) = match path_and_name.rsplit_once('/') {
                    Some((p, n)) => (format!("/{p}/"), n.to_string()),
                    None => ("/".to_string(), path_and_name.clone()),
                };
                out.push(
                    check(
                        format!("role-policy:{arn}"),
                        Status::Fail,
                        T,
                        format!(
                            "the customer managed policy {arn} does not exist in {acct}: Port's \
                             role takes the policy of that path and name from its own account, \
                             so every account in scope (and this one) needs it, or the role \
                             there is not created"
                        ),
                    )
                    .fix(format!(
                        "Create it in every account in scope, e.g. aws iam create-policy \
                         --policy-name {name} --path {path} --policy-document file://policy.json \
                         (or a StackSet of your own), or remove it from PortRolePolicyArns."
                    )),
                );
            }
            Some(Ok(None)) => out.push(
                check(
                    format!("role-policy:{arn}"),
                    Status::Fail,
                    T,
                    format!("IAM has no AWS managed policy {arn}"),
                )
                .fix(
                    "Check the name and path in the AWS Managed Policy Reference, or use a \
                     short name (ReadOnlyAccess, ViewOnlyAccess, SecurityAudit, \
                     AWSCloudFormationReadOnlyAccess).",
                ),
            ),
            Some(Err(e)) => out.push(
                check(
                    format!("role-policy:{arn}"),
                    Status::Warn,
                    T,
                    format!("could not read {arn} in {acct}: {e}"),
                )
                .fix(format!(
                    "Check it by hand: aws iam get-policy --policy-arn {arn}"
                )),
            ),
            _ => {}
        }
    }
    let policies: Vec<Option<Value>> = p.policies.iter().map(doc_of).collect();
    let boundary: Option<Option<Value>> = p.boundary.as_ref().map(doc_of);
    let known =
        policies.iter().all(Option::is_some) && boundary.as_ref().is_none_or(Option::is_some);
    let names: Vec<String> = p
        .policies
        .iter()
        .map(|x| x.arn_in(&f.partition, acct))
        .collect();
    if known {
        let docs: Vec<&Value> = policies.iter().flatten().collect();
        let missing: Vec<&str> = CLOUD_CONTROL_READ
            .iter()
            .copied()
            .filter(|a| {
                !allows(&docs, a)
                    || boundary
                        .as_ref()
                        .and_then(Option::as_ref)
                        .is_some_and(|b| !allows(&[b], a))
            })
            .collect();
        if !missing.is_empty() {
            out.push(
                check(
                    "role-cloud-control",
                    Status::Warn,
                    T,
                    format!(
                        "the role's policies{} do not allow {}: Port's guide lists Cloud \
                         Control's read actions (cloudformation:ListResources, \
                         cloudformation:GetResource) as the minimum, and without them Port \
                         cannot read any resource kind",
                        if p.boundary.is_some() {
                            " (within the boundary)"
                        } else {
                            ""
                        },
                        missing.join(" and ")
                    ),
                )
                .fix(
                    "Add AWSCloudFormationReadOnlyAccess to PortRolePolicyArns (it allows \
                     cloudformation:Get* and List*), or a policy of your own allowing \
                     cloudformation:ListResources and cloudformation:GetResource on *.",
                ),
            );
        }
    }
    if out.is_empty() {
        out.push(check(
            "role-policies",
            Status::Pass,
            T,
            format!(
                "{}{}; {}",
                names.join(", "),
                p.boundary
                    .as_ref()
                    .map(|b| format!(" within the boundary {}", b.arn_in(&f.partition, acct)))
                    .unwrap_or_default(),
                if known {
                    "they allow Cloud Control's read actions"
                } else {
                    "Cloud Control's read actions not checked (a policy could not be read)"
                }
            ),
        ));
    }
    out
}
