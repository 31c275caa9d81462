//! The in-memory service-managed StackSet.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use shared::core::{AccountId, DetailedStatus, DriftStatus, InstanceStatus, StackInstance};
use shared::ports::{
    AwsError, AwsResult, OpKind, Operation, OperationResult, StackSetInfo, StackSetReader,
    StackSetWriter, Targets,
};

use crate::MemOrg;

/// Calls made to a [`MemStackSet`], by API action (as CloudFormation counts them: one call per
/// page of 100 for the listings).
#[derive(Debug, Default)]
pub struct CfnCalls {
    pub describe_stack_set: AtomicU32,
    pub list_stack_instances: AtomicU32,
    pub start: AtomicU32,
    pub describe_operation: AtomicU32,
    pub list_operations: AtomicU32,
    pub list_operation_results: AtomicU32,
}

impl CfnCalls {
    pub fn total(&self) -> u32 {
        [
            &self.describe_stack_set,
            &self.list_stack_instances,
            &self.start,
            &self.describe_operation,
            &self.list_operations,
            &self.list_operation_results,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }
}

/// CloudFormation's page size for `ListStackInstances` and `ListStackSetOperationResults`.
pub const CFN_PAGE: usize = 100;

/// The instances by (account, region), and every operation, oldest first.
type SetState = (BTreeMap<(AccountId, String), StackInstance>, Vec<MemOp>);

struct MemOp {
    op: Operation,
    started: std::time::Instant,
    kind: OpKind,
    accounts: Vec<AccountId>,
    ous: Vec<String>,
    regions: Vec<String>,
    results: Vec<OperationResult>,
}

/// An in-process service-managed StackSet: one operation at a time
/// (`OperationInProgress` otherwise), each lasting `op_time` and then applied to exactly the
/// accounts its targets list (the engine always sends INTERSECTION with its accounts), every
/// call counted. A counter, not a fidelity model: the test bed's emulator plays AWS's rules.
pub struct MemStackSet {
    pub name: String,
    pub op_time: Duration,
    pub calls: CfnCalls,
    org: MemOrg,
    state: Mutex<SetState>,
}

impl MemStackSet {
    pub fn new(name: &str, org: MemOrg, op_time: Duration) -> Self {
        Self {
            name: name.into(),
            op_time,
            calls: CfnCalls::default(),
            org,
            state: Mutex::new((BTreeMap::new(), Vec::new())),
        }
    }

    /// Finishes the operations whose time is up, applying them.
    fn advance(&self) -> std::sync::MutexGuard<'_, SetState> {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (instances, ops) = &mut *g;
        for o in ops.iter_mut().filter(|o| o.op.status == "RUNNING") {
            if o.started.elapsed() < self.op_time {
                continue;
            }
            for a in &o.accounts {
                let lineage = self.org.parent(a).map(|p| self.org.lineage(&p));
                let ou = lineage.and_then(|l| o.ous.iter().find(|t| l.contains(t)).cloned());
                for r in &o.regions {
                    let key = (a.clone(), r.clone());
                    match o.kind {
                        OpKind::Create | OpKind::Update => {
                            instances.insert(
                                key,
                                StackInstance {
                                    account: a.clone(),
                                    region: r.clone(),
                                    status: InstanceStatus::Current,
                                    detailed: DetailedStatus::Succeeded,
                                    status_reason: None,
                                    drift: DriftStatus::NotChecked,
                                    ou: ou.clone().or_else(|| o.ous.first().cloned()),
                                },
                            );
                        }
                        OpKind::Delete => {
                            instances.remove(&key);
                        }
                        OpKind::DetectDrift => {}
                    }
                    o.results.push(OperationResult {
                        account: a.clone(),
                        region: r.clone(),
                        status: "SUCCEEDED".into(),
                        status_reason: None,
                    });
                }
            }
            o.op.status = "SUCCEEDED".into();
            o.op.ended = Some(rfc3339(std::time::SystemTime::now()));
            o.op.duration_secs = Some(o.started.elapsed().as_secs_f64());
        }
        g
    }

    /// Moves every operation's start `by` into the past (as if it had run that long ago).
    pub fn backdate(&self, by: Duration) {
        let mut g = self.advance();
        for o in g.1.iter_mut() {
            let shift = |t: &Option<String>| {
                t.as_deref()
                    .and_then(parse_rfc3339)
                    .map(|t| rfc3339(t - by))
            };
            o.op.started = shift(&o.op.started);
            o.op.ended = shift(&o.op.ended);
        }
    }

    /// The number of instances now, not counted.
    pub fn instance_count(&self) -> usize {
        self.advance().0.len()
    }

    /// The accounts with an instance now, not counted.
    pub fn enrolled(&self) -> BTreeSet<AccountId> {
        self.advance().0.keys().map(|(a, _)| a.clone()).collect()
    }

