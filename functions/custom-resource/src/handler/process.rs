//! The request's step: which resource it is for, its declared mode, and for
//! `Custom::PortStackSetInstances` the preflight and the reconcile pass.

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::Value;
use shared::core::mode::MANAGEMENT_ACCOUNT_ID;
use shared::core::{AccountId, Declared, PlanPolicy, Reason, ScopeChange, TagReads};
use shared::engine::{Outcome, Report, Request};
use shared::ports::{ChangeFeed, Clock, IdentityApi, OrganizationsApi, StackSetApi};
use shared::preflight::preflight;

use super::continuation::{Continuation, Step};
use super::request::{Common, RequestType};
use super::{error_reason, Handler, Reinvoker, Responder, PHYSICAL_PREFIX};
use crate::alarm_window;
use crate::preflight_only;
use crate::props::Props;
use crate::recording::Recording;

/// The properties that carry Port's role's permissions (template.yaml passes the same
/// parameters to the StackSet resource, whose update CloudFormation runs first).
const ROLE_PERMISSION_KEYS: [&str; 2] = ["PortRolePolicyArns", "PortRolePermissionsBoundaryArn"];

impl<O, S, I, C, P, R, F> Handler<O, S, I, C, P, R, F>
where
    O: OrganizationsApi,
    S: StackSetApi,
    I: IdentityApi,
    C: Clock,
    P: Responder,
    R: Reinvoker,
    F: ChangeFeed,
{
    pub(super) async fn process(
        &self,
        c: &Common,
        carried: Option<&Continuation>,
        deadline: Instant,
    ) -> Step {
        if c.resource_type == alarm_window::RESOURCE_TYPE {
            return self.alarm_window(c);
        }
        // The declared mode (`ManagementAccountId`): the preflight checks it against the facts
        // before any change; every StackSet call of this request carries its `CallAs`.
        let declared =
            match Declared::parse(c.props.get(MANAGEMENT_ACCOUNT_ID).and_then(Value::as_str)) {
                Ok(d) => d,
                // A Create with this value failed before any change (so its Delete touches
                // nothing); any other Delete falls back to AWS's default, SELF.
                Err(e) if c.request_type == RequestType::Delete => {
                    tracing::warn!(error = %e, "Delete with an unreadable ManagementAccountId");
                    Declared::InManagementAccount
                }
                Err(e) => return Step::answer(self.failed(c, e.to_string())),
            };
        self.stacksets.set_call_as(declared.call_as());
        if c.resource_type == preflight_only::RESOURCE_TYPE {
            return self.preflight_only(c, &declared).await;
        }
        let stacksets = Recording {
            inner: &self.stacksets,
            mutations: &c.mutations,
        };
        let engine = self.engine(&stacksets);
        let props = Props::parse(&c.props, &self.settings.default_region);
        if c.request_type == RequestType::Delete {
            return self.delete(c, &engine, props.ok(), carried, deadline).await;
        }
        let props = match props {
            Ok(p) => p,
            Err(e) => return Step::answer(self.failed(c, e.to_string())),
        };
        if let Some(reason) = self.stack_set_renamed(c, &props) {
            return Step::answer(self.failed(c, reason));
        }
        if let Err(e) = preflight(&engine, &self.identity, &props.stack_set, declared).await {
            return Step::answer(self.failed(c, e.to_string()));
        }
        let done = carried.map(|x| x.done_kinds.clone()).unwrap_or_default();
        // With a tag filter, one slice of the candidates per pass, at most
        // `tag_reads_per_step` tag reads: the first pass cuts the slices, the continuation
        // carries the next one, and the request answers after the last.
        let tag_reads = match carried.and_then(|x| x.tag_slice) {
            Some(slice) => TagReads::Slice(slice),
            None => TagReads::Sweep {
                budget: self.settings.tag_reads_per_step,
                tick: 0,
            },
        };
        let req = Request {
            scope: &props.scope,
            stack_set: &props.stack_set,
            regions: &props.regions,
            policy: PlanPolicy {
                on_leave: props.on_leave,
                max_retry_attempts: 3,
                repair_drift: false,
            },
            seed: &c.request_id,
            deadline,
            done_kinds: &done,
            // A custom-resource run is a change the user made: always try failed accounts
            // again, and let later scheduled runs count attempts from here.
            user_change: true,
            tag_reads,
        };
        match engine.reconcile(&req).await {
            // With a tag filter cut into slices, the next slice in a new invocation, unless a
            // failure (other than an account not ready yet) answers now.
            Ok(Outcome::Done(report)) => match report.tag_slice.next() {
                Some(next) if report.failures.iter().all(|f| f.awaits_account()) => {
                    tracing::info!(slice = %report.tag_slice, plan = %report.plan.summary(), "tag slice done; the next slice in a new invocation");
                    Step::Continue(Continuation::next_slice(
                        next,
                        report.operations.clone(),
                        carried,
                    ))
                }
                Some(_) => self.done(c, &props, &with_kept(*report), carried, None),
                None => {
                    let report = with_kept(*report);
                    let rollout = self
                        .role_permissions_rollout(c, &stacksets, &props.stack_set, &report)
                        .await;
                    self.done(c, &props, &report, carried, rollout)
                }
            },
            Ok(Outcome::Pending {
                operation,
                done_kinds,
            }) => Step::Continue(Continuation::next(Some(operation), done_kinds, carried)),
            Err(e) => Step::answer(self.failed(c, error_reason(&e))),
        }
    }

    /// An Update may not move the resource to another StackSet: two StackSets would deploy
    /// the same role name into the same accounts. The refusal comes before any AWS call.
    fn stack_set_renamed(&self, c: &Common, props: &Props) -> Option<String> {
        let deployed = match c.physical_resource_id.as_deref() {
            Some(p) if p.starts_with(PHYSICAL_PREFIX) => p[PHYSICAL_PREFIX.len()..].to_owned(),
            _ => {
                Props::parse(c.old_props.as_ref()?, &self.settings.default_region)
                    .ok()?
                    .stack_set
            }
        };
        (deployed != props.stack_set).then(|| {
            format!(
                "StackSetName cannot change on a deployed stack: it is `{deployed}`, and this \
                 update asks for `{new}`. Two StackSets would deploy the same role name into the \
                 same accounts, and one of them would fail in every account. Nothing was \
                 changed. Keep StackSetName `{deployed}`; to use `{new}`, delete this stack and \
                 create it again with the new name.",
                new = props.stack_set
            )
        })
    }

    /// An Update that changed Port's role's permissions (`ROLE_PERMISSION_KEYS`): CloudFormation
    /// applied them with one `UpdateStackSet` before this request (the custom resource depends
    /// on the StackSet resource). That operation is the newest finished UPDATE this project did
    /// not start; its accounts are read back (`ListStackSetOperationResults`) and reported as
    /// updated, or failed with the advice of this pass's failures. `None` when nothing of the
    /// kind changed, or the operation or its results cannot be read (logged; the answer is not
    /// affected).
    async fn role_permissions_rollout<A: StackSetApi>(
        &self,
        c: &Common,
        stacksets: &A,
        stack_set: &str,
        report: &Report,
    ) -> Option<ScopeChange> {
        let old = c.old_props.as_ref()?;
        let changed: Vec<&str> = ROLE_PERMISSION_KEYS
            .iter()
            .copied()
            .filter(|k| old.get(k) != c.props.get(k))
            .collect();
        if changed.is_empty() {
            return None;
        }
        let ops = match stacksets.recent_operations(stack_set, 20).await {
            Ok(ops) => ops,
            Err(e) => {
                tracing::warn!(error = %e, "could not list the StackSet's operations; the change of Port's role's permissions is not in the change event");
                return None;
            }
        };
        let Some(op) = ops.into_iter().find(|o| {
            o.action == "UPDATE" && !o.is_active() && !o.id.starts_with(shared::engine::OP_PREFIX)
        }) else {
            tracing::warn!("no finished StackSet update by CloudFormation found for the change of Port's role's permissions");
            return None;
        };
        let results = match stacksets.operation_results(stack_set, &op.id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(operation_id = %op.id, error = %e, "could not read the StackSet update's results");
                return None;
            }
        };
        let accounts: BTreeSet<AccountId> = results.into_iter().map(|r| r.account).collect();
        let failed = report
            .failures
            .iter()
            .map(|f| (f.account.clone(), f.advice.clone()))
            .collect();
        tracing::info!(operation_id = %op.id, accounts = accounts.len(), changed = ?changed, "Port's role's permissions rolled out by CloudFormation's StackSet update");
        Some(ScopeChange::role_permissions_rollout(
            &accounts,
            &failed,
            &changed.join(", "),
        ))
    }
}

/// The report with the undecided accounts the StackSet has (enrolled by an earlier slice of
/// this request, or before it) counted in: after the last slice, every candidate was decided
/// by this request, so the StackSet's instances are its decisions and the answer's AccountIds
/// name them all.
fn with_kept(mut report: Report) -> Report {
    if report.kept_undecided.is_empty() {
        return report;
    }
    let kept: BTreeSet<&AccountId> = report.kept_undecided.iter().collect();
    let (moved, skipped): (Vec<_>, Vec<_>) = report
        .expansion
        .skipped
        .into_iter()
        .partition(|e| matches!(e.reason, Reason::Undecided { .. }) && kept.contains(&e.id));
    report.expansion.skipped = skipped;
    report.expansion.included.extend(moved);
    report.expansion.included.sort_by(|a, b| a.id.cmp(&b.id));
    report
}
