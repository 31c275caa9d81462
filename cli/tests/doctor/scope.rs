use super::*;

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
