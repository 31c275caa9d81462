//! The tag filter (`TargetAccountTags`, `ExcludedAccountTags`): examples, and the property
//! that it only narrows the expansion.

use super::properties::{gen_org, scope_of, GenOrg};
use super::*;

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
}

#[test]
fn the_verdict_shown_names_the_tags_that_kept_an_account_and_the_one_that_dropped_it() {
    let tree = tagged(&[
        (2, &[("env", "prod"), ("team", "payments")]),
        (3, &[("env", "prod")]),
        (
            4,
            &[
                ("env", "prod"),
                ("team", "payments"),
                ("port:exclude", "true"),
            ],
        ),
    ]);
    let scope = with_tags(
        "ou-root-prod0000",
        "ALL",
        "",
        "env=prod,team",
        "port:exclude=true",
    );
    let e = expand(&scope, &tree).unwrap();
    assert_eq!(ids(&e), [2]);
    let kept = &e.included[0];
    assert_eq!(
        kept.tags_note().unwrap(),
        "TargetAccountTags `env=prod`, `team` met"
    );
    assert_eq!(
        kept.why(),
        format!("{}; TargetAccountTags `env=prod`, `team` met", kept.reason)
    );
    let dropped = |n: u64| e.skipped.iter().find(|s| s.id == acct(n)).unwrap();
    assert_eq!(
        dropped(3).why(),
        "TargetAccountTags: `team` is unmet (it has no team tag)"
    );
    assert_eq!(
        dropped(4).why(),
        "ExcludedAccountTags: `port:exclude=true` matches (its port:exclude tag is `true`), \
         which excludes it whatever else says"
    );
    // Without target terms nothing is added: the output of a scope without tags is unchanged.
    let plain = expand(&with_tags("ou-root-prod0000", "ALL", "", "", ""), &tree).unwrap();
    assert!(plain
        .included
        .iter()
        .all(|x| x.tags_note().is_none() && x.why() == x.reason.to_string()));
}

#[test]
fn a_bad_term_is_quoted_escaped_and_cut_as_other_scope_errors_quote_values() {
    let e = TagFilter::parse("env=pr\u{1b}od", "")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("TargetAccountTags: `pr\\u{1b}od` holds `\\u{1b}`, which no AWS"),
        "{e}"
    );
    assert!(
        !e.contains('\u{1b}'),
        "no raw escape reaches a terminal: {e:?}"
    );
    let long = "k".repeat(60_000);
    let e = TagFilter::parse("", &long).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "ExcludedAccountTags: the key `{}…` is 60000 characters long",
            "k".repeat(60)
        )),
        "{}",
        &e[..200]
    );
    assert!(e.len() < 400, "{} bytes", e.len());
}
