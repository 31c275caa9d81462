use super::*;

/// Run under both readings of a listed OU (`e2e::OuReading`).
#[tokio::test]
async fn update_grows_shrinks_and_changes_mode_with_one_operation_per_kind() {
    for reading in OuReading::BOTH {
        update_grows_shrinks_and_changes_mode_with_one_operation_per_kind_under(reading).await;
    }
}

async fn update_grows_shrinks_and_changes_mode_with_one_operation_per_kind_under(
    reading: OuReading,
) {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.set_ou_reading(reading).await;
    let eu = f.ou("Root/Prod/EU");
    r.invoke(request(&r.sink, "create", "c1", props(&eu, "ALL", "")))
        .await;
    assert_eq!(
        r.bed.instance_accounts(STACK_SET).await,
        names(&f, &["prod-eu-1", "prod-eu-payments", "prod-eu-pci"])
    );

    // Grow: EU -> Prod.
    r.bed.control("requests/clear", json!({})).await;
    let mut up = request(
        &r.sink,
        "update",
        "u1",
        props(&f.ou("Root/Prod"), "ALL", ""),
    );
    up["OldResourceProperties"] = props(&eu, "ALL", "");
    r.invoke(up.clone()).await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS");
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, names(&f, PROD));
    assert_eq!(
        r.bed.mutating_stackset_calls().await,
        ["CreateStackInstances"]
    );

    // Change mode and shrink: Prod DIFFERENCE minus two accounts.
    r.bed.control("requests/clear", json!({})).await;
    let excluded = format!("{},{}", f.account("prod-web"), f.account("prod-us-1"));
    let mut up2 = request(
        &r.sink,
        "update",
        "u2",
        props(&f.ou("Root/Prod"), "DIFFERENCE", &excluded),
    );
    up2["OldResourceProperties"] = props(&f.ou("Root/Prod"), "ALL", "");
    r.invoke(up2).await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS");
    assert_eq!(
        r.bed.instance_accounts(STACK_SET).await,
        names(
            &f,
            &["prod-data", "prod-eu-1", "prod-eu-payments", "prod-eu-pci"]
        )
    );
    assert_eq!(
        r.bed.mutating_stackset_calls().await,
        ["DeleteStackInstances"]
    );

    // Same scope again: no StackSet call at all.
    r.bed.control("requests/clear", json!({})).await;
    let mut up3 = request(
        &r.sink,
        "update",
        "u3",
        props(&f.ou("Root/Prod"), "DIFFERENCE", &excluded),
    );
    up3["OldResourceProperties"] = up3["ResourceProperties"].clone();
    r.invoke(up3).await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS");
    assert!(r.bed.mutating_stackset_calls().await.is_empty());
}

#[tokio::test]
async fn retain_policy_keeps_instances_of_accounts_that_leave_the_scope() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.invoke(request(
        &r.sink,
        "create",
        "c1",
        props(&f.ou("Root/Prod"), "ALL", ""),
    ))
    .await;
    let mut p = props(&f.ou("Root/Prod/US"), "ALL", "");
    p["OnAccountLeavesScope"] = json!("RETAIN");
    r.invoke(request(&r.sink, "update", "u1", p)).await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS");
    assert_eq!(
        r.last_answer()["Data"]["AccountIds"],
        f.account("prod-us-1")
    );
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, names(&f, PROD));
}

/// Run under both readings of a listed OU (`e2e::OuReading`).
#[tokio::test]
async fn delete_removes_every_instance_and_answers_success() {
    for reading in OuReading::BOTH {
        delete_removes_every_instance_and_answers_success_under(reading).await;
    }
}

async fn delete_removes_every_instance_and_answers_success_under(reading: OuReading) {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.set_ou_reading(reading).await;
    let p = props(&f.ou("Root/Prod"), "ALL", "");
    r.invoke(request(&r.sink, "create", "c1", p.clone())).await;
    // One account moved out of the targets since: it must go too.
    r.bed
        .move_account(
            &f.account("prod-web"),
            &f.ou("Root/Prod"),
            &f.ou("Root/Sandbox"),
        )
        .await;
    let del = request(&r.sink, "delete", "d1", p);
    r.invoke(del.clone()).await;
    assert_eq!(
        r.last_answer(),
        json!({
            "Status": "SUCCESS",
            "PhysicalResourceId": format!("stackset-instances/{STACK_SET}"),
            "StackId": del["StackId"],
            "RequestId": "d1",
            "LogicalResourceId": "PortStackSetInstances",
            "NoEcho": false,
            "Data": {},
        })
    );
    assert!(r.bed.instance_accounts(STACK_SET).await.is_empty());
}

#[tokio::test]
async fn delete_after_a_failed_create_touches_nothing() {
    let r = rig().await;
    r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let create = request(
        &r.sink,
        "create",
        "c-bad",
        props("ou-zzzz-99999999", "ALL", ""),
    );
    r.invoke(create).await;
    let failed = r.last_answer();
    assert_eq!(failed["Status"], "FAILED");
    let physical = failed["PhysicalResourceId"].as_str().unwrap().to_owned();
    r.bed.control("requests/clear", json!({})).await;
    let mut del = request(
        &r.sink,
        "delete",
        "d-bad",
        props("ou-zzzz-99999999", "ALL", ""),
    );
    del["PhysicalResourceId"] = json!(physical);
    r.invoke(del).await;
    assert_eq!(r.last_answer()["Status"], "SUCCESS");
    assert!(r.bed.requests().await.is_empty(), "no AWS call at all");
}
