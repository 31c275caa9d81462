use super::*;

// ---------------------------------------------------------------- properties

#[derive(Debug, Clone)]
pub(super) struct GenOrg {
    pub(super) tree: OrgTree,
    ous: Vec<String>,
    accounts: Vec<AccountId>,
}

pub(super) fn gen_org() -> impl Strategy<Value = GenOrg> {
    // parents[i] picks the parent of OU i among the root and OUs before it.
    (1usize..12, 1usize..40)
        .prop_flat_map(|(n_ous, n_accts)| {
            (
                proptest::collection::vec(any::<prop::sample::Index>(), n_ous),
                proptest::collection::vec((any::<prop::sample::Index>(), 0u8..10), n_accts),
                any::<prop::sample::Index>(),
            )
        })
        .prop_map(|(ou_parents, accts, mgmt)| {
            let mut tree = OrgTree {
                organization_id: "o-prop".into(),
                ..Default::default()
            };
            let mut nodes = vec!["r-prop".to_string()];
            tree.nodes
                .insert("r-prop".into(), node("r-prop", "Root", None));
            for (i, p) in ou_parents.iter().enumerate() {
                let id = format!("ou-prop-{i:08}");
                let parent = nodes[p.index(nodes.len())].clone();
                tree.nodes
                    .insert(id.clone(), node(&id, &format!("OU{i}"), Some(&parent)));
                nodes.push(id);
            }
            let mut accounts = Vec::new();
            for (i, (p, s)) in accts.iter().enumerate() {
                let id = acct(100 + i as u64);
                let state = match s {
                    0 => AccountState::Suspended,
                    1 => AccountState::PendingClosure,
                    _ => AccountState::Active,
                };
                tree.accounts.insert(
                    id.clone(),
                    Account {
                        id: id.clone(),
                        name: format!("a{i}"),
                        state,
                        parent: nodes[p.index(nodes.len())].clone(),
                        tags: None,
                    },
                );
                accounts.push(id);
            }
            tree.management_account_id = Some(accounts[mgmt.index(accounts.len())].clone());
            GenOrg {
                tree,
                ous: nodes,
                accounts,
            }
        })
}

pub(super) fn scope_of(
    org: &GenOrg,
    targets: &[prop::sample::Index],
    list: &[prop::sample::Index],
    mode: &str,
) -> Scope {
    let t: Vec<String> = targets
        .iter()
        .map(|i| org.ous[i.index(org.ous.len())].clone())
        .collect();
    let l: Vec<String> = list
        .iter()
        .map(|i| {
            org.accounts[i.index(org.accounts.len())]
                .as_str()
                .to_owned()
        })
        .collect();
    let (mode, l) = if mode == "ALL" || l.is_empty() {
        ("ALL", vec![])
    } else {
        (mode, l)
    };
    Scope::parse(&RawList::Items(t), mode, &RawList::Items(l)).unwrap()
}

fn expand_ids(
    org: &GenOrg,
    targets: &[prop::sample::Index],
    list: &[prop::sample::Index],
    mode: &str,
) -> BTreeSet<AccountId> {
    expand(&scope_of(org, targets, list, mode), &org.tree)
        .unwrap()
        .account_ids()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn intersection_is_a_subset_of_all(
        org in gen_org(),
        targets in proptest::collection::vec(any::<prop::sample::Index>(), 1..4),
        list in proptest::collection::vec(any::<prop::sample::Index>(), 1..10),
    ) {
        let all = expand_ids(&org, &targets, &[], "ALL");
        let inter = expand_ids(&org, &targets, &list, "INTERSECTION");
        prop_assert!(inter.is_subset(&all));
    }

    #[test]
    fn difference_is_all_minus_the_list_and_union_with_intersection_is_all(
        org in gen_org(),
        targets in proptest::collection::vec(any::<prop::sample::Index>(), 1..4),
        list in proptest::collection::vec(any::<prop::sample::Index>(), 1..10),
    ) {
        let all = expand_ids(&org, &targets, &[], "ALL");
        let listed: BTreeSet<AccountId> = scope_of(&org, &targets, &list, "DIFFERENCE").accounts;
        let diff = expand_ids(&org, &targets, &list, "DIFFERENCE");
        let inter = expand_ids(&org, &targets, &list, "INTERSECTION");
        prop_assert_eq!(&diff, &all.difference(&listed).cloned().collect());
        prop_assert_eq!(inter.union(&diff).cloned().collect::<BTreeSet<_>>(), all);
    }

    #[test]
    fn no_result_holds_the_management_account_or_an_inactive_account(
        org in gen_org(),
        targets in proptest::collection::vec(any::<prop::sample::Index>(), 1..4),
        list in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
        mode in prop::sample::select(vec!["ALL", "INTERSECTION", "DIFFERENCE"]),
    ) {
        let got = expand_ids(&org, &targets, &list, mode);
        for a in &got {
            prop_assert!(Some(a) != org.tree.management_account_id.as_ref());
            prop_assert_eq!(&org.tree.accounts[a].state, &AccountState::Active);
        }
    }

    #[test]
    fn applying_a_plan_yields_the_desired_set_and_replanning_is_a_noop(
        want in proptest::collection::btree_set(0u64..30, 0..20),
        have in proptest::collection::vec((0u64..30, 0u8..5), 0..25),
    ) {
        let d = desired(&want.iter().copied().collect::<Vec<_>>());
        let mut seen = BTreeSet::new();
        let instances: Vec<StackInstance> = have
            .into_iter()
            .filter(|(a, _)| seen.insert(*a))
            .map(|(a, s)| match s {
                0 => inst(a, InstanceStatus::Outdated, DetailedStatus::Failed),
                1 => inst(a, InstanceStatus::Inoperable, DetailedStatus::Inoperable),
                2 => { let mut i = inst(a, InstanceStatus::Current, DetailedStatus::Succeeded); i.drift = DriftStatus::Drifted; i }
                _ => inst(a, InstanceStatus::Current, DetailedStatus::Succeeded),
            })
            .collect();
        let policy = PlanPolicy::default();
        let p = plan(&d, &instances, &BTreeMap::new(), &policy);
        prop_assert!(p.create.len() <= 1 && p.delete.len() <= 1 && p.update.len() <= 1);
        let after = apply(&instances, &p);
        let accounts: BTreeSet<AccountId> = after.iter().map(|i| i.account.clone()).collect();
        prop_assert_eq!(&accounts, &d.accounts);
        let again = plan(&d, &after, &BTreeMap::new(), &policy);
        prop_assert!(again.is_noop(), "{:?}", again);
    }
}
