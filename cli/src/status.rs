//! `orgscope status`: desired accounts (the scope's expansion) against actual stack instances,
//! and the last StackSet operations. Read-only.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::json;
use shared::adapters::{load_config, CfnStackSets, SdkIdentity, SdkOrganizations};
use shared::core::{
    advise, expand, AccountId, DetailedStatus, DriftStatus, Expansion, InstanceStatus, OrgNode,
    OrgTree, Reason, Scope, StackInstance,
};
use shared::engine::{is_oidc_reuse, is_own_change, is_scheduled_check, EngineError};
use shared::ports::{AwsError, Operation, OrganizationsApi, StackSetInfo, StackSetReader};
use shared::preflight::deploy_mode;
use shared::read::{read_target_subtrees, DEFAULT_CONCURRENCY};

use crate::render::{clip, wrap, Paint};
use crate::{fail, parse_scope, Output, ScopeArgs, StackSetArgs};

/// How many recent operations to show.
const RECENT_OPS: usize = 5;
/// How far back (in operations, one page: AWS's largest) to look for the last scheduled
/// re-check, the last change, and the operations that made accounts reuse an existing OIDC
/// provider.
const HISTORY_OPS: i32 = 100;
/// The most accounts listed by name as reusing an existing OIDC provider (all are counted).
const REUSE_LISTED: usize = 20;

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    scope: ScopeArgs,
    #[command(flatten)]
    stack_set: StackSetArgs,
    /// text for people; json for scripts (the same data).
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// Refresh until no StackSet operation is running, with a progress bar of accounts done.
    #[arg(long)]
    watch: bool,
    /// Seconds between refreshes with --watch.
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    interval: f64,
}

/// Where one account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// In scope, stack instance CURRENT.
    Current,
    /// In scope, no stack instance.
    Missing,
    /// A stack instance for an account the scope does not want.
    Extra,
    /// The last operation failed on the account.
    Failed,
    Outdated,
    Inoperable,
    /// The account is suspended: StackSets skip it.
    SkippedSuspended,
    /// CURRENT, but the last drift detection found the role edited out of band.
    Drifted,
    /// An operation is working on it now.
    Running,
}

impl State {
    const ALL: [State; 9] = [
        State::Current,
        State::Missing,
        State::Extra,
        State::Failed,
        State::Outdated,
        State::Inoperable,
        State::SkippedSuspended,
        State::Drifted,
        State::Running,
    ];

    /// Most urgent first.
    fn rank(&self) -> u8 {
        match self {
            Self::Failed => 0,
            Self::Missing => 1,
            Self::Inoperable => 2,
            Self::Outdated => 3,
            Self::Drifted => 4,
            Self::Extra => 5,
            Self::Running => 6,
            Self::SkippedSuspended => 7,
            Self::Current => 8,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Self::Current => "enrolled (CURRENT)",
            Self::Missing => "missing",
            Self::Extra => "extra (out of scope)",
            Self::Failed => "failed",
            Self::Outdated => "outdated",
            Self::Inoperable => "inoperable",
            Self::SkippedSuspended => "skipped (suspended)",
            Self::Drifted => "drifted",
            Self::Running => "in progress",
        }
    }

    fn tag(&self) -> &'static str {
        match self {
            Self::Current => "CURRENT",
            Self::Missing => "MISSING",
            Self::Extra => "EXTRA",
            Self::Failed => "FAILED",
            Self::Outdated => "OUTDATED",
            Self::Inoperable => "INOPERABLE",
            Self::SkippedSuspended => "SUSPENDED",
            Self::Drifted => "DRIFTED",
            Self::Running => "RUNNING",
        }
    }
}

/// One account (and region) with its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub account: AccountId,
    pub name: String,
    pub ou_path: String,
    pub region: Option<String>,
    pub state: State,
    /// What was found, in AWS's words where there are some.
    pub detail: String,
    /// What to do, for failures.
    pub advice: Option<String>,
    /// CURRENT through the per-account override `CreateOIDCProvider=false`: the account
    /// already held Port's OIDC provider, and its stack reuses it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reuses_oidc_provider: bool,
}

