//! Specifications of expansion and planning, as examples and as properties over random trees.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

fn acct(n: u64) -> AccountId {
    AccountId::parse(&format!("{n:012}")).unwrap()
}

fn node(id: &str, name: &str, parent: Option<&str>) -> OrgNode {
    OrgNode {
        id: id.into(),
        name: name.into(),
        parent: parent.map(Into::into),
    }
}

/// Root ─ Prod ─ EU ─ Payments ─ PCI; Root ─ Infra (management); Root ─ Staging; one orphan.
fn sample() -> OrgTree {
    let mut t = OrgTree {
        organization_id: "o-sample1234".into(),
        management_account_id: Some(acct(1)),
        ..Default::default()
    };
    for n in [
        node("r-root", "Root", None),
        node("ou-root-prod0000", "Prod", Some("r-root")),
        node("ou-root-eu000000", "EU", Some("ou-root-prod0000")),
        node("ou-root-pay00000", "Payments", Some("ou-root-eu000000")),
        node("ou-root-pci00000", "PCI", Some("ou-root-pay00000")),
        node("ou-root-infra000", "Infrastructure", Some("r-root")),
        node("ou-root-stag0000", "Staging", Some("r-root")),
    ] {
        t.nodes.insert(n.id.clone(), n);
    }
    for (n, name, parent, state) in [
        (1, "management", "ou-root-infra000", AccountState::Active),
        (2, "prod-web", "ou-root-prod0000", AccountState::Active),
        (3, "prod-eu-1", "ou-root-eu000000", AccountState::Active),
        (4, "prod-eu-pci", "ou-root-pci00000", AccountState::Active),
        (5, "staging-1", "ou-root-stag0000", AccountState::Active),
        (
            6,
            "staging-suspended",
            "ou-root-stag0000",
            AccountState::Suspended,
        ),
        (7, "orphan", "r-root", AccountState::Active),
    ] {
        t.accounts.insert(
            acct(n),
            Account {
                id: acct(n),
                name: name.into(),
                state,
                parent: parent.into(),
                tags: None,
            },
        );
    }
    t
}

fn run(ous: &str, mode: &str, accounts: &str) -> Expansion {
    let scope = Scope::parse(&ous.into(), mode, &accounts.into()).unwrap();
    expand(&scope, &sample()).unwrap()
}

fn ids(e: &Expansion) -> Vec<u64> {
    e.included
        .iter()
        .map(|x| x.id.as_str().parse().unwrap())
        .collect()
}

#[test]
fn all_reaches_accounts_in_nested_ous_four_levels_down() {
    assert_eq!(ids(&run("ou-root-prod0000", "ALL", "")), [2, 3, 4]);
}

#[test]
fn difference_excludes_listed_accounts_in_nested_ous() {
    let e = run("ou-root-prod0000", "DIFFERENCE", &format!("{:012}", 4));
    assert_eq!(ids(&e), [2, 3]);
    let pci = e.skipped.iter().find(|s| s.id == acct(4)).unwrap();
    assert_eq!(pci.reason, Reason::ExcludedByList);
    assert_eq!(pci.ou_path, "Root/Prod/EU/Payments/PCI (ou-root-pci00000)");
}

#[test]
fn intersection_keeps_only_listed_accounts_under_the_targets() {
    let e = run(
        "ou-root-prod0000",
        "INTERSECTION",
        "000000000003,000000000005",
    );
    assert_eq!(ids(&e), [3]);
    let outside = e.skipped.iter().find(|s| s.id == acct(5)).unwrap();
    assert_eq!(
        outside.reason,
        Reason::OutsideTargets {
            actual: "Root/Staging (ou-root-stag0000)".into()
        }
    );
    assert!(outside.reason.to_string().contains("Root/Staging"));
}

#[test]
fn root_target_means_the_whole_organization_minus_management_and_suspended() {
    let e = run("r-root", "ALL", "");
    assert_eq!(ids(&e), [2, 3, 4, 5, 7]);
    assert!(e.skipped.iter().all(|s| !s.reason.is_included()));
    let skipped: BTreeMap<u64, Reason> = e
        .skipped
        .iter()
        .map(|s| (s.id.as_str().parse().unwrap(), s.reason.clone()))
        .collect();
    assert_eq!(skipped[&1], Reason::ManagementAccount);
    assert!(matches!(skipped[&6], Reason::NotActive { .. }));
}

