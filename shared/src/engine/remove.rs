//! Removing every stack instance (the custom resource's Delete).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::core::{
    plan_reaching, AccountId, AccountScope, Desired, Expansion, OrgTree, PlanPolicy, ReconcilePlan,
    Scope,
};
use crate::ports::{Clock, OrganizationsApi, StackSetApi};
use crate::read::ReadStats;

use super::ops::StepLoop;
use super::{outcome, Engine, EngineError, Halt, Outcome, Report};

impl<O: OrganizationsApi, S: StackSetApi, C: Clock> Engine<'_, O, S, C> {
    /// Removes every stack instance of the StackSet (custom resource Delete). The
    /// organization is read only for the state of the instances' accounts: reachable ones are
    /// deleted, unreachable ones (not ACTIVE, or gone) dropped with `RetainStacks`.
    /// `fallback_ous` are listed for instances that recorded no OU.
    pub async fn remove_all(
        &self,
        stack_set: &str,
        fallback_ous: &[String],
        seed: &str,
        deadline: Instant,
    ) -> Result<Outcome, EngineError> {
        let pass = self
            .remove_pass(stack_set, fallback_ous, seed, deadline)
            .await;
        outcome(pass, vec![])
    }

    async fn remove_pass(
        &self,
        stack_set: &str,
        fallback_ous: &[String],
        seed: &str,
        deadline: Instant,
    ) -> Result<Report, Halt> {
        if let Some(busy) = self.wait_idle(stack_set, deadline).await? {
            return Err(Halt::Busy(busy));
        }
        let instances = self.stacksets.instances(stack_set).await?;
        let mut the_plan = ReconcilePlan::default();
        let mut operations = Vec::new();
        if !instances.is_empty() {
            let accounts: BTreeSet<AccountId> =
                instances.iter().map(|i| i.account.clone()).collect();
            let unreachable = self.unreachable(&accounts, &OrgTree::default()).await?;
            the_plan = plan_reaching(
                &Desired::default(),
                &instances,
                &BTreeMap::new(),
                &PlanPolicy::default(),
                &unreachable,
            );
            let root = self.root().await?;
            let none = Scope {
                targets: BTreeSet::new(),
                mode: AccountScope::All,
                accounts: BTreeSet::new(),
                tags: Default::default(),
            };
            self.fit(
                &mut the_plan,
                &none,
                &OrgTree::default(),
                &instances,
                &root,
                fallback_ous,
            );
            tracing::info!(plan = %the_plan.summary(), "remove all stack instances");
            let run = StepLoop {
                stack_set,
                deadline,
                seed,
                user_change: false,
                skip: &[],
            };
            operations = self.run_steps(&run, &the_plan, None, None).await?;
        }
        let failures = self.removal_failures(stack_set, &operations).await?;
        Ok(Report {
            expansion: Expansion {
                organization_id: String::new(),
                management_account_id: None,
                mode: AccountScope::All,
                included: vec![],
                skipped: vec![],
            },
            plan: the_plan,
            operations,
            failures,
            read_stats: ReadStats::default(),
            tag_slice: Default::default(),
            kept_undecided: vec![],
        })
    }
}
