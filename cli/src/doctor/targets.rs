//! The scope: its target OUs (with suggestions for an unknown one), its listed accounts, the
//! StackSet and the accounts the scope covers.

use std::collections::BTreeMap;

use shared::core::{AccountId, AccountScope, Reason, TargetId};
use shared::doctor::{check, Check, Status};

use super::checks::*;

pub(super) fn targets(i: &Inputs<'_>) -> Vec<Check> {
    const T: &str = "Target OU";
    // Existing targets by path, then the unknown ones.
    let mut sorted: Vec<&(TargetId, Result<TargetFinding, String>)> = i.targets.iter().collect();
    sorted.sort_by_key(|(t, f)| match f {
        Ok(TargetFinding::Root) => (0, String::new()),
        Ok(TargetFinding::Found { path }) => (1, path.clone()),
        _ => (2, t.as_str().to_owned()),
    });
    sorted
        .into_iter()
        .map(|(t, f)| {
            let id = format!("target-ou:{t}");
            match f {
                Ok(TargetFinding::Root) => check(
                    id,
                    Status::Pass,
                    T,
                    format!("{t} is the root: the whole organization (every account in every OU)"),
                ),
                Ok(TargetFinding::Found { path }) => check(
                    id,
                    Status::Pass,
                    T,
                    format!("{path} exists; its child OUs are included"),
                ),
                Ok(TargetFinding::NotFound { suggestions }) => {
                    let kind = if t.is_root() { "root" } else { "OU" };
                    let hint = if suggestions.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ". Closest: {}",
                            suggestions
                                .iter()
                                .map(|s| s.path.clone())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    check(
                        id,
                        Status::Fail,
                        T,
                        format!("{kind} {t} does not exist in this organization{hint}"),
                    )
                    .fix(
                        "Copy the OU ID from AWS Organizations > AWS accounts (click the OU; the \
                         ID is under its name), or run `aws organizations \
                         list-organizational-units-for-parent --parent-id <root-id>`.",
                    )
                }
                Err(e) => check(id, Status::Fail, T, format!("could not look up {t}: {e}")),
            }
        })
        .collect()
}

pub(super) fn listed_accounts(i: &Inputs<'_>) -> Vec<Check> {
    const T: &str = "Listed account";
    if i.scope.accounts.is_empty() {
        return vec![];
    }
    let mode = i.scope.mode;
    let (tree, exp) = match &i.read {
        Ok((tree, exp)) => (tree, exp),
        Err(e) => {
            return vec![check(
                "listed-accounts",
                Status::Fail,
                "Listed accounts",
                format!("could not look up the listed accounts: {e}"),
            )]
        }
    };
    let entries: BTreeMap<&AccountId, &shared::core::Entry> = exp
        .included
        .iter()
        .chain(&exp.skipped)
        .map(|e| (&e.id, e))
        .collect();
    let remove = "Remove it from --target-account-ids (TargetAccountIds).";
    // By name (then ID), the way a user reads a list of accounts.
    let mut listed: Vec<&AccountId> = i.scope.accounts.iter().collect();
    listed.sort_by_key(|a| {
        (
            entries.get(a).map(|e| e.name.clone()),
            a.as_str().to_owned(),
        )
    });
    listed
        .into_iter()
        .map(|a| {
            let id = format!("account:{a}");
            if i.not_in_organization.contains(a) {
                return check(
                    id,
                    Status::Fail,
                    T,
                    format!("{a} is not in this organization"),
                )
                .fix(
                    "Check for a typo (12 digits, comma-separated, e.g. \
                     111111111111,222222222222), or invite the account first.",
                );
            }
            let Some(e) = entries.get(a) else {
                return check(
                    id,
                    Status::Warn,
                    T,
                    format!("{a} was not found under the targets nor located elsewhere"),
                );
            };
            let who = format!("{a} ({})", e.name);
            if tree.management_account_id.as_ref() == Some(a) {
                return check(
                    id,
                    Status::Warn,
                    T,
                    format!(
                        "{who} is the management account: StackSets never deploy there (the \
                         stack's own role covers it), so listing it has no effect"
                    ),
                )
                .fix(remove);
            }
            match &e.reason {
                Reason::ListedUnderTarget { .. } => check(
                    id,
                    Status::Pass,
                    T,
                    match e.tags_note() {
                        Some(note) => format!("{who} in {}: in scope; {note}", e.ou_path),
                        None => format!("{who} in {}: in scope", e.ou_path),
                    },
                ),
                Reason::TargetTagUnmet { .. } | Reason::ExcludedByTag { .. } => check(
                    id,
                    Status::Warn,
                    T,
                    format!(
                        "{who} in {} is listed, but the tags drop it: {}",
                        e.ou_path,
                        e.why()
                    ),
                )
                .fix(
                    "Tag the account as the tag parameters ask (AWS Organizations > AWS \
                     accounts > the account > Tags), or remove it from --target-account-ids.",
                ),
                Reason::ExcludedByList => check(
                    id,
                    Status::Pass,
                    T,
                    format!("{who} in {}: excluded, as DIFFERENCE asks", e.ou_path),
                ),
                Reason::OutsideTargets { actual } => {
                    let (what, fix) = match mode {
                        AccountScope::Intersection => (
                            "INTERSECTION drops it: it gets no role",
                            "Add its OU to --target-ou-ids (TargetOUIds), or move the account \
                             into a target OU.",
                        ),
                        AccountScope::Difference => (
                            "DIFFERENCE would not deploy to it anyway, so listing it excludes \
                             nothing (a typo?)",
                            remove,
                        ),
                        AccountScope::All => ("ALL ignores the list", remove),
                    };
                    check(
                        id,
                        Status::Warn,
                        T,
                        format!("{who} lives in {actual}, outside every target OU; {what}"),
                    )
                    .fix(fix)
                }
                Reason::NotActive { state } => {
                    let what = match mode {
                        AccountScope::Intersection => {
                            "StackSets skip it, so INTERSECTION drops it until it is ACTIVE"
                        }
                        _ => "StackSets skip it anyway, so excluding it changes nothing",
                    };
                    check(
                        id,
                        Status::Warn,
                        T,
                        format!("{who} in {} is {state}, not ACTIVE: {what}", e.ou_path),
                    )
                    .fix(match mode {
                        AccountScope::Intersection => {
                            "Reactivate the account, or remove it from --target-account-ids."
                        }
                        _ => remove,
                    })
                }
                Reason::ManagementAccount => check(
                    id,
                    Status::Warn,
                    T,
                    format!(
                        "{who} is the management account: StackSets never deploy there (the \
                         stack's own role covers it), so listing it has no effect"
                    ),
                )
                .fix(remove),
                r => check(id, Status::Pass, T, format!("{who} in {}: {r}", e.ou_path)),
            }
        })
        .collect()
}

