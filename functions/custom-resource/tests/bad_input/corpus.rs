use super::*;

fn rejected_rows(f: &Fixture) -> Vec<Row> {
    let mut rows = rows_ou::ou_rows(f);
    rows.extend(rows_accounts::account_rows(f));
    rows.extend(rows_other::other_rows(f));
    rows.extend(rows_tags::tag_rows(f));
    rows
}

#[tokio::test]
async fn every_bad_input_is_answered_failed_naming_the_value_and_the_fix_with_no_change() {
    // The stack is deployed with the StackSetName each row names: the function may read it.
    let r = rig_for_stack_sets(&[STACK_SET, MISSING_SET, SELF_MANAGED_SET]).await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    r.bed.create_stack_set(SELF_MANAGED_SET, false).await;
    r.bed.control("requests/clear", json!({})).await;

    let rows = rejected_rows(&f);
    // FAULTS.md counts the rows: a lost row fails here.
    assert_eq!(rows.len(), 80, "FAULTS.md says 80 rows");
    println!("{} rows", rows.len());
    let mut problems = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let before = r.bed.requests().await.len();
        let id = format!("bad-{i:02}-{}", row.name);
        let req = request(&r.sink, row.kind, &id, row.props.clone());
        let summary = r.invoke(req.clone()).await;
        let bodies = r.sink.bodies();
        let mut bad = |what: String| problems.push(format!("[{}] {what}", row.name));
        if bodies.len() != i + 1 {
            bad(format!("{} answers after {} rows", bodies.len(), i + 1));
            continue;
        }
        let a = &bodies[i];
        if a["RequestId"] != json!(id) {
            bad(format!("answer is for {}", a["RequestId"]));
        }
        if a["Status"] != "FAILED" || summary.answered.as_deref() != Some("FAILED") {
            bad(format!("not FAILED: {a}"));
            continue;
        }
        let reason = a["Reason"].as_str().unwrap_or_default();
        for want in &row.want {
            if !reason.contains(want.as_str()) {
                bad(format!("Reason lacks {want:?}: {reason}"));
            }
        }
        // The body as CloudFormation received it, in bytes.
        let size = r.sink.sizes()[i];
        if size >= 4096 {
            bad(format!("answer is {size} bytes"));
        }
        let physical = a["PhysicalResourceId"].as_str().unwrap_or_default();
        let want_physical = match row.kind {
            "update" => req["PhysicalResourceId"].as_str().unwrap().to_owned(),
            _ => format!("orgscope-create-failed/{id}"),
        };
        if physical != want_physical {
            bad(format!(
                "PhysicalResourceId {physical}, want {want_physical}"
            ));
        }
        let after = r.bed.requests().await;
        if row.from == Source::Input && after.len() != before {
            let new: Vec<&Value> = after[before..].iter().map(|x| &x["action"]).collect();
            bad(format!("pure input error made AWS requests: {new:?}"));
        }
        println!(
            "{:<48} {:>5} B  {}",
            row.name,
            size,
            reason.chars().take(110).collect::<String>()
        );
    }
    let mutating = r.bed.mutating_stackset_calls().await;
    assert!(mutating.is_empty(), "mutating StackSet calls: {mutating:?}");
    assert!(r.bed.instances(STACK_SET).await.is_empty());
    assert!(
        problems.is_empty(),
        "{} of {} rows wrong:\n{}",
        problems.len(),
        rows.len(),
        problems.join("\n")
    );
}
/// The unknown-OU message is meant to name the organization ("does not exist in this
/// organization (o-…)"). When ListAccountsForParent fails before DescribeOrganization has
/// returned, `read_target_subtrees` stops and drains the calls in flight without keeping the
/// organization's ID, so the message says "(the organization)" instead: a race.
#[tokio::test]
async fn an_unknown_ou_message_names_the_organization_id() {
    let r = rig().await;
    let f = r.bed.sample().await;
    r.bed.create_stack_set(STACK_SET, true).await;
    let org = f.0["organization_id"].as_str().unwrap().to_owned();
    for i in 0..5 {
        r.invoke(request(
            &r.sink,
            "create",
            &format!("unknown-{i}"),
            set(&f, &[("TargetOUIds", json!("ou-zzzz-99999999"))]),
        ))
        .await;
        let reason = r.last_answer()["Reason"].as_str().unwrap().to_owned();
        assert!(reason.contains(&format!("({org})")), "try {i}: {reason}");
    }
}
