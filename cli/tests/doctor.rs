//! `orgscope doctor` against the local test bed: every check's PASS, WARN and FAIL.

mod common;

use common::*;
use e2e::{TestBed, STACK_SET};
use serde_json::json;

fn args<'a>(ous: &'a str, mode: &'a str, accounts: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "doctor",
        "--target-ou-ids",
        ous,
        "--account-scope",
        mode,
        "--target-account-ids",
        accounts,
    ];
    v.extend_from_slice(extra);
    v
}

#[tokio::test]
async fn a_ready_organization_passes_every_check() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    create_trail(&bed, "org-trail", true, true).await;
    clear_log(&bed).await;
    let out = orgscope(
        &bed,
        &args(
            &f.ou("Root/Prod"),
            "DIFFERENCE",
            &f.account("prod-eu-pci"),
            &[],
        ),
        &[],
    )
    .await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        !text.contains("WARN  ") && !text.contains("FAIL  "),
        "{text}"
    );
    assert_fits(&text);
    insta::assert_snapshot!("doctor_ready", redact(&text, &f));
    assert_eq!(mutating_calls(&bed).await, Vec::<String>::new());
}

#[tokio::test]
async fn verbose_adds_the_scope_tree() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    let out = orgscope(
        &bed,
        &args(&f.ou("Root/Prod/EU"), "ALL", "", &["--verbose"]),
        &[],
    )
    .await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("└── Payments"), "{text}");
    assert!(text.contains("3 in scope, 0 skipped"), "{text}");
    assert_fits(&text);
}

#[tokio::test]
async fn warnings_explain_listed_accounts_and_existing_iam_resources() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.control(
        "account-state",
        json!({"account_id": f.account("prod-data"), "state": "SUSPENDED"}),
    )
    .await;
    // Port's provider and a role with Port's trust exist, but no stack of this integration
    // made them (no port:integration tag). No StackSet yet.
    create_provider(&bed, None).await;
    create_role(
        &bed,
        "PortIntegrationRole-aws-v3-multi",
        &port_trust(&f.management()),
        None,
    )
    .await;
    clear_log(&bed).await;
    let listed = [
        f.account("prod-web"),
        f.account("prod-data"),
        f.account("staging-1"),
        f.management(),
    ]
    .join(",");
    let out = orgscope(
        &bed,
        &args(&f.ou("Root/Prod"), "INTERSECTION", &listed, &[]),
        &[],
    )
    .await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "warnings only: {text}");
    assert_fits(&text);
    insta::assert_snapshot!("doctor_warnings", redact(&text, &f));
    assert_eq!(mutating_calls(&bed).await, Vec::<String>::new());

    let v = json(
        &orgscope(
            &bed,
            &args(
                &f.ou("Root/Prod"),
                "INTERSECTION",
                &listed,
                &["--output", "json"],
            ),
            &[],
        )
        .await,
    );
    assert_eq!(v["ok"], true);
    let c = check(&v, &format!("account:{}", f.account("staging-1")));
    assert_eq!(c["status"], "WARN");
    assert!(c["detail"]
        .as_str()
        .unwrap()
        .contains(&format!("Root/Staging ({})", f.ou("Root/Staging"))));
    assert!(c["detail"]
        .as_str()
        .unwrap()
        .contains("INTERSECTION drops it"));
    let c = check(&v, &format!("account:{}", f.account("prod-data")));
    assert_eq!(c["status"], "WARN");
    assert!(c["detail"].as_str().unwrap().contains("SUSPENDED"));
    assert_eq!(
        check(&v, &format!("account:{}", f.management()))["status"],
        "WARN"
    );
    assert_eq!(
        check(&v, &format!("account:{}", f.account("prod-web")))["status"],
        "PASS"
    );
    let c = check(&v, "oidc-provider");
    assert_eq!(c["status"], "WARN");
    // The management account's own switch, not the StackSet's: members keep getting theirs.
    let fix = c["fix"].as_str().unwrap();
    assert!(fix.contains("CreateOIDCProviderInManagementAccount=false"));
    assert!(fix.contains("CreateOIDCProvider=true"));
    let c = check(&v, "role");
    assert_eq!(c["status"], "WARN");
    assert!(c["detail"]
        .as_str()
        .unwrap()
        .contains("trust matches Port's"));
    assert_eq!(check(&v, "stack-set")["status"], "WARN");
    assert_eq!(v["scope"]["in_scope_count"], 1);
    assert_eq!(v["summary"]["fail"], 0);
}