#[test]
fn included_reasons_name_the_target_path() {
    let e = run("ou-root-eu000000", "ALL", "");
    assert_eq!(
        e.included[0].reason,
        Reason::UnderTarget {
            target: "Root/Prod/EU (ou-root-eu000000)".into()
        }
    );
}

#[test]
fn listed_account_missing_from_the_organization_is_an_error() {
    let mut t = sample();
    t.not_in_organization.insert(acct(99));
    let scope = Scope::parse(&"r-root".into(), "DIFFERENCE", &"000000000099".into()).unwrap();
    let err = expand(&scope, &t).unwrap_err();
    assert!(err.to_string().contains("000000000099"), "{err}");
}

fn inst(a: u64, status: InstanceStatus, detailed: DetailedStatus) -> StackInstance {
    StackInstance {
        account: acct(a),
        region: "us-east-1".into(),
        status,
        detailed,
        status_reason: None,
        drift: DriftStatus::NotChecked,
        ou: None,
    }
}

fn desired(accts: &[u64]) -> Desired {
    Desired {
        accounts: accts.iter().map(|n| acct(*n)).collect(),
        regions: ["us-east-1".to_string()].into(),
    }
}

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

/// A stack instance whose account's service control policy denies the StackSets execution
/// role (a landing zone's quarantine of a new account), in IAM's words.
const SCP_DENIED: &str = "User: arn:aws:sts::000000000002:assumed-role/stacksets-exec-0a1b/s is \
    not authorized to perform: cloudformation:CreateStack on resource: arn:aws:cloudformation:\
    us-east-1:000000000002:stack/StackSet-Port-Integration-v3-1/* with an explicit deny in a \
    service control policy";

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

/// AWS's StatusReason for a member stack whose `AWS::IAM::OIDCProvider` already exists.
const OIDC_EXISTS: &str =
    "ResourceLogicalId:PortOIDCProvider, ResourceType:AWS::IAM::OIDCProvider, \
    ResourceStatusReason:Resource handler returned message: \"Provider with url \
    https://oidc.eks.eu-west-1.amazonaws.com/id/X already exists. (Service: Iam, Status Code: \
    409, Request ID: 1)\" (RequestToken: 2, HandlerErrorCode: AlreadyExists).";

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

// ---------------------------------------------------------------- tag filter

