use super::*;

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
