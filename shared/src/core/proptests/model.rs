use super::*;

// ------------------------------------------------------------------------------------------
// The bit-mask planner against a per-instance model, over several regions and every status.

const REGIONS: [&str; 3] = ["ap-south-1", "eu-west-1", "us-east-1"];

/// Every (status, detailed status, drifted) an instance can be in, as ListStackInstances
/// reports it: CURRENT (in sync or drifted), OUTDATED after a failed / cancelled / unknown
/// attempt, busy (PENDING, RUNNING), SKIPPED_SUSPENDED_ACCOUNT, INOPERABLE.
const STATES: [(InstanceStatus, DetailedStatus, bool); 10] = [
    (InstanceStatus::Current, DetailedStatus::Succeeded, false),
    (InstanceStatus::Current, DetailedStatus::Succeeded, true),
    (InstanceStatus::Outdated, DetailedStatus::Failed, false),
    (InstanceStatus::Outdated, DetailedStatus::Cancelled, false),
    (InstanceStatus::Outdated, DetailedStatus::Unknown, false),
    (InstanceStatus::Outdated, DetailedStatus::Pending, false),
    (InstanceStatus::Outdated, DetailedStatus::Running, false),
    (
        InstanceStatus::Outdated,
        DetailedStatus::SkippedSuspendedAccount,
        false,
    ),
    (
        InstanceStatus::Inoperable,
        DetailedStatus::Inoperable,
        false,
    ),
    (InstanceStatus::Current, DetailedStatus::Running, false),
];

type Pair = (AccountId, String);

/// What the planner must do with each (account, region), decided one instance at a time
/// with no bit masks: the specification the planner is checked against.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    create: BTreeSet<Pair>,
    update: BTreeSet<Pair>,
    reuse_oidc: BTreeSet<Pair>,
    delete: BTreeSet<Pair>,
    drop: BTreeSet<Pair>,
    retry: BTreeSet<AccountId>,
    repair: BTreeSet<AccountId>,
    retained: BTreeSet<AccountId>,
    given_up: BTreeSet<AccountId>,
}

fn model(
    d: &Desired,
    instances: &[StackInstance],
    attempts: &BTreeMap<AccountId, u32>,
    policy: &PlanPolicy,
    unreachable: &BTreeSet<AccountId>,
) -> Expected {
    let mut e = Expected::default();
    let tries = |a: &AccountId| attempts.get(a).copied().unwrap_or(0);
    // Not ready yet (an SCP denies the execution role): retried whatever the attempts and
    // the bound.
    let awaits = |i: &StackInstance| i.status_reason.as_deref() == Some(SCP_DENIED);
    let at: BTreeMap<Pair, &StackInstance> = instances
        .iter()
        .map(|i| ((i.account.clone(), i.region.clone()), i))
        .collect();
    for a in &d.accounts {
        for r in &d.regions {
            let Some(i) = at.get(&(a.clone(), r.clone())) else {
                e.create.insert((a.clone(), r.clone()));
                continue;
            };
            let busy = matches!(
                i.detailed,
                DetailedStatus::Pending | DetailedStatus::Running
            );
            let skipped = i.detailed == DetailedStatus::SkippedSuspendedAccount;
            let inoperable = i.status == InstanceStatus::Inoperable;
            if busy || skipped || inoperable {
                continue;
            }
            if i.status != InstanceStatus::Current || i.detailed == DetailedStatus::Failed {
                let oidc = i
                    .status_reason
                    .as_deref()
                    .is_some_and(|r| r.contains("ResourceType:AWS::IAM::OIDCProvider"));
                if tries(a) >= policy.max_retry_attempts && !awaits(i) {
                    e.given_up.insert(a.clone());
                } else if oidc {
                    e.reuse_oidc.insert((a.clone(), r.clone()));
                } else {
                    e.update.insert((a.clone(), r.clone()));
                    e.retry.insert(a.clone());
                }
            } else if policy.repair_drift && i.drift == DriftStatus::Drifted {
                e.update.insert((a.clone(), r.clone()));
                e.repair.insert(a.clone());
            }
        }
    }
    // Out of scope: per account, the instances not wanted and not busy.
    let mut leaving: BTreeMap<AccountId, Vec<&StackInstance>> = BTreeMap::new();
    for i in instances {
        let wanted = d.accounts.contains(&i.account) && d.regions.contains(&i.region);
        let busy = matches!(
            i.detailed,
            DetailedStatus::Pending | DetailedStatus::Running
        );
        if !wanted && !busy {
            leaving.entry(i.account.clone()).or_default().push(i);
        }
    }
    for (a, is) in leaving {
        let pairs = is.iter().map(|i| (a.clone(), i.region.clone()));
        if !d.accounts.contains(&a) && policy.on_leave == LeavePolicy::Retain {
            e.retained.insert(a);
        } else if unreachable.contains(&a) {
            e.drop.extend(pairs);
        } else if is
            .iter()
            .any(|i| i.status == InstanceStatus::Inoperable || i.detailed == DetailedStatus::Failed)
            && tries(&a) >= policy.max_retry_attempts
            && !is.iter().any(|i| awaits(i))
        {
            e.given_up.insert(a);
        } else {
            e.delete.extend(pairs);
        }
    }
    e
}

