use super::*;

/// Inputs that look odd but are right: they must be accepted and give exactly the accounts.
#[tokio::test]
async fn odd_but_valid_inputs_are_accepted_with_exactly_the_right_accounts() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let a = |n: &str| f.account(n);
    let us = f.ou("Root/Prod/US");
    let eu = f.ou("Root/Prod/EU");
    let whole_org: Vec<&str> = vec![
        "sandbox-orphan",
        "shared-services",
        "prod-web",
        "prod-data",
        "prod-eu-1",
        "prod-eu-payments",
        "prod-eu-pci",
        "prod-us-1",
        "staging-1",
        "staging-2",
    ];
    let rows: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "all_in_lower_case",
            set(&f, &[("AccountScope", json!("all"))]),
            vec!["prod-us-1"],
        ),
        (
            "scope_mixed_case_with_spaces",
            set(
                &f,
                &[
                    ("AccountScope", json!("  Intersection\n")),
                    ("TargetAccountIds", json!(a("prod-us-1"))),
                ],
            ),
            vec!["prod-us-1"],
        ),
        (
            "an_account_listed_twice",
            set(
                &f,
                &[
                    ("TargetOUIds", json!(eu)),
                    ("AccountScope", json!("INTERSECTION")),
                    (
                        "TargetAccountIds",
                        json!(format!(
                            "{0},{0}, {1},{0}",
                            a("prod-eu-1"),
                            a("prod-eu-pci")
                        )),
                    ),
                ],
            ),
            vec!["prod-eu-1", "prod-eu-pci"],
        ),
        (
            "an_ou_listed_twice_in_a_list",
            set(&f, &[("TargetOUIds", json!([us, us, eu]))]),
            vec!["prod-us-1", "prod-eu-1", "prod-eu-payments", "prod-eu-pci"],
        ),
        (
            "trailing_commas_and_newlines",
            set(
                &f,
                &[
                    ("TargetOUIds", json!(format!("{us},\n{eu},\r\n,"))),
                    ("AccountScope", json!("difference")),
                    (
                        "TargetAccountIds",
                        json!(format!("{},\n", a("prod-eu-payments"))),
                    ),
                    ("Regions", json!("us-east-1,")),
                    ("OnAccountLeavesScope", json!("delete\n")),
                ],
            ),
            vec!["prod-us-1", "prod-eu-1", "prod-eu-pci"],
        ),
        (
            "the_root_of_this_organization_means_the_whole_organization",
            set(&f, &[("TargetOUIds", json!(f.root()))]),
            whole_org,
        ),
        (
            "unknown_keys_and_service_timeout_are_ignored",
            set(
                &f,
                &[
                    ("ServiceTimeout", json!("3600")),
                    ("SomethingNew", json!({"nested": [1, 2]})),
                    ("Regions", json!("")),
                    ("OnAccountLeavesScope", json!("")),
                ],
            ),
            vec!["prod-us-1"],
        ),
    ];
    let mut problems = Vec::new();
    for (i, (name, props, names)) in rows.iter().enumerate() {
        let id = format!("ok-{i:02}-{name}");
        r.invoke(request(&r.sink, "create", &id, props.clone()))
            .await;
        let mut want: Vec<String> = names.iter().map(|n| f.account(n)).collect();
        want.sort();
        let ans = r.last_answer();
        if ans["RequestId"] != json!(id) || ans["Status"] != "SUCCESS" {
            problems.push(format!("[{name}] {ans}"));
            continue;
        }
        if ans["Data"]["AccountIds"] != json!(want.join(",")) {
            problems.push(format!(
                "[{name}] AccountIds {} want {want:?}",
                ans["Data"]["AccountIds"]
            ));
        }
        let got = r.bed.instance_accounts(STACK_SET).await;
        if got != want {
            problems.push(format!("[{name}] instances {got:?} want {want:?}"));
        }
        println!("{name:<60} SUCCESS {} account(s)", want.len());
    }
    assert_eq!(r.sink.bodies().len(), rows.len(), "one answer per request");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A property that must be a single string, given as a list, is rejected with a Reason that
/// says a single string is expected. (This test found the Reason "expected a string or a list
/// of strings, got a list", which contradicted itself.)
#[tokio::test]
async fn a_scalar_property_given_as_a_list_says_a_single_string_is_expected() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    for key in ["AccountScope", "StackSetName", "OnAccountLeavesScope"] {
        let mut p = valid(&f);
        p[key] = json!(["ALL"]);
        r.invoke(request(&r.sink, "create", key, p)).await;
        let a = r.last_answer();
        assert_eq!(a["Status"], "FAILED");
        let reason = a["Reason"].as_str().unwrap();
        assert!(reason.contains(key), "{reason}");
        assert!(
            !reason.contains("or a list of strings, got a list"),
            "self-contradictory: {reason}"
        );
    }
}