#[tokio::test]
async fn failures_name_the_mistake_and_the_fix() {
    let bed = TestBed::start().await;
    // An organization with consolidated billing only, then the sample tree in it.
    let conf = bed.sdk_config().await;
    aws_sdk_organizations::Client::new(&conf)
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::ConsolidatedBilling)
        .send()
        .await
        .expect("CreateOrganization");
    let f = bed.sample().await;
    // A StackSet with auto-deployment on, then trusted access turned off.
    aws_sdk_cloudformation::Client::new(&conf)
        .create_stack_set()
        .stack_set_name(STACK_SET)
        .template_body(e2e::MEMBER_TEMPLATE)
        .permission_model(aws_sdk_cloudformation::types::PermissionModels::ServiceManaged)
        .auto_deployment(
            aws_sdk_cloudformation::types::AutoDeployment::builder()
                .enabled(true)
                .retain_stacks_on_account_removal(false)
                .build(),
        )
        .send()
        .await
        .expect("CreateStackSet");
    aws_sdk_cloudformation::Client::new(&conf)
        .deactivate_organizations_access()
        .send()
        .await
        .expect("DeactivateOrganizationsAccess");
    // A role of the same name that trusts EC2: it cannot be reused.
    create_role(
        &bed,
        "PortIntegrationRole-aws-v3-multi",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        None,
    )
    .await;
    clear_log(&bed).await;
    // A typo of Prod's ID (last character changed), a root that is not this one, an account
    // that is not in the organization.
    let prod = f.ou("Root/Prod");
    let typo = format!(
        "{}{}",
        &prod[..prod.len() - 1],
        if prod.ends_with('z') { 'y' } else { 'z' }
    );
    let ous = format!("{typo},r-zz99,{}", f.ou("Root/Staging"));
    let listed = format!("000000000042,{}", f.account("staging-1"));
    let out = orgscope(&bed, &args(&ous, "DIFFERENCE", &listed, &[]), &[]).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_fits(&text);
    let red = redact(&text, &f).replace(&typo, "ou-<typo of Prod>");
    insta::assert_snapshot!("doctor_failures", red);
    assert_eq!(mutating_calls(&bed).await, Vec::<String>::new());

    let v = json(
        &orgscope(
            &bed,
            &args(&ous, "DIFFERENCE", &listed, &["--output", "json"]),
            &[],
        )
        .await,
    );
    assert_eq!(v["ok"], false);
    assert_eq!(check(&v, "trusted-access")["status"], "FAIL");
    assert!(check(&v, "trusted-access")["fix"]
        .as_str()
        .unwrap()
        .contains("aws cloudformation activate-organizations-access"));
    assert_eq!(check(&v, "all-features")["status"], "FAIL");
    let c = check(&v, &format!("target-ou:{typo}"));
    assert_eq!(c["status"], "FAIL");
    let closest = c["detail"].as_str().unwrap();
    assert!(
        closest.contains(&format!("Closest: Root/Prod ({prod})")),
        "the typo's first suggestion is Prod: {closest}"
    );
    let c = check(&v, "target-ou:r-zz99");
    assert_eq!(c["status"], "FAIL");
    assert!(c["detail"].as_str().unwrap().contains(&f.root()));
    assert!(c["detail"].as_str().unwrap().contains("whole organization"));
    assert_eq!(check(&v, "account:000000000042")["status"], "FAIL");
    let c = check(&v, "role");
    assert_eq!(c["status"], "FAIL");
    assert!(c["detail"]
        .as_str()
        .unwrap()
        .contains("Service ec2.amazonaws.com"));
    let c = check(&v, "stack-set");
    assert_eq!(c["status"], "FAIL");
    assert!(c["detail"]
        .as_str()
        .unwrap()
        .contains("has AutoDeployment on"));
    // Staging still exists and is counted: staging-1 excluded, staging-suspended skipped.
    assert_eq!(
        check(&v, &format!("target-ou:{}", f.ou("Root/Staging")))["status"],
        "PASS"
    );
    assert_eq!(v["scope"]["in_scope_count"], 1);
}