fn tagged(pairs: &[(u64, &[(&str, &str)])]) -> OrgTree {
    let mut t = sample();
    for (n, tags) in pairs {
        t.accounts.get_mut(&acct(*n)).unwrap().tags = Some(
            tags.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
    }
    t
}

fn with_tags(ous: &str, mode: &str, accounts: &str, target: &str, excluded: &str) -> Scope {
    Scope::parse(&ous.into(), mode, &accounts.into())
        .unwrap()
        .with_tags(TagFilter::parse(target, excluded).unwrap())
}

fn term(s: &str) -> TagTerm {
    TagTerms::parse("TargetAccountTags", s).unwrap().0.remove(0)
}

fn skipped_reason(e: &Expansion, n: u64) -> Reason {
    e.skipped
        .iter()
        .find(|s| s.id == acct(n))
        .unwrap_or_else(|| panic!("{n} not skipped: {e:?}"))
        .reason
        .clone()
}

#[test]
fn target_tags_narrow_the_ous_accounts_before_intersection_applies() {
    let tree = tagged(&[
        (2, &[("env", "prod")]),
        (3, &[("env", "dev")]),
        (4, &[("env", "prod"), ("team", "payments")]),
    ]);
    let scope = with_tags(
        "ou-root-prod0000",
        "INTERSECTION",
        "000000000002,000000000003,000000000004",
        "env=prod",
        "",
    );
    let e = expand(&scope, &tree).unwrap();
    assert_eq!(ids(&e), [2, 4]);
    assert_eq!(
        skipped_reason(&e, 3),
        Reason::TargetTagUnmet {
            term: term("env=prod"),
            actual: Some("dev".into())
        }
    );
    assert_eq!(
        skipped_reason(&e, 3).to_string(),
        "TargetAccountTags: `env=prod` is unmet (its env tag is `dev`)"
    );
    for x in &e.included {
        assert_eq!(x.tags_matched, [term("env=prod")], "the tag that kept it");
        assert!(matches!(x.reason, Reason::ListedUnderTarget { .. }));
    }
}

#[test]
fn an_excluded_tag_wins_over_a_listed_account_in_intersection_mode() {
    let tree = tagged(&[
        (2, &[("env", "prod")]),
        (3, &[("env", "prod"), ("port:exclude", "true")]),
    ]);
    let scope = with_tags(
        "ou-root-prod0000",
        "INTERSECTION",
        "000000000002,000000000003",
        "env=prod",
        "port:exclude=true",
    );
    let e = expand(&scope, &tree).unwrap();
    assert_eq!(ids(&e), [2]);
    let r = skipped_reason(&e, 3);
    assert_eq!(
        r,
        Reason::ExcludedByTag {
            term: term("port:exclude=true"),
            actual: "true".into()
        }
    );
    assert!(r
        .to_string()
        .starts_with("ExcludedAccountTags: `port:exclude=true` matches"));
}

#[test]
fn an_excluded_tag_alone_keeps_every_other_account_of_the_ous_in_all_mode() {
    let tree = tagged(&[(2, &[]), (3, &[("sandbox", "")]), (4, &[("env", "prod")])]);
    let e = expand(
        &with_tags("ou-root-prod0000", "ALL", "", "", "sandbox"),
        &tree,
    )
    .unwrap();
    assert_eq!(ids(&e), [2, 4]);
    assert!(matches!(
        skipped_reason(&e, 3),
        Reason::ExcludedByTag { .. }
    ));
    assert!(
        e.included.iter().all(|x| x.tags_matched.is_empty()),
        "no target term: nothing to name"
    );
}

#[test]
fn in_difference_mode_the_list_removes_from_what_the_tags_keep_and_needs_no_tags() {
    // Account 4 is listed (excluded by DIFFERENCE): its tags were not read, and it needs none.
    let tree = tagged(&[(2, &[("env", "prod")]), (3, &[("team", "x")])]);
    let scope = with_tags("ou-root-prod0000", "DIFFERENCE", "000000000004", "env", "");
    let e = expand(&scope, &tree).unwrap();
    assert_eq!(ids(&e), [2]);
    assert_eq!(
        skipped_reason(&e, 3),
        Reason::TargetTagUnmet {
            term: term("env"),
            actual: None
        }
    );
    assert!(skipped_reason(&e, 3)
        .to_string()
        .contains("it has no env tag"));
    assert_eq!(skipped_reason(&e, 4), Reason::ExcludedByList);
}

#[test]
fn a_filter_set_on_an_account_whose_tags_were_not_read_is_an_error_naming_it() {
    let tree = tagged(&[(2, &[("env", "prod")])]);
    let err = expand(
        &with_tags("ou-root-prod0000", "ALL", "", "env=prod", ""),
        &tree,
    )
    .unwrap_err();
    assert_eq!(err, ExpandError::TagsNotRead(acct(3)));
    assert!(err.to_string().contains("000000000003"), "{err}");
}

#[test]
fn tags_decide_only_active_accounts_under_a_target_that_the_list_keeps() {
    let tree = sample();
    let decided = |scope: &Scope| -> Vec<u64> {
        tree.accounts
            .values()
            .filter(|a| tags_decide(scope, &tree, a))
            .map(|a| a.id.as_str().parse().unwrap())
            .collect()
    };
    // Not the management account (1), not the suspended one (6).
    assert_eq!(
        decided(&with_tags("r-root", "ALL", "", "env", "")),
        [2, 3, 4, 5, 7]
    );
    // INTERSECTION: the listed ones under the targets only; 5 is listed but outside.
    let s = with_tags(
        "ou-root-prod0000",
        "INTERSECTION",
        "000000000003,000000000005",
        "",
        "x",
    );
    assert_eq!(decided(&s), [3]);
    // No filter: none.
    let s = Scope::parse(&"r-root".into(), "ALL", &"".into()).unwrap();
    assert!(decided(&s).is_empty());
}

#[test]
fn without_a_tag_filter_unread_tags_change_nothing() {
    let scope = Scope::parse(&"ou-root-prod0000".into(), "ALL", &"".into()).unwrap();
    let e = expand(&scope, &sample()).unwrap();
    assert_eq!(ids(&e), [2, 3, 4]);
    assert!(e.included.iter().all(|x| x.tags_matched.is_empty()));
    // Tags read anyway are ignored without a filter.
    let e2 = expand(&scope, &tagged(&[(2, &[("port:exclude", "true")])])).unwrap();
    assert_eq!(e2, e);
}

// ---------------------------------------------------------------- properties

#[derive(Debug, Clone)]
struct GenOrg {
    tree: OrgTree,
    ous: Vec<String>,
    accounts: Vec<AccountId>,
}

fn gen_org() -> impl Strategy<Value = GenOrg> {
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

fn scope_of(
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

/// Each account gets tags from a small vocabulary: `env` (prod, dev or absent), `team`
/// (a, b or absent), `optout` (present or absent).
fn tag_all(org: &mut GenOrg, picks: &[(u8, u8, bool)]) {
    for (i, a) in org.tree.accounts.values_mut().enumerate() {
        let (env, team, optout) = picks[i % picks.len()];
        let mut t = Tags::new();
        if let Some(v) = [Some("prod"), Some("dev"), None][env as usize] {
            t.insert("env".into(), v.into());
        }
        if let Some(v) = [Some("a"), Some("b"), None][team as usize] {
            t.insert("team".into(), v.into());
        }
        if optout {
            t.insert("optout".into(), String::new());
        }
        a.tags = Some(t);
    }
}

fn apply(instances: &[StackInstance], p: &ReconcilePlan) -> Vec<StackInstance> {
    let mut out: BTreeMap<(AccountId, String), StackInstance> = instances
        .iter()
        .map(|i| ((i.account.clone(), i.region.clone()), i.clone()))
        .collect();
    for b in p.delete.iter().chain(&p.drop) {
        for a in &b.accounts {
            for r in &b.regions {
                out.remove(&(a.clone(), r.clone()));
            }
        }
    }
    for b in p.create.iter().chain(&p.update).chain(&p.reuse_oidc) {
        for a in &b.accounts {
            for r in &b.regions {
                out.insert(
                    (a.clone(), r.clone()),
                    StackInstance {
                        account: a.clone(),
                        region: r.clone(),
                        status: InstanceStatus::Current,
                        detailed: DetailedStatus::Succeeded,
                        status_reason: None,
                        drift: DriftStatus::InSync,
                        ou: None,
                    },
                );
            }
        }
    }
    out.into_values().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_tag_filter_only_narrows_and_what_it_keeps_meets_every_target_term_and_no_excluded_one(
        mut org in gen_org(),
        picks in proptest::collection::vec((0u8..3, 0u8..3, any::<bool>()), 1..40),
        targets in proptest::collection::vec(any::<prop::sample::Index>(), 1..4),
        list in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
        mode in prop::sample::select(vec!["ALL", "INTERSECTION", "DIFFERENCE"]),
        target in prop::sample::select(vec!["", "env=prod", "env=prod|dev", "env,team=a", "team"]),
        excluded in prop::sample::select(vec!["", "optout", "team=b", "optout,env=dev"]),
    ) {
        tag_all(&mut org, &picks);
        let plain = scope_of(&org, &targets, &list, mode);
        let filter = TagFilter::parse(target, excluded).unwrap();
        let without = expand(&plain, &org.tree).unwrap();
        let with = expand(&plain.clone().with_tags(filter.clone()), &org.tree).unwrap();
        prop_assert!(with.account_ids().is_subset(&without.account_ids()));
        for x in &with.included {
            let tags = org.tree.accounts[&x.id].tags.clone().unwrap();
            prop_assert!(filter.target.first_unmet(&tags).is_none());
            prop_assert!(filter.excluded.first_met(&tags).is_none());
            prop_assert_eq!(&x.tags_matched, &filter.target.0);
        }
        // What the filter drops, it names: each account the filter put out has a tag reason.
        for x in &without.included {
            if !with.account_ids().contains(&x.id) {
                let r = &with.skipped.iter().find(|s| s.id == x.id).unwrap().reason;
                prop_assert!(
                    matches!(r, Reason::TargetTagUnmet { .. } | Reason::ExcludedByTag { .. }),
                    "{:?}", r
                );
            }
        }
    }

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
