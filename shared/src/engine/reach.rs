//! Where a plan's operations reach: the organization's root, the accounts StackSets cannot
//! reach, and the OUs each operation lists.

use std::collections::{BTreeMap, BTreeSet};

use crate::core::{
    fit_ous, AccountId, AccountScope, AccountState, OrgTree, ReconcilePlan, Scope, StackInstance,
    TargetId, MAX_OUS_PER_OPERATION,
};
use crate::ports::{AwsError, Clock, OrganizationsApi, StackSetApi};
use crate::read::read_scope;

use super::{Engine, EngineError};

/// Up to this many accounts of unknown state are looked up one by one (`DescribeAccount`);
/// more, and the whole organization is read from the root instead (pages of 20).
const DESCRIBE_ONE_BY_ONE: usize = 40;

impl<O: OrganizationsApi, S: StackSetApi, C: Clock> Engine<'_, O, S, C> {
    /// The organization's root ID (`ListRoots`).
    pub(super) async fn root(&self) -> Result<String, EngineError> {
        self.org
            .roots()
            .await?
            .into_iter()
            .next()
            .map(|r| r.id)
            .ok_or_else(|| {
                EngineError::Aws(AwsError::NotFound {
                    what: "the organization's root".into(),
                })
            })
    }

    /// Of `accounts`, those StackSets cannot reach: not ACTIVE, or no longer in the
    /// organization. `known` gives the state of accounts already read. Public for
    /// `orgscope plan --stack-set-name`, whose preview must plan as a reconcile would.
    pub async fn unreachable(
        &self,
        accounts: &BTreeSet<AccountId>,
        known: &OrgTree,
    ) -> Result<BTreeSet<AccountId>, EngineError> {
        let mut out = BTreeSet::new();
        let mut unknown = Vec::new();
        for a in accounts {
            match known.accounts.get(a) {
                Some(acct) if acct.state != AccountState::Active => {
                    out.insert(a.clone());
                }
                Some(_) => {}
                None => unknown.push(a.clone()),
            }
        }
        if unknown.len() > DESCRIBE_ONE_BY_ONE {
            let root = self.root().await?;
            let whole = Scope {
                targets: [TargetId::parse(&root).map_err(|e| {
                    EngineError::Aws(AwsError::Validation(format!("root ID {root}: {e}")))
                })?]
                .into_iter()
                .collect(),
                mode: AccountScope::All,
                accounts: BTreeSet::new(),
                // Only the accounts' states are asked here: no tags read.
                tags: Default::default(),
            };
            let (tree, _) = read_scope(self.org, &whole, self.config.concurrency).await?;
            for a in unknown {
                match tree.accounts.get(&a) {
                    Some(acct) if acct.state == AccountState::Active => {}
                    _ => {
                        out.insert(a);
                    }
                }
            }
        } else {
            for a in unknown {
                match self.org.describe_account(&a).await {
                    Ok((_, AccountState::Active)) => {}
                    Ok(_) | Err(AwsError::NotFound { .. }) => {
                        out.insert(a);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(out)
    }

    /// Sets each batch's OUs and splits batches that would list more than 50. Create lists
    /// the target that covers each account; update, delete and drop list the root and each
    /// instance's recorded OU, which reaches the account under both readings of a listed OU
    /// (through the organization now, or through the recorded OU), the account filter
    /// (INTERSECTION with the batch's accounts) keeping it to exactly those accounts.
    pub(super) fn fit(
        &self,
        p: &mut ReconcilePlan,
        scope: &Scope,
        tree: &OrgTree,
        instances: &[StackInstance],
        root: &str,
        fallback: &[String],
    ) {
        let mut covering: BTreeMap<AccountId, BTreeSet<String>> = BTreeMap::new();
        for b in &p.create {
            for a in &b.accounts {
                let t = tree
                    .accounts
                    .get(a)
                    .and_then(|acct| tree.covering_target(&acct.parent, &scope.targets))
                    .map_or_else(|| root.to_owned(), |t| t.as_str().to_owned());
                covering.insert(a.clone(), [t].into_iter().collect());
            }
        }
        let mut recorded: BTreeMap<AccountId, BTreeSet<String>> = BTreeMap::new();
        for i in instances {
            let e = recorded.entry(i.account.clone()).or_default();
            match &i.ou {
                Some(ou) => {
                    e.insert(ou.clone());
                }
                None => e.extend(fallback.iter().cloned()),
            }
        }
        let always = [root.to_owned()];
        let m = MAX_OUS_PER_OPERATION;
        p.create = fit_ous(std::mem::take(&mut p.create), &covering, &[], m);
        p.update = fit_ous(std::mem::take(&mut p.update), &recorded, &always, m);
        p.reuse_oidc = fit_ous(std::mem::take(&mut p.reuse_oidc), &recorded, &always, m);
        p.delete = fit_ous(std::mem::take(&mut p.delete), &recorded, &always, m);
        p.drop = fit_ous(std::mem::take(&mut p.drop), &recorded, &always, m);
    }
}
