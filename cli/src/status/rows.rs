//! Desired × actual: one `Row` per stack instance and per desired account without one,
//! and the accounts that reuse an existing OIDC provider.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use shared::core::{
    advise, AccountId, DetailedStatus, DriftStatus, Expansion, InstanceStatus, Reason,
    StackInstance,
};

use super::State;

/// One account (and region) with its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub account: AccountId,
    pub name: String,
    pub ou_path: String,
    pub region: Option<String>,
    pub state: State,
    /// What was found, in AWS's words where there are some.
    pub detail: String,
    /// What to do, for failures.
    pub advice: Option<String>,
    /// CURRENT through the per-account override `CreateOIDCProvider=false`: the account
    /// already held Port's OIDC provider, and its stack reuses it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reuses_oidc_provider: bool,
    /// With a tag filter: the scope's verdict on the account as every output shows it (the
    /// tags that kept it, or the term that dropped it); `None` when the tags did not decide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<String>,
}

/// The verdict of an account the tags decided (kept by target terms, or dropped by a term).
fn tags_verdict(e: Option<&&shared::core::Entry>) -> Option<String> {
    let e = e?;
    let by_tags = !e.tags_matched.is_empty()
        || matches!(
            e.reason,
            Reason::TargetTagUnmet { .. } | Reason::ExcludedByTag { .. }
        );
    by_tags.then(|| e.why())
}

/// Where an account outside the read tree lives: `(name, path)`.
pub type Located = BTreeMap<AccountId, (String, String)>;

/// Desired × actual → one row per stack instance, plus one per desired account without any.
/// `located` names accounts outside the targets (extra or skipped instances).
pub fn classify(exp: &Expansion, instances: &[StackInstance], located: &Located) -> Vec<Row> {
    let entries: BTreeMap<&AccountId, &shared::core::Entry> = exp
        .included
        .iter()
        .chain(&exp.skipped)
        .map(|e| (&e.id, e))
        .collect();
    let desired: BTreeSet<&AccountId> = exp.included.iter().map(|e| &e.id).collect();
    let mut rows = Vec::new();
    let mut seen: BTreeSet<&AccountId> = BTreeSet::new();
    for i in instances {
        seen.insert(&i.account);
        let entry = entries.get(&i.account);
        let wanted = desired.contains(&i.account);
        let reason = i.status_reason.clone().unwrap_or_default();
        let (state, detail, advice) = if i.is_busy() {
            (
                State::Running,
                format!("{:?}", i.detailed).to_uppercase(),
                None,
            )
        } else if i.detailed == DetailedStatus::SkippedSuspendedAccount {
            (
                State::SkippedSuspended,
                "the account is suspended; StackSets skip it".to_owned(),
                None,
            )
        } else if !wanted {
            let why = match entry.map(|e| &e.reason) {
                Some(Reason::ManagementAccount) => "it is the management account".to_owned(),
                Some(r) => r.to_string(),
                None => "the account is not under any target OU".to_owned(),
            };
            (
                State::Extra,
                format!("out of scope: {why}"),
                Some(
                    "The next reconcile removes it, unless OnAccountLeavesScope is RETAIN."
                        .to_owned(),
                ),
            )
        } else if i.detailed == DetailedStatus::Failed {
            let r = if reason.is_empty() {
                "the last operation failed".to_owned()
            } else {
                reason.clone()
            };
            (
                State::Failed,
                r.clone(),
                Some(advise(i.account.as_str(), &r)),
            )
        } else if i.status == InstanceStatus::Inoperable {
            (State::Inoperable, non_empty(&reason, "INOPERABLE"), None)
        } else if i.status == InstanceStatus::Outdated {
            (State::Outdated, non_empty(&reason, "OUTDATED"), None)
        } else if i.drift == DriftStatus::Drifted {
            (
                State::Drifted,
                "the role was changed outside CloudFormation (last drift detection)".to_owned(),
                Some("The next reconcile re-applies the template to it.".to_owned()),
            )
        } else {
            (State::Current, "CURRENT".to_owned(), None)
        };
        let (name, ou_path) = match (entry, located.get(&i.account)) {
            (Some(e), _) => (e.name.clone(), e.ou_path.clone()),
            (None, Some((n, p))) => (n.clone(), p.clone()),
            (None, None) => (String::new(), String::new()),
        };
        rows.push(Row {
            account: i.account.clone(),
            name,
            ou_path,
            region: Some(i.region.clone()),
            state,
            detail,
            advice,
            reuses_oidc_provider: false,
            tags: tags_verdict(entry),
        });
    }
    for e in &exp.included {
        if !seen.contains(&e.id) {
            rows.push(Row {
                account: e.id.clone(),
                name: e.name.clone(),
                ou_path: e.ou_path.clone(),
                region: None,
                state: State::Missing,
                detail: match e.tags_note() {
                    Some(note) => format!("in scope ({note}), but it has no stack instance"),
                    None => "in scope, but it has no stack instance".into(),
                },
                advice: Some("The next reconcile creates it.".into()),
                reuses_oidc_provider: false,
                tags: tags_verdict(Some(&e)),
            });
        }
    }
    rows.sort_by(|a, b| {
        (a.state.rank(), &a.name, &a.account, &a.region).cmp(&(
            b.state.rank(),
            &b.name,
            &b.account,
            &b.region,
        ))
    });
    rows
}

