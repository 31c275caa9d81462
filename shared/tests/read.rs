//! The organization reader on the in-memory organization: what each read returns, and that its
//! call statistics are the calls it made.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use shared::core::{AccountId, AccountScope, Scope, TargetId};
use shared::read::{read_accounts, read_scope, ReadError};
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
