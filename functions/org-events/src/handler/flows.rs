//! The reconcile flows: an event's (settle, reconcile, read again after a change), the
//! schedule's (reconcile, then start a drift detection), and the reconcile pass they share,
//! which goes on without listed accounts that left the organization.

use std::collections::BTreeSet;
use std::future::Future;

use shared::core::{AccountId, Batch, ExpandError, PlanPolicy, Scope};
use shared::engine::{EngineError, Outcome, Request};
use shared::ports::{
    ChangeFeed, Clock, OpKind, OrganizationsApi, StackApi, StackSetApi, StackSetReader,
};

use super::summary::{from_report, ids, merged, operated, pending, Disposition, Summary};
use super::triage::Target;
use super::{Handler, HandlerError, Invocation, MAX_VERIFY_ROUNDS, SETTLE_RESERVE};
use crate::time::now_epoch;
use crate::trigger::Classified;

type Preview = (Vec<Batch>, Vec<Batch>);

impl<O: OrganizationsApi, S: StackSetApi, C: Clock, K: StackApi, F: ChangeFeed>
    Handler<O, S, C, K, F>
{
    /// What a reconcile would create and delete now, without acting: the whole scope, or
    /// `only` these accounts (the engine's preview: its reads and the one planner).
    async fn preview(
        &self,
        policy: &PlanPolicy,
        only: Option<&[AccountId]>,
    ) -> Result<Preview, EngineError> {
        let cfg = self.cfg();
        let engine = self.engine();
        let tag_reads = cfg.tag_sweep(now_epoch());
        let (p, _) = without_departed(&cfg.scope, |scope| {
            let (engine, cfg) = (&engine, &cfg);
            async move {
                engine
                    .preview(
                        &scope,
                        &cfg.stack_set,
                        &cfg.regions,
                        policy,
                        only,
                        tag_reads,
                    )
                    .await
            }
        })
        .await?;
        Ok((p.create, p.delete))
    }

    /// Settles and reconciles; after a change, reads again (and reconciles again) until a read
    /// shows nothing to do: a concurrent run may have planned from a read older than this
    /// run's change, and this read is what makes the last change right.
    pub(super) async fn on_event(
        &self,
        c: &Classified,
        inv: &Invocation,
        seed: &str,
        target: &Target,
    ) -> Result<Summary, HandlerError> {
        let only = match target {
            Target::Whole => None,
            Target::Accounts(a) => Some(a.as_slice()),
        };
        let mut summary = self.settle_and_reconcile(c, inv, seed, only).await?;
        // After a change, the accounts it changed are read again: a run that read them before
        // this change started (another batch, at most one at a time beside this one) may have
        // planned the opposite. Other accounts were not touched by this run; a change to them
        // comes with its own event.
        let mut changed = operated(&summary);
        for round in 1..MAX_VERIFY_ROUNDS {
            if summary.outcome != Disposition::Reconciled || changed.is_empty() {
                break;
            }
            let next = self
                .settle_and_reconcile(c, inv, &format!("{seed}/after{round}"), Some(&changed))
                .await?;
            match next.outcome {
                Disposition::NoChange => break,
                _ => {
                    tracing::info!(
                        round,
                        "the state changed during this run's change; reconciled again"
                    );
                    changed = operated(&next);
                    summary = merged(summary, next);
                }
            }
        }
        Ok(summary)
    }

    async fn settle_and_reconcile(
        &self,
        c: &Classified,
        inv: &Invocation,
        seed: &str,
        only: Option<&[AccountId]>,
    ) -> Result<Summary, HandlerError> {
        let cfg = self.cfg();
        let engine = self.engine();
        let policy = cfg.event_policy();
        if let Some(busy) = engine.wait_idle(&cfg.stack_set, inv.deadline).await? {
            return Ok(pending(
                c,
                busy,
                "an operation was still running at the deadline",
            ));
        }
        let why = match only {
            Some(_) => "the account changed",
            None => "the scope changed",
        };
        // Without a settle time, the reconcile's own read decides (one read, not two).
        if cfg.settle.is_zero() {
            return self.reconcile(c, inv, seed, policy, why, only).await;
        }
        let mut read_at = now_epoch();
        let mut last = self.preview(&policy, only).await?;
        if !is_noop(&last) {
            let until = (self.clock.now() + cfg.settle_max).min(
                inv.deadline
                    .checked_sub(SETTLE_RESERVE)
                    .unwrap_or(inv.deadline),
            );
            let mut rounds = 0u32;
            while self.clock.now() + cfg.settle <= until {
                self.clock.sleep(cfg.settle).await;
                rounds += 1;
                read_at = now_epoch();
                let next = self.preview(&policy, only).await?;
                if next == last {
                    break;
                }
                last = next;
                if is_noop(&last) {
                    break;
                }
            }
            tracing::info!(rounds, "waited for the organization to settle");
        }
        if is_noop(&last) {
            let why = match only {
                // A check of some accounts says nothing about the others: not remembered.
                Some(accounts) => format!(
                    "the StackSet already matches the scope for account {}",
                    ids(accounts)
                ),
                None => {
                    self.memo.remember(read_at);
                    "the StackSet already matches the scope".into()
                }
            };
            return Ok(Summary::new(c, Disposition::NoChange, why));
        }
        self.reconcile(c, inv, seed, policy, why, only).await
    }

    /// The schedule: reconcile first (creates, deletes, retries and drift repairs from the
    /// last finished detection), then start a new drift detection without waiting for it:
    /// its results are repaired by the next scheduled run. In an organization where
    /// detection outlasts an invocation, the reconcile still runs every time.
    pub(super) async fn scheduled(
        &self,
        c: &Classified,
        inv: &Invocation,
        seed: &str,
    ) -> Result<Summary, HandlerError> {
        let cfg = self.cfg();
        let policy = cfg.schedule_policy();
        let mut summary = self
            .reconcile(
                c,
                inv,
                seed,
                policy.clone(),
                "scheduled full reconcile",
                None,
            )
            .await?;
        if policy.repair_drift && summary.outcome != Disposition::Pending {
            let instances = self
                .stacksets
                .instances(&cfg.stack_set)
                .await
                .map_err(EngineError::from)?;
            if !instances.is_empty() {
                match self
                    .engine()
                    .start_drift_detection(&cfg.stack_set, seed)
                    .await?
                {
                    Some(id) => summary.drift_detection = Some(id),
                    None => summary.warnings.push(
                        "drift detection not started: another StackSet operation was running; \
                         the next scheduled run starts it"
                            .into(),
                    ),
                }
            }
        }
        Ok(summary)
    }

    async fn reconcile(
        &self,
        c: &Classified,
        inv: &Invocation,
        seed: &str,
        policy: PlanPolicy,
        why: &str,
        only: Option<&[AccountId]>,
    ) -> Result<Summary, HandlerError> {
        let cfg = self.cfg();
        let done: [OpKind; 0] = [];
        let read_at = now_epoch();
        // A whole-scope run reads the tags of one slice of the candidates, at most
        // `tag_reads_per_run` (the scheduled run's slice from its scheduled time); a run for a
        // few accounts reads theirs (`reconcile_accounts`).
        let tag_reads = cfg.tag_sweep(c.event_time.unwrap_or(read_at));
        let (outcome, warning) = without_departed(&cfg.scope, |scope| {
            let (cfg, policy, done) = (&cfg, &policy, &done);
            async move {
                let req = Request {
                    scope: &scope,
                    stack_set: &cfg.stack_set,
                    regions: &cfg.regions,
                    policy: policy.clone(),
                    seed,
                    deadline: inv.deadline,
                    done_kinds: done,
                    user_change: false,
                    tag_reads,
                };
                match only {
                    None => self.engine().reconcile(&req).await,
                    Some(accounts) => self.engine().reconcile_accounts(&req, accounts).await,
                }
            }
        })
        .await?;
        let mut summary = match outcome {
            Outcome::Pending { operation, .. } => {
                pending(c, operation, "the deadline came while an operation ran")
            }
            Outcome::Done(report) => {
                if only.is_none() {
                    self.memo.remember_full_read(report.read_stats.total());
                    self.memo.remember(read_at);
                }
                let mut s = from_report(c, &report, why);
                if let (Some(f), Some(_)) = (s.figures.as_mut(), only) {
                    f.whole_scope = false;
                }
                s
            }
        };
        summary.warnings = warning.into_iter().collect();
        Ok(summary)
    }
}