#[tokio::test]
async fn json_reports_the_root_as_the_whole_organization_and_useless_exclusions() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    create_provider(&bed, Some("aws-v3-multi")).await;
    create_role(
        &bed,
        "PortIntegrationRole-aws-v3-multi",
        &port_trust(&f.management()),
        Some("aws-v3-multi"),
    )
    .await;
    clear_log(&bed).await;
    let v = json(
        &orgscope(
            &bed,
            &args(
                &f.root(),
                "DIFFERENCE",
                &f.account("staging-2"),
                &["--output", "json"],
            ),
            &[],
        )
        .await,
    );
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["caller"], f.management());
    assert_eq!(v["management_account_id"], f.management());
    assert_eq!(v["organization_id"], f.0["organization_id"]);
    assert_eq!(v["region"], "us-east-1");
    let c = check(&v, &format!("target-ou:{}", f.root()));
    assert_eq!(c["status"], "PASS");
    assert!(c["detail"].as_str().unwrap().contains("whole organization"));
    let c = check(&v, &format!("account:{}", f.account("staging-2")));
    assert_eq!(c["status"], "PASS");
    assert!(c["detail"].as_str().unwrap().contains("excluded"));
    // The stack made the provider and the role: they are this integration's.
    assert_eq!(check(&v, "oidc-provider")["status"], "PASS");
    assert_eq!(check(&v, "role")["status"], "PASS");
    // 12 accounts: management and the suspended one are skipped, staging-2 excluded.
    assert_eq!(v["scope"]["in_scope_count"], 9);
    for c in v["checks"].as_array().unwrap() {
        for k in ["id", "status", "title", "detail"] {
            assert!(c[k].is_string(), "{k} in {c}");
        }
        assert!(c["fix"].is_null() || c["fix"].is_string());
    }
    let total = v["checks"].as_array().unwrap().len() as u64;
    let s = &v["summary"];
    assert_eq!(
        s["pass"].as_u64().unwrap() + s["warn"].as_u64().unwrap() + s["fail"].as_u64().unwrap(),
        total
    );

    // DIFFERENCE listing an account that is not under the targets anyway: a WARN.
    let v = json(
        &orgscope(
            &bed,
            &args(
                &f.ou("Root/Prod"),
                "DIFFERENCE",
                &f.account("staging-1"),
                &["--output", "json"],
            ),
            &[],
        )
        .await,
    );
    let c = check(&v, &format!("account:{}", f.account("staging-1")));
    assert_eq!(c["status"], "WARN");
    assert!(c["detail"].as_str().unwrap().contains("excludes nothing"));
    assert_eq!(mutating_calls(&bed).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_member_account_is_told_which_account_to_sign_in_to() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    let member = f.account("prod-web");
    let env = member_env(&bed, &member).await;
    clear_log(&bed).await;
    let out = orgscope(
        &bed,
        &args(&f.ou("Root/Prod"), "ALL", "", &["--output", "json"]),
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["caller"], member);
    let c = check(&v, "deployment-mode");
    assert_eq!(c["status"], "FAIL");
    assert!(c["detail"].as_str().unwrap().contains(&format!(
        "account {member} is neither the organization's management account ({})",
        f.management()
    )));
    let command = format!(
        "aws organizations register-delegated-administrator --service-principal \
         member.org.stacksets.cloudformation.amazonaws.com --account-id {member}"
    );
    let fix = c["fix"].as_str().unwrap();
    assert!(
        fix.starts_with(&format!(
            "deploy this stack in the management account {}",
            f.management()
        )),
        "{fix}"
    );
    assert!(fix.contains(&command), "{fix}");
    // The text form says the same.
    let out = orgscope(&bed, &args(&f.ou("Root/Prod"), "ALL", "", &[]), &env).await;
    let text = stdout(&out);
    assert!(text.contains("register-delegated-administrator"), "{text}");
    assert_fits(&text);
    assert_eq!(mutating_calls(&bed).await, Vec::<String>::new());
}

