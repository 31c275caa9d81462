//! Every event shape in `events/`, fed through the handler with real SDK clients against a
//! fresh emulator; the stack instances in the emulator are the verdict.

mod common;

use common::{event, mutating, strs, World};
use e2e::OuReading;
use org_events::handler::Disposition;
use serde_json::{json, Value};

const PROD_ALL: &[&str] = &["Root/Prod"];

/// The sample org with `Root/Prod` targeted (ALL) and the baseline reconciled.
async fn prod_world() -> World {
    let w = World::new(PROD_ALL, "ALL", &[], &[], 0.2).await;
    let s = w.schedule().await;
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    w
}

fn prod_accounts() -> Vec<&'static str> {
    vec![
        "prod-web",
        "prod-data",
        "prod-eu-1",
        "prod-eu-payments",
        "prod-eu-pci",
        "prod-us-1",
    ]
}

#[tokio::test]
async fn scheduled_event_enrolls_every_account_in_scope_from_nothing() {
    let w = World::new(PROD_ALL, "ALL", &[], &[], 0.2).await;
    assert!(w.enrolled().await.is_empty());
    let s = w.schedule().await;
    assert_eq!(strs(&s.accounts_added), w.ids(&prod_accounts()));
    assert_eq!(w.enrolled().await, w.ids(&prod_accounts()));
    assert_eq!(s.operation_ids.len(), 1, "{s:?}");
    assert!(s.operation_ids[0].starts_with("orgscope-create-"));
}

#[tokio::test]
async fn move_account_into_a_target_subtree_three_levels_deep_enrolls_the_account() {
    let w = prod_world().await;
    let ev = w
        .mv("sandbox-orphan", "Root", "Root/Prod/EU/Payments/PCI")
        .await;
    let s = w.invoke(&ev).await;
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    assert_eq!(strs(&s.accounts_added), w.ids(&["sandbox-orphan"]));
    let mut want = prod_accounts();
    want.push("sandbox-orphan");
    assert_eq!(w.enrolled().await, w.ids(&want));
    let inst = w.instance(&w.f.account("sandbox-orphan")).await.unwrap();
    assert_eq!(inst["status"], "CURRENT");
}

/// Run under both readings of a listed OU (`e2e::OuReading`).
#[tokio::test]
async fn move_account_out_of_a_target_subtree_withdraws_the_account() {
    for reading in OuReading::BOTH {
        move_account_out_of_a_target_subtree_withdraws_the_account_under(reading).await;
    }
}

async fn move_account_out_of_a_target_subtree_withdraws_the_account_under(reading: OuReading) {
    let w = prod_world().await;
    w.bed.set_ou_reading(reading).await;
    let ev = w
        .mv("prod-eu-pci", "Root/Prod/EU/Payments/PCI", "Root/Staging")
        .await;
    let s = w.invoke(&ev).await;
    assert_eq!(strs(&s.accounts_removed), w.ids(&["prod-eu-pci"]), "{s:?}");
    let mut want = prod_accounts();
    want.retain(|a| *a != "prod-eu-pci");
    assert_eq!(w.enrolled().await, w.ids(&want));
}

#[tokio::test]
async fn move_account_between_two_target_ous_causes_no_churn() {
    let w = World::new(&["Root/Prod/EU", "Root/Prod/US"], "ALL", &[], &[], 0.2).await;
    w.schedule().await;
    let before = w.enrolled().await;
    w.clear_requests().await;
    let ev = w.mv("prod-eu-1", "Root/Prod/EU", "Root/Prod/US").await;
    let s = w.invoke(&ev).await;
    assert_eq!(s.outcome, Disposition::NoChange, "{s:?}");
    assert!(mutating(&w.calls().await).is_empty());
    assert_eq!(w.enrolled().await, before);
}

#[tokio::test]
async fn move_account_between_ous_outside_the_scope_costs_only_a_cheap_check() {
    let w = prod_world().await;
    w.clear_requests().await;
    let ev = w.mv("staging-1", "Root/Staging", "Root/Sandbox").await;
    w.clear_requests().await;
    let s = w.invoke(&ev).await;
    assert_eq!(s.outcome, Disposition::NotRelevant, "{s:?}");
    let calls = w.calls().await;
    // At most 3 listings (a call without a NextToken starts one). With full pages that is 3
    // calls; AWS may answer a listing in short or empty pages (Organizations API reference:
    // "These operations can occasionally return an empty set of results even when there are
    // more results available"), each page a call more, so the count is of listings, which
    // holds under E2E_ORGANIZATIONS_PAGES=short too.
    let listings: Vec<Value> = w
        .bed
        .requests()
        .await
        .into_iter()
        .filter(|r| r["throttled"] != true && r["params"].get("NextToken").is_none())
        .collect();
    assert!(listings.len() <= 3, "{calls:?}");
    if !e2e::short_organizations_pages() {
        assert_eq!(
            calls.len(),
            listings.len(),
            "full pages: one call per listing"
        );
    }
    assert!(calls
        .iter()
        .all(|(_, a)| a == "ListStackInstances" || a == "ListParents"));
    assert_eq!(w.enrolled().await, w.ids(&prod_accounts()));
}

