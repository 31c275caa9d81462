//! Whether a batch's events can touch the scope, cheaply: an event a converged reconcile of
//! this instance already read past costs nothing (`covered`); the others are checked once per
//! distinct account (`look`, `relevance`, `walk_up`), unless one full read of the scope costs
//! less (`whole_read_is_cheaper`).

use std::collections::BTreeSet;

use shared::core::{AccountId, Filtered, Scope, TagVerdict};
use shared::ports::{AwsError, OrganizationsApi, StackSetReader};

use super::memo::Memo;
use super::summary::first_few;
use super::{COVER_MARGIN_SECS, MAX_DEPTH, TARGETED_CALLS_PER_ACCOUNT, TARGETED_MAX_ACCOUNTS};
use crate::time::format_rfc3339;
use crate::trigger::{Classified, Trigger};

/// Whether to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decision {
    Reconcile(String),
    Skip(String),
}

/// What a batch's events make the run read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// The whole scope.
    Whole,
    /// These accounts only.
    Accounts(Vec<AccountId>),
}

/// The cheap check of a batch's events against the scope, borrowing only what it reads: the
/// Organizations client (for `ListParents`), the StackSet client (for one account's
/// instances), the scope and what this warm instance remembers.
pub(super) struct Triage<'a, O, S> {
    pub org: &'a O,
    pub stacksets: &'a S,
    pub scope: &'a Scope,
    pub stack_set: &'a str,
    pub memo: &'a Memo,
}