#[tokio::test]
async fn outside_us_east_1_the_region_check_fails_and_a_self_managed_stack_set_too() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    // The StackSet in eu-west-1 is self-managed.
    let conf = e2e::sdk_config_for(&bed.endpoint, "eu-west-1").await;
    aws_sdk_cloudformation::Client::new(&conf)
        .create_stack_set()
        .stack_set_name(STACK_SET)
        .template_body(e2e::MEMBER_TEMPLATE)
        .permission_model(aws_sdk_cloudformation::types::PermissionModels::SelfManaged)
        .send()
        .await
        .expect("CreateStackSet");
    clear_log(&bed).await;
    let out = orgscope(
        &bed,
        &args(&f.ou("Root/Prod"), "ALL", "", &["--output", "json"]),
        &[("AWS_REGION", "eu-west-1".into())],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["region"], "eu-west-1");
    let c = check(&v, "region");
    assert_eq!(c["status"], "FAIL");
    assert!(c["detail"].as_str().unwrap().contains("only there"));
    assert!(c["fix"].as_str().unwrap().contains("AWS_REGION=us-east-1"));
    let c = check(&v, "stack-set");
    assert_eq!(c["status"], "FAIL");
    assert!(c["detail"].as_str().unwrap().contains("self-managed"));
    assert_eq!(mutating_calls(&bed).await, Vec::<String>::new());
}

#[tokio::test]
async fn cloudtrail_no_trail_warns_and_a_logging_multi_region_trail_passes() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    let doctor = || async {
        json(
            &orgscope(
                &bed,
                &args(&f.ou("Root/Prod"), "ALL", "", &["--output", "json"]),
                &[],
            )
            .await,
        )
    };

    // No trail: a WARN (not a FAIL) naming what follows and the fix.
    clear_log(&bed).await;
    let v = doctor().await;
    assert_eq!(v["ok"], true, "a WARN does not fail doctor: {v:#}");
    let c = check(&v, "cloudtrail");
    assert_eq!(c["status"], "WARN");
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.contains("no trail logs management events in us-east-1"),
        "{detail}"
    );
    assert!(detail.contains("every 6 hours by default"), "{detail}");
    assert!(
        detail.contains("(CreateAccountResult) still arrive at once"),
        "{detail}"
    );
    let fix = c["fix"].as_str().unwrap();
    assert!(fix.contains("--is-multi-region-trail"), "{fix}");
    assert!(
        fix.contains("aws cloudtrail start-logging --name org-trail"),
        "{fix}"
    );
    // Right after Region, before the targets.
    let ids: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let at = ids.iter().position(|i| *i == "cloudtrail").unwrap();
    assert_eq!(ids[at - 1], "region", "{ids:?}");

    // A multi-region trail that is not logging: still a WARN, and the fix starts it.
    create_trail(&bed, "org-trail", true, false).await;
    clear_log(&bed).await;
    let c = check(&doctor().await, "cloudtrail").clone();
    assert_eq!(c["status"], "WARN");
    assert!(c["detail"]
        .as_str()
        .unwrap()
        .contains("trail org-trail is not logging"));
    assert!(c["fix"]
        .as_str()
        .unwrap()
        .starts_with("aws cloudtrail start-logging --name org-trail --region us-east-1"));
    assert_eq!(mutating_calls(&bed).await, Vec::<String>::new());

    // Logging, but its selectors record only reads: a WARN.
    let ct = aws_sdk_cloudtrail::Client::new(&bed.sdk_config().await);
    ct.start_logging()
        .name("org-trail")
        .send()
        .await
        .expect("StartLogging");
    ct.put_event_selectors()
        .trail_name("org-trail")
        .event_selectors(
            aws_sdk_cloudtrail::types::EventSelector::builder()
                .read_write_type(aws_sdk_cloudtrail::types::ReadWriteType::ReadOnly)
                .include_management_events(true)
                .build(),
        )
        .send()
        .await
        .expect("PutEventSelectors");
    let c = check(&doctor().await, "cloudtrail").clone();
    assert_eq!(c["status"], "WARN", "{c:#}");
    assert!(c["detail"]
        .as_str()
        .unwrap()
        .contains("leave out management write events"));

    // Logging every management event: a PASS.
    ct.put_event_selectors()
        .trail_name("org-trail")
        .event_selectors(
            aws_sdk_cloudtrail::types::EventSelector::builder()
                .read_write_type(aws_sdk_cloudtrail::types::ReadWriteType::All)
                .include_management_events(true)
                .build(),
        )
        .send()
        .await
        .expect("PutEventSelectors");
    clear_log(&bed).await;
    let c = check(&doctor().await, "cloudtrail").clone();
    assert_eq!(c["status"], "PASS", "{c:#}");
    assert!(c["detail"]
        .as_str()
        .unwrap()
        .contains("trail org-trail (multi-region, logging)"));
    assert!(c["fix"].is_null());
    assert_eq!(mutating_calls(&bed).await, Vec::<String>::new());
}

