use super::*;

#[tokio::test]
async fn a_continuation_lambda_refuses_is_answered_failed_with_lambdas_reason() {
    // A function that did not keep its continuations under the limit (no budget): 20,000
    // accounts in one operation (2 OUs) are a 300 KB continuation, which Lambda refuses.
    let mut bed = Bed::start(2, 10_000).await;
    bed.function.settings.continuation_budget = usize::MAX;
    bed.function.stacksets.holding(true);
    let s = bed
        .invoke(request(&bed.sink, "create", "req-refused", bed.scope(0..2)))
        .await;

    assert!(!s.reinvoked, "{s:?}");
    assert_eq!(s.answered.as_deref(), Some("FAILED"), "{s:?}");
    let refused = bed.stub.refused();
    assert_eq!(refused.len(), 1, "refused once, not retried: {refused:?}");
    assert!(refused[0] > ASYNC_PAYLOAD_LIMIT, "{refused:?}");
    assert!(bed.stub.history().is_empty(), "nothing was queued");
    let bodies = bed.sink.bodies();
    assert_eq!(bodies.len(), 1, "exactly one answer");
    let answer = &bodies[0];
    assert_eq!(answer["Status"], "FAILED");
    // The create had started: the rollback Delete must find what it made.
    assert_eq!(answer["PhysicalResourceId"], json!(live_id()), "{answer}");
    let reason = answer["Reason"].as_str().unwrap();
    for says in [
        "Could not continue waiting for the StackSet",
        "Lambda's Invoke answered HTTP 413 RequestEntityTooLargeException",
        &format!(
            "{} byte payload is too large for the Event invocation type (limit 262144 bytes)",
            refused[0]
        ),
        "continues in AWS",
    ] {
        assert!(reason.contains(says), "{says:?} not in {reason}");
    }
    println!(
        "refused: {} bytes; CloudFormation read: {reason}",
        refused[0]
    );
}

#[tokio::test]
async fn a_request_too_large_to_carry_over_is_not_sent_and_answered_failed() {
    // Properties the function ignores (a template's own) make the request itself larger than
    // the budget: no continuation can fit, even with no accounts.
    let bed = Bed::start(2, 10).await;
    let mut p = bed.scope(0..2);
    p["Padding"] = json!("x".repeat(BUDGET));
    bed.function.stacksets.holding(true);
    let s = bed
        .invoke(request(&bed.sink, "create", "req-too-large", p))
        .await;

    assert!(!s.reinvoked, "{s:?}");
    assert_eq!(s.answered.as_deref(), Some("FAILED"), "{s:?}");
    assert!(bed.stub.history().is_empty(), "nothing was sent");
    assert!(bed.stub.refused().is_empty(), "nothing was sent");
    let bodies = bed.sink.bodies();
    assert_eq!(bodies.len(), 1, "exactly one answer");
    let answer = &bodies[0];
    assert_eq!(answer["PhysicalResourceId"], json!(live_id()), "{answer}");
    let reason = answer["Reason"].as_str().unwrap();
    for says in [
        "Could not continue waiting for the StackSet",
        &format!("over the {BUDGET} bytes this function sends"),
        "(Lambda refuses more than 262144 bytes)",
        "Nothing was sent",
        "Shorten the custom resource's properties",
    ] {
        assert!(reason.contains(says), "{says:?} not in {reason}");
    }
    println!("CloudFormation read: {reason}");
}

#[tokio::test]
async fn accounts_that_cannot_be_read_back_are_left_out_of_the_change_event_not_the_answer() {
    // 20,000 accounts in one operation (2 OUs): too many to travel, so they are read back; the
    // results cannot be read when the request is answered.
    let bed = Bed::start(2, 10_000).await;
    bed.function.stacksets.holding(true);
    let first = bed
        .invoke(request(
            &bed.sink,
            "create",
            "req-no-read-back",
            bed.scope(0..2),
        ))
        .await;
    assert!(first.reinvoked, "{first:?}");
    let history = bed.stub.history();
    let next = &history.last().unwrap().payload;
    assert_eq!(carried_unlisted(next), 1, "{}", cont(next)["Unlisted"]);
    bed.function.stacksets.release();
    bed.function.stacksets.holding(false);
    bed.function
        .stacksets
        .results_fail
        .store(true, Ordering::SeqCst);

    let last = bed.invoke(next.clone()).await;

    assert_eq!(last.answered.as_deref(), Some("SUCCESS"), "{last:?}");
    assert_eq!(bed.sink.bodies().len(), 1, "exactly one answer");
    assert_eq!(bed.sink.bodies()[0]["Data"]["AccountCount"], "20000");
    assert_eq!(bed.enrolled(), bed.accounts(0..2));
    // The operation's accounts are unknown to the invocation that answered, and nothing else
    // changed in it: no change event.
    assert_eq!(last.change_event, None, "{last:?}");
    assert!(bed.feed.events().is_empty());
}

fn carried_unlisted(payload: &Value) -> usize {
    cont(payload)["Unlisted"].as_array().map_or(0, Vec::len)
}
