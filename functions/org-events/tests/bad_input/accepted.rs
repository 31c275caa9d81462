use super::*;

#[tokio::test]
async fn odd_but_valid_configuration_is_accepted_and_converges_exactly() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.configure(json!({"operation_seconds": 0.2})).await;
    bed.create_stack_set(STACK_SET, true).await;
    let conf = function_config(&bed).await;
    let (us, eu) = (f.ou("Root/Prod/US"), f.ou("Root/Prod/EU"));
    let a = |n: &str| f.account(n);
    let rows: Vec<(&str, Env, Vec<&str>)> = vec![
        (
            "all_in_lower_case",
            with(&f, &[("ACCOUNT_SCOPE", "all")]),
            vec!["prod-us-1"],
        ),
        (
            "scope_unset_means_all",
            without(&f, "ACCOUNT_SCOPE"),
            vec!["prod-us-1"],
        ),
        (
            "an_account_listed_twice",
            with(
                &f,
                &[
                    ("TARGET_OU_IDS", &eu),
                    ("ACCOUNT_SCOPE", "intersection"),
                    (
                        "TARGET_ACCOUNT_IDS",
                        &format!("{0}, {0},{1}", a("prod-eu-1"), a("prod-eu-pci")),
                    ),
                ],
            ),
            vec!["prod-eu-1", "prod-eu-pci"],
        ),
        (
            "trailing_commas_and_newlines",
            with(
                &f,
                &[
                    ("TARGET_OU_IDS", &format!("{us},\n{eu},{us},\n")),
                    ("ACCOUNT_SCOPE", " Difference "),
                    ("TARGET_ACCOUNT_IDS", &format!("{},\n", a("prod-eu-pci"))),
                    ("STACK_SET_REGIONS", "us-east-1,"),
                    ("ON_ACCOUNT_LEAVES_SCOPE", "delete"),
                    ("MAX_RETRY_ATTEMPTS", " "),
                ],
            ),
            vec!["prod-us-1", "prod-eu-1", "prod-eu-payments"],
        ),
        (
            "the_root_of_this_organization",
            with(&f, &[("TARGET_OU_IDS", &f.root())]),
            vec![
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
            ],
        ),
    ];
    let mut problems = Vec::new();
    for (i, (name, env, names)) in rows.iter().enumerate() {
        let s = handler(&conf, env)
            .handle(&event("scheduled.json", &[]), &invocation(i))
            .await;
        let mut want: Vec<String> = names.iter().map(|n| f.account(n)).collect();
        want.sort();
        let got = bed.instance_accounts(STACK_SET).await;
        match s {
            Ok(s) if got == want && s.failures.is_empty() => {
                println!("{name:<32} {} account(s)", want.len())
            }
            other => problems.push(format!("[{name}] {other:?}: {got:?} want {want:?}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
