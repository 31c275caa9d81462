//! The wait carried over from one invocation to the next, and what one step of a request
//! ends in.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::core::TagSlice;
use shared::engine::OpRecord;
use shared::ports::OpKind;

use crate::response::CfnResponse;

/// State carried from one invocation to the next while a StackSet operation runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Continuation {
    pub request: Value,
    /// The operation being waited on; `None` when an AWS call was still unanswered at the
    /// deadline (the next invocation looks again).
    pub operation: Option<OpRecord>,
    pub done_kinds: Vec<OpKind>,
    pub first_seen_ms: u64,
    pub hop: u32,
    /// An earlier invocation of this request may have changed the StackSet.
    #[serde(default)]
    pub mutated: bool,
    /// The operations earlier invocations of this request started (with their accounts),
    /// other than `operation`: the invocation that finishes reports their change too.
    #[serde(default)]
    pub started: Vec<OpRecord>,
    /// Operations (in `started` or `operation`) that travel without their accounts, to keep
    /// the payload under Lambda's limit (`payload::fit`): the invocation that answers reads
    /// their accounts back from the operation's results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unlisted: Vec<String>,
    /// With a tag filter whose candidates are more than one invocation can read: the slice of
    /// them this request reads next ([`TagSlice`]; `None`: the first, cut by the next pass).
    /// Create/Update read the slices in turn and answer after the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_slice: Option<TagSlice>,
}

pub const CONTINUATION_KEY: &str = "OrgscopeContinuation";

impl Continuation {
    /// The wait a step hands over: `operation` (`None`: an AWS call was unanswered), with the
    /// kinds already done, one hop after `carried`. The request, its first sight, what it
    /// mutated and started are filled in by [`Continuation::carry_over`].
    pub(super) fn next(
        operation: Option<OpRecord>,
        done_kinds: Vec<OpKind>,
        carried: Option<&Continuation>,
    ) -> Self {
        Self {
            request: Value::Null,
            operation,
            done_kinds,
            first_seen_ms: 0,
            hop: carried.map(|x| x.hop + 1).unwrap_or(1),
            mutated: false,
            started: vec![],
            unlisted: vec![],
            tag_slice: carried.and_then(|x| x.tag_slice),
        }
    }

    /// The next slice's turn: `slice` finished (its operations `ran` ended); the next
    /// invocation reads `slice.next()` with nothing waited on.
    pub(super) fn next_slice(
        next: TagSlice,
        ran: Vec<OpRecord>,
        carried: Option<&Continuation>,
    ) -> Self {
        Self {
            started: ran,
            tag_slice: Some(next),
            ..Self::next(None, vec![], carried)
        }
    }

    /// Completes the wait with what the request carries across invocations: the request
    /// itself, when it was first seen, whether it mutated the StackSet, and the operations
    /// earlier invocations started.
    pub(super) fn carry_over(
        &mut self,
        request: Value,
        first_seen_ms: u64,
        mutated: bool,
        carried: Option<&Continuation>,
    ) {
        self.request = request;
        self.first_seen_ms = first_seen_ms;
        self.mutated = mutated;
        // Each operation's accounts travel once (the payload of an asynchronous invocation
        // is limited to 256 KB): in `operation` while it is the one waited on, in `started`
        // once an earlier one.
        // Operations this invocation ran to the end (a finished tag slice) come after the
        // earlier ones.
        let ran = std::mem::take(&mut self.started);
        let mut started = Vec::new();
        for op in carried
            .map(started_ops)
            .unwrap_or_default()
            .into_iter()
            .chain(ran)
        {
            match self.operation.as_mut() {
                Some(cur) if cur.id == op.id => {
                    if cur.accounts.is_empty() {
                        cur.accounts = op.accounts;
                    }
                }
                _ if started.iter().any(|s: &OpRecord| s.id == op.id) => {}
                _ => started.push(op),
            }
        }
        self.started = started;
        for id in carried.iter().flat_map(|c| &c.unlisted) {
            if !self.unlisted.contains(id) {
                self.unlisted.push(id.clone());
            }
        }
    }
}

/// The operations earlier invocations of a request started, with their accounts (or listed in
/// `unlisted`): those it carried over, and the one it was waiting on.
pub(super) fn started_ops(c: &Continuation) -> Vec<OpRecord> {
    let mut v = c.started.clone();
    if let Some(op) = c
        .operation
        .as_ref()
        .filter(|o| !o.accounts.is_empty() || c.unlisted.contains(&o.id))
    {
        if !v.iter().any(|s| s.id == op.id) {
            v.push(op.clone());
        }
    }
    v
}

/// What one step of a request ends in.
pub(super) enum Step {
    /// Answer CloudFormation now.
    Answer {
        response: CfnResponse,
        /// The IDs of the operations the request started (for the summary).
        operations: Vec<String>,
        /// The in-scope accounts (for the summary).
        accounts: usize,
    },
    /// Carry the wait over to a new invocation.
    Continue(Continuation),
}

impl Step {
    /// An answer that started no operation.
    pub(super) fn answer(response: CfnResponse) -> Self {
        Self::Answer {
            response,
            operations: vec![],
            accounts: 0,
        }
    }
}
