//! An account enrolled by an event that already holds Port's OIDC provider: the same run
//! retries it with the per-account override `CreateOIDCProvider=false`.

mod common;

use common::{mutating, strs, World};
use e2e::STACK_SET;
use org_events::handler::Disposition;
use serde_json::json;

/// The world's StackSet, replaced by one with the member template's real parameters
/// (`CreateOIDCProvider=true`), so the test bed plays providers per account.
async fn with_port_stack_set(w: &World) {
    let conf = w.bed.sdk_config().await;
    aws_sdk_cloudformation::Client::new(&conf)
        .delete_stack_set()
        .stack_set_name(STACK_SET)
        .send()
        .await
        .expect("DeleteStackSet");
    w.bed.create_port_stack_set(STACK_SET, true).await;
}

#[tokio::test]
async fn an_enrolled_account_that_already_has_the_provider_reuses_it_in_the_same_run() {
    let w = World::new(&["Root/Prod"], "ALL", &[], &[], 0.2).await;
    with_port_stack_set(&w).await;
    w.schedule().await;
    let orphan = w.f.account("sandbox-orphan");
    w.bed.has_oidc_provider(&orphan).await;
    w.clear_requests().await;
    let ev = w.mv("sandbox-orphan", "Root", "Root/Prod/US").await;
    let s = w.invoke(&ev).await;
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    assert!(s.failures.is_empty(), "{s:?}");
    assert_eq!(strs(&s.accounts_added), vec![orphan.clone()], "{s:?}");
    assert_eq!(
        mutating(&w.calls().await),
        ["CreateStackInstances", "UpdateStackInstances"]
    );
    let i = w.instance(&orphan).await.expect("instance");
    assert_eq!(i["status"], "CURRENT", "{i}");
    assert_eq!(
        i["parameter_overrides"],
        json!([{"ParameterKey": "CreateOIDCProvider", "ParameterValue": "false"}])
    );
    assert!(
        w.bed
            .oidc_providers()
            .await
            .contains(&(orphan.clone(), false)),
        "the provider that was there stays the account's own"
    );
    // The next scheduled run finds nothing to do.
    w.clear_requests().await;
    w.schedule().await;
    assert_eq!(mutating(&w.calls().await), ["DetectStackSetDrift"]);
}