/// An invited account joins: AcceptHandshake is recorded in the member account, so the
/// management account acts on the membership event Organizations logs for it.
#[tokio::test]
async fn account_joined_organization_enrolls_the_invited_account() {
    let w = World::new(&["Root"], "ALL", &[], &[], 0.2).await;
    w.schedule().await;
    let new = w.create_account("invited-workload").await;
    w.clear_requests().await;
    let s = w
        .invoke(&event(
            "account-joined-organization.json",
            &[("/detail/serviceEventDetails/accountId", json!(new))],
        ))
        .await;
    assert_eq!(
        s.trigger,
        org_events::Trigger::AccountJoined {
            account: shared::core::AccountId::parse(&new).unwrap(),
            ou: None,
            via: "AccountJoinedOrganization (Invited)".into()
        }
    );
    assert_eq!(strs(&s.accounts_added), vec![new.clone()], "{s:?}");
    assert!(w.enrolled().await.contains(&new));
    assert_eq!(mutating(&w.calls().await), ["CreateStackInstances"]);
}

/// Where AWS's event names no account this code can find, the whole scope is checked: the
/// joined account is enrolled all the same.
#[tokio::test]
async fn a_membership_event_without_a_readable_account_reconciles_the_whole_scope() {
    let w = World::new(&["Root"], "ALL", &[], &[], 0.2).await;
    w.schedule().await;
    let new = w.create_account("invited-elsewhere").await;
    let mut ev = event("account-joined-organization.json", &[]);
    ev["detail"]["serviceEventDetails"] = json!({"joinedMethod": "Invited"});
    let s = w.invoke(&ev).await;
    assert_eq!(s.trigger.kind(), "membership_changed", "{s:?}");
    assert_eq!(strs(&s.accounts_added), vec![new.clone()], "{s:?}");
}

/// Control Tower records its lifecycle events in its home region; with a home region other
/// than us-east-1 the stack never sees CreateManagedAccount. The account factory still goes
/// through Organizations, whose events reach us-east-1: CreateAccountResult (the account in
/// the root) and MoveAccount (into the OU the factory was given).
#[tokio::test]
async fn a_control_tower_account_outside_us_east_1_arrives_by_create_account_result_and_move_account(
) {
    let w = prod_world().await;
    let new = w.create_account("ct-factory-account").await;
    let created = event(
        "create-account-result.json",
        &[(
            "/detail/serviceEventDetails/createAccountStatus/accountId",
            json!(new),
        )],
    );
    let s = w.invoke(&created).await;
    assert_eq!(
        s.outcome,
        Disposition::NotRelevant,
        "still in the root: {s:?}"
    );
    let moved = w.mv(&new, "Root", "Root/Prod/EU").await;
    let s = w.invoke(&moved).await;
    assert_eq!(strs(&s.accounts_added), vec![new.clone()], "{s:?}");
    assert!(w.enrolled().await.contains(&new));
}

#[tokio::test]
async fn create_account_result_succeeded_enrolls_the_new_account() {
    let w = World::new(&["Root"], "ALL", &[], &[], 0.2).await;
    w.schedule().await;
    let new = w.create_account("new-workload").await;
    let s = w
        .invoke(&event(
            "create-account-result.json",
            &[(
                "/detail/serviceEventDetails/createAccountStatus/accountId",
                json!(new),
            )],
        ))
        .await;
    assert_eq!(strs(&s.accounts_added), vec![new.clone()], "{s:?}");
    assert!(w.enrolled().await.contains(&new));
}

#[tokio::test]
async fn create_account_result_in_the_root_outside_the_targets_is_not_relevant() {
    let w = prod_world().await;
    let new = w.create_account("root-workload").await;
    w.clear_requests().await;
    let s = w
        .invoke(&event(
            "create-account-result.json",
            &[(
                "/detail/serviceEventDetails/createAccountStatus/accountId",
                json!(new),
            )],
        ))
        .await;
    assert_eq!(s.outcome, Disposition::NotRelevant, "{s:?}");
    assert!(mutating(&w.calls().await).is_empty());
    assert!(!w.enrolled().await.contains(&new));
}

