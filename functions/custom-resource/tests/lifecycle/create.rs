use super::*;

#[tokio::test]
async fn create_all_deploys_to_every_account_in_nested_ous_and_answers_success() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let req = request(
        &r.sink,
        "create",
        "req-all",
        props(&f.ou("Root/Prod"), "ALL", ""),
    );
    r.invoke(req.clone()).await;
    let want = names(&f, PROD);
    assert_eq!(r.last_answer(), r.success(&req, &want, &f.0));
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, want);
    for i in r.bed.instances(STACK_SET).await {
        assert_eq!(i["status"], "CURRENT", "{i}");
    }
}

#[tokio::test]
async fn create_intersection_deploys_only_to_listed_accounts_under_the_ous() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let listed = format!("{},{}", f.account("prod-eu-pci"), f.account("staging-1"));
    let req = request(
        &r.sink,
        "create",
        "req-int",
        props(&f.ou("Root/Prod"), "INTERSECTION", &listed),
    );
    r.invoke(req.clone()).await;
    let want = vec![f.account("prod-eu-pci")];
    assert_eq!(r.last_answer(), r.success(&req, &want, &f.0));
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, want);
}

#[tokio::test]
async fn create_difference_over_the_root_skips_management_suspended_and_listed_accounts() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let req = request(
        &r.sink,
        "create",
        "req-diff",
        props(&f.root(), "DIFFERENCE", &f.account("prod-eu-pci")),
    );
    r.invoke(req.clone()).await;
    let got = r.bed.instance_accounts(STACK_SET).await;
    let mut want = names(
        &f,
        &[
            "sandbox-orphan",
            "shared-services",
            "prod-web",
            "prod-data",
            "prod-eu-1",
            "prod-eu-payments",
            "prod-us-1",
            "staging-1",
            "staging-2",
        ],
    );
    want.sort();
    assert_eq!(got, want);
    assert!(
        !got.contains(&f.management()),
        "never the management account"
    );
    assert!(!got.contains(&f.account("staging-suspended")));
    assert_eq!(r.last_answer(), r.success(&req, &want, &f.0));
}
/// AWS Organizations API reference, every List call: "These operations can occasionally
/// return an empty set of results even when there are more results available. The NextToken
/// response parameter value is null only when there are no more results to display." A
/// root-scope Create reads the whole organization with ListRoots and ListAccounts; under short
/// pages (the emulator's `organizations_pages`, seed 0: ListRoots answers two empty pages with
/// a NextToken before the root, ListAccounts an empty page in mid-list) it still deploys to
/// exactly every member account. A reader that stopped at the first empty ListRoots page
/// would answer that the root does not exist; one that stopped at an empty ListAccounts page
/// would leave accounts out.
#[tokio::test]
async fn a_root_scope_create_reads_every_page_of_short_and_empty_organizations_pages() {
    let r = rig().await;
    let gen = e2e::Fixture(
        r.bed
            .control(
                "fixture/generate",
                json!({"accounts": 90, "ous": 8, "max_depth": 2, "suspended_every": 0, "seed": 3}),
            )
            .await,
    );
    r.bed
        .configure(json!({"organizations_pages": "short", "seed": 0}))
        .await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.control("requests/clear", json!({})).await;
    let req = request(
        &r.sink,
        "create",
        "req-short",
        props(&gen.root(), "ALL", ""),
    );
    r.invoke(req.clone()).await;
    let mut want: Vec<String> = gen.0["accounts"]
        .as_object()
        .unwrap()
        .values()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    want.sort();
    assert_eq!(want.len(), 90);
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, want);
    assert_eq!(r.last_answer(), r.success(&req, &want, &gen.0));
    // The switch did what this test relies on: each reader met an empty page with a NextToken.
    let empty: Vec<String> = r
        .bed
        .requests()
        .await
        .iter()
        .filter(|q| q["page"]["items"] == 0 && q["page"]["next_token"] == true)
        .map(|q| q["action"].as_str().unwrap().to_owned())
        .collect();
    for action in ["ListRoots", "ListAccounts"] {
        assert!(empty.iter().any(|a| a == action), "{action}: {empty:?}");
    }
}