#[tokio::test]
async fn an_empty_scope_is_a_warning() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    let v = json(
        &orgscope(
            &bed,
            &args(&f.ou("Root/Sandbox"), "ALL", "", &["--output", "json"]),
            &[],
        )
        .await,
    );
    let c = check(&v, "scope");
    assert_eq!(c["status"], "WARN");
    assert!(c["detail"].as_str().unwrap().contains("0 accounts"));
}

#[tokio::test]
async fn bad_input_exits_2_before_any_aws_call() {
    let bed = TestBed::start().await;
    let out = orgscope(&bed, &args("ou-prod", "ALL", "", &[]), &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(bed.requests().await.is_empty());
}

#[tokio::test]
async fn a_scope_past_the_stack_instance_quota_warns_and_says_how_to_raise_it() {
    let bed = TestBed::start().await;
    let f = e2e::Fixture(
        bed.control(
            "fixture/generate",
            json!({"accounts": 2100, "ous": 20, "max_depth": 2, "suspended_every": 0, "seed": 1}),
        )
        .await,
    );
    bed.create_stack_set(STACK_SET, true).await;
    // The account's quota, as Service Quotas answers it (AWS's default is 100,000).
    bed.configure(json!({"stack_instance_quota": 2000})).await;
    let out = orgscope(
        &bed,
        &args(&f.root(), "ALL", "", &["--output", "json"]),
        &[],
    )
    .await;
    let v = json(&out);
    let c = check(&v, "stack-instance-quota");
    assert_eq!(c["status"], "WARN", "{c}");
    let text = c.to_string();
    assert!(text.contains("2100 stack instances"), "{text}");
    assert!(text.contains("this account's quota of 2000"), "{text}");
    assert!(text.contains("Service Quotas"), "{text}");
    assert!(text.contains("L-C8225BA5"), "{text}");
}

#[tokio::test]
async fn without_permission_to_read_the_quota_doctor_assumes_aws_default_and_says_so() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    bed.configure(json!({"stack_instance_quota": "denied"}))
        .await;
    let out = orgscope(
        &bed,
        &args(&f.root(), "ALL", "", &["--output", "json"]),
        &[],
    )
    .await;
    let v = json(&out);
    let c = check(&v, "stack-instance-quota");
    assert_eq!(c["status"], "WARN", "{c}");
    let text = c.to_string();
    assert!(text.contains("AWS's default quota of 100000"), "{text}");
    assert!(text.contains("servicequotas:GetServiceQuota"), "{text}");
}

