use super::*;

/// Accounts a continuation carries, by operation kind, and its number of operations.
fn carried(payload: &Value) -> (BTreeMap<String, usize>, usize) {
    let c = cont(payload);
    assert!(
        c.get("Unlisted").is_none(),
        "every account travels: {}",
        c["Unlisted"]
    );
    let ops: Vec<&Value> = c["Started"]
        .as_array()
        .unwrap()
        .iter()
        .chain(std::iter::once(&c["Operation"]))
        .filter(|o| !o.is_null())
        .collect();
    let mut by_kind = BTreeMap::new();
    for o in &ops {
        *by_kind
            .entry(o["kind"].as_str().unwrap().to_owned())
            .or_default() += o["accounts"].as_array().map_or(0, Vec::len);
    }
    (by_kind, ops.len())
}

fn kinds(v: &[(&str, usize)]) -> BTreeMap<String, usize> {
    v.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

/// The largest of the continuations sent, and what the last one carries.
fn largest(sent: &[(usize, Value)]) -> usize {
    sent.iter().map(|(b, _)| *b).max().unwrap()
}

fn kb(bytes: usize) -> String {
    format!(
        "{bytes} bytes ({:.0}% of {ASYNC_PAYLOAD_LIMIT})",
        bytes as f64 * 100.0 / ASYNC_PAYLOAD_LIMIT as f64
    )
}

#[tokio::test]
async fn ten_thousand_accounts_travel_in_continuations_under_lambdas_limit_with_their_margin() {
    // 150 OUs of 100 accounts: the scope is 100 of them (10,000 accounts); the Update moves it
    // 50 OUs on (5,000 accounts in, 5,000 out).
    let bed = Bed::start(150, 100).await;
    let mut figures = BTreeMap::new();

    // Each operation lists at most 50 OUs: the Create of 100 OUs is two operations, the
    // Update's delete (the root and 50 OUs) two, the Delete (the root and 100 OUs) three. Each
    // continuation carries every operation the request started so far, with its accounts.
    let create = request(&bed.sink, "create", "req-10k-create", bed.scope(0..100));
    let Run {
        sent,
        answer,
        last_pages,
        ..
    } = bed.run(create.clone()).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["Data"]["AccountCount"], "10000");
    assert_eq!(bed.enrolled(), bed.accounts(0..100));
    let (last, ops) = carried(&sent.last().unwrap().1);
    assert_eq!(last, kinds(&[("create", 10_000)]));
    assert_eq!((sent.len(), ops), (2, 2));
    figures.insert("Create of 10,000", (largest(&sent), sent.len()));
    assert_eq!(bed.last_change().counts.enrolled, 10_000);
    assert_eq!(
        last_pages, 0,
        "every account travelled: nothing was read back"
    );

    let mut update = request(&bed.sink, "update", "req-10k-update", bed.scope(50..150));
    update["PhysicalResourceId"] = live_id().into();
    update["OldResourceProperties"] = create["ResourceProperties"].clone();
    let Run {
        sent,
        answer,
        last_pages,
        ..
    } = bed.run(update).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["Data"]["AccountCount"], "10000");
    assert_eq!(bed.enrolled(), bed.accounts(50..150));
    let (last, ops) = carried(&sent.last().unwrap().1);
    assert_eq!(last, kinds(&[("create", 5_000), ("delete", 5_000)]));
    assert_eq!((sent.len(), ops), (3, 3));
    figures.insert("Update +5,000 -5,000", (largest(&sent), sent.len()));
    let change = bed.last_change();
    assert_eq!(
        (change.counts.enrolled, change.counts.withdrawn),
        (5_000, 5_000)
    );
    assert_eq!(
        last_pages, 0,
        "every account travelled: nothing was read back"
    );

    let mut delete = request(&bed.sink, "delete", "req-10k-delete", bed.scope(50..150));
    delete["PhysicalResourceId"] = live_id().into();
    let Run {
        sent,
        answer,
        last_pages,
        ..
    } = bed.run(delete).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    let (last, ops) = carried(&sent.last().unwrap().1);
    assert_eq!(last, kinds(&[("delete", 10_000)]));
    assert_eq!((sent.len(), ops), (3, 3));
    figures.insert("Delete of 10,000", (largest(&sent), sent.len()));
    assert_eq!(bed.last_change().counts.withdrawn, 10_000);
    assert_eq!(
        last_pages, 0,
        "every account travelled: nothing was read back"
    );
    assert!(bed.enrolled().is_empty());

    println!("budget {BUDGET} bytes: Lambda's {ASYNC_PAYLOAD_LIMIT} less a 16 KiB margin");
    for (what, (bytes, n)) in &figures {
        println!("{what}: {n} continuations, the largest {}", kb(*bytes));
        assert!(*bytes <= BUDGET, "{what}: {bytes} > {BUDGET}");
    }
    assert!(bed.stub.refused().is_empty(), "{:?}", bed.stub.refused());
}

