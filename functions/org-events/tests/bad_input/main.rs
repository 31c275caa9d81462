//! The bad-input corpus for the org-events configuration (issue 7). Environment variables are
//! always strings, so the JSON-typed rows of the custom resource (a number, a list with a
//! non-string) have no counterpart here; everything else does.
//!
//! - Pure input rows: `Config::from_env` fails with the scope engine's message (naming the
//!   value and the fix), and the real binary, pointed at the test bed, fails its start-up with
//!   the same message and makes no AWS request.
//! - Rows only AWS can judge (unknown OU, foreign root, missing or self-managed StackSet): the
//!   scheduled run fails naming the value, with no mutating StackSet call. A listed account
//!   that is not in the organization is tolerated with a warning (it may have left since the
//!   stack was deployed): the others still converge.
//! - Odd but valid values are accepted and converge on exactly the right accounts.
//!
//! Run: `cargo test -p org-events --test bad_input`

#[path = "../common/mod.rs"]
mod common;

mod accepted;
mod aws;
mod rows;
mod startup;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{event, function_config, mutating};
use e2e::{Deployment, Fixture, Function, TestBed, REGION, STACK_SET};
use org_events::{Config, Handler, Invocation};
use serde_json::json;
use shared::adapters::{CfnStackSets, SdkOrganizations};
use shared::ports::TokioClock;

const MB: usize = 1 << 20;
/// Linux refuses to exec with a single environment string over 128 KiB (MAX_ARG_STRLEN), so
/// larger values are checked through `Config::from_env` only.
const EXEC_LIMIT: usize = 128 * 1024 - 64;

type Env = BTreeMap<String, String>;

fn valid(f: &Fixture) -> Env {
    BTreeMap::from([
        ("TARGET_OU_IDS".to_owned(), f.ou("Root/Prod/US")),
        ("ACCOUNT_SCOPE".to_owned(), "ALL".to_owned()),
        ("TARGET_ACCOUNT_IDS".to_owned(), String::new()),
        ("STACK_SET_NAME".to_owned(), STACK_SET.to_owned()),
        ("STACK_SET_REGIONS".to_owned(), REGION.to_owned()),
        ("SETTLE_SECONDS".to_owned(), "0".to_owned()),
    ])
}

fn with(f: &Fixture, pairs: &[(&str, &str)]) -> Env {
    let mut e = valid(f);
    for (k, v) in pairs {
        e.insert((*k).to_owned(), (*v).to_owned());
    }
    e
}

fn without(f: &Fixture, key: &str) -> Env {
    let mut e = valid(f);
    e.remove(key);
    e
}

/// DIFFERENCE over Root/Prod excluding `accounts`.
fn diff(f: &Fixture, accounts: &str) -> Env {
    with(
        f,
        &[
            ("TARGET_OU_IDS", &f.ou("Root/Prod")),
            ("ACCOUNT_SCOPE", "DIFFERENCE"),
            ("TARGET_ACCOUNT_IDS", accounts),
        ],
    )
}

struct Row {
    name: &'static str,
    env: Env,
    want: Vec<String>,
}

fn row(name: &'static str, env: Env, want: &[&str]) -> Row {
    Row {
        name,
        env,
        want: want.iter().map(|s| (*s).to_owned()).collect(),
    }
}
fn handler(
    conf: &aws_config::SdkConfig,
    env: &Env,
) -> Handler<SdkOrganizations, CfnStackSets, TokioClock> {
    let config = Config::from_env(|k| env.get(k).cloned(), REGION).expect("syntactically valid");
    let mut h = Handler::new(
        SdkOrganizations::new(conf),
        CfnStackSets::new(conf),
        TokioClock,
        config,
    );
    h.engine.poll_initial = Duration::from_millis(100);
    h.engine.poll_max = Duration::from_millis(300);
    h
}

fn invocation(n: usize) -> Invocation {
    Invocation {
        request_id: format!("bad-input-{n:04}"),
        deadline: Instant::now() + Duration::from_secs(90),
    }
}

/// What the template gives the function in a stack deployed with each of these
/// `StackSetName`s (the rows below name several).
async fn for_stack_sets(bed: &TestBed, names: &[&str]) -> aws_config::SdkConfig {
    let each: Vec<Deployment> = names
        .iter()
        .map(|n| Deployment::management().for_stack_set(n))
        .collect();
    let p = bed
        .function_principal_for_each(Function::OrgEvents, &each)
        .await;
    bed.config_as(&p).await
}
