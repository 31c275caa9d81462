//! The partial batch response: a failed SQS batch whose failure comes from events that take
//! the whole scope runs its other events again without them, and returns only those to the
//! queue (template.yaml: OrgEventsQueueMapping's `FunctionResponseTypes`
//! `ReportBatchItemFailures`).

use serde_json::Value;
use shared::ports::{ChangeFeed, Clock, OrganizationsApi, StackApi, StackSetApi};

use super::summary::BatchItemFailure;
use super::triage::named_in;
use super::{Handler, HandlerError, Invocation, Summary, DEADLINE_MARGIN};
use crate::trigger::{lead, sqs_message_ids, takes_whole_scope, Classified};

impl<O: OrganizationsApi, S: StackSetApi, C: Clock, K: StackApi, F: ChangeFeed>
    Handler<O, S, C, K, F>
{
    /// A failed SQS batch that holds events taking the whole scope (a deleted target OU fails
    /// the read by name) and events naming accounts: the latter are run again without the
    /// former, which are answered as the batch's failed items, so that one such event does
    /// not hold back the other accounts of its batch until the dead-letter queue. Otherwise,
    /// or when the second run fails too, the batch fails whole.
    pub(super) async fn without_whole_scope_events(
        &self,
        event: &Value,
        batch: &[Classified],
        inv: &Invocation,
        error: HandlerError,
    ) -> Result<Summary, HandlerError> {
        let Some(ids) = sqs_message_ids(event).filter(|ids| ids.len() == batch.len()) else {
            return Err(error);
        };
        let (held, rest): (Vec<usize>, Vec<usize>) =
            (0..batch.len()).partition(|i| takes_whole_scope(&batch[*i].trigger));
        if held.is_empty() || rest.is_empty() || matches!(error, HandlerError::Deadline) {
            return Err(error);
        }
        tracing::warn!(error = %error, held = held.len(), "the batch failed; running its other events without the events that take the whole scope");
        let others: Vec<Classified> = rest.iter().map(|i| batch[*i].clone()).collect();
        let c = lead(&others);
        let hard_stop =
            inv.deadline.saturating_duration_since(self.clock.now()) + DEADLINE_MARGIN / 2;
        match tokio::time::timeout(hard_stop, self.runs(&others, &c, inv)).await {
            Ok(Ok(mut s)) => {
                s.events = batch.len();
                s.accounts_named = named_in(batch.iter()).len();
                s.warnings.push(format!(
                    "{} event(s) that take the whole scope failed ({error}); returned to the \
                     queue, the other {} reconciled",
                    held.len(),
                    rest.len()
                ));
                s.batch_item_failures = held
                    .iter()
                    .map(|i| BatchItemFailure {
                        item_identifier: ids[*i].clone(),
                    })
                    .collect();
                Ok(s)
            }
            _ => Err(error),
        }
    }
}
