//! org-events under the permissions template.yaml gives it (issue 20): every suite of this
//! crate runs the handler as that principal (`common::World`), and the emulator refuses any
//! call no statement allows, with AWS's AccessDenied. The root as the scope needs
//! `organizations:ListAccounts`, which the template once did not grant.

mod common;

use std::time::Duration;

use common::{event, function_config_as, World};
use e2e::Deployment;
use org_events::Handler;
use shared::adapters::{CfnStackSets, SdkOrganizations};
use shared::ports::TokioClock;

/// Every account of the sample organization but the management and the suspended one.
const ACTIVE: &[&str] = &[
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

#[tokio::test]
async fn the_root_as_the_scope_is_kept_by_the_schedule_and_by_events_within_the_templates_permissions(
) {
    let w = World::new(&["Root"], "ALL", &[], &[], 0.2).await;
    w.schedule().await;
    assert_eq!(w.enrolled().await, w.ids(ACTIVE));
    // An account joins (created in the root): its event enrolls it.
    let id = w.create_account("joined-by-event").await;
    let created = event(
        "create-account-result.json",
        &[(
            "/detail/serviceEventDetails/createAccountStatus/accountId",
            serde_json::json!(id),
        )],
    );
    w.invoke(&created).await;
    assert!(w.enrolled().await.contains(&id), "enrolled on its event");
    assert_eq!(w.bed.denied().await, vec![], "no call was refused");
}

/// The enforcement can fail: without `organizations:ListAccounts` the scheduled run over the
/// root fails, naming AWS's refusal, and changes nothing.
#[tokio::test]
async fn without_list_accounts_in_the_policy_a_root_scope_run_fails_with_access_denied() {
    let w = World::new(&["Root"], "ALL", &[], &[], 0.2).await;
    let conf = function_config_as(
        &w.bed,
        &Deployment::management().without("organizations:ListAccounts"),
    )
    .await;
    let mut h = Handler::new(
        SdkOrganizations::new(&conf),
        CfnStackSets::new(&conf),
        TokioClock,
        w.handler.config.clone(),
    );
    h.engine = w.handler.engine.clone();
    let err = h
        .handle(
            &event("scheduled.json", &[]),
            &org_events::Invocation {
                request_id: "req-denied-0000-4000-8000-000000000000".into(),
                deadline: std::time::Instant::now() + Duration::from_secs(60),
            },
        )
        .await
        .expect_err("the run fails")
        .to_string();
    assert!(err.contains("organizations:ListAccounts"), "{err}");
    let denied = w.bed.denied().await;
    assert!(
        !denied.is_empty() && denied.iter().all(|(a, _)| a == "ListAccounts"),
        "{denied:?}"
    );
    assert_eq!(w.enrolled().await, Vec::<String>::new());
}