/// What a continuation that left accounts out would have weighed with them: its operations'
/// accounts, read from the StackSet's results, put back.
async fn with_every_account(bed: &Bed, payload: &Value) -> usize {
    let mut full = payload.clone();
    let c = full[CONTINUATION_KEY].as_object_mut().unwrap();
    let unlisted: Vec<String> = serde_json::from_value(c["Unlisted"].clone()).unwrap();
    let mut started = c["Started"].as_array().unwrap().clone();
    let mut operation = c["Operation"].clone();
    for op in started.iter_mut().chain(std::iter::once(&mut operation)) {
        let Some(id) = op["id"].as_str().map(str::to_owned) else {
            continue;
        };
        if !unlisted.contains(&id) {
            continue;
        }
        let results = bed
            .function
            .stacksets
            .inner
            .operation_results(STACK_SET, &id)
            .await
            .unwrap();
        let accounts: BTreeSet<String> = results
            .into_iter()
            .map(|r| r.account.as_str().to_owned())
            .collect();
        op["accounts"] = json!(accounts);
    }
    c.insert("Started".into(), json!(started));
    c.insert("Operation".into(), operation);
    c.remove("Unlisted");
    full.to_string().len()
}

/// What the continuations of a request that could not carry every account did.
struct Degraded {
    /// The largest sent, in bytes.
    sent: usize,
    /// The largest had every account travelled, in bytes.
    full: usize,
    /// Accounts the last one still carried.
    travelled: usize,
}

async fn degraded(bed: &Bed, sent: &[(usize, Value)]) -> Degraded {
    let mut d = Degraded {
        sent: 0,
        full: 0,
        travelled: 0,
    };
    for (bytes, p) in sent {
        assert!(*bytes <= BUDGET, "{bytes} > {BUDGET}");
        d.sent = d.sent.max(*bytes);
        let c = cont(p);
        let unlisted = c["Unlisted"].as_array().expect("accounts were left out");
        assert!(!unlisted.is_empty());
        d.travelled = 0;
        for op in c["Started"]
            .as_array()
            .unwrap()
            .iter()
            .chain(std::iter::once(&c["Operation"]))
        {
            let accounts = op["accounts"].as_array().unwrap().len();
            if unlisted.contains(&op["id"]) {
                assert_eq!(accounts, 0, "{}", op["id"]);
            }
            d.travelled += accounts;
        }
        d.full = d.full.max(with_every_account(bed, p).await);
    }
    d
}

#[tokio::test]
async fn a_hundred_thousand_accounts_do_not_fit_so_they_are_read_back_and_every_request_is_answered(
) {
    // AWS's quota of stack instances per StackSet is 100,000. 150 OUs of 1,000 accounts: the
    // scope is 100 of them; the Update moves it 50 OUs on (50,000 in, 50,000 out).
    let bed = Bed::start(150, 1_000).await;
    let mut figures = BTreeMap::new();
    let mut pages = BTreeMap::new();

    let create = request(&bed.sink, "create", "req-100k-create", bed.scope(0..100));
    let Run {
        sent,
        answer,
        pages_before_answer,
        last_pages,
    } = bed.run(create.clone()).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["Data"]["AccountCount"], "100000");
    assert_eq!(answer["Data"]["AccountIdsTruncated"], "true");
    assert_eq!(bed.enrolled(), bed.accounts(0..100));
    figures.insert("Create of 100,000", degraded(&bed, &sent).await);
    pages.insert("Create of 100,000", last_pages);
    assert_eq!(
        pages_before_answer, 0,
        "read back after CloudFormation's answer"
    );
    // The change event counts every account: the invocation that answered read the accounts
    // of the operations that travelled without them back from their results.
    assert_eq!(bed.last_change().counts.enrolled, 100_000);

    let mut update = request(&bed.sink, "update", "req-100k-update", bed.scope(50..150));
    update["PhysicalResourceId"] = live_id().into();
    update["OldResourceProperties"] = create["ResourceProperties"].clone();
    let Run {
        sent,
        answer,
        pages_before_answer,
        last_pages,
    } = bed.run(update).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["Data"]["AccountCount"], "100000");
    assert_eq!(bed.enrolled(), bed.accounts(50..150));
    figures.insert("Update +50,000 -50,000", degraded(&bed, &sent).await);
    pages.insert("Update +50,000 -50,000", last_pages);
    assert_eq!(
        pages_before_answer, 0,
        "read back after CloudFormation's answer"
    );
    let change = bed.last_change();
    assert_eq!(
        (change.counts.enrolled, change.counts.withdrawn),
        (50_000, 50_000)
    );

    let mut delete = request(&bed.sink, "delete", "req-100k-delete", bed.scope(50..150));
    delete["PhysicalResourceId"] = live_id().into();
    let Run {
        sent,
        answer,
        pages_before_answer,
        last_pages,
    } = bed.run(delete).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    figures.insert("Delete of 100,000", degraded(&bed, &sent).await);
    pages.insert("Delete of 100,000", last_pages);
    assert_eq!(
        pages_before_answer, 0,
        "read back after CloudFormation's answer"
    );
    assert_eq!(bed.last_change().counts.withdrawn, 100_000);
    assert!(bed.enrolled().is_empty());

    for (what, d) in &figures {
        println!(
            "{what}: the largest continuation would have been {}; sent {}; the invocation \
             that answered read {} ListStackSetOperationResults pages ({} accounts travelled)",
            kb(d.full),
            kb(d.sent),
            pages[what],
            d.travelled
        );
        assert!(d.full > ASYNC_PAYLOAD_LIMIT, "{what}: {}", d.full);
        // Each request changed 100,000 accounts: those that did not travel were read back,
        // 100 results a page (every operation covers whole OUs of 1,000 accounts).
        assert_eq!(pages[what] as usize * 100 + d.travelled, 100_000, "{what}");
    }
    assert_eq!(
        bed.stub.refused(),
        Vec::<usize>::new(),
        "nothing oversize was sent"
    );
}
