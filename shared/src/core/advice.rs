//! Per-account StackSet failures, translated into what the user should do.

/// Advice for a per-account `StatusReason`: known causes get the fix, anything else is
/// passed through with the account ID.
pub fn advise(account: &str, status_reason: &str) -> String {
    let r = status_reason;
    let lower = r.to_ascii_lowercase();
    if lower.contains("should have lost port's role") {
        return format!(
            "account {account}: its stack instance could not be deleted, so Port's role is \
             still in the account and Port can still assume it. Fix the cause ({}), then \
             update the stack or let the next scheduled run try again. An instance that stays \
             INOPERABLE can be removed with `aws cloudformation delete-stack-instances \
             --retain-stacks` (then delete the StackSet's stack in the account by hand).",
            truncate(r, 300)
        );
    }
    if is_execution_role_denied(r) {
        return execution_role_denied_advice(account, r);
    }
    if is_existing_oidc_provider(r) {
        return format!(
            "account {account}: an OIDC provider for Port's URL already exists there (an \
             account can hold only one provider per URL). The integration retries such an \
             account with its own override CreateOIDCProvider=false, reusing the existing \
             provider; this failure remained after that retry. Check the provider in the \
             account (IAM > Identity providers), then update the stack or let the next \
             scheduled run try again."
        );
    }
    if let Some(policy) = missing_policy(r) {
        return format!(
            "account {account}: Port's role could not get the managed policy {policy}: it does \
             not exist in that account (IAM: NoSuchEntity). A customer managed policy given in \
             PortRolePolicyArns or PortRolePermissionsBoundaryArn is the one of that path and \
             name in each account's own account (IAM attaches a customer managed policy only \
             in the account that owns it): create it in account {account} (for example with a \
             StackSet of your own), or remove it from the parameter, then update the stack or \
             let the next scheduled run try again. `orgscope doctor` checks the policies in \
             the accounts it can see."
        );
    }
    if lower.contains("aws::iam::role") && lower.contains("already exists") {
        return format!(
            "account {account}: a role with the same name already exists there. The \
             integration cannot reuse an existing role: it needs Port's OIDC trust, which this \
             stack writes. Leave CustomRoleName empty (PortIntegrationRole-<IntegrationIdentifier>) \
             or delete the old role, then update the stack."
        );
    }
    if is_stack_instance_quota(&lower) {
        return format!(
            "account {account}: the StackSet has reached its quota of stack instances ({r}). \
             AWS's default is {STACK_INSTANCE_QUOTA} instances per StackSet (one per account \
             and region), and an account's may be lower or raised. Raise it in the management \
             account: Service Quotas > AWS CloudFormation > Stack instances per stack set > \
             Request increase (or `aws service-quotas get-service-quota --service-code \
             {STACK_INSTANCE_QUOTA_SERVICE} --quota-code {STACK_INSTANCE_QUOTA_CODE}` to see \
             it), then update the stack or wait for the scheduled run."
        );
    }
    if lower.contains("suspended") {
        return format!("account {account}: the account is suspended; StackSets skip it.");
    }
    if lower.contains("stacksetexecutionrole")
        || lower.contains("awscloudformationstacksetexecutionrole")
        || lower.contains("trusted access")
        || lower.contains("organizations access")
    {
        return format!(
            "account {account}: StackSets could not act in the account ({r}). Check that \
             trusted access for CloudFormation StackSets is enabled in AWS Organizations; if it \
             is not: {}",
            super::TRUSTED_ACCESS_FIX
        );
    }
    format!("account {account}: {}", truncate(r, 300))
}

/// The member stack failed because a managed policy (or permissions boundary) of Port's role
/// does not exist in the account: IAM's `NoSuchEntity` (HTTP 404) for AttachRolePolicy and
/// CreateRole's PermissionsBoundary, "Policy <arn> does not exist or is not attachable." (IAM
/// API reference, AttachRolePolicy, Errors: NoSuchEntity, "The request was rejected because it
/// referenced a resource entity that does not exist"). CloudFormation puts IAM's message in
/// the stack instance's StatusReason. Returns the policy's ARN when the reason names one.
pub fn missing_policy(status_reason: &str) -> Option<String> {
    let lower = status_reason.to_ascii_lowercase();
    let missing = lower.contains("does not exist or is not attachable")
        || (lower.contains("nosuchentity") && lower.contains(":policy/"));
    if !missing {
        return None;
    }
    let arn = status_reason
        .split(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',')
        .find(|w| w.starts_with("arn:") && w.contains(":policy/"))
        .map(|w| w.trim_end_matches(['.', ')']).to_string());
    Some(arn.unwrap_or_else(|| "named in its StatusReason".into()))
}

