//! Create, Update and Delete of the custom resource against the local test bed: the exact
//! JSON CloudFormation receives, and the stack instances that result.

#[path = "../common/mod.rs"]
mod common;

mod answers;
mod create;
mod errors;
mod tag_slices;
mod update_delete;

use common::{
    delete_stack_set, live_id, props, request, rig, rig_with, rollback_delete, FixedIdentity,
};
use e2e::{OuReading, STACK_SET};
use serde_json::{json, Value};
use shared::core::AccountId;

fn names(f: &e2e::Fixture, n: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = n.iter().map(|x| f.account(x)).collect();
    v.sort();
    v
}

const PROD: &[&str] = &[
    "prod-web",
    "prod-data",
    "prod-eu-1",
    "prod-eu-payments",
    "prod-eu-pci",
    "prod-us-1",
];
