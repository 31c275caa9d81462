//! The bad-input corpus (issue 7): every row goes through the handler with real SDK clients
//! against the test bed (sample organization, the StackSet created). A rejected row must be
//! answered FAILED, exactly once, with a Reason that names the bad value (or field) and the
//! fix, and must cause no mutating StackSet call; a row that is pure input (nothing for AWS to
//! say) must cause no AWS request at all. The accepted rows must answer SUCCESS with exactly
//! the right accounts.
//!
//! Run: `cargo test -p custom-resource --test bad_input`

#[path = "../common/mod.rs"]
mod common;

mod accepted;
mod corpus;
mod non_utf8;
mod rows_accounts;
mod rows_other;
mod rows_ou;
mod rows_tags;

use common::{request, rig, rig_for_stack_sets};
use e2e::{Deployment, Fixture, Function, STACK_SET};
use serde_json::{json, Value};

/// A StackSet that is never created.
const MISSING_SET: &str = "Missing-StackSet";
/// A StackSet created with self-managed permissions.
const SELF_MANAGED_SET: &str = "Self-Managed-StackSet";

/// Where a rejection may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The properties alone are wrong: not a single AWS request may be made.
    Input,
    /// Only AWS can tell (unknown OU, foreign account, StackSet): read-only calls only.
    Aws,
}

struct Row {
    name: &'static str,
    /// `create` or `update`.
    kind: &'static str,
    props: Value,
    from: Source,
    /// Substrings the Reason must contain: the bad value (or the field) and the fix.
    want: Vec<String>,
}

fn valid(f: &Fixture) -> Value {
    json!({
        "TargetOUIds": f.ou("Root/Prod/US"),
        "AccountScope": "ALL",
        "TargetAccountIds": "",
        "StackSetName": STACK_SET,
    })
}

/// The valid properties with `key` set to `value` (`Value::Null` in `unset` removes it).
fn set(f: &Fixture, pairs: &[(&str, Value)]) -> Value {
    let mut p = valid(f);
    for (k, v) in pairs {
        p[*k] = v.clone();
    }
    p
}

fn unset(f: &Fixture, key: &str) -> Value {
    let mut p = valid(f);
    p.as_object_mut().unwrap().remove(key);
    p
}

/// DIFFERENCE over Root/Prod excluding `accounts` (the account-ID rows).
fn diff(f: &Fixture, accounts: Value) -> Value {
    set(
        f,
        &[
            ("TargetOUIds", json!(f.ou("Root/Prod"))),
            ("AccountScope", json!("DIFFERENCE")),
            ("TargetAccountIds", accounts),
        ],
    )
}

fn w(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn row(name: &'static str, props: Value, from: Source, want: &[&str]) -> Row {
    Row {
        name,
        kind: "create",
        props,
        from,
        want: w(want),
    }
}

/// `n` distinct, well-formed account IDs.
fn many_ids(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{:012}", 100_000_000_000u64 + i as u64))
        .collect()
}

const MB: usize = 1 << 20;