/// The member stack failed because Port's OIDC provider already exists in the account: its
/// `AWS::IAM::OIDCProvider` resource got IAM's `EntityAlreadyExists` (HTTP 409), "Provider with
/// url <url> already exists." (IAM API reference, CreateOpenIDConnectProvider, Errors;
/// https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateOpenIDConnectProvider.html).
/// StackSets report it as the stack instance's StatusReason in the form
/// `ResourceLogicalId:<id>, ResourceType:AWS::IAM::OIDCProvider, ResourceStatusReason:Resource
/// handler returned message: "Provider with url https://... already exists. (Service: Iam,
/// Status Code: 409, Request ID: ...)" (RequestToken: ..., HandlerErrorCode: AlreadyExists).`
/// Matched on the resource type or on IAM's own sentence, each with "already exists", so a
/// role that already exists (which cannot be reused) never matches.
pub fn is_existing_oidc_provider(status_reason: &str) -> bool {
    let lower = status_reason.to_ascii_lowercase();
    let exists = lower.contains("already exists");
    let role = lower.contains("aws::iam::role");
    exists
        && !role
        && (lower.contains("aws::iam::oidcprovider") || lower.contains("provider with url"))
}

/// The "not ready yet" class of failure: StackSets could not act in the account because its
/// execution role is denied there, by a service control policy or because the account's setup
/// has not finished. Landing zones put a new account under a quarantine SCP until their own
/// setup is done (landing-zone-accelerator-on-aws #850: the quarantine SCP denies every action
/// to roles not named like `aws*` or the accelerator's own, so the StackSets execution role
/// `stacksets-exec-*` fails in the new account; aws-secure-environment-accelerator #1186 quotes
/// "User: arn:aws:sts::…:assumed-role/stacksets-exec-…/… is not authorized to perform:
/// iam:GetRole on resource: … with an explicit deny in a service control policy"). Such a
/// failure ends by itself when the deny lifts, so the engine keeps retrying it at the schedule
/// without counting it toward giving up.
///
/// Matched, case-insensitively, on: IAM's words for a denial by an SCP ("service control
/// policy" with "not authorized to perform", IAM User Guide, "Troubleshoot access denied error
/// messages": "… with an explicit deny in a service control policy" / "… because no service
/// control policy allows …"); an access denial naming the execution role (`stacksets-exec-`
/// for service-managed StackSets, `…StackSetExecutionRole` for self-managed ones); StackSets'
/// own sentence for an execution role it cannot assume, "Account <id> should have '<execution
/// role>' role with trust relationship to Role '<administration role>'." (as
/// aws-control-tower-customizations #109 quotes it). Not matched: the administration role's
/// own "... role with trust relationship to CloudFormation service." (the administrator
/// account's setup, which does not end by itself).
pub fn is_execution_role_denied(status_reason: &str) -> bool {
    let l = status_reason.to_ascii_lowercase();
    let denied = l.contains("not authorized to perform")
        || l.contains("accessdenied")
        || l.contains("access denied");
    let by_scp = l.contains("service control policy") && denied;
    let exec_role = l.contains("stacksets-exec-") || l.contains("stacksetexecutionrole");
    let not_assumable =
        l.contains("should have '") && l.contains("role with trust relationship to role '");
    by_scp || (exec_role && denied) || not_assumable
}

fn execution_role_denied_advice(account: &str, reason: &str) -> String {
    format!(
        "account {account}: a service control policy or the account's setup denies the \
         StackSets execution role; it will be retried at the next scheduled run, without \
         counting toward giving up, and gets Port's role once the deny lifts (landing zones \
         quarantine new accounts this way until their setup finishes; if it lasts longer, \
         exempt the execution role, stacksets-exec-*, from the policy). AWS said: {}",
        truncate(reason, 400)
    )
}

/// The line logged when the engine acts on [`is_existing_oidc_provider`]: what it did and why.
pub fn reuse_oidc_note(account: &str) -> String {
    format!(
        "account {account}: Port's OIDC provider already exists there; its stack instance now \
         reuses it (per-account override CreateOIDCProvider=false, kept by later operations; \
         removing the instance leaves the provider in place)"
    )
}

/// AWS's default quota of stack instances per StackSet (raisable through Service Quotas):
/// 100,000 in the CloudFormation User Guide's quota table ("Stack instances: the maximum
/// number of stack instances you can create per stack set", 100,000;
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html>),
/// which earlier said 2,000 (and before that 500). The account's own value is what
/// `orgscope doctor` reads ([`STACK_INSTANCE_QUOTA_CODE`]); this default is what it assumes
/// when it cannot.
pub const STACK_INSTANCE_QUOTA: usize = 100_000;

