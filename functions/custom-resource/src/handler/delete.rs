//! Delete of `Custom::PortStackSetInstances`: removes every stack instance of the StackSet the
//! PhysicalResourceId names; a resource whose Create failed before any change, or whose
//! StackSet is gone, has nothing to remove.

use std::time::Instant;

use shared::engine::{Engine, Outcome};
use shared::ports::{AwsError, ChangeFeed, Clock, IdentityApi, OrganizationsApi, StackSetApi};

use super::continuation::{Continuation, Step};
use super::request::Common;
use super::{error_reason, Handler, Reinvoker, Responder, FAILED_CREATE_PREFIX, PHYSICAL_PREFIX};
use crate::props::Props;
use crate::recording::Recording;
use crate::response::{response, Status};

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
    pub(super) async fn delete(
        &self,
        c: &Common,
        engine: &Engine<'_, O, Recording<'_, S>, C>,
        props: Option<Props>,
        carried: Option<&Continuation>,
        deadline: Instant,
    ) -> Step {
        let physical = c.physical_resource_id.clone().unwrap_or_default();
        let ok = |reason: Option<String>| {
            let mut r = response(
                Status::Success,
                physical.clone(),
                c.stack_id.clone(),
                c.request_id.clone(),
                c.logical_resource_id.clone(),
            );
            r.reason = reason;
            Step::answer(r)
        };
        if physical.starts_with(FAILED_CREATE_PREFIX) || !physical.starts_with(PHYSICAL_PREFIX) {
            tracing::info!(%physical, "Delete of a resource that was never created: nothing to do");
            return ok(None);
        }
        let stack_set = &physical[PHYSICAL_PREFIX.len()..];
        match self.stacksets.describe(stack_set).await {
            Err(AwsError::NotFound { .. }) => {
                tracing::info!(stack_set, "StackSet is already gone: nothing to delete");
                return ok(None);
            }
            Err(e) => return Step::answer(self.failed(c, error_reason(&e.into()))),
            Ok(_) => {}
        }
        let fallback: Vec<String> = props
            .map(|p| {
                p.scope
                    .targets
                    .iter()
                    .map(|t| t.as_str().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        match engine
            .remove_all(stack_set, &fallback, &c.request_id, deadline)
            .await
        {
            Ok(Outcome::Done(report)) if report.succeeded() => {
                self.record(&report, stack_set, carried, true, None);
                let ops = report.operations.iter().map(|o| o.id.clone()).collect();
                match ok(None) {
                    Step::Answer { response, .. } => Step::Answer {
                        response,
                        operations: ops,
                        accounts: 0,
                    },
                    s => s,
                }
            }
            Ok(Outcome::Done(report)) => {
                self.record(&report, stack_set, carried, true, None);
                let left: Vec<String> = report
                    .failures
                    .iter()
                    .take(10)
                    .map(|f| f.advice.clone())
                    .collect();
                Step::Answer {
                    response: self.failed(
                        c,
                        format!(
                            "{} stack instance(s) could not be removed: {}",
                            report.failures.len(),
                            left.join("; ")
                        ),
                    ),
                    operations: report.operations.iter().map(|o| o.id.clone()).collect(),
                    accounts: 0,
                }
            }
            Ok(Outcome::Pending {
                operation,
                done_kinds,
            }) => Step::Continue(Continuation::next(Some(operation), done_kinds, carried)),
            Err(e) => Step::answer(self.failed(c, error_reason(&e))),
        }
    }
}