#[tokio::test]
async fn a_scope_within_the_stack_instance_quota_has_no_quota_warning() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    let out = orgscope(
        &bed,
        &args(&f.root(), "ALL", "", &["--output", "json"]),
        &[],
    )
    .await;
    let v = json(&out);
    assert!(
        !v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "stack-instance-quota"),
        "{v:#}"
    );
}

#[tokio::test]
async fn create_oidc_provider_false_warns_that_accounts_without_one_get_a_role_port_cannot_assume()
{
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    let ou = f.ou("Root/Prod");
    let with = |flag: &'static str| {
        let ou = ou.clone();
        let bed = &bed;
        async move {
            json(
                &orgscope(
                    bed,
                    &args(
                        &ou,
                        "ALL",
                        "",
                        &["--create-oidc-provider", flag, "--output", "json"],
                    ),
                    &[],
                )
                .await,
            )
        }
    };
    let v = with("false").await;
    let c = check(&v, "oidc-provider-members");
    assert_eq!(c["status"], "WARN");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("Port cannot assume it"),
        "{c}"
    );
    assert!(c["fix"]
        .as_str()
        .unwrap()
        .contains("CreateOIDCProvider=true"));
    // With true (the default) nothing to warn about: existing providers are reused.
    let v = with("true").await;
    assert!(v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["id"] != "oidc-provider-members"));
}

#[tokio::test]
async fn a_delegated_administrator_passes_the_mode_check_saying_why_and_what_the_other_mode_needs()
{
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    let da = f.account(e2e::DeployAs::DELEGATED_ADMIN_ACCOUNT);
    let conf = bed.deploy_config(e2e::DeployAs::DelegatedAdmin, &f).await;
    bed.create_stack_set_as(&conf, e2e::DeployAs::DelegatedAdmin)
        .await;
    let env = member_env(&bed, &da).await;
    clear_log(&bed).await;
    let out = orgscope(
        &bed,
        &args(&f.ou("Root/Prod"), "ALL", "", &["--output", "json"]),
        &env,
    )
    .await;
    let v = json(&out);
    let c = check(&v, "deployment-mode");
    assert_eq!(c["status"], "PASS", "{c}");
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!(
            "delegated-administrator mode (CallAs DELEGATED_ADMIN): signed in to {da}"
        )),
        "{detail}"
    );
    assert!(
        detail.contains(&format!(
            "management-account mode needs the stack deployed in the management account {}",
            f.management()
        )),
        "{detail}"
    );
    // The StackSet was found: read with DELEGATED_ADMIN, as every StackSet call of the run.
    assert_eq!(check(&v, "stack-set")["status"], "PASS", "{v}");
    assert_eq!(
        bed.stackset_calls_not_as("DELEGATED_ADMIN", &da).await,
        Vec::<String>::new()
    );
    assert_eq!(mutating_calls(&bed).await, Vec::<String>::new());

    // From the management account: PASS in management-account mode, naming the registered
    // delegated administrator for the other mode.
    let out = orgscope(
        &bed,
        &args(&f.ou("Root/Prod"), "ALL", "", &["--output", "json"]),
        &[],
    )
    .await;
    let v = json(&out);
    let c = check(&v, "deployment-mode");
    assert_eq!(c["status"], "PASS", "{c}");
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("management-account mode (CallAs SELF)"),
        "{detail}"
    );
    assert!(
        detail.contains(&format!(
            "registered delegated administrators for StackSets: {da}"
        )),
        "{detail}"
    );
}