/// Where an account outside the read tree lives: `(name, path)`.
pub type Located = BTreeMap<AccountId, (String, String)>;

/// Desired × actual → one row per stack instance, plus one per desired account without any.
/// `located` names accounts outside the targets (extra or skipped instances).
pub fn classify(exp: &Expansion, instances: &[StackInstance], located: &Located) -> Vec<Row> {
    let entries: BTreeMap<&AccountId, &shared::core::Entry> = exp
        .included
        .iter()
        .chain(&exp.skipped)
        .map(|e| (&e.id, e))
        .collect();
    let desired: BTreeSet<&AccountId> = exp.included.iter().map(|e| &e.id).collect();
    let mut rows = Vec::new();
    let mut seen: BTreeSet<&AccountId> = BTreeSet::new();
    for i in instances {
        seen.insert(&i.account);
        let entry = entries.get(&i.account);
        let wanted = desired.contains(&i.account);
        let reason = i.status_reason.clone().unwrap_or_default();
        let (state, detail, advice) = if i.is_busy() {
            (
                State::Running,
                format!("{:?}", i.detailed).to_uppercase(),
                None,
            )
        } else if i.detailed == DetailedStatus::SkippedSuspendedAccount {
            (
                State::SkippedSuspended,
                "the account is suspended; StackSets skip it".to_owned(),
                None,
            )
        } else if !wanted {
            let why = match entry.map(|e| &e.reason) {
                Some(Reason::ManagementAccount) => "it is the management account".to_owned(),
                Some(r) => r.to_string(),
                None => "the account is not under any target OU".to_owned(),
            };
            (
                State::Extra,
                format!("out of scope: {why}"),
                Some(
                    "The next reconcile removes it, unless OnAccountLeavesScope is RETAIN."
                        .to_owned(),
                ),
            )
        } else if i.detailed == DetailedStatus::Failed {
            let r = if reason.is_empty() {
                "the last operation failed".to_owned()
            } else {
                reason.clone()
            };
            (
                State::Failed,
                r.clone(),
                Some(advise(i.account.as_str(), &r)),
            )
        } else if i.status == InstanceStatus::Inoperable {
            (State::Inoperable, non_empty(&reason, "INOPERABLE"), None)
        } else if i.status == InstanceStatus::Outdated {
            (State::Outdated, non_empty(&reason, "OUTDATED"), None)
        } else if i.drift == DriftStatus::Drifted {
            (
                State::Drifted,
                "the role was changed outside CloudFormation (last drift detection)".to_owned(),
                Some("The next reconcile re-applies the template to it.".to_owned()),
            )
        } else {
            (State::Current, "CURRENT".to_owned(), None)
        };
        let (name, ou_path) = match (entry, located.get(&i.account)) {
            (Some(e), _) => (e.name.clone(), e.ou_path.clone()),
            (None, Some((n, p))) => (n.clone(), p.clone()),
            (None, None) => (String::new(), String::new()),
        };
        rows.push(Row {
            account: i.account.clone(),
            name,
            ou_path,
            region: Some(i.region.clone()),
            state,
            detail,
            advice,
            reuses_oidc_provider: false,
        });
    }
    for e in &exp.included {
        if !seen.contains(&e.id) {
            rows.push(Row {
                account: e.id.clone(),
                name: e.name.clone(),
                ou_path: e.ou_path.clone(),
                region: None,
                state: State::Missing,
                detail: "in scope, but it has no stack instance".into(),
                advice: Some("The next reconcile creates it.".into()),
                reuses_oidc_provider: false,
            });
        }
    }
    rows.sort_by(|a, b| {
        (a.state.rank(), &a.name, &a.account, &a.region).cmp(&(
            b.state.rank(),
            &b.name,
            &b.account,
            &b.region,
        ))
    });
    rows
}