impl<O: OrganizationsApi, S: StackSetReader> Triage<'_, O, S> {
    /// The cheap check of a batch's events, once per distinct account: `Ok` with what to read
    /// (the accounts that can touch the scope, or the whole scope), `Err` with why none can.
    /// An event that names no account (a membership event without one, a target OU deleted)
    /// takes the whole scope; so does a batch about more accounts than a full read costs.
    pub(super) async fn look(&self, events: &[&Classified]) -> Result<(Target, String), String> {
        let accounts = named_in(events.iter().copied());
        if self.whole_read_is_cheaper(accounts.len()) {
            return Ok((
                Target::Whole,
                format!(
                    "{} events name {} accounts: one full read of the scope costs less than \
                     reading them one by one",
                    events.len(),
                    accounts.len()
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        let (mut touch, mut skipped, mut reasons) = (BTreeSet::new(), Vec::new(), Vec::new());
        for e in events {
            // Once per account; a departure is checked apart (it looks at the instances only,
            // and the same account may have joined again within the batch).
            // A tag change without a tag filter costs nothing and decides nothing: it does not
            // stand for the account's other events.
            let free = matches!(e.trigger, Trigger::AccountTagsChanged { .. })
                && !self.scope.tags.is_set();
            if let Some(a) = e.trigger.account().filter(|_| !free) {
                let left = matches!(e.trigger, Trigger::AccountLeft { .. });
                if !seen.insert((a.clone(), left)) {
                    continue;
                }
            }
            let decision = match self.relevance(&e.trigger).await {
                Ok(d) => d,
                Err(err) => {
                    tracing::warn!(error = %err, "relevance check failed; reconciling anyway");
                    Decision::Reconcile(format!(
                        "the check of a {} event failed ({err}): looking anyway",
                        e.trigger.kind()
                    ))
                }
            };
            match (decision, e.trigger.account()) {
                (Decision::Skip(why), _) => skipped.push(why),
                (Decision::Reconcile(why), Some(a)) => {
                    touch.insert(a.clone());
                    reasons.push(why);
                }
                (Decision::Reconcile(why), None) => return Ok((Target::Whole, why)),
            }
        }
        if touch.is_empty() {
            return Err(match skipped.as_slice() {
                [one] => one.clone(),
                many => format!(
                    "none of the {} events can touch the scope ({} checked): {}",
                    events.len(),
                    many.len(),
                    first_few(many)
                ),
            });
        }
        Ok((
            Target::Accounts(touch.into_iter().collect()),
            first_few(&reasons),
        ))
    }

    /// Whether one full read (and one after the change) costs fewer Organizations calls than
    /// reading `accounts` one by one (twice).
    fn whole_read_is_cheaper(&self, accounts: usize) -> bool {
        if accounts <= 1 {
            return false;
        }
        let known = self.memo.full_read_calls();
        match known {
            Some(full) => 1 + accounts * TARGETED_CALLS_PER_ACCOUNT > full as usize,
            None => accounts > TARGETED_MAX_ACCOUNTS,
        }
    }

    pub(super) fn covered(&self, c: &Classified) -> Option<String> {
        let at = c.event_time?;
        let read = self.memo.converged_read_at()?;
        (at + COVER_MARGIN_SECS <= read).then(|| {
            format!(
                "already covered: a reconcile that read the organization at {} (after this \
                 change at {}) brought the StackSet in line",
                format_rfc3339(read),
                format_rfc3339(at)
            )
        })
    }

    /// The cheap check: can this event change which accounts should have an instance, or
    /// which instances should exist? One `ListStackInstances` for the event's account and a
    /// few `ListParents`.
    async fn relevance(&self, t: &Trigger) -> Result<Decision, AwsError> {
        let scope = self.scope;
        let is_target = |id: &str| scope.targets.iter().any(|x| x.as_str() == id);
        match t {
            Trigger::Schedule => Ok(Decision::Reconcile("scheduled".into())),
            Trigger::MembershipChanged { via } => Ok(Decision::Reconcile(format!(
                "{via} names no account this code can read: the whole scope is checked"
            ))),
            Trigger::Ignored { why } => Ok(Decision::Skip(why.clone())),
            Trigger::OuChanged {
                ou, created: true, ..
            } => Ok(Decision::Skip(format!(
                "OU {} was created; a new OU is empty, and accounts moved into it send their \
                 own events",
                ou.as_deref().unwrap_or("(unknown)")
            ))),
            Trigger::OuChanged {
                ou, created: false, ..
            } => match ou.as_deref() {
                Some(o) if is_target(o) => {
                    Ok(Decision::Reconcile(format!("target OU {o} was deleted")))
                }
                _ => Ok(Decision::Skip(
                    "a deleted OU is empty and is not a target: no account moved".into(),
                )),
            },
            // Without a tag filter, tags decide nothing: no call at all.
            Trigger::AccountTagsChanged { account, via } if !scope.tags.is_set() => {
                Ok(Decision::Skip(format!(
                    "{via} on account {account}: no TargetAccountTags or ExcludedAccountTags is \
                     set, so tags do not decide the scope"
                )))
            }
            // A tag change is checked as a move is: the account's place decides first, then,
            // with a tag filter, its tags.
            Trigger::AccountMoved { account, .. }
            | Trigger::AccountJoined { account, .. }
            | Trigger::AccountTagsChanged { account, .. }
            | Trigger::AccountLeft { account, .. } => {
                // Only this account's instances: one call, whatever the StackSet's size.
                let instances = self
                    .stacksets
                    .instances_of(self.stack_set, std::slice::from_ref(account))
                    .await?;
                if instances.iter().any(|i| &i.account == account) {
                    return Ok(Decision::Reconcile(format!(
                        "account {account} has a stack instance"
                    )));
                }
                if let Trigger::AccountLeft { .. } = t {
                    return Ok(Decision::Skip(format!(
                        "account {account} left and has no stack instance: nothing to withdraw"
                    )));
                }
                // The account filter is the scope's own rule (`Scope::filter`), as in the
                // expansion: nothing re-decided here.
                match scope.filter(account) {
                    Filtered::NotListed => {
                        return Ok(Decision::Skip(format!(
                            "account {account} is not in TargetAccountIds (INTERSECTION) and \
                             has no stack instance"
                        )))
                    }
                    Filtered::ExcludedByList => {
                        return Ok(Decision::Skip(format!(
                            "account {account} is excluded by TargetAccountIds (DIFFERENCE) \
                             and has no stack instance"
                        )))
                    }
                    Filtered::Selected => {}
                }
                let placed = match scope.targets.iter().find(|x| x.is_root()) {
                    Some(root) => Decision::Reconcile(format!(
                        "the root {root} is a target: every account is under it"
                    )),
                    None => self.walk_up(account).await?,
                };
                match placed {
                    Decision::Reconcile(why) if scope.tags.is_set() => {
                        self.tags_keep(account, why).await
                    }
                    other => Ok(other),
                }
            }
        }
    }

    /// With a tag filter, an account under a target that has no instance is read only if its
    /// tags (one `ListTagsForResource`, as they are now) let the filter keep it.
    async fn tags_keep(&self, account: &AccountId, placed: String) -> Result<Decision, AwsError> {
        let tags = match self.org.tags_of(account).await {
            Ok(t) => t,
            Err(AwsError::NotFound { .. }) => {
                return Ok(Decision::Skip(format!(
                    "account {account} is not in the organization and has no stack instance"
                )))
            }
            Err(e) => return Err(e),
        };
        Ok(match self.scope.tags.verdict(&tags) {
            TagVerdict::Unmet { term } => Decision::Skip(format!(
                "account {account} does not meet TargetAccountTags term `{term}` and has no \
                 stack instance"
            )),
            TagVerdict::Excluded { term } => Decision::Skip(format!(
                "account {account} matches ExcludedAccountTags term `{term}` and has no stack \
                 instance"
            )),
            TagVerdict::Kept { .. } | TagVerdict::Unfiltered => {
                Decision::Reconcile(format!("{placed}, and its tags pass the tag filter"))
            }
        })
    }

    /// Where the account is now: up the `ListParents` chain until a target or the root.
    async fn walk_up(&self, account: &AccountId) -> Result<Decision, AwsError> {
        let scope = self.scope;
        let mut node = match self.org.parent_of(account.as_str()).await {
            Ok(p) => p,
            Err(AwsError::NotFound { .. }) => {
                return Ok(Decision::Skip(format!(
                    "account {account} is not in the organization and has no stack instance"
                )))
            }
            Err(e) => return Err(e),
        };
        let first = node.id.clone();
        for _ in 0..MAX_DEPTH {
            if let Some(t) = scope.targets.iter().find(|t| t.as_str() == node.id) {
                return Ok(Decision::Reconcile(format!(
                    "account {account} is now under target {t}"
                )));
            }
            if node.is_root {
                return Ok(Decision::Skip(format!(
                    "account {account} is in {first}, outside every target OU, and has no \
                     stack instance"
                )));
            }
            node = self.org.parent_of(&node.id).await?;
        }
        Ok(Decision::Reconcile(format!(
            "account {account}: the OU chain is deeper than expected"
        )))
    }
}

/// The distinct accounts the events name.
pub(super) fn named_in<'a>(events: impl Iterator<Item = &'a Classified>) -> BTreeSet<AccountId> {
    events
        .filter_map(|e| e.trigger.account().cloned())
        .collect()
}

#[cfg(test)]
mod tests;