#[tokio::test]
async fn a_delegated_administrator_passes_the_region_check_in_us_east_2_and_fails_it_in_eu_south_1()
{
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    let da = f.account(e2e::DeployAs::DELEGATED_ADMIN_ACCOUNT);
    bed.register_delegated_admin(&da).await;
    let mut env = member_env(&bed, &da).await;
    env.push(("AWS_REGION", "us-east-2".into()));
    clear_log(&bed).await;
    let run = |env: Vec<(&'static str, String)>| {
        let bed = &bed;
        let ous = f.ou("Root/Prod");
        async move {
            let out = orgscope(bed, &args(&ous, "ALL", "", &["--output", "json"]), &env).await;
            (out.status.code(), json(&out))
        }
    };

    // us-east-2: a region where AWS registers delegated administrators for StackSets.
    let (_, v) = run(env.clone()).await;
    assert_eq!(v["region"], "us-east-2");
    assert_eq!(check(&v, "deployment-mode")["status"], "PASS", "{v}");
    let c = check(&v, "region");
    assert_eq!(c["status"], "PASS", "{c}");
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(
            "us-east-2: a delegated administrator for CloudFormation StackSets may run the stack \
             here"
        ),
        "{detail}"
    );
    assert!(
        detail.contains("set its DelegatedAdminRegion to us-east-2"),
        "{detail}"
    );

    // eu-south-1 (Milan): not one of them. FAIL, naming the regions it may use.
    env.last_mut().unwrap().1 = "eu-south-1".into();
    let (code, v) = run(env).await;
    assert_eq!(code, Some(1));
    let c = check(&v, "region");
    assert_eq!(c["status"], "FAIL", "{c}");
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.contains(&shared::core::DELEGATED_ADMIN_REGIONS.join(", ")),
        "{detail}"
    );
    assert!(
        detail.contains("the template refuses eu-south-1"),
        "{detail}"
    );
    assert!(c["fix"].as_str().unwrap().contains("DelegatedAdminRegion"));

    // The management account in us-east-2: refused as before, us-east-1 only.
    let (code, v) = run(vec![("AWS_REGION", "us-east-2".into())]).await;
    assert_eq!(code, Some(1));
    let c = check(&v, "region");
    assert_eq!(c["status"], "FAIL", "{c}");
    assert!(c["fix"].as_str().unwrap().contains("AWS_REGION=us-east-1"));
    assert_eq!(mutating_calls(&bed).await, Vec::<String>::new());
}

/// A customer managed policy in the signed-in account (the emulator's IAM).
async fn create_policy(bed: &TestBed, path: &str, name: &str, actions: &[&str]) {
    let doc = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Resource": "*"}
    ]});
    iam(bed)
        .await
        .create_policy()
        .policy_name(name)
        .path(path)
        .policy_document(doc.to_string())
        .send()
        .await
        .expect("CreatePolicy");
}

#[tokio::test]
async fn role_policies_a_missing_customer_managed_policy_fails_naming_it_and_the_account() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    let mgmt = f.management();
    create_policy(
        &bed,
        "/port/",
        "PortRead",
        &[
            "ec2:Describe*",
            "cloudformation:ListResources",
            "cloudformation:GetResource",
        ],
    )
    .await;
    clear_log(&bed).await;
    // Given with another account's ID: each role takes the policy of that path and name from
    // its own account, so doctor looks for it in this one.
    let policies = "SecurityAudit,arn:aws:iam::123456789012:policy/port/PortRead,arn:aws:iam::123456789012:policy/Missing";
    let out = orgscope(
        &bed,
        &args(
            &f.ou("Root/Prod"),
            "ALL",
            "",
            &["--role-policy-arns", policies, "--output", "json"],
        ),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let v = json(&out);
    let missing = check(
        &v,
        &format!("role-policy:arn:aws:iam::{mgmt}:policy/Missing"),
    );
    assert_eq!(missing["status"], "FAIL", "{missing}");
    let detail = missing["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("does not exist in {mgmt}")),
        "{detail}"
    );
    assert!(
        missing["fix"]
            .as_str()
            .unwrap()
            .contains("--policy-name Missing"),
        "{missing}"
    );
    // The policy that exists is not reported; no Cloud Control warning is possible while a
    // document is unknown.
    let ids: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(
        !ids.contains(&format!("role-policy:arn:aws:iam::{mgmt}:policy/port/PortRead").as_str()),
        "{ids:?}"
    );
    assert!(!ids.contains(&"role-cloud-control"), "{ids:?}");
    // Read under the documented policy (iam:GetPolicy, iam:GetPolicyVersion), nothing changed.
    assert_eq!(mutating_calls(&bed).await, Vec::<String>::new());
    assert_eq!(bed.count_of("GetPolicy").await, 2);
}