/// Marks the CURRENT rows of `reusing` (accounts an operation made reuse their existing OIDC
/// provider, see `shared::engine::is_oidc_reuse`).
pub fn mark_oidc_reuse(rows: &mut [Row], reusing: &BTreeSet<AccountId>) {
    for r in rows {
        if r.state == State::Current && reusing.contains(&r.account) {
            r.reuses_oidc_provider = true;
            r.detail = "CURRENT; reuses an existing OIDC provider (per-account override \
                        CreateOIDCProvider=false)"
                .into();
        }
    }
}

fn non_empty(s: &str, or: &str) -> String {
    if s.is_empty() {
        or.to_owned()
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::core::{AccountScope, AccountState, Entry};

    fn id(s: &str) -> AccountId {
        AccountId::parse(s).unwrap()
    }

    fn entry(a: &str, reason: Reason) -> Entry {
        Entry {
            id: id(a),
            name: format!("n{a}"),
            ou_path: "Root/Prod (ou-ab12-aaaaaaaa)".into(),
            state: AccountState::Active,
            reason,
            tags_matched: Vec::new(),
        }
    }

    fn inst(
        a: &str,
        status: InstanceStatus,
        d: DetailedStatus,
        drift: DriftStatus,
    ) -> StackInstance {
        StackInstance {
            account: id(a),
            region: "us-east-1".into(),
            status,
            detailed: d,
            status_reason: (d == DetailedStatus::Failed)
                .then(|| "Resource AWS::IAM::Role already exists".to_owned()),
            drift,
            ou: None,
        }
    }

    #[test]
    fn an_enrolled_account_a_tag_now_drops_is_extra_with_the_tag_term_and_its_value() {
        let term = |t: &str| {
            shared::core::TagTerms::parse("ExcludedAccountTags", t)
                .unwrap()
                .0
                .remove(0)
        };
        let mut kept = entry(
            "111111111111",
            Reason::UnderTarget {
                target: "Root/Prod".into(),
            },
        );
        kept.tags_matched = vec![term("env=prod")];
        let exp = Expansion {
            organization_id: "o-x".into(),
            management_account_id: None,
            mode: AccountScope::All,
            included: vec![kept],
            skipped: vec![entry(
                "222222222222",
                Reason::ExcludedByTag {
                    term: term("port:exclude=true"),
                    actual: "true".into(),
                },
            )],
        };
        let current = |a: &str| {
            inst(
                a,
                InstanceStatus::Current,
                DetailedStatus::Succeeded,
                DriftStatus::InSync,
            )
        };
        let rows = classify(
            &exp,
            &[current("111111111111"), current("222222222222")],
            &Located::new(),
        );
        let row = |a: &str| rows.iter().find(|r| r.account.as_str() == a).unwrap();
        assert_eq!(row("111111111111").state, State::Current);
        assert_eq!(
            row("111111111111").tags.as_deref(),
            Some("under target Root/Prod; TargetAccountTags `env=prod` met")
        );
        let out = row("222222222222");
        assert_eq!(out.state, State::Extra);
        assert_eq!(
            out.detail,
            "out of scope: ExcludedAccountTags: `port:exclude=true` matches (its port:exclude \
             tag is `true`), which excludes it whatever else says"
        );
        assert_eq!(
            out.tags.as_deref(),
            Some(&out.detail["out of scope: ".len()..])
        );
    }

    #[test]
    fn every_state_is_told_apart() {
        let under = || Reason::UnderTarget {
            target: "Root/Prod".into(),
        };
        let exp = Expansion {
            organization_id: "o-x".into(),
            management_account_id: None,
            mode: AccountScope::Difference,
            included: [
                "111111111111",
                "222222222222",
                "333333333333",
                "444444444444",
                "555555555555",
            ]
            .iter()
            .map(|a| entry(a, under()))
            .collect(),
            skipped: vec![entry("666666666666", Reason::ExcludedByList)],
        };
        use DetailedStatus as D;
        use InstanceStatus as S;
        let instances = vec![
            inst(
                "111111111111",
                S::Current,
                D::Succeeded,
                DriftStatus::InSync,
            ),
            inst(
                "222222222222",
                S::Outdated,
                D::Failed,
                DriftStatus::NotChecked,
            ),
            inst(
                "333333333333",
                S::Current,
                D::Succeeded,
                DriftStatus::Drifted,
            ),
            inst(
                "444444444444",
                S::Outdated,
                D::Running,
                DriftStatus::NotChecked,
            ),
            inst(
                "666666666666",
                S::Current,
                D::Succeeded,
                DriftStatus::InSync,
            ),
            inst(
                "777777777777",
                S::Outdated,
                D::SkippedSuspendedAccount,
                DriftStatus::NotChecked,
            ),
        ];
        let rows = classify(&exp, &instances, &Located::new());
        let state = |a: &str| rows.iter().find(|r| r.account.as_str() == a).unwrap().state;
        assert_eq!(state("111111111111"), State::Current);
        assert_eq!(state("222222222222"), State::Failed);
        assert_eq!(state("333333333333"), State::Drifted);
        assert_eq!(state("444444444444"), State::Running);
        assert_eq!(state("555555555555"), State::Missing);
        assert_eq!(state("666666666666"), State::Extra);
        assert_eq!(state("777777777777"), State::SkippedSuspended);
        let failed = rows.iter().find(|r| r.state == State::Failed).unwrap();
        assert!(failed
            .advice
            .as_deref()
            .unwrap()
            .contains("cannot reuse an existing role"));
        let extra = rows.iter().find(|r| r.state == State::Extra).unwrap();
        assert!(extra.detail.contains("DIFFERENCE"), "{}", extra.detail);
    }
}
