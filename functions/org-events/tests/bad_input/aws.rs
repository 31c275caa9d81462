use super::*;

#[tokio::test]
async fn values_only_aws_can_judge_fail_the_run_by_name_and_change_nothing() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.configure(json!({"operation_seconds": 0.2})).await;
    bed.create_stack_set(STACK_SET, true).await;
    bed.create_stack_set("Self-Managed-StackSet", false).await;
    let conf = for_stack_sets(
        &bed,
        &[STACK_SET, "Missing-StackSet", "Self-Managed-StackSet"],
    )
    .await;
    bed.control("requests/clear", json!({})).await;
    let rows = [
        row(
            "ou_does_not_exist",
            with(&f, &[("TARGET_OU_IDS", "ou-zzzz-99999999")]),
            &[
                "ou-zzzz-99999999 does not exist in this organization",
                "An OU ID looks like",
            ],
        ),
        row(
            "root_of_another_organization",
            with(&f, &[("TARGET_OU_IDS", "r-zz99")]),
            &["r-zz99 does not exist in this organization"],
        ),
        // Names the StackSet and says where it should come from (the engine's
        // `check_stack_set`, run before each reconcile).
        row(
            "stack_set_does_not_exist",
            with(&f, &[("STACK_SET_NAME", "Missing-StackSet")]),
            &[
                "StackSet `Missing-StackSet` does not exist in this region",
                "check StackSetName",
            ],
        ),
    ];
    let mut problems = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let h = handler(&conf, &row.env);
        match h
            .handle(&event("scheduled.json", &[]), &invocation(i))
            .await
        {
            Ok(s) => problems.push(format!("[{}] succeeded: {s:?}", row.name)),
            Err(e) => {
                let e = e.to_string();
                for want in &row.want {
                    if !e.contains(want.as_str()) {
                        problems.push(format!("[{}] error lacks {want:?}: {e}", row.name));
                    }
                }
                println!("{:<32} {e}", row.name);
            }
        }
    }
    let calls: Vec<(String, String)> = bed
        .requests()
        .await
        .into_iter()
        .map(|r| {
            (
                r["service"].as_str().unwrap_or_default().to_owned(),
                r["action"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let m = mutating(&calls);
    if !m.is_empty() {
        problems.push(format!("mutating StackSet calls: {m:?}"));
    }
    assert!(bed.instances(STACK_SET).await.is_empty());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn a_listed_account_outside_the_organization_is_a_warning_and_the_rest_converges() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.configure(json!({"operation_seconds": 0.2})).await;
    bed.create_stack_set(STACK_SET, true).await;
    let conf = function_config(&bed).await;
    let env = diff(&f, &format!("000000000042,{}", f.account("prod-web")));
    let s = handler(&conf, &env)
        .handle(&event("scheduled.json", &[]), &invocation(0))
        .await
        .expect("the run goes on without the unknown account");
    assert!(
        s.warnings.iter().any(|w| w.contains("000000000042")),
        "{s:?}"
    );
    let mut want: Vec<String> = [
        "prod-data",
        "prod-eu-1",
        "prod-eu-payments",
        "prod-eu-pci",
        "prod-us-1",
    ]
    .iter()
    .map(|n| f.account(n))
    .collect();
    want.sort();
    assert_eq!(bed.instance_accounts(STACK_SET).await, want);
}
/// A missing or self-managed StackSet is explained, by name, before any change: org-events runs
/// the engine's `check_stack_set` before each reconcile, as the custom resource's preflight
/// does. (This test found that org-events had no such check: a missing StackSet gave "StackSet
/// X not found was not found", and a self-managed one got a CreateStackInstances call.)
#[tokio::test]
async fn a_missing_or_self_managed_stack_set_is_explained_before_any_change() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set("Self-Managed-StackSet", false).await;
    let conf = for_stack_sets(&bed, &["Missing-StackSet", "Self-Managed-StackSet"]).await;
    bed.control("requests/clear", json!({})).await;
    for (name, want) in [
        ("Missing-StackSet", "does not exist in this region"),
        ("Self-Managed-StackSet", "uses self-managed permissions"),
    ] {
        let env = with(&f, &[("STACK_SET_NAME", name)]);
        let e = handler(&conf, &env)
            .handle(&event("scheduled.json", &[]), &invocation(0))
            .await
            .expect_err("the run fails")
            .to_string();
        assert!(e.contains(name) && e.contains(want), "{e}");
    }
    assert_eq!(bed.mutating_stackset_calls().await, Vec::<String>::new());
}
