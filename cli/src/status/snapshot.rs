//! One read of the StackSet: its description, instances classified into rows, and its
//! recent operations (the last scheduled re-check and the last change among them).

use std::collections::BTreeSet;

use shared::adapters::CfnStackSets;
use shared::core::{AccountId, Expansion, OrgTree};
use shared::engine::{is_oidc_reuse, is_own_change, is_scheduled_check, EngineError};
use shared::ports::{AwsError, Operation, OrganizationsApi, StackSetInfo, StackSetReader};

use super::{classify, locate, mark_oidc_reuse, Located, Row, State, HISTORY_OPS, RECENT_OPS};

/// One read of the StackSet, its rows and its recent operations.
pub(super) struct Snapshot {
    pub(super) info: StackSetInfo,
    pub(super) rows: Vec<Row>,
    pub(super) operations: Vec<Operation>,
    /// The newest drift detection a scheduled run started (at its end, after its reconcile).
    pub(super) last_check: Option<Operation>,
    /// The newest succeeded change this project made.
    pub(super) last_change: Option<Operation>,
}

/// The newest operation that `pick` accepts (by start time: ISO 8601 UTC strings order as
/// times).
fn newest(ops: &[Operation], pick: fn(&Operation) -> bool) -> Option<Operation> {
    ops.iter()
        .filter(|o| pick(o))
        .max_by(|a, b| when(a).cmp(when(b)))
        .cloned()
}

pub(super) fn when(o: &Operation) -> &str {
    o.started.as_deref().unwrap_or("")
}

impl Snapshot {
    pub(super) fn running(&self) -> Option<&Operation> {
        self.operations.iter().find(|o| o.is_active())
    }
    /// Accounts the scope wants or an operation is working on, and how many of them are done.
    pub(super) fn progress(&self) -> (u64, u64) {
        let touched: BTreeSet<&AccountId> = self
            .rows
            .iter()
            .filter(|r| r.state != State::Extra)
            .map(|r| &r.account)
            .collect();
        let pending: BTreeSet<&AccountId> = self
            .rows
            .iter()
            .filter(|r| matches!(r.state, State::Running | State::Missing))
            .map(|r| &r.account)
            .collect();
        let total = touched.len() as u64;
        (total - pending.len() as u64, total)
    }
}

pub(super) async fn snapshot<O: OrganizationsApi>(
    org: &O,
    cfn: &CfnStackSets,
    name: &str,
    exp: &Expansion,
    tree: &mut OrgTree,
    located: &mut Located,
) -> Result<Snapshot, EngineError> {
    let (info, instances, operations) = tokio::join!(
        cfn.describe(name),
        cfn.instances(name),
        cfn.recent_operations(name, HISTORY_OPS)
    );
    let info = info.map_err(|e| match e {
        AwsError::NotFound { .. } => EngineError::StackSetMissing { name: name.into() },
        e => e.into(),
    })?;
    let instances = instances?;
    locate(org, tree, &instances, located).await;
    let history = operations?;
    // The accounts the engine's reuse operations succeeded for: one ListStackSetOperationResults
    // per such operation among the recent ones, not a DescribeStackInstance per account.
    let mut reusing = BTreeSet::new();
    for op in history.iter().filter(|o| is_oidc_reuse(o)) {
        for r in cfn.operation_results(name, &op.id).await? {
            if r.status == "SUCCEEDED" {
                reusing.insert(r.account);
            }
        }
    }
    let mut rows = classify(exp, &instances, located);
    mark_oidc_reuse(&mut rows, &reusing);
    Ok(Snapshot {
        info,
        rows,
        last_check: newest(&history, is_scheduled_check),
        last_change: newest(&history, |o| o.status == "SUCCEEDED" && is_own_change(o)),
        operations: history.into_iter().take(RECENT_OPS).collect(),
    })
}
