//! The custom resource on real AWS's terms: a delete that fails for an account is a failure,
//! unreachable accounts do not block the stack's Delete, and 60 target OUs work although
//! one operation may list at most 50. Each runs under both readings of a listed OU.

mod common;

use common::{props, request, rig};
use e2e::{OuReading, TestBed, STACK_SET};
use serde_json::{json, Value};

const ROLE_IN_USE: &str = "ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, \
     ResourceStatusReason:Cannot delete entity, must detach all policies first. (Service: Iam, \
     Status Code: 409)";

fn update(sink: &e2e::lambda::ResponseSink, id: &str, new: Value, old: Value) -> Value {
    let mut req = request(sink, "update", id, new);
    let mut old = old;
    old["ServiceToken"] = req["ResourceProperties"]["ServiceToken"].clone();
    req["OldResourceProperties"] = old;
    req["PhysicalResourceId"] = json!(format!("stackset-instances/{STACK_SET}"));
    req
}

fn delete(sink: &e2e::lambda::ResponseSink, id: &str, p: Value) -> Value {
    let mut req = request(sink, "delete", id, p);
    req["PhysicalResourceId"] = json!(format!("stackset-instances/{STACK_SET}"));
    req
}

/// The OU lists of every `action` call since the last clear.
async fn ou_lists(bed: &TestBed, action: &str) -> Vec<Vec<String>> {
    bed.params_of(action)
        .await
        .iter()
        .map(|p| {
            let m = p.as_object().cloned().unwrap_or_default();
            let mut v: Vec<String> = m
                .iter()
                .filter(|(k, _)| k.starts_with("DeploymentTargets.OrganizationalUnitIds.member."))
                .map(|(_, v)| v.as_str().unwrap_or_default().to_owned())
                .collect();
            v.sort();
            v
        })
        .collect()
}

#[tokio::test]
async fn an_update_whose_delete_fails_for_an_account_answers_failed_naming_it() {
    for reading in OuReading::BOTH {
        let r = rig().await;
        let f = r.bed.sample().await;
        r.bed.create_stack_set(STACK_SET, true).await;
        r.bed.set_ou_reading(reading).await;
        let before = props(&f.ou("Root/Staging"), "ALL", "");
        r.invoke(request(&r.sink, "create", "req-c", before.clone()))
            .await;
        assert_eq!(r.last_answer()["Status"], "SUCCESS", "{reading:?}");

        let leaving = f.account("staging-1");
        r.bed.fail_account(&leaving, ROLE_IN_USE, 1).await;
        let after = props(
            &f.ou("Root/Staging"),
            "INTERSECTION",
            &f.account("staging-2"),
        );
        r.invoke(update(&r.sink, "req-u", after.clone(), before.clone()))
            .await;
        let a = r.last_answer();
        assert_eq!(a["Status"], "FAILED", "{reading:?}: {a}");
        let reason = a["Reason"].as_str().unwrap();
        assert!(reason.contains(&leaving), "{reason}");
        assert!(reason.contains("could not be deleted"), "{reason}");
        assert!(r.bed.instance_accounts(STACK_SET).await.contains(&leaving));

        // The user fixes the cause and updates again: the delete is tried again.
        r.invoke(update(&r.sink, "req-u2", after.clone(), after.clone()))
            .await;
        assert_eq!(r.last_answer()["Status"], "SUCCESS", "{reading:?}");
        assert_eq!(
            r.bed.instance_accounts(STACK_SET).await,
            vec![f.account("staging-2")]
        );
    }
}

#[tokio::test]
async fn delete_succeeds_with_suspended_and_departed_accounts_present() {
    for reading in OuReading::BOTH {
        let r = rig().await;
        let f = r.bed.sample().await;
        r.bed.create_stack_set(STACK_SET, true).await;
        r.bed.set_ou_reading(reading).await;
        let p = props(&f.ou("Root/Staging"), "ALL", "");
        r.invoke(request(&r.sink, "create", "req-c", p.clone()))
            .await;
        assert_eq!(r.bed.instance_accounts(STACK_SET).await.len(), 2);
        r.bed
            .set_account_state(&f.account("staging-1"), "SUSPENDED")
            .await;
        r.bed.remove_account(&f.account("staging-2")).await;
        r.bed.control("requests/clear", json!({})).await;
        r.invoke(delete(&r.sink, "req-d", p)).await;
        let a = r.last_answer();
        assert_eq!(a["Status"], "SUCCESS", "{reading:?}: {a}");
        assert!(r.bed.instance_accounts(STACK_SET).await.is_empty());
        let deletes = r.bed.params_of("DeleteStackInstances").await;
        assert_eq!(deletes.len(), 1, "{deletes:?}");
        assert_eq!(deletes[0]["RetainStacks"], "true");
    }
}

#[tokio::test]
async fn sixty_target_ous_work_for_create_update_and_delete_with_at_most_50_ous_per_operation() {
    for reading in OuReading::BOTH {
        let r = rig().await;
        let org = r
            .bed
            .control(
                "fixture/generate",
                json!({"accounts": 300, "ous": 60, "max_depth": 1, "suspended_every": 0, "seed": 7}),
            )
            .await;
        r.bed.create_stack_set(STACK_SET, true).await;
        r.bed.set_ou_reading(reading).await;
        let ous: Vec<String> = org["ous"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.as_str() != "Root")
            .map(|(_, v)| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ous.len(), 60);
        let ou_set: std::collections::BTreeSet<&String> = ous.iter().collect();
        let mut want: Vec<String> = org["accounts"]
            .as_object()
            .unwrap()
            .values()
            .filter(|a| {
                let path = a["ou_path"].as_str().unwrap();
                path != "Root" && a["id"] != org["management_account_id"]
            })
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect();
        want.sort();
        assert!(want.len() > 50, "{}", want.len());

        // Create over 60 OUs.
        let all = props(&ous.join(","), "ALL", "");
        r.bed.control("requests/clear", json!({})).await;
        r.invoke(request(&r.sink, "create", "req-c", all.clone()))
            .await;
        let a = r.last_answer();
        assert_eq!(a["Status"], "SUCCESS", "{reading:?}: {a}");
        assert_eq!(r.bed.instance_accounts(STACK_SET).await, want);
        let creates = ou_lists(&r.bed, "CreateStackInstances").await;
        assert!(creates.len() >= 2, "{reading:?}: {creates:?}");
        assert!(creates
            .iter()
            .all(|l| l.len() <= 50 && l.iter().all(|o| ou_set.contains(o))));

        // Update: keep only listed accounts (INTERSECTION) — most are withdrawn.
        let keep: Vec<String> = want.iter().step_by(10).cloned().collect();
        let some = props(&ous.join(","), "INTERSECTION", &keep.join(","));
        r.bed.control("requests/clear", json!({})).await;
        r.invoke(update(&r.sink, "req-u", some.clone(), all.clone()))
            .await;
        let a = r.last_answer();
        assert_eq!(a["Status"], "SUCCESS", "{reading:?}: {a}");
        assert_eq!(r.bed.instance_accounts(STACK_SET).await, keep);
        let deletes = ou_lists(&r.bed, "DeleteStackInstances").await;
        assert!(deletes.len() >= 2, "{reading:?}: {deletes:?}");
        assert!(deletes.iter().all(|l| l.len() <= 50));

        // Delete: nothing left, StackSet deletable.
        r.invoke(delete(&r.sink, "req-d", some)).await;
        let a = r.last_answer();
        assert_eq!(a["Status"], "SUCCESS", "{reading:?}: {a}");
        assert!(r.bed.instance_accounts(STACK_SET).await.is_empty());
    }
}
