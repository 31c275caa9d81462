//! `orgscope doctor` against the local test bed: every check's PASS, WARN and FAIL.

#[path = "../common/mod.rs"]
mod common;

mod delegated_admin;
mod role_policies;
mod scope;
mod setup;

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
    insta::with_settings!({snapshot_path => "../snapshots"}, {
        insta::assert_snapshot!("doctor_ready", redact(&text, &f));
    });
    assert_eq!(mutating_calls(&bed).await, Vec::<String>::new());
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
    insta::with_settings!({snapshot_path => "../snapshots"}, {
        insta::assert_snapshot!("doctor_warnings", redact(&text, &f));
    });
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
    insta::with_settings!({snapshot_path => "../snapshots"}, {
        insta::assert_snapshot!("doctor_failures", red);
    });
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