/// Every (account, region) the batches touch; fails if two batches touch the same one.
fn pairs(batches: &[Batch]) -> Result<BTreeSet<Pair>, TestCaseError> {
    let mut out = BTreeSet::new();
    for b in batches {
        for a in &b.accounts {
            for r in &b.regions {
                if !out.insert((a.clone(), r.clone())) {
                    return Err(TestCaseError::fail(format!("{a}/{r} is in two operations")));
                }
            }
        }
    }
    Ok(out)
}

prop_compose! {
    fn gen_world()(
        want in proptest::collection::btree_set(0u64..24, 0..16),
        want_regions in proptest::collection::btree_set(0usize..3, 1..=3),
        have in proptest::collection::btree_map((0u64..24, 0usize..3), 0usize..STATES.len(), 0..48),
        tries in proptest::collection::btree_map(0u64..24, 0u32..5, 0..12),
        gone in proptest::collection::btree_set(0u64..24, 0..8),
        retain in any::<bool>(),
    ) -> (Desired, Vec<StackInstance>, BTreeMap<AccountId, u32>, BTreeSet<AccountId>, PlanPolicy) {
        // The engine only ever calls unreachable an account outside the desired set
        // (desired accounts are ACTIVE members by construction).
        let d = Desired {
            accounts: want.iter().map(|n| acct(*n)).collect(),
            regions: want_regions.iter().map(|r| REGIONS[*r].to_owned()).collect(),
        };
        let instances = have
            .into_iter()
            .map(|((a, r), s)| {
                let (status, detailed, drifted) = STATES[s];
                StackInstance {
                    account: acct(a),
                    region: REGIONS[r].to_owned(),
                    status,
                    detailed,
                    // Every third account's failures are Port's OIDC provider existing; of the
                    // others, every fifth's a service control policy denying the execution role.
                    status_reason: Some(if a % 3 == 0 {
                        OIDC_EXISTS.to_owned()
                    } else if a % 5 == 1 {
                        SCP_DENIED.to_owned()
                    } else {
                        format!("state {s}")
                    }),
                    drift: if drifted { DriftStatus::Drifted } else { DriftStatus::InSync },
                    ou: Some(format!("ou-abcd-{:08}", a % 7)),
                }
            })
            .collect();
        let attempts = tries.into_iter().map(|(a, n)| (acct(a), n)).collect();
        let unreachable = gone.into_iter().filter(|a| !want.contains(a)).map(acct).collect();
        let policy = PlanPolicy {
            on_leave: if retain { LeavePolicy::Retain } else { LeavePolicy::Delete },
            ..Default::default()
        };
        (d, instances, attempts, unreachable, policy)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The planner does exactly what the per-instance specification says, over three
    /// regions, every instance status (busy, failed, cancelled, skipped, INOPERABLE,
    /// drifted), earlier attempts, unreachable accounts and both leave policies: each
    /// operation touches exactly the (account, region) pairs meant for it, and no pair is in
    /// two operations.
    #[test]
    fn the_bit_mask_planner_matches_the_per_instance_specification(
        (d, instances, attempts, unreachable, policy) in gen_world(),
    ) {
        let p = plan_reaching(&d, &instances, &attempts, &policy, &unreachable);
        let e = model(&d, &instances, &attempts, &policy, &unreachable);
        prop_assert_eq!(pairs(&p.create)?, e.create);
        prop_assert_eq!(pairs(&p.update)?, e.update);
        prop_assert_eq!(pairs(&p.reuse_oidc)?, e.reuse_oidc);
        prop_assert_eq!(pairs(&p.delete)?, e.delete);
        prop_assert_eq!(pairs(&p.drop)?, e.drop);
        prop_assert_eq!(p.retry.iter().cloned().collect::<BTreeSet<_>>(), e.retry);
        prop_assert_eq!(p.repair.iter().cloned().collect::<BTreeSet<_>>(), e.repair);
        prop_assert_eq!(p.retained.iter().cloned().collect::<BTreeSet<_>>(), e.retained);
        prop_assert_eq!(p.given_up.iter().map(|h| h.account.clone()).collect::<BTreeSet<_>>(), e.given_up);
        // One operation per distinct region set, never more.
        for kind in [&p.create, &p.update, &p.reuse_oidc, &p.delete, &p.drop] {
            let masks: BTreeSet<&Vec<String>> = kind.iter().map(|b| &b.regions).collect();
            prop_assert_eq!(masks.len(), kind.len());
        }
    }

    /// After the plan is applied (every operation succeeding), planning again changes
    /// nothing: one reconcile converges, whatever the statuses were.
    #[test]
    fn one_reconcile_converges_over_several_regions_and_every_status(
        (d, instances, attempts, unreachable, policy) in gen_world(),
    ) {
        let p = plan_reaching(&d, &instances, &attempts, &policy, &unreachable);
        let after = apply(&instances, &p);
        let again = plan_reaching(&d, &after, &attempts, &policy, &unreachable);
        prop_assert!(again.is_noop(), "{:?}", again);
    }

    /// Fitting to the 50-OU limit: every operation lists at most 50 OUs, always the given
    /// ones plus every OU its accounts need; the accounts and regions are exactly those of
    /// the plan, split and never duplicated.
    #[test]
    fn fitted_operations_list_at_most_50_ous_and_keep_every_account(
        accounts in proptest::collection::btree_map(0u64..400, proptest::collection::btree_set(0u32..120, 1..3), 1..200),
        max in 3usize..=50,
    ) {
        let needs: BTreeMap<AccountId, BTreeSet<String>> = accounts
            .iter()
            .map(|(a, ous)| (acct(*a), ous.iter().map(|o| format!("ou-abcd-{o:08}")).collect()))
            .collect();
        let batch = Batch {
            accounts: needs.keys().cloned().collect(),
            regions: vec!["us-east-1".into()],
            ous: vec![],
        };
        let always = vec!["r-abcd".to_string()];
        let fitted = fit_ous(vec![batch.clone()], &needs, &always, max);
        let mut seen = BTreeSet::new();
        for b in &fitted {
            prop_assert!(b.ous.len() <= max, "{} OUs", b.ous.len());
            prop_assert!(b.ous.contains(&always[0]));
            prop_assert_eq!(&b.regions, &batch.regions);
            for a in &b.accounts {
                prop_assert!(seen.insert(a.clone()));
                prop_assert!(needs[a].iter().all(|o| b.ous.contains(o)));
            }
        }
        prop_assert_eq!(seen, batch.accounts.iter().cloned().collect::<BTreeSet<_>>());
        let distinct: BTreeSet<&String> = needs.values().flatten().collect();
        if distinct.len() < max {
            prop_assert_eq!(fitted.len(), 1);
        }
    }
}
