use super::*;

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
