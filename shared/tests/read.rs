//! The organization reader on the in-memory organization: what each read returns, and that its
//! call statistics are the calls it made.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use shared::core::{
    expand, expand_slice, AccountId, AccountScope, RawList, Scope, TagFilter, TagReads, TargetId,
};
use shared::read::{read_accounts, read_scope, read_scope_sliced, ReadError};
use test_support::{small_tree, MemOrg, MANAGEMENT, PAGE, ROOT};

const PROD: &str = "ou-ab12-prod0001";
const DEV: &str = "ou-ab12-devv0002";

fn org(per_ou: usize) -> MemOrg {
    MemOrg::new(
        small_tree(&[("Prod", PROD), ("Dev", DEV)], per_ou),
        Duration::ZERO,
    )
}

fn scope(targets: &[&str]) -> Scope {
    Scope {
        targets: targets
            .iter()
            .map(|t| TargetId::parse(t).expect("target"))
            .collect(),
        mode: AccountScope::All,
        accounts: BTreeSet::new(),
        tags: Default::default(),
    }
}

fn id(n: u64) -> AccountId {
    AccountId::parse(&format!("{}", 100_000_000_000 + n)).expect("account ID")
}

#[tokio::test]
async fn an_ou_target_reads_its_accounts_only_and_counts_every_call() {
    let org = org(3);
    let (tree, stats) = read_scope(&org, &scope(&[PROD]), 4).await.expect("read");
    let read: BTreeSet<AccountId> = tree.accounts.keys().cloned().collect();
    assert_eq!(read, [id(1), id(2), id(3)].into_iter().collect());
    assert_eq!(tree.accounts[&id(1)].parent, PROD);
    assert_eq!(stats.total(), org.calls.total(), "{stats:?}");
    assert_eq!(
        stats.list_accounts_pages,
        org.calls.list_accounts.load(Ordering::Relaxed)
    );
    assert_eq!(org.calls.list_all_accounts.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn the_root_target_reads_every_account_by_listaccounts_pages_without_a_walk() {
    let org = org(PAGE); // two OUs of a page each, plus the management account: 3 pages
    let (tree, stats) = read_scope(&org, &scope(&[ROOT]), 4).await.expect("read");
    assert_eq!(tree.accounts.len(), 2 * PAGE + 1);
    assert!(tree
        .accounts
        .contains_key(&AccountId::parse(MANAGEMENT).expect("management")));
    assert_eq!(stats.list_all_accounts_pages, 3, "{stats:?}");
    assert_eq!(stats.list_ous_pages, 0);
    assert_eq!(stats.list_accounts_pages, 0);
    assert_eq!(org.calls.list_ous.load(Ordering::Relaxed), 0);
    assert_eq!(stats.total(), org.calls.total(), "{stats:?}");
}

#[tokio::test]
async fn reading_a_few_accounts_lists_nothing_and_leaves_out_accounts_not_in_the_org() {
    let org = org(3);
    let gone = AccountId::parse("123456789012").expect("account ID");
    let (tree, stats) = read_accounts(&org, &scope(&[PROD]), &[id(4), gone.clone()])
        .await
        .expect("read");
    assert!(tree.accounts.contains_key(&id(4)));
    assert_eq!(tree.accounts[&id(4)].parent, DEV);
    assert!(!tree.accounts.contains_key(&gone));
    assert_eq!(org.calls.list_accounts.load(Ordering::Relaxed), 0);
    assert_eq!(org.calls.list_ous.load(Ordering::Relaxed), 0);
    assert_eq!(org.calls.list_all_accounts.load(Ordering::Relaxed), 0);
    assert_eq!(stats.total(), org.calls.total(), "{stats:?}");
}

#[tokio::test]
async fn a_target_not_in_the_organization_is_named_in_the_error() {
    let org = org(1);
    let missing = "ou-ab12-missing9";
    let err = read_scope(&org, &scope(&[missing]), 4)
        .await
        .expect_err("unknown OU");
    assert!(
        matches!(&err, ReadError::TargetNotFound { id, .. } if id == missing),
        "{err:?}"
    );
    assert!(err.to_string().contains(missing), "{err}");
}

/// `scope(targets)` narrowed by `TargetAccountTags` = `env=prod`.
fn prod_tagged(targets: &[&str]) -> Scope {
    scope(targets).with_tags(TagFilter::parse("env=prod", "").expect("filter"))
}

/// Tags every account of `org` with an odd number `env=prod`, the even ones `env=dev`.
fn tag_odd_prod(org: &MemOrg, accounts: std::ops::RangeInclusive<u64>) {
    for n in accounts {
        let env = if n % 2 == 1 { "prod" } else { "dev" };
        org.set_tags(&id(n), &[("env", env)]);
    }
}

#[tokio::test]
async fn with_a_tag_filter_each_account_the_target_gives_has_its_tags_read_once() {
    // 25 accounts in Prod (two pages of ListAccountsForParent), 25 in Dev.
    let org = org(25);
    tag_odd_prod(&org, 1..=50);
    let (tree, stats) = read_scope(&org, &prod_tagged(&[PROD]), 4)
        .await
        .expect("read");
    assert_eq!(
        org.tag_calls(),
        25,
        "one ListTagsForResource per Prod account"
    );
    assert_eq!(stats.list_tags, 25);
    assert_eq!(stats.total(), org.calls.total(), "{stats:?}");
    for n in 1..=25 {
        let env = if n % 2 == 1 { "prod" } else { "dev" };
        assert_eq!(
            tree.accounts[&id(n)].tags.as_ref().expect("read")["env"],
            env
        );
    }
    assert!(
        !tree.accounts.contains_key(&id(26)),
        "Dev is not read at all"
    );
    let e = expand(&prod_tagged(&[PROD]), &tree).expect("expand");
    let odd: BTreeSet<AccountId> = (1..=25).step_by(2).map(id).collect();
    assert_eq!(e.account_ids(), odd);
}

#[tokio::test]
async fn without_a_tag_filter_no_tags_are_read_by_any_read() {
    let org = org(PAGE);
    tag_odd_prod(&org, 1..=(2 * PAGE as u64));
    let (a, _) = read_scope(&org, &scope(&[PROD]), 4).await.expect("walk");
    let (b, _) = read_scope(&org, &scope(&[ROOT]), 4).await.expect("root");
    let (c, stats) = read_accounts(&org, &scope(&[PROD]), &[id(1), id(2)])
        .await
        .expect("accounts");
    assert_eq!(org.tag_calls(), 0);
    assert_eq!(stats.list_tags, 0);
    for t in [a, b, c] {
        assert!(t.accounts.values().all(|x| x.tags.is_none()));
    }
}

#[tokio::test]
async fn the_root_target_with_a_tag_filter_reads_every_account_but_the_management_one() {
    let org = org(PAGE);
    tag_odd_prod(&org, 1..=(2 * PAGE as u64));
    let (tree, stats) = read_scope(&org, &prod_tagged(&[ROOT]), 4)
        .await
        .expect("read");
    assert_eq!(
        stats.list_all_accounts_pages, 3,
        "still ListAccounts, no walk"
    );
    assert_eq!(
        org.tag_calls(),
        2 * PAGE as u32,
        "StackSets never deploy to the management account: its tags decide nothing"
    );
    assert_eq!(stats.total(), org.calls.total(), "{stats:?}");
    let mgmt = AccountId::parse(MANAGEMENT).expect("management");
    assert!(tree.accounts[&mgmt].tags.is_none());
    let e = expand(&prod_tagged(&[ROOT]), &tree).expect("expand");
    assert_eq!(e.included.len(), PAGE);
}

#[tokio::test]
async fn intersection_with_a_tag_filter_reads_the_tags_of_the_listed_accounts_under_the_targets_only(
) {
    // Listed: 1 and 2 in Prod (the target), 5 in Dev (outside). The 3 unlisted Prod accounts
    // are out whatever their tags: not read.
    let org = org(4);
    tag_odd_prod(&org, 1..=8);
    let s = Scope::parse(
        &RawList::from(PROD),
        "INTERSECTION",
        &RawList::Items(vec![
            id(1).as_str().into(),
            id(2).as_str().into(),
            id(5).as_str().into(),
        ]),
    )
    .expect("scope")
    .with_tags(TagFilter::parse("env=prod", "").expect("filter"));
    let (tree, stats) = read_scope(&org, &s, 4).await.expect("read");
    assert_eq!(org.tag_calls(), 2);
    assert_eq!(stats.total(), org.calls.total(), "{stats:?}");
    assert!(
        tree.accounts[&id(5)].tags.is_none(),
        "listed outside the targets: not read"
    );
    assert!(
        tree.accounts[&id(3)].tags.is_none(),
        "not listed: INTERSECTION drops it"
    );
    let e = expand(&s, &tree).expect("expand");
    assert_eq!(e.account_ids(), [id(1)].into_iter().collect());
}

#[tokio::test]
async fn reading_a_few_accounts_with_a_tag_filter_reads_the_tags_of_those_under_the_targets() {
    let org = org(3);
    tag_odd_prod(&org, 1..=6);
    // 1 and 2 are in Prod (the target), 5 in Dev.
    let (tree, stats) = read_accounts(&org, &prod_tagged(&[PROD]), &[id(1), id(2), id(5)])
        .await
        .expect("read");
    assert_eq!(org.tag_calls(), 2);
    assert_eq!(stats.list_tags, 2);
    assert_eq!(stats.total(), org.calls.total(), "{stats:?}");
    assert!(tree.accounts[&id(5)].tags.is_none());
    let e = expand(&prod_tagged(&[PROD]), &tree).expect("expand");
    assert_eq!(e.account_ids(), [id(1)].into_iter().collect());
}

#[tokio::test]
async fn tags_are_read_with_the_reads_bounded_concurrency() {
    // With a latency per call, the 25 tag reads overlap, never more than the bound at once.
    let org = MemOrg::new(
        small_tree(&[("Prod", PROD), ("Dev", DEV)], 25),
        Duration::from_millis(2),
    );
    tag_odd_prod(&org, 1..=50);
    read_scope(&org, &prod_tagged(&[PROD]), 4)
        .await
        .expect("read");
    assert_eq!(org.tag_calls(), 25);
    let most = org.calls.list_tags_most_in_flight.load(Ordering::SeqCst);
    assert!(
        (2..=4).contains(&most),
        "{most} tag calls in flight at once"
    );
}

#[tokio::test]
async fn the_call_counting_and_ou_parent_wrappers_pass_tag_reads_through_and_count_each() {
    let org = org(5);
    tag_odd_prod(&org, 1..=10);
    let counts = shared::counted::CallCounts::new();
    let wrapped = shared::counted::Counted::new(
        shared::ou_parents::OuParents::new(org.clone()),
        counts.clone(),
    );
    let (tree, _) = read_scope(&wrapped, &prod_tagged(&[PROD]), 4)
        .await
        .expect("read");
    assert_eq!(org.tag_calls(), 5);
    assert_eq!(
        counts.snapshot().organizations,
        u64::from(org.calls.total()),
        "OrganizationsCalls counts each ListTagsForResource"
    );
    assert_eq!(
        tree.accounts[&id(1)].tags.as_ref().expect("read")["env"],
        "prod"
    );
}

#[tokio::test]
async fn a_sliced_read_reads_its_slices_tags_only_and_leaves_the_others_undecided() {
    // The root as the target: 50 candidates (the management account is none); with a budget
    // of 10, five slices (account ID % 5), and tick 4 reads the fifth.
    let org = org(25);
    tag_odd_prod(&org, 1..=50);
    let s = prod_tagged(&[ROOT]);
    let (tree, stats, slice) = read_scope_sliced(
        &org,
        &s,
        4,
        TagReads::Sweep {
            budget: 10,
            tick: 4,
        },
    )
    .await
    .expect("read");
    assert_eq!((slice.index, slice.of), (4, 5));
    let read: Vec<u64> = (1..=50).filter(|n| slice.covers(&id(*n))).collect();
    assert_eq!(read.len(), 10);
    assert_eq!(org.tag_calls(), 10);
    assert_eq!(stats.list_tags, 10);
    assert_eq!(stats.total(), org.calls.total(), "{stats:?}");
    for n in 1..=50 {
        assert_eq!(
            tree.accounts[&id(n)].tags.is_some(),
            read.contains(&n),
            "{n}"
        );
    }
    let e = expand_slice(&s, &tree, slice).expect("expand");
    let undecided: BTreeSet<AccountId> = (1..=50).filter(|n| !read.contains(n)).map(id).collect();
    assert_eq!(e.undecided_ids(), undecided);
    let odd_read: BTreeSet<AccountId> = read
        .iter()
        .filter(|n| *n % 2 == 1)
        .map(|n| id(*n))
        .collect();
    assert_eq!(e.account_ids(), odd_read);
    // The full read's guard still holds: expanding every candidate with slices unread fails.
    assert!(expand(&s, &tree).is_err());
}