    /// Operations started so far (drift detections included), oldest first: (action, accounts).
    pub fn operations(&self) -> Vec<(String, usize)> {
        self.advance()
            .1
            .iter()
            .map(|o| (o.op.action.clone(), o.accounts.len()))
            .collect()
    }

    fn check(&self, name: &str) -> AwsResult<()> {
        if name == self.name {
            Ok(())
        } else {
            Err(AwsError::NotFound {
                what: format!("StackSet {name}"),
            })
        }
    }
}

/// `2024-05-01T12:00:00.123Z`, as CloudFormation gives an operation's start.
fn rfc3339(t: std::time::SystemTime) -> String {
    let millis = t
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0;
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(millis.round() as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_rfc3339(text: &str) -> Option<std::time::SystemTime> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
        .map(|s| std::time::UNIX_EPOCH + Duration::from_secs_f64(s.max(0.0)))
}

fn pages(n: usize) -> u32 {
    n.div_ceil(CFN_PAGE).max(1) as u32
}

impl StackSetReader for MemStackSet {
    /// The benchmarks run as the management account: one StackSet, whoever asks.
    fn set_call_as(&self, _: shared::core::CallAs) {}
    async fn describe(&self, name: &str) -> AwsResult<StackSetInfo> {
        self.calls
            .describe_stack_set
            .fetch_add(1, Ordering::Relaxed);
        self.check(name)?;
        Ok(StackSetInfo {
            name: name.into(),
            arn: None,
            service_managed: true,
            auto_deployment: false,
            status: "ACTIVE".into(),
        })
    }

    async fn instances(&self, name: &str) -> AwsResult<Vec<StackInstance>> {
        self.check(name)?;
        let all: Vec<StackInstance> = self.advance().0.values().cloned().collect();
        self.calls
            .list_stack_instances
            .fetch_add(pages(all.len()), Ordering::Relaxed);
        Ok(all)
    }

    async fn instances_of(
        &self,
        name: &str,
        accounts: &[AccountId],
    ) -> AwsResult<Vec<StackInstance>> {
        self.check(name)?;
        self.calls
            .list_stack_instances
            .fetch_add(accounts.len() as u32, Ordering::Relaxed);
        let want: BTreeSet<&AccountId> = accounts.iter().collect();
        Ok(self
            .advance()
            .0
            .values()
            .filter(|i| want.contains(&i.account))
            .cloned()
            .collect())
    }

    async fn operation(&self, name: &str, id: &str) -> AwsResult<Operation> {
        self.calls
            .describe_operation
            .fetch_add(1, Ordering::Relaxed);
        self.check(name)?;
        self.advance()
            .1
            .iter()
            .find(|o| o.op.id == id)
            .map(|o| o.op.clone())
            .ok_or_else(|| AwsError::NotFound {
                what: format!("operation {id}"),
            })
    }

    async fn recent_operations(&self, name: &str, max: i32) -> AwsResult<Vec<Operation>> {
        self.calls.list_operations.fetch_add(1, Ordering::Relaxed);
        self.check(name)?;
        Ok(self
            .advance()
            .1
            .iter()
            .rev()
            .take(max.max(0) as usize)
            .map(|o| o.op.clone())
            .collect())
    }

    async fn operation_results(&self, name: &str, id: &str) -> AwsResult<Vec<OperationResult>> {
        self.check(name)?;
        let results = self
            .advance()
            .1
            .iter()
            .find(|o| o.op.id == id)
            .map(|o| o.results.clone())
            .unwrap_or_default();
        self.calls
            .list_operation_results
            .fetch_add(pages(results.len()), Ordering::Relaxed);
        Ok(results)
    }
}

impl StackSetWriter for MemStackSet {
    async fn start(
        &self,
        name: &str,
        kind: OpKind,
        targets: &Targets,
        regions: &[String],
        operation_id: &str,
    ) -> AwsResult<String> {
        self.calls.start.fetch_add(1, Ordering::Relaxed);
        self.check(name)?;
        let mut g = self.advance();
        if g.1.iter().any(|o| o.op.id == operation_id) {
            return Err(AwsError::OperationIdExists);
        }
        if g.1.iter().any(|o| o.op.is_active()) {
            return Err(AwsError::OperationInProgress);
        }
        let action = match kind {
            OpKind::Create => "CREATE",
            OpKind::Update => "UPDATE",
            OpKind::Delete => "DELETE",
            OpKind::DetectDrift => "DETECT_DRIFT",
        };
        g.1.push(MemOp {
            op: Operation {
                id: operation_id.into(),
                action: action.into(),
                status: "RUNNING".into(),
                status_reason: None,
                started: Some(rfc3339(std::time::SystemTime::now())),
                ended: None,
                duration_secs: None,
            },
            started: std::time::Instant::now(),
            kind,
            accounts: targets.accounts.clone(),
            ous: targets.ous.clone(),
            regions: regions.to_vec(),
            results: Vec::new(),
        });
        Ok(operation_id.into())
    }
}
