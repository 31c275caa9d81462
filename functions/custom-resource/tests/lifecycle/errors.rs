use super::*;

#[tokio::test]
async fn not_running_in_the_management_account_names_both_accounts() {
    let bed = e2e::TestBed::start().await;
    let r = rig_with(
        bed,
        FixedIdentity(AccountId::parse("222233334444").unwrap()),
    )
    .await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.invoke(request(
        &r.sink,
        "create",
        "wrong",
        props(&f.root(), "ALL", ""),
    ))
    .await;
    let a = r.last_answer();
    assert_eq!(a["Status"], "FAILED");
    let reason = a["Reason"].as_str().unwrap();
    assert!(
        reason.contains("222233334444") && reason.contains(&f.management()),
        "{reason}"
    );
    assert!(reason.contains("management account"), "{reason}");
    assert!(r.bed.mutating_stackset_calls().await.is_empty());
}

async fn failed_reason(
    ous: &str,
    mode: &str,
    accounts: &str,
    setup: impl AsyncFnOnce(&e2e::TestBed),
) -> String {
    let r = rig().await;
    r.bed.sample().await;
    setup(&r.bed).await;
    r.invoke(request(&r.sink, "create", "pf", props(ous, mode, accounts)))
        .await;
    let a = r.last_answer();
    assert_eq!(a["Status"], "FAILED", "{a}");
    assert!(
        a["PhysicalResourceId"]
            .as_str()
            .unwrap()
            .starts_with("orgscope-create-failed/"),
        "{a}"
    );
    assert!(
        r.bed.mutating_stackset_calls().await.is_empty(),
        "no change"
    );
    a["Reason"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn trusted_access_off_fails_with_the_exact_fix() {
    let r = rig().await;
    r.bed
        .control("fixture/sample", json!({"trusted_access": false}))
        .await;
    r.invoke(request(&r.sink, "create", "ta", props("r-abcd", "ALL", "")))
        .await;
    let reason = r.last_answer()["Reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("aws cloudformation activate-organizations-access"),
        "{reason}"
    );
}

#[tokio::test]
async fn an_unknown_ou_says_what_an_ou_id_looks_like_and_where_to_find_it() {
    let reason = failed_reason("ou-zzzz-99999999", "ALL", "", async |b| {
        b.create_stack_set(STACK_SET, true).await
    })
    .await;
    assert!(
        reason.contains("ou-zzzz-99999999 does not exist"),
        "{reason}"
    );
    assert!(reason.contains("ou-abcd-12345678"), "{reason}");
}

#[tokio::test]
async fn a_listed_account_outside_the_organization_is_named() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.invoke(request(
        &r.sink,
        "create",
        "typo",
        props(&f.root(), "DIFFERENCE", "000000000042"),
    ))
    .await;
    let a = r.last_answer();
    assert_eq!(a["Status"], "FAILED");
    let reason = a["Reason"].as_str().unwrap();
    assert!(
        reason.contains("000000000042") && reason.contains("not in this organization"),
        "{reason}"
    );
    assert!(r.bed.mutating_stackset_calls().await.is_empty());
}

#[tokio::test]
async fn a_missing_stack_set_and_a_self_managed_one_are_explained() {
    let reason = failed_reason("r-abcd", "ALL", "", async |_| {}).await;
    assert!(
        reason.contains("does not exist") && reason.contains(STACK_SET),
        "{reason}"
    );
    let reason = failed_reason("r-abcd", "ALL", "", async |b| {
        b.create_stack_set(STACK_SET, false).await
    })
    .await;
    assert!(reason.contains("self-managed"), "{reason}");
}

#[tokio::test]
async fn bad_properties_fail_before_any_aws_call() {
    let r = rig().await;
    r.invoke(request(
        &r.sink,
        "create",
        "bad",
        props("ou-ABCD-12345678", "ALL", ""),
    ))
    .await;
    let a: Value = r.last_answer();
    assert_eq!(a["Status"], "FAILED");
    assert!(a["Reason"].as_str().unwrap().contains("lowercase"));
    assert!(r.bed.requests().await.is_empty());
}