/// The Service Quotas code of "Stack instances per stack set" (service code
/// [`STACK_INSTANCE_QUOTA_SERVICE`]), as `aws service-quotas list-service-quotas
/// --service-code cloudformation` names it.
pub const STACK_INSTANCE_QUOTA_CODE: &str = "L-C8225BA5";
/// The Service Quotas service code of CloudFormation.
pub const STACK_INSTANCE_QUOTA_SERVICE: &str = "cloudformation";

/// AWS answers `LimitExceededException` ("The quota for the resource has already been
/// reached") when a StackSet would exceed its stack instance quota.
fn is_stack_instance_quota(lower: &str) -> bool {
    lower.contains("limitexceeded")
        || (lower.contains("stack instance")
            && (lower.contains("quota") || lower.contains("limit")))
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_oidc_provider_that_remains_after_the_override_is_reported_with_advice() {
        let a = advise(
            "111111111111",
            "ResourceLogicalId:PortOidcProvider, ResourceType:AWS::IAM::OIDCProvider, \
             ResourceStatusReason:Provider with url https://oidc.eks.eu-west-1.amazonaws.com/id/X \
             already exists.",
        );
        assert!(a.contains("CreateOIDCProvider=false"), "{a}");
        assert!(a.contains("111111111111"));
        let b = advise("111111111111", AWS_OIDC_EXISTS);
        assert_eq!(a, b, "AWS's full wording gets the same advice");
    }

    /// AWS's form of a member stack resource failure (StackSets' StatusReason) around IAM's
    /// EntityAlreadyExists sentence for an OIDC provider.
    const AWS_OIDC_EXISTS: &str = "ResourceLogicalId:PortOIDCProvider, \
        ResourceType:AWS::IAM::OIDCProvider, ResourceStatusReason:Resource handler returned \
        message: \"Provider with url \
        https://oidc.eks.eu-west-1.amazonaws.com/id/56E5F51C07138118A9183ECEAA68FAF4 already \
        exists. (Service: Iam, Status Code: 409, Request ID: \
        92c5d69e-20b6-413d-94bd-0f877384c109) (SDK Attempt Count: 1)\" (RequestToken: \
        021a5ecf-0929-9702-c1d3-0cfda96b6712, HandlerErrorCode: AlreadyExists).";

    #[test]
    fn an_existing_oidc_provider_is_recognised_in_aws_words() {
        assert!(is_existing_oidc_provider(AWS_OIDC_EXISTS));
        assert!(is_existing_oidc_provider(
            "Provider with url https://oidc.example.com/id/X already exists."
        ));
    }

    #[test]
    fn other_failures_are_not_taken_for_an_existing_oidc_provider() {
        for reason in [
            "ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, \
             ResourceStatusReason:PortIntegrationRole-aws-v3-multi already exists.",
            "ResourceLogicalId:PortOIDCProvider, ResourceType:AWS::IAM::OIDCProvider, \
             ResourceStatusReason:Access denied (Service: Iam, Status Code: 403)",
            "Account is suspended; skipped",
            "",
        ] {
            assert!(!is_existing_oidc_provider(reason), "{reason}");
        }
    }

    #[test]
    fn a_missing_customer_managed_policy_names_the_policy_and_the_account_to_create_it_in() {
        // CloudFormation's StatusReason for IAM's NoSuchEntity on the role's managed policy.
        let reason = "ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, \
                      ResourceStatusReason:Resource handler returned message: \"Policy \
                      arn:aws:iam::444455556666:policy/port/PortRead does not exist or is not \
                      attachable. (Service: Iam, Status Code: 404, Request ID: 1f2e)\" \
                      (RequestToken: 9a8b, HandlerErrorCode: NotFound)";
        assert_eq!(
            missing_policy(reason).as_deref(),
            Some("arn:aws:iam::444455556666:policy/port/PortRead")
        );
        let a = advise("444455556666", reason);
        assert!(
            a.contains("arn:aws:iam::444455556666:policy/port/PortRead"),
            "{a}"
        );
        assert!(a.contains("create it in account 444455556666"), "{a}");
        assert!(a.contains("PortRolePolicyArns"), "{a}");
        // Not taken for other failures of the role.
        assert_eq!(missing_policy("Role with name X already exists."), None);
        assert!(!advise("1", "Role with name X already exists.").contains("managed policy"));
    }

    #[test]
    fn existing_role_explains_why_it_cannot_be_reused() {
        let a = advise(
            "222222222222",
            "ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, \
             ResourceStatusReason:PortIntegrationRole-aws-v3-multi already exists.",
        );
        assert!(a.contains("cannot reuse an existing role"), "{a}");
        assert!(a.contains("CustomRoleName empty"), "{a}");
    }

    #[test]
    fn the_stack_instance_quota_says_how_to_raise_it() {
        for reason in [
            "LimitExceededException: The quota for the resource has already been reached.",
            "Stack instance quota exceeded for stack set Port-Integration-v3",
        ] {
            let a = advise("444444444444", reason);
            assert!(a.contains("100000 instances per StackSet"), "{a}");
            assert!(a.contains(STACK_INSTANCE_QUOTA_CODE), "{a}");
            assert!(a.contains("Service Quotas"), "{a}");
            assert!(a.contains("444444444444"), "{a}");
        }
    }

    /// The test bed's words for a quarantined account (tests/emulator, `quarantine`).
    const SCP_DENIED: &str = "User: arn:aws:sts::111111111111:assumed-role/\
        stacksets-exec-0c9f6d0c5c2a4b7e8f1a2b3c4d5e6f70/8d3e1f0a2b4c6d8e is not authorized to \
        perform: cloudformation:CreateStack on resource: arn:aws:cloudformation:us-east-1:\
        111111111111:stack/StackSet-Port-Integration-v3-5f0c2d8e-1b3a-4c5d-9e7f-0a1b2c3d4e5f/* \
        with an explicit deny in a service control policy";

    #[test]
    fn a_denied_execution_role_is_the_not_ready_yet_class_in_each_of_aws_forms() {
        for reason in [
            SCP_DENIED,
            // aws-secure-environment-accelerator #1186: inside the member stack.
            "ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, \
             ResourceStatusReason:User: arn:aws:sts::111111111111:assumed-role/stacksets-exec-ab/x \
             is not authorized to perform: iam:GetRole on resource: role PortIntegrationRole-aws \
             with an explicit deny in a service control policy (Service: Iam, Status Code: 403)",
            // An SCP written as an allow list (IAM's implicit-deny form).
            "User: arn:aws:sts::111111111111:assumed-role/stacksets-exec-ab/x is not authorized \
             to perform: cloudformation:CreateStack because no service control policy allows the \
             cloudformation:CreateStack action",
            // StackSets cannot assume the execution role (aws-control-tower-customizations #109).
            "Account 111111111111 should have 'AWSControlTowerExecution' role with trust \
             relationship to Role 'service-role/AWSControlTowerStackSetRole'.",
            "Account 111111111111 should have 'AWSCloudFormationStackSetExecutionRole' role with \
             trust relationship to Role 'AWSCloudFormationStackSetAdministrationRole'.",
        ] {
            assert!(is_execution_role_denied(reason), "{reason}");
            let a = advise("111111111111", reason);
            assert!(
                a.contains(
                    "a service control policy or the account's setup denies the StackSets \
                     execution role; it will be retried at the next scheduled run"
                ),
                "{a}"
            );
            assert!(a.starts_with("account 111111111111: "), "{a}");
        }
        // AWS's words are quoted whole, up to the SCP that denied.
        assert!(advise("1", SCP_DENIED).ends_with(&format!("AWS said: {SCP_DENIED}")));
    }

    #[test]
    fn other_failures_are_not_taken_for_a_denied_execution_role() {
        for reason in [
            "ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, \
             ResourceStatusReason:PortIntegrationRole-aws-v3-multi already exists.",
            AWS_OIDC_EXISTS,
            "ResourceLogicalId:PortOIDCProvider, ResourceType:AWS::IAM::OIDCProvider, \
             ResourceStatusReason:Access denied (Service: Iam, Status Code: 403)",
            // The administration role (the administrator account's own setup).
            "Account 111111111111 should have 'AWSCloudFormationStackSetAdministrationRole' role \
             with trust relationship to CloudFormation service.",
            "LimitExceededException: The quota for the resource has already been reached.",
            "Account is suspended; skipped",
            "",
        ] {
            assert!(!is_execution_role_denied(reason), "{reason}");
            assert!(
                !advise("1", reason).contains("service control policy"),
                "{reason}"
            );
        }
    }

    #[test]
    fn unknown_reasons_pass_through_with_the_account() {
        let a = advise("333333333333", "Something odd happened");
        assert_eq!(a, "account 333333333333: Something odd happened");
    }
}
