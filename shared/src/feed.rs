//! Putting the change event: once per invocation that changed the set of enrolled accounts,
//! never in the way of the reconcile's own answer.
//!
//! A failed put (an error, a per-entry failure in a 200 answer, or no answer in time) is
//! logged as an error with the whole change, and counted in the `ChangeEventsFailed` metric;
//! the caller's outcome (CloudFormation's answer, org-events' summary) is unchanged.

use std::sync::Mutex;
use std::time::Duration;

use crate::core::{change_event, ChangeContext, ChangeEvent, ScopeChange};
use crate::ports::{AwsError, AwsResult, ChangeFeed};

/// How a put went, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Put {
    /// EventBridge accepted the entry.
    Accepted,
    /// It did not (error, failed entry, or no answer in time): logged as an error.
    Failed,
}

/// Puts the event for `change`, waiting at most `within`. `None` when nothing changed (no
/// call at all).
pub async fn publish<F: ChangeFeed>(
    feed: &F,
    change: &ScopeChange,
    ctx: &ChangeContext,
    within: Duration,
) -> Option<Put> {
    let event = change_event(change, ctx)?;
    let counts = change.counts();
    if event.truncated {
        tracing::info!(
            change = %serde_json::to_string(change).unwrap_or_default(),
            "the change event lists only the accounts that fit EventBridge's entry limit; \
             the full change"
        );
    }
    let outcome = match tokio::time::timeout(within, feed.publish(&event)).await {
        Ok(r) => r,
        Err(_) => Err(AwsError::Other {
            service: "events",
            action: "PutEvents",
            message: format!("no answer within {} s", within.as_secs()),
        }),
    };
    match outcome {
        Ok(()) => {
            tracing::info!(
                source = %event.source,
                detail_type = %event.detail_type,
                enrolled = counts.enrolled,
                withdrawn = counts.withdrawn,
                failed = counts.failed,
                repaired = counts.repaired,
                updated = counts.updated,
                entry_bytes = event.entry_size(),
                "change event put on the default event bus"
            );
            Some(Put::Accepted)
        }
        Err(e) => {
            tracing::error!(
                error = %e,
                detail = %event.detail,
                "could not put the change event on the default event bus; the change itself \
                 is done, and this log line holds the event's detail"
            );
            Some(Put::Failed)
        }
    }
}

/// A feed that puts nothing: for handlers run without one (the default of the functions'
/// handlers, which `main` replaces with the EventBridge adapter).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFeed;

impl ChangeFeed for NoFeed {
    async fn publish(&self, _event: &ChangeEvent) -> AwsResult<()> {
        Ok(())
    }
}

/// An in-memory feed for tests: records every event it is given; answers with `fail` when
/// set (then records nothing).
#[derive(Debug, Default)]
pub struct MemoryFeed {
    pub events: Mutex<Vec<ChangeEvent>>,
    pub fail: Option<AwsError>,
}

impl MemoryFeed {
    /// A feed whose every put fails with `e`.
    pub fn failing(e: AwsError) -> Self {
        Self {
            events: Mutex::default(),
            fail: Some(e),
        }
    }

    /// The events put so far.
    pub fn events(&self) -> Vec<ChangeEvent> {
        self.events.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl ChangeFeed for MemoryFeed {
    async fn publish(&self, event: &ChangeEvent) -> AwsResult<()> {
        if let Some(e) = &self.fail {
            return Err(e.clone());
        }
        if let Ok(mut v) = self.events.lock() {
            v.push(event.clone());
        }
        Ok(())
    }
}

impl<T: ChangeFeed> ChangeFeed for std::sync::Arc<T> {
    async fn publish(&self, event: &ChangeEvent) -> AwsResult<()> {
        (**self).publish(event).await
    }
}

impl<T: ChangeFeed> ChangeFeed for &T {
    async fn publish(&self, event: &ChangeEvent) -> AwsResult<()> {
        (**self).publish(event).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{AccountId, AccountScope};
    use crate::core::{Acted, Expansion, ReconcilePlan};
    use std::collections::BTreeMap;

    fn one_enrolled() -> ScopeChange {
        let a = AccountId::parse("111111111111").unwrap();
        ScopeChange::of_pass(
            &Expansion {
                organization_id: "o-x".into(),
                management_account_id: None,
                mode: AccountScope::All,
                included: vec![],
                skipped: vec![],
            },
            &ReconcilePlan::default(),
            &Acted {
                created: [a].into_iter().collect(),
                ..Acted::default()
            },
            &BTreeMap::new(),
            None,
        )
    }

    fn ctx() -> ChangeContext {
        ChangeContext {
            integration_identifier: "x".into(),
            function: "org-events".into(),
            trigger: "schedule".into(),
            event_id: None,
            stack_id: None,
            stack_set_name: "S".into(),
            operation_ids: vec![],
        }
    }

    #[tokio::test]
    async fn nothing_changed_puts_nothing() {
        let feed = MemoryFeed::default();
        let got = publish(
            &feed,
            &ScopeChange::default(),
            &ctx(),
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(got, None);
        assert!(feed.events().is_empty());
    }

    #[tokio::test]
    async fn a_change_puts_exactly_one_event() {
        let feed = MemoryFeed::default();
        let got = publish(&feed, &one_enrolled(), &ctx(), Duration::from_secs(1)).await;
        assert_eq!(got, Some(Put::Accepted));
        assert_eq!(feed.events().len(), 1);
    }

    #[tokio::test]
    async fn a_refused_put_is_reported_as_failed_not_swallowed() {
        let feed = MemoryFeed::failing(AwsError::AccessDenied("events:PutEvents".into()));
        let got = publish(&feed, &one_enrolled(), &ctx(), Duration::from_secs(1)).await;
        assert_eq!(got, Some(Put::Failed));
    }

    struct Hangs;
    impl ChangeFeed for Hangs {
        async fn publish(&self, _e: &ChangeEvent) -> AwsResult<()> {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_put_without_an_answer_in_time_counts_as_failed() {
        let got = publish(&Hangs, &one_enrolled(), &ctx(), Duration::from_millis(50)).await;
        assert_eq!(got, Some(Put::Failed));
    }
}
