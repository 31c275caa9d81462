use super::*;

#[test]
fn plan_creates_missing_and_deletes_extra_in_one_operation_each() {
    let have = vec![
        inst(1, InstanceStatus::Current, DetailedStatus::Succeeded),
        inst(9, InstanceStatus::Current, DetailedStatus::Succeeded),
        inst(8, InstanceStatus::Current, DetailedStatus::Succeeded),
    ];
    let p = plan(
        &desired(&[1, 2, 3]),
        &have,
        &BTreeMap::new(),
        &PlanPolicy::default(),
    );
    assert_eq!(p.create.len(), 1);
    assert_eq!(p.create[0].accounts, vec![acct(2), acct(3)]);
    assert_eq!(p.delete.len(), 1);
    assert_eq!(p.delete[0].accounts, vec![acct(8), acct(9)]);
    assert!(p.update.is_empty());
}

#[test]
fn retain_policy_keeps_out_of_scope_instances() {
    let have = vec![inst(9, InstanceStatus::Current, DetailedStatus::Succeeded)];
    let policy = PlanPolicy {
        on_leave: LeavePolicy::Retain,
        ..Default::default()
    };
    let p = plan(&desired(&[]), &have, &BTreeMap::new(), &policy);
    assert!(p.is_noop());
    assert_eq!(p.retained, vec![acct(9)]);
}

#[test]
fn failed_instances_are_retried_until_the_attempt_bound_then_given_up() {
    let mut failed = inst(2, InstanceStatus::Outdated, DetailedStatus::Failed);
    failed.status_reason = Some("Role already exists".into());
    let d = desired(&[2]);
    let p = plan(
        &d,
        std::slice::from_ref(&failed),
        &BTreeMap::new(),
        &PlanPolicy::default(),
    );
    assert_eq!(p.retry, vec![acct(2)]);
    assert_eq!(p.update.len(), 1);
    let attempts = BTreeMap::from([(acct(2), 3)]);
    let p = plan(&d, &[failed], &attempts, &PlanPolicy::default());
    assert!(p.update.is_empty());
    assert!(p.given_up[0].why.contains("Role already exists"));
}

#[test]
fn an_account_whose_execution_role_is_denied_is_retried_past_the_bound_and_never_given_up() {
    let mut denied = inst(2, InstanceStatus::Outdated, DetailedStatus::Failed);
    denied.status_reason = Some(SCP_DENIED.into());
    let d = desired(&[2]);
    for n in [0, 3, 50] {
        let attempts = BTreeMap::from([(acct(2), n)]);
        let p = plan(
            &d,
            std::slice::from_ref(&denied),
            &attempts,
            &PlanPolicy::default(),
        );
        assert_eq!(p.retry, vec![acct(2)], "after {n} attempts: {p:?}");
        assert!(p.given_up.is_empty(), "after {n} attempts: {p:?}");
    }
    // Once the deny lifted and a real failure took its place, the bound applies again.
    let mut role = denied.clone();
    role.status_reason = Some("Role already exists".into());
    let p = plan(
        &d,
        &[role],
        &BTreeMap::from([(acct(2), 3)]),
        &PlanPolicy::default(),
    );
    assert!(p.update.is_empty() && p.given_up.len() == 1, "{p:?}");
    // A delete the SCP refused (INOPERABLE) is retried past the bound too.
    let mut gone = inst(9, InstanceStatus::Inoperable, DetailedStatus::Inoperable);
    gone.status_reason = Some(SCP_DENIED.into());
    let p = plan(
        &desired(&[]),
        &[gone],
        &BTreeMap::from([(acct(9), 7)]),
        &PlanPolicy::default(),
    );
    assert_eq!(p.delete.len(), 1, "{p:?}");
    // A bound of 0 (an event's run: retries are the schedule's) still enrolls it: waiting for
    // the account is no retry of a failure.
    let events = PlanPolicy {
        max_retry_attempts: 0,
        ..Default::default()
    };
    let p = plan(&d, &[denied], &BTreeMap::new(), &events);
    assert_eq!(p.retry, vec![acct(2)], "{p:?}");
    assert!(p.given_up.is_empty(), "{p:?}");
}

