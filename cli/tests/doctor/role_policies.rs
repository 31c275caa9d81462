use super::*;

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
