//! The size of the continuation: the payload of the asynchronous self-invocation that carries a
//! long wait over (`Handler`'s `Reinvoker`).
//!
//! Lambda refuses an asynchronous invocation (`Invoke` with `InvocationType` `Event`) whose
//! payload is too large, with HTTP 413 `RequestEntityTooLargeException`: "N byte payload is too
//! large for the Event invocation type (limit 262144 bytes)". The limit was 256 KB (262,144
//! bytes) until AWS raised it to 1 MB in 2025 (Lambda API reference, Invoke: "For asynchronous
//! invocations, the maximum payload size is 1 MB"). The function keeps to the older, smaller
//! limit, so that it is right under both; the test bed's Lambda (`e2e::lambda`) enforces it.
//!
//! What grows is the accounts each operation carries (for the change event of the invocation
//! that answers): 15 bytes an account in JSON, so about 16,000 accounts fill the budget. Past
//! that, the operations with the most accounts travel without them ([`fit`]); the invocation
//! that answers reads them back from the operation's results (`ListStackSetOperationResults`).

use serde_json::{json, Value};

use crate::handler::{Continuation, CONTINUATION_KEY};

/// Lambda's asynchronous payload limit this function keeps under, in bytes (256 KB; see the
/// module's documentation for the sources, and why not today's 1 MB).
pub const ASYNC_PAYLOAD_LIMIT: usize = 262_144;

/// Room kept between the continuation and [`ASYNC_PAYLOAD_LIMIT`].
pub const MARGIN: usize = 16 * 1024;

/// The largest continuation payload the function sends, in bytes.
pub const BUDGET: usize = ASYNC_PAYLOAD_LIMIT - MARGIN;

/// The payload that carries `cont`, exactly as the re-invoker sends it, and its size in bytes.
pub fn payload(cont: &Continuation) -> (Value, usize) {
    let v = json!({ CONTINUATION_KEY: cont });
    let n = v.to_string().len();
    (v, n)
}

/// What [`fit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fitted {
    /// The payload to send, and its size in bytes (at most the budget).
    pub payload: Value,
    pub bytes: usize,
    /// Its size had every operation carried its accounts.
    pub full_bytes: usize,
    /// Operations that now travel without their accounts (to be read back).
    pub unlisted: Vec<String>,
}

/// Brings the continuation's payload within `budget` bytes: while it is over, the operation
/// with the most accounts leaves them out, and its ID joins `Unlisted`, for the invocation
/// that answers to read them back. `Err(bytes)`: it does not fit even with no accounts (the
/// CloudFormation request it carries is itself too large); nothing may be sent then.
pub fn fit(cont: &mut Continuation, budget: usize) -> Result<Fitted, usize> {
    let (mut payload, full_bytes) = payload(cont);
    let mut bytes = full_bytes;
    let mut unlisted = Vec::new();
    while bytes > budget {
        let biggest = cont
            .operation
            .iter_mut()
            .chain(cont.started.iter_mut())
            .filter(|o| !o.accounts.is_empty())
            .max_by_key(|o| o.accounts.len());
        let Some(op) = biggest else {
            return Err(bytes);
        };
        op.accounts.clear();
        if !cont.unlisted.contains(&op.id) {
            cont.unlisted.push(op.id.clone());
        }
        unlisted.push(op.id.clone());
        (payload, bytes) = self::payload(cont);
    }
    Ok(Fitted {
        payload,
        bytes,
        full_bytes,
        unlisted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::core::AccountId;
    use shared::engine::OpRecord;
    use shared::ports::OpKind;

    fn op(id: &str, kind: OpKind, n: u64, from: u64) -> OpRecord {
        OpRecord {
            kind,
            id: id.into(),
            accounts: (0..n)
                .map(|i| AccountId::parse(&format!("{:012}", from + i)).unwrap())
                .collect(),
            status: "RUNNING".into(),
        }
    }

    fn cont(operation: OpRecord, started: Vec<OpRecord>) -> Continuation {
        Continuation {
            request: json!({"RequestType": "Update", "ResponseURL": "https://example.com/x"}),
            operation: Some(operation),
            done_kinds: vec![OpKind::Create],
            first_seen_ms: 1,
            hop: 2,
            mutated: true,
            started,
            unlisted: vec![],
            tag_slice: None,
        }
    }

    #[test]
    fn a_continuation_under_the_budget_keeps_every_account() {
        let mut c = cont(
            op("del", OpKind::Delete, 5_000, 300_000_000_000),
            vec![op("cre", OpKind::Create, 5_000, 400_000_000_000)],
        );
        let before = c.clone();
        let f = fit(&mut c, BUDGET).unwrap();
        assert_eq!(c, before, "nothing left out");
        assert!(f.unlisted.is_empty());
        assert_eq!(f.bytes, f.full_bytes);
        assert_eq!(f.bytes, f.payload.to_string().len());
        assert!(f.bytes <= BUDGET, "{}", f.bytes);
    }

    #[test]
    fn the_operation_with_the_most_accounts_leaves_them_out_first() {
        // 12,000 + 6,000 accounts: about 270 KB with both, about 90 KB without the larger.
        let mut c = cont(
            op("del", OpKind::Delete, 6_000, 300_000_000_000),
            vec![op("cre", OpKind::Create, 12_000, 400_000_000_000)],
        );
        let f = fit(&mut c, BUDGET).unwrap();
        assert!(f.full_bytes > ASYNC_PAYLOAD_LIMIT, "{}", f.full_bytes);
        assert!(f.bytes <= BUDGET, "{}", f.bytes);
        assert_eq!(f.unlisted, ["cre"]);
        assert_eq!(c.unlisted, ["cre"]);
        assert!(c.started[0].accounts.is_empty());
        assert_eq!(c.operation.as_ref().unwrap().accounts.len(), 6_000);
        assert_eq!(
            f.payload[CONTINUATION_KEY]["Unlisted"],
            json!(["cre"]),
            "the next invocation learns which operations to read back"
        );
    }

    #[test]
    fn a_request_too_large_to_carry_is_refused_with_its_size() {
        let mut c = cont(op("cre", OpKind::Create, 10, 400_000_000_000), vec![]);
        c.request["Padding"] = json!("x".repeat(BUDGET));
        let bytes = fit(&mut c, BUDGET).unwrap_err();
        assert!(bytes > BUDGET, "{bytes}");
        assert_eq!(c.unlisted, ["cre"], "the accounts were left out first");
    }
}