fn is_noop(p: &Preview) -> bool {
    p.0.is_empty() && p.1.is_empty()
}

/// The scope without listed accounts that are no longer in the organization: for
/// INTERSECTION they could not be included, for DIFFERENCE there is nothing to exclude.
/// Runs `attempt` on `scope`; when accounts it lists are no longer in the organization, once
/// more without them, with a warning that says so. The one place that decides it, for the
/// reconcile and for its preview alike.
async fn without_departed<T, Fut>(
    scope: &Scope,
    mut attempt: impl FnMut(Scope) -> Fut,
) -> Result<(T, Option<String>), EngineError>
where
    Fut: Future<Output = Result<T, EngineError>>,
{
    match attempt(scope.clone()).await {
        Err(EngineError::Expand(ExpandError::AccountsNotInOrganization(missing))) => {
            let w = ExpandError::AccountsNotInOrganization(missing.clone()).to_string();
            tracing::warn!(warning = %w, "listed accounts are not in the organization; reconciling without them");
            let done = attempt(without(scope, &missing)).await?;
            Ok((done, Some(w)))
        }
        other => Ok((other?, None)),
    }
}

fn without(scope: &Scope, missing: &[AccountId]) -> Scope {
    let gone: BTreeSet<&AccountId> = missing.iter().collect();
    Scope {
        targets: scope.targets.clone(),
        mode: scope.mode,
        accounts: scope
            .accounts
            .iter()
            .filter(|a| !gone.contains(a))
            .cloned()
            .collect(),
        tags: scope.tags.clone(),
    }
}
