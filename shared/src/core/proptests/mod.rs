//! Specifications of expansion and planning, as examples and as properties over random trees.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

mod expand_examples;
mod model;
mod plan_examples;
mod properties;
mod tags;

fn acct(n: u64) -> AccountId {
    AccountId::parse(&format!("{n:012}")).unwrap()
}

fn node(id: &str, name: &str, parent: Option<&str>) -> OrgNode {
    OrgNode {
        id: id.into(),
        name: name.into(),
        parent: parent.map(Into::into),
    }
}

/// Root ─ Prod ─ EU ─ Payments ─ PCI; Root ─ Infra (management); Root ─ Staging; one orphan.
fn sample() -> OrgTree {
    let mut t = OrgTree {
        organization_id: "o-sample1234".into(),
        management_account_id: Some(acct(1)),
        ..Default::default()
    };
    for n in [
        node("r-root", "Root", None),
        node("ou-root-prod0000", "Prod", Some("r-root")),
        node("ou-root-eu000000", "EU", Some("ou-root-prod0000")),
        node("ou-root-pay00000", "Payments", Some("ou-root-eu000000")),
        node("ou-root-pci00000", "PCI", Some("ou-root-pay00000")),
        node("ou-root-infra000", "Infrastructure", Some("r-root")),
        node("ou-root-stag0000", "Staging", Some("r-root")),
    ] {
        t.nodes.insert(n.id.clone(), n);
    }
    for (n, name, parent, state) in [
        (1, "management", "ou-root-infra000", AccountState::Active),
        (2, "prod-web", "ou-root-prod0000", AccountState::Active),
        (3, "prod-eu-1", "ou-root-eu000000", AccountState::Active),
        (4, "prod-eu-pci", "ou-root-pci00000", AccountState::Active),
        (5, "staging-1", "ou-root-stag0000", AccountState::Active),
        (
            6,
            "staging-suspended",
            "ou-root-stag0000",
            AccountState::Suspended,
        ),
        (7, "orphan", "r-root", AccountState::Active),
    ] {
        t.accounts.insert(
            acct(n),
            Account {
                id: acct(n),
                name: name.into(),
                state,
                parent: parent.into(),
                tags: None,
            },
        );
    }
    t
}

fn run(ous: &str, mode: &str, accounts: &str) -> Expansion {
    let scope = Scope::parse(&ous.into(), mode, &accounts.into()).unwrap();
    expand(&scope, &sample()).unwrap()
}

fn ids(e: &Expansion) -> Vec<u64> {
    e.included
        .iter()
        .map(|x| x.id.as_str().parse().unwrap())
        .collect()
}

fn inst(a: u64, status: InstanceStatus, detailed: DetailedStatus) -> StackInstance {
    StackInstance {
        account: acct(a),
        region: "us-east-1".into(),
        status,
        detailed,
        status_reason: None,
        drift: DriftStatus::NotChecked,
        ou: None,
    }
}

fn desired(accts: &[u64]) -> Desired {
    Desired {
        accounts: accts.iter().map(|n| acct(*n)).collect(),
        regions: ["us-east-1".to_string()].into(),
    }
}

/// A stack instance whose account's service control policy denies the StackSets execution
/// role (a landing zone's quarantine of a new account), in IAM's words.
const SCP_DENIED: &str = "User: arn:aws:sts::000000000002:assumed-role/stacksets-exec-0a1b/s is \
    not authorized to perform: cloudformation:CreateStack on resource: arn:aws:cloudformation:\
    us-east-1:000000000002:stack/StackSet-Port-Integration-v3-1/* with an explicit deny in a \
    service control policy";

/// AWS's StatusReason for a member stack whose `AWS::IAM::OIDCProvider` already exists.
const OIDC_EXISTS: &str =
    "ResourceLogicalId:PortOIDCProvider, ResourceType:AWS::IAM::OIDCProvider, \
    ResourceStatusReason:Resource handler returned message: \"Provider with url \
    https://oidc.eks.eu-west-1.amazonaws.com/id/X already exists. (Service: Iam, Status Code: \
    409, Request ID: 1)\" (RequestToken: 2, HandlerErrorCode: AlreadyExists).";

fn apply(instances: &[StackInstance], p: &ReconcilePlan) -> Vec<StackInstance> {
    let mut out: BTreeMap<(AccountId, String), StackInstance> = instances
        .iter()
        .map(|i| ((i.account.clone(), i.region.clone()), i.clone()))
        .collect();
    for b in p.delete.iter().chain(&p.drop) {
        for a in &b.accounts {
            for r in &b.regions {
                out.remove(&(a.clone(), r.clone()));
            }
        }
    }
    for b in p.create.iter().chain(&p.update).chain(&p.reuse_oidc) {
        for a in &b.accounts {
            for r in &b.regions {
                out.insert(
                    (a.clone(), r.clone()),
                    StackInstance {
                        account: a.clone(),
                        region: r.clone(),
                        status: InstanceStatus::Current,
                        detailed: DetailedStatus::Succeeded,
                        status_reason: None,
                        drift: DriftStatus::InSync,
                        ou: None,
                    },
                );
            }
        }
    }
    out.into_values().collect()
}