/// Marks the CURRENT rows of `reusing` (accounts an operation made reuse their existing OIDC
/// provider, see `shared::engine::is_oidc_reuse`).
pub fn mark_oidc_reuse(rows: &mut [Row], reusing: &BTreeSet<AccountId>) {
    for r in rows {
        if r.state == State::Current && reusing.contains(&r.account) {
            r.reuses_oidc_provider = true;
            r.detail = "CURRENT; reuses an existing OIDC provider (per-account override \
                        CreateOIDCProvider=false)"
                .into();
        }
    }
}

fn non_empty(s: &str, or: &str) -> String {
    if s.is_empty() {
        or.to_owned()
    } else {
        s.to_owned()
    }
}

struct Snapshot {
    info: StackSetInfo,
    rows: Vec<Row>,
    operations: Vec<Operation>,
    /// The newest drift detection a scheduled run started (at its end, after its reconcile).
    last_check: Option<Operation>,
    /// The newest succeeded change this project made.
    last_change: Option<Operation>,
}

/// The newest operation that `pick` accepts (by start time: ISO 8601 UTC strings order as
/// times).
fn newest(ops: &[Operation], pick: fn(&Operation) -> bool) -> Option<Operation> {
    ops.iter()
        .filter(|o| pick(o))
        .max_by(|a, b| when(a).cmp(when(b)))
        .cloned()
}

fn when(o: &Operation) -> &str {
    o.started.as_deref().unwrap_or("")
}

