use super::*;

#[tokio::test]
async fn the_scope_is_read_from_the_stack_parameters_not_the_environment() {
    let sw = StackWorld::new("Root/Prod", "ALL", "", "0").await;
    let s = sw.invoke(&schedule()).await.unwrap();
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    let prod = sw.w.ids(&[
        "prod-web",
        "prod-data",
        "prod-eu-1",
        "prod-eu-payments",
        "prod-eu-pci",
        "prod-us-1",
    ]);
    assert_eq!(sw.w.enrolled().await, prod);

    // A finished stack update (the custom resource applied Staging): the next run follows it.
    sw.begin_update("Root/Staging", "ALL", "").await;
    sw.custom_resource_applies("Root/Staging", "ALL", "").await;
    sw.set_status("UPDATE_COMPLETE").await;
    let mv = sw.w.mv("prod-web", "Root/Prod", "Root/Staging").await;
    let s = sw.invoke(&mv).await.unwrap();
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    assert_eq!(
        sw.w.enrolled().await,
        sw.w.ids(&["staging-1", "staging-2", "prod-web"])
    );
}
#[tokio::test]
async fn a_stack_that_does_not_exist_changes_nothing() {
    let sw = StackWorld::new("Root/Prod", "ALL", "", "0").await;
    let bogus = sw.stack_id.replace("port-orgscope", "port-other");
    let env = [("STACK_ID", bogus.as_str()), ("STACK_SET_REGIONS", REGION)];
    let config = Config::from_env(
        |k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        },
        REGION,
    )
    .unwrap();
    let conf = function_config_as(&sw.w.bed, &Deployment::management().with_stack(&bogus)).await;
    let h = stack_handler(&conf, config).await;
    sw.w.clear_requests().await;
    let s = invoke_on(&h, &sw.seq, &schedule()).await.unwrap();
    // A stack that does not exist (as AWS answers for an unknown ID): nothing to do.
    assert_eq!(s.outcome, Disposition::StoodAside, "{s:?}");
    assert!(s.reason.contains("does not exist"), "{}", s.reason);
    assert!(mutating(&sw.w.calls().await).is_empty());
}

/// 300 listed accounts: 3,899 bytes in TargetAccountIds, within CloudFormation's 4,096-byte
/// parameter limit, beyond what Lambda's 4 KB environment could hold next to the other
/// variables. Nothing in org-events' path carries the scope through the environment.
#[tokio::test]
async fn a_scope_of_300_listed_accounts_deploys() {
    let sw = StackWorld::new("Root/Prod", "ALL", "", "0").await;
    let gen = sw
        .w
        .bed
        .control(
            "fixture/generate",
            json!({"accounts": 320, "ous": 20, "max_depth": 3, "suspended_every": 1000, "seed": 7}),
        )
        .await;
    let mut ids: Vec<String> = gen["accounts"]
        .as_object()
        .unwrap()
        .values()
        .filter(|a| a["state"] == "ACTIVE")
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .filter(|id| *id != sw.w.f.management())
        .collect();
    ids.sort();
    ids.truncate(300);
    assert_eq!(ids.len(), 300);
    let listed = ids.join(",");
    assert!(
        listed.len() > 3_800 && listed.len() <= 4_096,
        "{}",
        listed.len()
    );

    sw.begin_update("Root", "INTERSECTION", &listed).await;
    sw.set_status("UPDATE_COMPLETE").await;
    let s = sw.invoke(&schedule()).await.unwrap();
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    assert_eq!(s.accounts_added.len(), 300, "{s:?}");
    assert_eq!(sw.w.enrolled().await, ids);
}

/// `SETTLE_SECONDS` above 0: an event's change waits until the engine's preview of the
/// event's accounts has stayed the same, then reconciles them; the same event again finds the
/// preview empty and changes nothing.
#[tokio::test]
async fn with_a_settle_time_a_move_is_previewed_until_steady_then_reconciled() {
    let sw = StackWorld::new("Root/Prod", "ALL", "", "0.2").await;
    let s = sw.invoke(&schedule()).await.unwrap();
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    let before = sw.w.enrolled().await;

    let mv = sw.w.mv("staging-1", "Root/Staging", "Root/Prod").await;
    let s = sw.invoke(&mv).await.unwrap();
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    let joined: Vec<String> = s.accounts_added.iter().map(|a| a.to_string()).collect();
    assert_eq!(joined, sw.w.ids(&["staging-1"]), "{s:?}");
    let mut want = before;
    want.extend(sw.w.ids(&["staging-1"]));
    want.sort();
    assert_eq!(sw.w.enrolled().await, want);

    let s = sw.invoke(&mv).await.unwrap();
    assert_eq!(s.outcome, Disposition::NoChange, "{s:?}");
    assert!(
        s.reason.contains("already matches the scope for account"),
        "{s:?}"
    );
    assert!(s.operations.is_empty(), "{s:?}");
}