#[test]
fn an_instance_failed_on_an_existing_oidc_provider_is_retried_reusing_it_not_plainly() {
    let mut oidc = inst(2, InstanceStatus::Outdated, DetailedStatus::Failed);
    oidc.status_reason = Some(OIDC_EXISTS.into());
    let mut role = inst(3, InstanceStatus::Outdated, DetailedStatus::Failed);
    role.status_reason = Some("Role already exists".into());
    let d = desired(&[2, 3]);
    let p = plan(
        &d,
        &[oidc.clone(), role],
        &BTreeMap::new(),
        &PlanPolicy::default(),
    );
    assert_eq!(p.reuse_oidc.len(), 1, "{p:?}");
    assert_eq!(p.reuse_oidc[0].accounts, vec![acct(2)]);
    assert_eq!(p.update.len(), 1);
    assert_eq!(p.update[0].accounts, vec![acct(3)]);
    assert_eq!(p.retry, vec![acct(3)]);
    assert_eq!(p.operation_count(), 2);
    assert!(
        p.summary()
            .contains("reuse existing OIDC provider 1 account(s)"),
        "{}",
        p.summary()
    );
    // The same bound on attempts as any retry.
    let attempts = BTreeMap::from([(acct(2), 3)]);
    let p = plan(
        &desired(&[2]),
        &[oidc.clone()],
        &attempts,
        &PlanPolicy::default(),
    );
    assert!(p.reuse_oidc.is_empty() && p.update.is_empty());
    assert!(p.given_up[0].why.contains("Provider with url"));
    // Once the override made it CURRENT, nothing more to do.
    let mut done = oidc;
    done.status = InstanceStatus::Current;
    done.detailed = DetailedStatus::Succeeded;
    done.status_reason = None;
    assert!(plan(
        &desired(&[2]),
        &[done],
        &BTreeMap::new(),
        &PlanPolicy::default()
    )
    .is_noop());
}

#[test]
fn oidc_reuse_batches_this_passes_failures_by_region_set_and_only_desired_ones() {
    let mut a = inst(2, InstanceStatus::Outdated, DetailedStatus::Failed);
    a.status_reason = Some(OIDC_EXISTS.into());
    let mut b = a.clone();
    b.account = acct(4);
    let mut gone = a.clone();
    gone.account = acct(9);
    let mut other = inst(5, InstanceStatus::Outdated, DetailedStatus::Failed);
    other.status_reason = Some("Role already exists".into());
    let ok = inst(3, InstanceStatus::Current, DetailedStatus::Succeeded);
    let batches = oidc_reuse(&desired(&[2, 3, 4, 5]), &[a, b, gone, other, ok]);
    assert_eq!(
        batches.len(),
        1,
        "one operation for every such account: {batches:?}"
    );
    assert_eq!(batches[0].accounts, vec![acct(2), acct(4)]);
}

#[test]
fn drifted_instances_are_repaired_and_suspended_ones_held() {
    let mut drifted = inst(2, InstanceStatus::Current, DetailedStatus::Succeeded);
    drifted.drift = DriftStatus::Drifted;
    let skipped = inst(
        3,
        InstanceStatus::Outdated,
        DetailedStatus::SkippedSuspendedAccount,
    );
    let p = plan(
        &desired(&[2, 3]),
        &[drifted, skipped],
        &BTreeMap::new(),
        &PlanPolicy::default(),
    );
    assert_eq!(p.repair, vec![acct(2)]);
    assert_eq!(p.update[0].accounts, vec![acct(2)]);
    assert_eq!(p.held.len(), 1);
}

#[test]
fn busy_instances_are_not_deleted_under_a_running_operation() {
    let busy = inst(9, InstanceStatus::Outdated, DetailedStatus::Running);
    let p = plan(
        &desired(&[]),
        &[busy],
        &BTreeMap::new(),
        &PlanPolicy::default(),
    );
    assert!(p.is_noop());
    assert_eq!(p.held[0].account, acct(9));
}

#[test]
fn the_plan_summary_says_when_a_kind_is_split_for_the_50_ou_limit() {
    let d = desired(&(1..=60).collect::<Vec<_>>());
    let p = plan(&d, &[], &BTreeMap::new(), &PlanPolicy::default());
    let needs: BTreeMap<AccountId, BTreeSet<String>> = (1..=60)
        .map(|n| (acct(n), [format!("ou-abcd-{n:08}")].into()))
        .collect();
    let mut p = p;
    p.create = fit_ous(p.create, &needs, &[], MAX_OUS_PER_OPERATION);
    assert_eq!(p.create.len(), 2);
    assert_eq!(p.operation_count(), 2);
    assert_eq!(
        p.summary(),
        "create 60 account(s) in 2 operations (at most 50 OUs per operation); 2 StackSet \
         operation(s)"
    );
}

#[test]
fn unreachable_accounts_are_dropped_and_inoperable_desired_ones_held() {
    let gone = inst(9, InstanceStatus::Current, DetailedStatus::Succeeded);
    let stuck = inst(8, InstanceStatus::Inoperable, DetailedStatus::Inoperable);
    let mine = inst(2, InstanceStatus::Inoperable, DetailedStatus::Inoperable);
    let unreachable = BTreeSet::from([acct(9)]);
    let p = plan_reaching(
        &desired(&[2]),
        &[gone, stuck, mine],
        &BTreeMap::new(),
        &PlanPolicy::default(),
        &unreachable,
    );
    assert_eq!(p.drop[0].accounts, vec![acct(9)]);
    // A reachable account's INOPERABLE instance: its delete is tried again.
    assert_eq!(p.delete[0].accounts, vec![acct(8)]);
    // Desired but INOPERABLE: never updated (StackSets exclude it), held and explained.
    assert!(p.update.is_empty() && p.create.is_empty());
    assert!(p
        .held
        .iter()
        .any(|h| h.account == acct(2) && h.why.contains("INOPERABLE")));
}