pub(super) fn stack_set(i: &Inputs<'_>) -> Check {
    const T: &str = "StackSet";
    let name = &i.stack_set_name;
    match &i.stack_set {
        Err(e) => check(
            "stack-set",
            Status::Fail,
            T,
            format!("could not describe StackSet {name}: {e}"),
        ),
        Ok(None) => check(
            "stack-set",
            Status::Warn,
            T,
            format!(
                "{name} does not exist in {} yet: the stack creates it (resource PortStackSet)",
                i.region.as_deref().unwrap_or("this region")
            ),
        )
        .fix(
            "Nothing to do before the first deploy. After it, check --stack-set-name \
             (StackSetName) and the region.",
        ),
        Ok(Some(s)) if !s.service_managed => check(
            "stack-set",
            Status::Fail,
            T,
            format!(
                "{name} uses self-managed permissions: this integration needs a service-managed \
                 StackSet, which deploys through AWS Organizations"
            ),
        )
        .fix(
            "Use the StackSet this stack creates (--stack-set-name), or delete this one and let \
             the stack create it.",
        ),
        Ok(Some(s)) if s.auto_deployment => check(
            "stack-set",
            Status::Fail,
            T,
            format!(
                "{name} has AutoDeployment on: StackSets then deploy to every account added to a \
                 target OU, ignoring INTERSECTION and DIFFERENCE"
            ),
        )
        .fix(format!(
            "CloudFormation > StackSets > {name} > Actions > Edit StackSet details > Automatic \
             deployment: Deactivated (or update the stack: its template keeps it off)."
        )),
        Ok(Some(s)) => check(
            "stack-set",
            Status::Pass,
            T,
            format!(
                "{name} exists ({}), service-managed, auto-deployment off",
                if s.status.is_empty() {
                    "status unknown"
                } else {
                    &s.status
                }
            ),
        ),
    }
}

pub(super) fn scope(i: &Inputs<'_>) -> Check {
    const T: &str = "Scope";
    match &i.read {
        Err(e) => check(
            "scope",
            Status::Fail,
            T,
            format!("could not expand the scope: {e}"),
        ),
        Ok((_, e)) => {
            let n = e.included.len();
            let unknown = i
                .targets
                .iter()
                .filter(|(_, f)| {
                    !matches!(f, Ok(TargetFinding::Root | TargetFinding::Found { .. }))
                })
                .count();
            let mut why: BTreeMap<String, usize> = BTreeMap::new();
            for x in &e.skipped {
                *why.entry(crate::render::skip_kind(&x.reason)).or_default() += 1;
            }
            let why: Vec<String> = why.into_iter().map(|(k, n)| format!("{n} {k}")).collect();
            let detail = format!(
                "{} mode: {n} account{} get{} Port's role through the StackSet; {} skipped{}{}",
                e.mode,
                if n == 1 { "" } else { "s" },
                if n == 1 { "s" } else { "" },
                e.skipped.len(),
                if why.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", why.join(", "))
                },
                if unknown > 0 {
                    format!(
                        "; counting only the targets that exist ({unknown} target{} missing)",
                        if unknown == 1 { " is" } else { "s are" }
                    )
                } else {
                    String::new()
                }
            );
            if n == 0 {
                check("scope", Status::Warn, T, detail).fix(
                    "Check --target-ou-ids, --account-scope and --target-account-ids: the \
                     StackSet would deploy nowhere. `orgscope plan` shows why each account is \
                     out.",
                )
            } else {
                check("scope", Status::Pass, T, detail)
            }
        }
    }
}