#[tokio::test]
async fn control_tower_create_managed_account_enrolls_the_account_in_its_ou() {
    let w = prod_world().await;
    let new = w.create_account("ct-workload").await;
    let (root, us) = (w.f.root(), w.f.ou("Root/Prod/US"));
    w.mv(&new, &root, &us).await;
    let s = w
        .invoke(&event(
            "controltower-create-managed-account.json",
            &[
                (
                    "/detail/serviceEventDetails/createManagedAccountStatus/account/accountId",
                    json!(new),
                ),
                (
                    "/detail/serviceEventDetails/createManagedAccountStatus/organizationalUnit/organizationalUnitId",
                    json!(us),
                ),
            ],
        ))
        .await;
    assert_eq!(strs(&s.accounts_added), vec![new.clone()], "{s:?}");
    assert!(w.enrolled().await.contains(&new));
}

#[tokio::test]
async fn control_tower_update_managed_account_out_of_the_targets_withdraws_the_account() {
    let w = prod_world().await;
    let acct = w.f.account("prod-us-1");
    let sandbox = w.f.ou("Root/Sandbox");
    w.mv("prod-us-1", "Root/Prod/US", "Root/Sandbox").await;
    let s = w
        .invoke(&event(
            "controltower-update-managed-account.json",
            &[
                (
                    "/detail/serviceEventDetails/updateManagedAccountStatus/account/accountId",
                    json!(acct),
                ),
                (
                    "/detail/serviceEventDetails/updateManagedAccountStatus/organizationalUnit/organizationalUnitId",
                    json!(sandbox),
                ),
            ],
        ))
        .await;
    assert_eq!(strs(&s.accounts_removed), vec![acct.clone()], "{s:?}");
    assert!(!w.enrolled().await.contains(&acct));
}

/// Run under both readings of a listed OU (`e2e::OuReading`).
#[tokio::test]
async fn remove_account_from_organization_withdraws_its_instance() {
    for reading in OuReading::BOTH {
        remove_account_from_organization_withdraws_its_instance_under(reading).await;
    }
}

async fn remove_account_from_organization_withdraws_its_instance_under(reading: OuReading) {
    let w = prod_world().await;
    w.bed.set_ou_reading(reading).await;
    let acct = w.f.account("prod-data");
    w.orgs
        .remove_account_from_organization()
        .account_id(&acct)
        .send()
        .await
        .expect("RemoveAccountFromOrganization");
    let s = w
        .invoke(&event(
            "remove-account.json",
            &[("/detail/requestParameters/accountId", json!(acct))],
        ))
        .await;
    assert_eq!(strs(&s.accounts_removed), vec![acct.clone()], "{s:?}");
    assert!(!w.enrolled().await.contains(&acct));
}

/// A member leaves by itself: LeaveOrganization is recorded in the member account; the
/// management account gets AccountDepartedOrganization (departedMethod Left).
#[tokio::test]
async fn account_departed_organization_withdraws_the_instance() {
    let w = prod_world().await;
    let acct = w.f.account("prod-web");
    // The emulator acts as the management account: the account is removed from that side.
    w.orgs
        .remove_account_from_organization()
        .account_id(&acct)
        .send()
        .await
        .expect("RemoveAccountFromOrganization");
    let s = w
        .invoke(&event(
            "account-departed-organization.json",
            &[("/detail/serviceEventDetails/accountId", json!(acct))],
        ))
        .await;
    assert_eq!(s.trigger.kind(), "account_left", "{s:?}");
    assert_eq!(strs(&s.accounts_removed), vec![acct.clone()], "{s:?}");
    assert!(!w.enrolled().await.contains(&acct));
}

/// Run under both readings of a listed OU (`e2e::OuReading`).
#[tokio::test]
async fn close_account_withdraws_its_instance() {
    for reading in OuReading::BOTH {
        close_account_withdraws_its_instance_under(reading).await;
    }
}

async fn close_account_withdraws_its_instance_under(reading: OuReading) {
    let w = prod_world().await;
    w.bed.set_ou_reading(reading).await;
    let acct = w.f.account("prod-eu-1");
    w.orgs
        .close_account()
        .account_id(&acct)
        .send()
        .await
        .expect("CloseAccount");
    let s = w
        .invoke(&event(
            "close-account.json",
            &[("/detail/requestParameters/accountId", json!(acct))],
        ))
        .await;
    assert_eq!(s.outcome, Disposition::Reconciled, "{s:?}");
    assert!(!w.enrolled().await.contains(&acct), "{s:?}");
}