impl Snapshot {
    fn running(&self) -> Option<&Operation> {
        self.operations.iter().find(|o| o.is_active())
    }
    /// Accounts the scope wants or an operation is working on, and how many of them are done.
    fn progress(&self) -> (u64, u64) {
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

/// The most accounts outside the targets that status looks up by name.
const LOCATE_MAX: usize = 25;

/// Names and paths of instance accounts the tree does not hold (a few calls each, bounded).
pub(crate) async fn locate<O: OrganizationsApi>(
    api: &O,
    tree: &mut OrgTree,
    instances: &[StackInstance],
    located: &mut Located,
) {
    let wanted: BTreeSet<&AccountId> = instances
        .iter()
        .map(|i| &i.account)
        .filter(|a| !tree.accounts.contains_key(*a) && !located.contains_key(*a))
        .collect();
    for a in wanted.into_iter().take(LOCATE_MAX) {
        let Ok((name, _)) = api.describe_account(a).await else {
            located.insert(
                a.clone(),
                (String::new(), shared::core::NOT_IN_ORGANIZATION.into()),
            );
            continue;
        };
        let Ok(parent) = api.parent_of(a.as_str()).await else {
            continue;
        };
        // Climb until a node the tree already names (or the root), naming OUs on the way.
        let mut cur = parent.clone();
        for _ in 0..8 {
            if tree.nodes.contains_key(&cur.id) {
                break;
            }
            if cur.is_root {
                tree.nodes.insert(
                    cur.id.clone(),
                    OrgNode {
                        id: cur.id.clone(),
                        name: "Root".into(),
                        parent: None,
                    },
                );
                break;
            }
            let (Ok(n), Ok(up)) = (api.ou_name(&cur.id).await, api.parent_of(&cur.id).await) else {
                break;
            };
            tree.nodes.insert(
                cur.id.clone(),
                OrgNode {
                    id: cur.id.clone(),
                    name: n,
                    parent: Some(up.id.clone()),
                },
            );
            cur = up;
        }
        located.insert(a.clone(), (name, tree.path(&parent.id)));
    }
}

async fn snapshot<O: OrganizationsApi>(
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

pub async fn run(args: StatusArgs, color: bool) -> ExitCode {
    let scope = match parse_scope(&args.scope) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let conf = load_config().await;
    let org = SdkOrganizations::new(&conf);
    // The StackSet's calls carry the CallAs the facts decide (management account: SELF;
    // delegated administrator: DELEGATED_ADMIN).
    let declared = match args.stack_set.declared() {
        Ok(d) => d,
        Err(e) => return fail(2, &e.to_string()),
    };
    let mode = match deploy_mode(&org, &SdkIdentity::new(&conf), declared).await {
        Ok((_, m)) => m,
        Err(e) => return fail(1, &e.to_string()),
    };
    let cfn = CfnStackSets::calling_as(&conf, mode.call_as);
    let region = conf
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "no region".into());
    let name = args.stack_set.stack_set_name.clone();
    let (mut tree, _) = match read_target_subtrees(&org, &scope, DEFAULT_CONCURRENCY).await {
        Ok(x) => x,
        Err(e) => return fail(1, &e.to_string()),
    };
    let exp = match expand(&scope, &tree) {
        Ok(x) => x,
        Err(e) => return fail(2, &e.to_string()),
    };
    let mut located = Located::new();
    let mut snap = match snapshot(&org, &cfn, &name, &exp, &mut tree, &mut located).await {
        Ok(s) => s,
        Err(e) => return fail(1, &e.to_string()),
    };
    if args.watch && snap.running().is_some() {
        let interactive = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        let target = if interactive {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let (done, total) = snap.progress();
        let bar = ProgressBar::with_draw_target(Some(total), target);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {msg:32} [{bar:30}] {pos}/{len} accounts  {elapsed}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_position(done);
        let interval = Duration::from_secs_f64(args.interval.clamp(0.1, 60.0));
        while let Some(op) = snap.running() {
            bar.set_message(format!("{} {}", op.action, op.status));
            bar.enable_steady_tick(Duration::from_millis(120));
            tokio::time::sleep(interval).await;
            snap = match snapshot(&org, &cfn, &name, &exp, &mut tree, &mut located).await {
                Ok(s) => s,
                Err(e) => {
                    bar.abandon();
                    return fail(1, &e.to_string());
                }
            };
            let (done, total) = snap.progress();
            bar.set_length(total);
            bar.set_position(done);
        }
        bar.finish_and_clear();
    }
    match args.output {
        Output::Json => println!("{}", to_json(&scope, &exp, &region, &snap)),
        Output::Text => print!("{}", to_text(&scope, &exp, &region, &snap, color)),
    }
    ExitCode::SUCCESS
}

const WIDTH: usize = 100;

fn to_text(scope: &Scope, exp: &Expansion, region: &str, s: &Snapshot, color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        p.bold(&format!(
            "StackSet {} in {region}: {}, {}, auto-deployment {}",
            s.info.name,
            if s.info.status.is_empty() {
                "?"
            } else {
                &s.info.status
            },
            if s.info.service_managed {
                "service-managed"
            } else {
                "SELF-MANAGED"
            },
            if s.info.auto_deployment { "ON" } else { "off" }
        ))
    );
    let instances = s.rows.iter().filter(|r| r.region.is_some()).count();
    let _ = writeln!(
        out,
        "Scope: {} over {} target{}: {} account{} desired, {} stack instance{}",
        exp.mode,
        scope.targets.len(),
        if scope.targets.len() == 1 { "" } else { "s" },
        exp.included.len(),
        if exp.included.len() == 1 { "" } else { "s" },
        instances,
        if instances == 1 { "" } else { "s" },
    );
    let _ = writeln!(out);
    for st in State::ALL {
        let n = s.rows.iter().filter(|r| r.state == st).count();
        let num = format!("{n:>4}");
        let num = match (st, n) {
            (_, 0) => p.dim(&num),
            (State::Current, _) => p.green(&num),
            (State::Failed | State::Missing | State::Inoperable, _) => p.red(&num),
            _ => p.yellow(&num),
        };
        let _ = writeln!(out, "  {:<22}{num}", st.label());
    }
    let reusing: Vec<&Row> = s.rows.iter().filter(|r| r.reuses_oidc_provider).collect();
    if !reusing.is_empty() {
        let heading = format!(
            "{} account{} reuse{} an existing OIDC provider (per-account override \
             CreateOIDCProvider=false: Port's provider was already there):",
            reusing.len(),
            if reusing.len() == 1 { "" } else { "s" },
            if reusing.len() == 1 { "s" } else { "" },
        );
        out.push('\n');
        out.push_str(&wrap(&heading, "", 0, WIDTH));
        for r in reusing.iter().take(REUSE_LISTED) {
            let _ = writeln!(out, "  {}  {}", r.account, clip(&r.name, 24).trim_end());
        }
        if reusing.len() > REUSE_LISTED {
            let _ = writeln!(
                out,
                "  … and {} more (--output json lists them all)",
                reusing.len() - REUSE_LISTED
            );
        }
    }
    let attention: Vec<&Row> = s
        .rows
        .iter()
        .filter(|r| r.state != State::Current)
        .collect();
    if attention.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            p.green("Every account in scope is enrolled and CURRENT.")
        );
    } else {
        let _ = writeln!(out, "\nNeeds attention:");
        for r in attention {
            let tag = format!("{:<10}", r.state.tag());
            let tag = match r.state {
                State::Failed | State::Missing | State::Inoperable => p.red(&tag),
                _ => p.yellow(&tag),
            };
            let line = format!(
                "  {tag} {}  {:<24}  {}",
                r.account,
                clip(&r.name, 24),
                r.region.as_deref().unwrap_or("-"),
            );
            let _ = writeln!(out, "{}", line.trim_end());
            let indent = 13;
            if !r.ou_path.is_empty() {
                let first = format!("{}{}", " ".repeat(indent), p.dim("in "));
                out.push_str(&wrap(&r.ou_path, &first, indent + 3, WIDTH));
            }
            out.push_str(&wrap(&r.detail, &" ".repeat(indent), indent, WIDTH));
            if let Some(a) = &r.advice {
                let first = format!("{}{}", " ".repeat(indent), p.bold("fix: "));
                out.push_str(&wrap(a, &first, indent + 5, WIDTH));
            }
        }
    }
    let _ = writeln!(out);
    let utc = |o: &Operation| {
        format!(
            "{} UTC",
            when(o).get(..19).unwrap_or(when(o)).replace('T', " ")
        )
    };
    match &s.last_check {
        Some(o) => {
            let _ = writeln!(
                out,
                "Last scheduled re-check:   {}  (its drift detection {})",
                utc(o),
                clip(&o.id, 36)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "Last scheduled re-check:   none in the last {HISTORY_OPS} StackSet operations"
            );
        }
    }
    match &s.last_change {
        Some(o) => {
            let _ = writeln!(out, "Last change by this stack: {}  ({})", utc(o), o.action);
        }
        None => {
            let _ = writeln!(
                out,
                "Last change by this stack: none in the last {HISTORY_OPS} StackSet operations"
            );
        }
    }
    let _ = writeln!(out, "\nRecent StackSet operations (newest first):");
    if s.operations.is_empty() {
        let _ = writeln!(out, "  none yet");
    }
    for o in &s.operations {
        let status = format!("{:<10}", o.status);
        let status = match o.status.as_str() {
            "SUCCEEDED" => p.green(&status),
            "FAILED" | "STOPPED" => p.red(&status),
            _ => p.yellow(&status),
        };
        let started = o
            .started
            .as_deref()
            .map(|t| format!("{} UTC", t.get(..19).unwrap_or(t).replace('T', " ")))
            .unwrap_or_else(|| "-".into());
        let took = match (o.duration_secs, o.is_active()) {
            (_, true) => "running".to_owned(),
            (Some(d), _) => human_secs(d),
            (None, _) => "-".into(),
        };
        let _ = writeln!(
            out,
            "  {:<13}{status} {started:<23} {took:>8}  {}",
            o.action,
            clip(&o.id, 36)
        );
        if let Some(r) = o.status_reason.as_deref().filter(|r| !r.is_empty()) {
            out.push_str(&wrap(r, "    ", 4, WIDTH));
        }
    }
    out
}