/// The most accounts the tag check names (all are counted; `--verbose` draws every one).
pub const TAG_NAMED: usize = 20;

/// With a tag filter only: the filter, the order it applies in, how many accounts it kept,
/// and the accounts it dropped, each with the term and the account's value (the verdict as
/// `orgscope plan` shows it).
pub(super) fn account_tags(i: &Inputs<'_>) -> Option<Check> {
    const T: &str = "Account tags";
    let lines = crate::render::tag_lines(i.scope)?;
    let (_, e) = i.read.as_ref().ok()?;
    let kept = e.included.len();
    let dropped: Vec<&shared::core::Entry> = e
        .skipped
        .iter()
        .filter(|x| {
            matches!(
                x.reason,
                Reason::TargetTagUnmet { .. } | Reason::ExcludedByTag { .. }
            )
        })
        .collect();
    let mut detail = format!(
        "{} {kept} account{} in scope after the tags, {} dropped by them",
        lines.replace('\n', " ").trim_end(),
        if kept == 1 { "" } else { "s" },
        dropped.len()
    );
    for x in dropped.iter().take(TAG_NAMED) {
        detail.push_str(&format!("; {} ({}): {}", x.id, x.name, x.why()));
    }
    if dropped.len() > TAG_NAMED {
        detail.push_str(&format!(
            "; and {} more (orgscope plan names every account)",
            dropped.len() - TAG_NAMED
        ));
    }
    Some(if kept == 0 {
        check("account-tags", Status::Warn, T, detail).fix(
            "No account under the targets has the tags: check the terms against the accounts' \
             tags (AWS Organizations > AWS accounts > the account > Tags). OU and root tags do \
             not count.",
        )
    } else {
        check("account-tags", Status::Pass, T, detail)
    })
}

/// Edit distance (Levenshtein), by characters.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The existing OUs closest to `unknown` (at most `n`): by edit distance of the ID, or of the
/// name against the ID's middle part (`ou-prod-12345678` → `prod`, as in the seed's examples).
/// When some are close (at most 30% of the characters differ), only those.
pub fn suggest(unknown: &str, known: &[KnownOu], n: usize) -> Vec<KnownOu> {
    let lower = unknown.to_ascii_lowercase();
    let middle = lower.split('-').nth(1).unwrap_or("").to_owned();
    let norm = |d: usize, a: usize, b: usize| d as f64 / a.max(b).max(1) as f64;
    let mut scored: Vec<(f64, &KnownOu)> = known
        .iter()
        .map(|k| {
            let by_id = norm(levenshtein(&lower, &k.id), lower.len(), k.id.len());
            let name = k.name.to_ascii_lowercase();
            let by_name = if middle.is_empty() {
                1.0
            } else {
                norm(levenshtein(&middle, &name), middle.len(), name.len())
            };
            (by_id.min(by_name), k)
        })
        .collect();
    scored.sort_by(|a, b| {
        a.0.partial_cmp(&b.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.1.path.cmp(&b.1.path))
    });
    // Close matches (a typo, or the name in the ID) only; otherwise the nearest few.
    let close = scored.iter().filter(|(d, _)| *d <= 0.3).count();
    let take = if close > 0 { close.min(n) } else { n };
    scored
        .into_iter()
        .take(take)
        .map(|(_, k)| k.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levenshtein_basics() {
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("ou-ab12-aaaaaaaa", "ou-ab12-aaaaaaab"), 1);
    }

    #[test]
    fn suggestions_rank_by_id_then_name() {
        let k = |id: &str, name: &str| KnownOu {
            id: id.into(),
            name: name.into(),
            path: format!("Root/{name} ({id})"),
        };
        let known = vec![
            k("ou-ab12-11111111", "Staging"),
            k("ou-ab12-22222222", "Prod"),
            k("ou-ab12-33333333", "Sandbox"),
        ];
        assert_eq!(suggest("ou-ab12-22222223", &known, 1)[0].name, "Prod");
        assert_eq!(suggest("ou-prod-12345678", &known, 1)[0].name, "Prod");
        assert_eq!(suggest("ou-stag-99999999", &known, 1)[0].name, "Staging");
        assert_eq!(
            suggest("ou-ab12-22222223", &known, 3).len(),
            1,
            "only the close one"
        );
        assert_eq!(
            suggest("ou-zzzz-99999999", &known, 5).len(),
            3,
            "none close: nearest"
        );
    }

    // ------------------------------------------------------------------ region
}