#[tokio::test]
async fn ou_created_under_a_target_then_filled_enrolls_the_account() {
    let w = prod_world().await;
    let eu = w.f.ou("Root/Prod/EU");
    let ou = w
        .orgs
        .create_organizational_unit()
        .parent_id(&eu)
        .name("Lending")
        .send()
        .await
        .expect("CreateOrganizationalUnit");
    let ou_id = ou.organizational_unit().unwrap().id().unwrap().to_owned();
    w.clear_requests().await;
    let s = w
        .invoke(&event(
            "create-ou.json",
            &[
                ("/detail/requestParameters/parentId", json!(eu)),
                ("/detail/requestParameters/name", json!("Lending")),
                (
                    "/detail/responseElements/organizationalUnit/id",
                    json!(ou_id),
                ),
            ],
        ))
        .await;
    assert_eq!(s.outcome, Disposition::NotRelevant, "{s:?}");
    assert!(w.calls().await.is_empty(), "an empty new OU costs no call");
    let ev = w.mv("sandbox-orphan", "Root", &ou_id).await;
    let s = w.invoke(&ev).await;
    assert_eq!(strs(&s.accounts_added), w.ids(&["sandbox-orphan"]), "{s:?}");
    assert!(w.enrolled().await.contains(&w.f.account("sandbox-orphan")));
}

#[tokio::test]
async fn delete_ou_outside_the_targets_is_not_relevant() {
    let w = prod_world().await;
    let sandbox = w.f.ou("Root/Sandbox");
    w.orgs
        .delete_organizational_unit()
        .organizational_unit_id(&sandbox)
        .send()
        .await
        .expect("DeleteOrganizationalUnit");
    w.clear_requests().await;
    let s = w
        .invoke(&event(
            "delete-ou.json",
            &[(
                "/detail/requestParameters/organizationalUnitId",
                json!(sandbox),
            )],
        ))
        .await;
    assert_eq!(s.outcome, Disposition::NotRelevant, "{s:?}");
    assert!(w.calls().await.is_empty());
}

#[tokio::test]
async fn deleting_a_target_ou_fails_the_invocation_naming_the_missing_target() {
    let w = World::new(&["Root/Prod", "Root/Sandbox"], "ALL", &[], &[], 0.2).await;
    w.schedule().await;
    let sandbox = w.f.ou("Root/Sandbox");
    w.orgs
        .delete_organizational_unit()
        .organizational_unit_id(&sandbox)
        .send()
        .await
        .expect("DeleteOrganizationalUnit");
    w.clear_requests().await;
    let e = w
        .try_invoke(&event(
            "delete-ou.json",
            &[(
                "/detail/requestParameters/organizationalUnitId",
                json!(sandbox),
            )],
        ))
        .await
        .expect_err("a deleted target is a configuration error");
    let msg = e.to_string();
    assert!(
        msg.contains(&sandbox) && msg.contains("does not exist"),
        "{msg}"
    );
    assert!(mutating(&w.calls().await).is_empty());
    assert_eq!(w.enrolled().await, w.ids(&prod_accounts()));
}

#[tokio::test]
async fn unknown_malformed_and_failed_events_are_answered_ok_and_change_nothing() {
    let w = prod_world().await;
    let acct = w.f.account("sandbox-orphan");
    // Move an account into scope without telling anyone: an ignored event must not notice.
    w.mv("sandbox-orphan", "Root", "Root/Prod").await;
    let mut failed_move = common::move_event(&acct, &w.f.root(), &w.f.ou("Root/Prod"));
    failed_move["detail"]["errorCode"] = json!("ConcurrentModificationException");
    let mut no_account = common::move_event(&acct, &w.f.root(), &w.f.ou("Root/Prod"));
    no_account["detail"]["requestParameters"] = json!(null);
    let mut numeric = common::move_event(&acct, &w.f.root(), &w.f.ou("Root/Prod"));
    numeric["detail"]["requestParameters"]["accountId"] = json!(12345678901u64);
    let cases = vec![
        (
            "failed CreateAccountResult",
            event("create-account-result-failed.json", &[]),
        ),
        ("a failed MoveAccount call", failed_move),
        ("MoveAccount without parameters", no_account),
        ("account ID as a number", numeric),
        ("not an object", json!("MoveAccount")),
        ("empty object", json!({})),
        ("null", json!(null)),
        (
            "another service",
            json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": {"name": "x"}}}),
        ),
        (
            "an unrelated Organizations call",
            event(
                "move-account.json",
                &[("/detail/eventName", json!("UpdateOrganizationalUnit"))],
            ),
        ),
        (
            "a CloudFormation custom resource request",
            json!({"RequestType": "Create", "ResponseURL": "https://example.com", "ResourceProperties": {}}),
        ),
    ];
    w.clear_requests().await;
    for (what, ev) in cases {
        let s = w
            .try_invoke(&ev)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(s.outcome, Disposition::Ignored, "{what}: {s:?}");
        assert!(s.reason.len() > 10, "{what}: {}", s.reason);
    }
    assert!(
        w.calls().await.is_empty(),
        "ignored events make no AWS call"
    );
    assert!(!w.enrolled().await.contains(&acct));
}
