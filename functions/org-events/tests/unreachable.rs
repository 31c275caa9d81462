//! Accounts StackSets can no longer reach (suspended, closed, departed), and deletes that
//! fail for an account, through the real handler against the test bed, under both readings
//! of a listed OU (`e2e::OuReading`).

mod common;

use common::{mutating, strs, World};
use e2e::{OuReading, STACK_SET};

const ROLE_IN_USE: &str = "ResourceLogicalId:PortIntegrationRole, ResourceType:AWS::IAM::Role, \
     ResourceStatusReason:Cannot delete entity, must detach all policies first. (Service: Iam, \
     Status Code: 409, Request ID: \"5f1e\")";

#[tokio::test]
async fn suspended_and_departed_accounts_are_dropped_with_retain_stacks_and_the_next_run_mutates_nothing(
) {
    for reading in OuReading::BOTH {
        let w = World::new(&["Root/Staging", "Root/Prod/US"], "ALL", &[], &[], 0.2).await;
        w.bed.set_ou_reading(reading).await;
        w.schedule().await;
        let all = w.ids(&["staging-1", "staging-2", "prod-us-1"]);
        assert_eq!(w.enrolled().await, all, "{reading:?}");

        let (suspended, departed) = (w.f.account("staging-1"), w.f.account("staging-2"));
        w.bed.set_account_state(&suspended, "SUSPENDED").await;
        w.bed.remove_account(&departed).await;
        w.clear_requests().await;
        let s = w.schedule().await;
        assert!(s.failures.is_empty(), "{reading:?}: {:?}", s.failures);
        assert_eq!(w.enrolled().await, w.ids(&["prod-us-1"]), "{reading:?}");
        assert_eq!(
            strs(&s.accounts_removed),
            w.ids(&["staging-1", "staging-2"]),
            "{reading:?}"
        );
        // One DeleteStackInstances, with RetainStacks: a plain delete would fail for both
        // and leave them INOPERABLE.
        let deletes = w.bed.params_of("DeleteStackInstances").await;
        assert_eq!(deletes.len(), 1, "{reading:?}: {deletes:?}");
        assert_eq!(deletes[0]["RetainStacks"], "true", "{reading:?}");

        // Converged: the next scheduled run changes nothing (it only starts drift detection).
        w.clear_requests().await;
        let s = w.schedule().await;
        assert!(s.failures.is_empty(), "{reading:?}: {:?}", s.failures);
        assert_eq!(
            mutating(&w.calls().await),
            vec!["DetectStackSetDrift"],
            "{reading:?}"
        );
    }
}

#[tokio::test]
async fn an_inoperable_instance_of_a_suspended_account_is_dropped_not_retried_for_ever() {
    for reading in OuReading::BOTH {
        let w = World::new(&["Root/Staging"], "ALL", &[], &[], 0.2).await;
        w.bed.set_ou_reading(reading).await;
        w.schedule().await;
        let gone = w.f.account("staging-1");
        w.bed.set_account_state(&gone, "SUSPENDED").await;
        // Let the schedule's drift detection finish (operations take 0.2 s here).
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        // What a plain delete did before: it failed and left the instance INOPERABLE.
        w.bed
            .delete_instances_plain(STACK_SET, &w.f.ou("Root/Staging"), &gone)
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        assert_eq!(w.instance(&gone).await.unwrap()["status"], "INOPERABLE");

        let s = w.schedule().await;
        assert!(s.failures.is_empty(), "{reading:?}: {:?}", s.failures);
        assert_eq!(w.enrolled().await, w.ids(&["staging-2"]), "{reading:?}");
        w.clear_requests().await;
        w.schedule().await;
        assert_eq!(mutating(&w.calls().await), vec!["DetectStackSetDrift"]);
    }
}

#[tokio::test]
async fn a_delete_that_fails_for_an_account_is_reported_by_name_and_retried_not_called_removed() {
    for reading in OuReading::BOTH {
        let w = World::new(&["Root/Staging"], "ALL", &[], &[], 0.2).await;
        w.bed.set_ou_reading(reading).await;
        w.schedule().await;
        let leaving = w.f.account("staging-1");
        // Out of scope: moved to an OU no target covers.
        w.mv("staging-1", "Root/Staging", "Root/Sandbox").await;
        w.bed.fail_account(&leaving, ROLE_IN_USE, 1).await;
        let s = w.schedule().await;
        assert!(s.accounts_removed.is_empty(), "{reading:?}: {s:?}");
        let failed: Vec<&str> = s.failures.iter().map(|f| f.account.as_str()).collect();
        assert_eq!(failed, vec![leaving.as_str()], "{reading:?}");
        assert!(
            s.failures[0].reason.contains("Cannot delete entity"),
            "{:?}",
            s.failures
        );
        assert!(!s.failures[0].advice.is_empty());
        assert_eq!(w.enrolled().await, w.ids(&["staging-1", "staging-2"]));

        // The next run tries the delete again, and it goes through.
        let s = w.schedule().await;
        assert!(s.failures.is_empty(), "{reading:?}: {:?}", s.failures);
        assert_eq!(
            strs(&s.accounts_removed),
            vec![leaving.clone()],
            "{reading:?}"
        );
        assert_eq!(w.enrolled().await, w.ids(&["staging-2"]), "{reading:?}");
    }
}
