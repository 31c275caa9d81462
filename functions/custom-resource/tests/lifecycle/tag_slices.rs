//! A Create whose tag filter has more candidates than one invocation reads: it reads one slice
//! of their tags per invocation, carries the next slice in the continuation, and answers
//! CloudFormation only after the last slice, with exactly the tagged accounts deployed.

use aws_sdk_organizations::types::Tag;

use super::*;

#[tokio::test]
async fn create_reads_the_candidates_tags_slice_by_slice_and_answers_after_the_last() {
    let mut r = rig().await;
    // Two tag reads per invocation: Prod's 6 candidates take at least 3 invocations.
    r.handler.settings.tag_reads_per_step = 2;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let orgs = aws_sdk_organizations::Client::new(&r.bed.sdk_config().await);
    let tagged = ["prod-web", "prod-eu-1", "prod-us-1"];
    for name in tagged {
        orgs.tag_resource()
            .resource_id(f.account(name))
            .tags(Tag::builder().key("stage").value("prod").build().unwrap())
            .send()
            .await
            .expect("TagResource");
    }
    let mut p = props(&f.ou("Root/Prod"), "ALL", "");
    p["TargetAccountTags"] = json!("stage=prod");
    let req = request(&r.sink, "create", "req-tag-slices", p);
    let mut payload = req.clone();
    let mut slices: Vec<(u64, u64)> = Vec::new();
    let mut invocations = 0;
    loop {
        let s = r.invoke(payload).await;
        invocations += 1;
        if s.answered.is_some() {
            break;
        }
        assert!(s.reinvoked, "{s:?}");
        assert!(
            r.sink.bodies().is_empty(),
            "CloudFormation got an answer before the last slice"
        );
        payload = r.reinvoked.take().pop().expect("a continuation");
        if let Some(t) = payload["OrgscopeContinuation"].get("TagSlice") {
            let slice = (t["index"].as_u64().unwrap(), t["of"].as_u64().unwrap());
            if slices.last() != Some(&slice) {
                slices.push(slice);
            }
        }
        assert!(
            invocations < 30,
            "no answer after {invocations} invocations"
        );
    }
    let of = slices
        .first()
        .map(|s| s.1)
        .expect("the request was read in slices");
    assert!(
        of >= 3,
        "6 candidates at 2 reads per invocation: {of} slices"
    );
    assert_eq!(
        slices,
        (1..of).map(|i| (i, of)).collect::<Vec<_>>(),
        "every slice after the first, in order"
    );
    assert!(invocations as u64 >= of);
    let want = names(&f, &tagged);
    assert_eq!(r.last_answer(), r.success(&req, &want, &f.0));
    assert_eq!(r.sink.bodies().len(), 1, "one answer");
    assert_eq!(r.bed.instance_accounts(STACK_SET).await, want);
}