fn human_secs(d: f64) -> String {
    if d < 60.0 {
        format!("{d:.1} s")
    } else {
        let m = (d / 60.0).floor();
        format!("{m:.0} m {:.0} s", d - m * 60.0)
    }
}

fn to_json(scope: &Scope, exp: &Expansion, region: &str, s: &Snapshot) -> String {
    let counts: BTreeMap<State, usize> = State::ALL
        .iter()
        .map(|st| (*st, s.rows.iter().filter(|r| r.state == *st).count()))
        .collect();
    let converged = s.rows.iter().all(|r| r.state == State::Current);
    let v = json!({
        "stack_set": s.info,
        "region": region,
        "account_scope": exp.mode,
        "targets": scope.targets,
        "desired": exp.included.iter().map(|e| &e.id).collect::<Vec<_>>(),
        "summary": counts.iter().map(|(k, v)| (serde_json::to_value(k).ok().and_then(|x| x.as_str().map(str::to_owned)).unwrap_or_default(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "converged": converged,
        "accounts": s.rows,
        "reusing_oidc_provider": s.rows.iter().filter(|r| r.reuses_oidc_provider).map(|r| &r.account).collect::<Vec<_>>(),
        "operations": s.operations,
        "last_scheduled_check": s.last_check,
        "last_change": s.last_change,
        "running": s.running().map(|o| &o.id),
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::core::{AccountScope, AccountState, Entry};

    fn id(s: &str) -> AccountId {
        AccountId::parse(s).unwrap()
    }

    fn entry(a: &str, reason: Reason) -> Entry {
        Entry {
            id: id(a),
            name: format!("n{a}"),
            ou_path: "Root/Prod (ou-ab12-aaaaaaaa)".into(),
            state: AccountState::Active,
            reason,
        }
    }

    fn inst(
        a: &str,
        status: InstanceStatus,
        d: DetailedStatus,
        drift: DriftStatus,
    ) -> StackInstance {
        StackInstance {
            account: id(a),
            region: "us-east-1".into(),
            status,
            detailed: d,
            status_reason: (d == DetailedStatus::Failed)
                .then(|| "Resource AWS::IAM::Role already exists".to_owned()),
            drift,
            ou: None,
        }
    }

    #[test]
    fn every_state_is_told_apart() {
        let under = || Reason::UnderTarget {
            target: "Root/Prod".into(),
        };
        let exp = Expansion {
            organization_id: "o-x".into(),
            management_account_id: None,
            mode: AccountScope::Difference,
            included: [
                "111111111111",
                "222222222222",
                "333333333333",
                "444444444444",
                "555555555555",
            ]
            .iter()
            .map(|a| entry(a, under()))
            .collect(),
            skipped: vec![entry("666666666666", Reason::ExcludedByList)],
        };
        use DetailedStatus as D;
        use InstanceStatus as S;
        let instances = vec![
            inst(
                "111111111111",
                S::Current,
                D::Succeeded,
                DriftStatus::InSync,
            ),
            inst(
                "222222222222",
                S::Outdated,
                D::Failed,
                DriftStatus::NotChecked,
            ),
            inst(
                "333333333333",
                S::Current,
                D::Succeeded,
                DriftStatus::Drifted,
            ),
            inst(
                "444444444444",
                S::Outdated,
                D::Running,
                DriftStatus::NotChecked,
            ),
            inst(
                "666666666666",
                S::Current,
                D::Succeeded,
                DriftStatus::InSync,
            ),
            inst(
                "777777777777",
                S::Outdated,
                D::SkippedSuspendedAccount,
                DriftStatus::NotChecked,
            ),
        ];
        let rows = classify(&exp, &instances, &Located::new());
        let state = |a: &str| rows.iter().find(|r| r.account.as_str() == a).unwrap().state;
        assert_eq!(state("111111111111"), State::Current);
        assert_eq!(state("222222222222"), State::Failed);
        assert_eq!(state("333333333333"), State::Drifted);
        assert_eq!(state("444444444444"), State::Running);
        assert_eq!(state("555555555555"), State::Missing);
        assert_eq!(state("666666666666"), State::Extra);
        assert_eq!(state("777777777777"), State::SkippedSuspended);
        let failed = rows.iter().find(|r| r.state == State::Failed).unwrap();
        assert!(failed
            .advice
            .as_deref()
            .unwrap()
            .contains("cannot reuse an existing role"));
        let extra = rows.iter().find(|r| r.state == State::Extra).unwrap();
        assert!(extra.detail.contains("DIFFERENCE"), "{}", extra.detail);
    }
}