#[tokio::test]
async fn role_policies_without_cloud_controls_read_actions_warn_and_with_them_pass() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    let mgmt = f.management();
    create_policy(&bed, "/", "Ec2Only", &["ec2:Describe*"]).await;
    let run = |policies: String| {
        let bed = &bed;
        let ou = f.ou("Root/Prod");
        async move {
            let out = orgscope(
                bed,
                &args(
                    &ou,
                    "ALL",
                    "",
                    &["--role-policy-arns", &policies, "--output", "json"],
                ),
                &[],
            )
            .await;
            json(&out)
        }
    };
    // SecurityAudit allows neither action; ViewOnlyAccess lists but cannot get; a customer
    // managed policy without them neither.
    for (policies, says) in [
        (
            "SecurityAudit".to_string(),
            "do not allow cloudformation:ListResources and cloudformation:GetResource",
        ),
        (
            "ViewOnlyAccess".to_string(),
            "do not allow cloudformation:GetResource:",
        ),
        (
            format!("arn:aws:iam::{mgmt}:policy/Ec2Only"),
            "do not allow cloudformation:ListResources and",
        ),
    ] {
        let v = run(policies.clone()).await;
        let c = check(&v, "role-cloud-control");
        assert_eq!(c["status"], "WARN", "{policies}: {c}");
        assert!(
            c["detail"].as_str().unwrap().contains(says),
            "{policies}: {c}"
        );
        assert!(
            c["fix"]
                .as_str()
                .unwrap()
                .contains("AWSCloudFormationReadOnlyAccess"),
            "{c}"
        );
    }
    // With AWSCloudFormationReadOnlyAccess, or the default ReadOnlyAccess: PASS.
    for policies in [
        "SecurityAudit,AWSCloudFormationReadOnlyAccess",
        "ReadOnlyAccess",
    ] {
        let v = run(policies.to_string()).await;
        let c = check(&v, "role-policies");
        assert_eq!(c["status"], "PASS", "{policies}: {c}");
        assert!(
            c["detail"]
                .as_str()
                .unwrap()
                .contains("they allow Cloud Control's read actions"),
            "{c}"
        );
    }
    // A boundary without them takes them away again.
    let out = orgscope(
        &bed,
        &args(
            &f.ou("Root/Prod"),
            "ALL",
            "",
            &[
                "--role-permissions-boundary-arn",
                &format!("arn:aws:iam::{mgmt}:policy/Ec2Only"),
                "--output",
                "json",
            ],
        ),
        &[],
    )
    .await;
    let v = json(&out);
    let c = check(&v, "role-cloud-control");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("(within the boundary)"),
        "{c}"
    );
}

#[tokio::test]
async fn role_policies_a_bad_value_fails_naming_it_before_reading_any_policy() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    let out = orgscope(
        &bed,
        &args(
            &f.ou("Root/Prod"),
            "ALL",
            "",
            &[
                "--role-policy-arns",
                "ViewOnlyAccess,AdminAccess",
                "--output",
                "json",
            ],
        ),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    let c = check(&v, "role-policies");
    assert_eq!(c["status"], "FAIL", "{c}");
    assert!(
        c["detail"].as_str().unwrap().contains("`AdminAccess`"),
        "{c}"
    );
    assert_eq!(bed.count_of("GetPolicy").await, 0);
}
