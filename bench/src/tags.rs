//! What a tag filter costs at 1,000 to 10,000 candidates, in Organizations calls counted
//! against the in-process organization (`MemOrg`), and the time those calls take at the
//! sustained 5 Organizations calls per second this project plans for (time = calls / 5; no
//! clock is involved):
//!
//! - (a) a one-account tag event: the engine's pass for that account
//!   (`Engine::reconcile_accounts`, what org-events runs for an event naming one account);
//! - (b) the custom resource's Create: its passes one slice per invocation, in the order
//!   `functions/custom-resource/src/handler/process.rs` runs them (the first cuts the slices
//!   with `CUSTOM_RESOURCE_TAG_READS_PER_STEP`, the continuation carries the next), until the
//!   last; against CloudFormation's hour;
//! - (c) the scheduled sweep: passes with `TagReads::Sweep` at org-events' default budget
//!   (`DEFAULT_TAG_READS_PER_RUN`) for consecutive schedule ticks, until every candidate's
//!   tags were read once; a tag change whose event was missed is repaired within them. The
//!   time until convergence is the runs × the schedule's period (template.yaml's
//!   `ReconcileSchedule` default).
//!
//! Used by `src/bin/tag_cost.rs` (BENCHMARKS.md's table) and `tests/tag_cost.rs` (which
//! asserts the counts).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use shared::core::{
    schedule_interval, AccountId, AccountScope, PlanPolicy, Scope, TagFilter, TagReads, TargetId,
    CUSTOM_RESOURCE_TAG_READS_PER_STEP, DEFAULT_TAG_READS_PER_RUN,
};
use shared::engine::{Engine, EngineConfig, Outcome, Report, Request};
use shared::ports::TokioClock;
use test_support::small_tree;

use crate::{MemOrg, MemStackSet};

/// AWS Organizations' sustained rate the figures assume (issue 23: "a sustained 5
/// Organizations calls/s").
pub const CALLS_PER_SECOND: u32 = 5;
/// CloudFormation waits at most this long for a custom resource (`ServiceTimeout` 3600 s).
pub const CLOUDFORMATION_HOUR: u32 = 3_600;
/// One invocation's time: the functions' `Timeout` (900 s) less the custom resource's 30 s
/// margin.
pub const INVOCATION_SECONDS: u32 = 870;

const PROD: &str = "ou-ab12-prod0001";
const SET: &str = "port-integration";

/// The figures at one candidate count.
#[derive(Debug, Clone, Default)]
pub struct TagFigures {
    pub candidates: usize,
    /// (a): Organizations calls of a one-account tag event, and its tag reads.
    pub event_calls: u32,
    pub event_tag_calls: u32,
    /// (b): the Create's invocations (one slice each), its Organizations calls in all, its tag
    /// reads in all, the most one invocation made; and whether it enrolled exactly the
    /// tagged candidates.
    pub create_steps: u32,
    pub create_calls: u32,
    pub create_tag_calls: u32,
    pub create_most_step_calls: u32,
    pub create_right: bool,
    /// (c): the sweep's slices (`of`: runs until every candidate was read), the most
    /// Organizations calls and tag reads one run made, whether every candidate was read
    /// exactly once in `of` runs, the run (1-based) that repaired the missed tag change, and
    /// whether the StackSet then held exactly the tagged candidates.
    pub sweep_of: u32,
    pub sweep_most_calls: u32,
    pub sweep_most_tag_calls: u32,
    pub sweep_each_once: bool,
    pub sweep_repaired_at: Option<u32>,
    pub sweep_right: bool,
    /// The schedule's period (template.yaml's `ReconcileSchedule` default), seconds.
    pub schedule_secs: u64,
}

/// Seconds `calls` take at [`CALLS_PER_SECOND`].
pub fn seconds(calls: u32) -> u32 {
    calls.div_ceil(CALLS_PER_SECOND)
}

fn id(n: usize) -> AccountId {
    AccountId::parse(&format!("{}", 100_000_000_000 + n as u64)).expect("account ID")
}

/// `ReconcileSchedule`'s default in template.yaml, and its period in seconds.
pub fn template_schedule() -> (String, u64) {
    let text =
        std::fs::read_to_string(crate::repo_root().join("template.yaml")).expect("template.yaml");
    let mut lines = text.lines().skip_while(|l| *l != "  ReconcileSchedule:");
    let expr = lines
        .find_map(|l| l.trim().strip_prefix("Default: "))
        .expect("ReconcileSchedule's default")
        .trim_matches(['\'', '"'])
        .to_owned();
    let secs = schedule_interval(&expr).expect("a schedule expression");
    (expr, secs)
}

struct World {
    org: MemOrg,
    set: MemStackSet,
    scope: Scope,
    regions: BTreeSet<String>,
}

impl World {
    /// `n` accounts in Prod (the target), every other one tagged env=prod: `n` candidates.
    fn new(n: usize) -> Self {
        let org = MemOrg::new(small_tree(&[("Prod", PROD)], n), Duration::ZERO);
        for i in 1..=n {
            if i % 2 == 0 {
                org.set_tags(&id(i), &[("env", "prod")]);
            }
        }
        let set = MemStackSet::new(SET, org.clone(), Duration::ZERO);
        let scope = Scope {
            targets: [TargetId::parse(PROD).expect("OU")].into_iter().collect(),
            mode: AccountScope::All,
            accounts: BTreeSet::new(),
            tags: Default::default(),
        }
        .with_tags(TagFilter::parse("env=prod", "").expect("filter"));
        Self {
            org,
            set,
            scope,
            regions: ["us-east-1".to_owned()].into_iter().collect(),
        }
    }

    async fn pass(&self, tag_reads: TagReads, only: Option<&[AccountId]>) -> (Report, u32, u32) {
        let req = Request {
            scope: &self.scope,
            stack_set: SET,
            regions: &self.regions,
            policy: PlanPolicy::default(),
            seed: "bench",
            deadline: Instant::now() + Duration::from_secs(600),
            done_kinds: &[],
            user_change: false,
            tag_reads,
        };
        let engine = Engine {
            org: &self.org,
            stacksets: &self.set,
            clock: &TokioClock,
            config: EngineConfig {
                poll_initial: Duration::from_millis(1),
                poll_max: Duration::from_millis(1),
                ..EngineConfig::default()
            },
        };
        let (calls, tags) = (self.org.calls.total(), self.org.tag_calls());
        let outcome = match only {
            None => engine.reconcile(&req).await,
            Some(a) => engine.reconcile_accounts(&req, a).await,
        };
        let report = match outcome.expect("reconcile") {
            Outcome::Done(r) => *r,
            Outcome::Pending { operation, .. } => panic!("still pending: {operation:?}"),
        };
        assert!(report.succeeded(), "{:?}", report.failures);
        (
            report,
            self.org.calls.total() - calls,
            self.org.tag_calls() - tags,
        )
    }

    fn tagged(&self, n: usize, except: &[usize]) -> BTreeSet<AccountId> {
        (1..=n)
            .filter(|i| i % 2 == 0 && !except.contains(i))
            .map(id)
            .collect()
    }
}

/// The figures at `n` candidates.
pub async fn tag_figures(n: usize) -> TagFigures {
    let w = World::new(n);
    let mut f = TagFigures {
        candidates: n,
        schedule_secs: template_schedule().1,
        ..TagFigures::default()
    };

    // (b) The custom resource's Create: one slice per invocation until the last.
    let mut reads = TagReads::Sweep {
        budget: CUSTOM_RESOURCE_TAG_READS_PER_STEP,
        tick: 0,
    };
    loop {
        let (report, calls, tags) = w.pass(reads, None).await;
        f.create_steps += 1;
        f.create_calls += calls;
        f.create_tag_calls += tags;
        f.create_most_step_calls = f.create_most_step_calls.max(calls);
        match report.tag_slice.next() {
            Some(next) => reads = TagReads::Slice(next),
            None => break,
        }
    }
    f.create_right = w.set.enrolled() == w.tagged(n, &[]);

    // (a) A tag event for one account: account 2 loses env=prod; its pass withdraws it.
    w.org.set_tags(&id(2), &[("env", "dev")]);
    let (_, calls, tags) = w.pass(TagReads::All, Some(&[id(2)])).await;
    f.event_calls = calls;
    f.event_tag_calls = tags;
    assert!(!w.set.enrolled().contains(&id(2)), "the event withdrew it");

    // (c) The sweep, with a missed event: account 4 loses env=prod and no event says so.
    w.org.set_tags(&id(4), &[("env", "dev")]);
    let before: Vec<u32> = (1..=n).map(|i| w.org.tag_calls_of(&id(i))).collect();
    let first_tick = 1_000;
    let mut tick = first_tick;
    loop {
        let (report, calls, tags) = w
            .pass(
                TagReads::Sweep {
                    budget: DEFAULT_TAG_READS_PER_RUN,
                    tick,
                },
                None,
            )
            .await;
        let run = (tick - first_tick + 1) as u32;
        f.sweep_of = report.tag_slice.of;
        f.sweep_most_calls = f.sweep_most_calls.max(calls);
        f.sweep_most_tag_calls = f.sweep_most_tag_calls.max(tags);
        if f.sweep_repaired_at.is_none() && !w.set.enrolled().contains(&id(4)) {
            f.sweep_repaired_at = Some(run);
        }
        tick += 1;
        if run >= report.tag_slice.of {
            break;
        }
    }
    f.sweep_each_once = (1..=n).all(|i| w.org.tag_calls_of(&id(i)) == before[i - 1] + 1);
    f.sweep_right = w.set.enrolled() == w.tagged(n, &[2, 4]);
    f
}

fn hm(secs: u64) -> String {
    match secs {
        s if s >= 3_600 => format!("{} h {:02} min", s / 3_600, (s % 3_600) / 60),
        s if s >= 60 => format!("{} min {:02} s", s / 60, s % 60),
        s => format!("{s} s"),
    }
}

/// BENCHMARKS.md's section: the table and how to read it.
pub fn render(figs: &[TagFigures], machine: &str) -> String {
    let (expr, period) = template_schedule();
    let mut t = String::new();
    writeln!(
        t,
        "### Tag filter at scale: calls and time at 5 Organizations calls/s"
    )
    .unwrap();
    writeln!(t).unwrap();
    writeln!(
        t,
        "Command: `scripts/bench tags` (`cargo run -p bench --bin tag_cost`). \
         Machine: {machine}. Organizations calls counted against the in-process organization \
         (`MemOrg`, pages of 20 as AWS gives them) with `TargetAccountTags` = `env=prod` over \
         one target OU holding all the candidates, half of them tagged; time = calls / \
         {CALLS_PER_SECOND} (the sustained rate this project plans for), computed from the \
         counts, not measured. (a) is the engine's pass for the account; org-events adds its \
         triage and its read after a change: 7 calls on a warm instance, 9 on a cold one \
         (`functions/org-events/tests/tags.rs`, asserted). The custom resource's passes read at most \
         {CUSTOM_RESOURCE_TAG_READS_PER_STEP} tags per invocation, the schedule at most \
         {DEFAULT_TAG_READS_PER_RUN} per run (`TAG_READS_PER_RUN`); the schedule is \
         template.yaml's default `ReconcileSchedule`, `{expr}` ({period} s). StackSet calls and \
         the custom resource's preflight (a few calls per invocation) are not counted. \
         `bench/tests/tag_cost.rs` asserts the counts."
    )
    .unwrap();
    writeln!(t).unwrap();
    writeln!(
        t,
        "| candidates | (a) one-account tag event, the engine's pass: calls (tag reads), time | (b) Create: \
         invocations, calls (tag reads), time; most in one invocation | (b) within \
         CloudFormation's hour? | (c) schedule: calls per run at most (tag reads), time | (c) \
         runs until every account is re-read; a missed tag change repaired at run | (c) time \
         until convergence |"
    )
    .unwrap();
    writeln!(t, "|---:|---|---|---|---|---|---|").unwrap();
    for f in figs {
        let create_secs = seconds(f.create_calls);
        let step_secs = seconds(f.create_most_step_calls);
        writeln!(
            t,
            "| {} | {} ({}), {} | {} invocation(s), {} ({}), {}; {} calls ({}) | {} ({} s of \
             {CLOUDFORMATION_HOUR} s; each invocation ≤ {INVOCATION_SECONDS} s) | {} ({}), {} | \
             {} run(s), each account read exactly once: {}; repaired at run {} | {} ({} × {}) |",
            f.candidates,
            f.event_calls,
            f.event_tag_calls,
            hm(seconds(f.event_calls).into()),
            f.create_steps,
            f.create_calls,
            f.create_tag_calls,
            hm(create_secs.into()),
            f.create_most_step_calls,
            hm(step_secs.into()),
            if create_secs < CLOUDFORMATION_HOUR && step_secs <= INVOCATION_SECONDS {
                "yes"
            } else {
                "**no**"
            },
            create_secs,
            f.sweep_most_calls,
            f.sweep_most_tag_calls,
            hm(seconds(f.sweep_most_calls).into()),
            f.sweep_of,
            if f.sweep_each_once { "yes" } else { "**no**" },
            f.sweep_repaired_at
                .map_or("**never**".to_owned(), |r| r.to_string()),
            hm(u64::from(f.sweep_of) * f.schedule_secs),
            f.sweep_of,
            hm(f.schedule_secs),
        )
        .unwrap();
    }
    writeln!(t).unwrap();
    writeln!(
        t,
        "Every row: the Create enrolled exactly the tagged candidates: {}; after the sweep the \
         StackSet held exactly the tagged candidates: {}.",
        figs.iter().all(|f| f.create_right),
        figs.iter().all(|f| f.sweep_right)
    )
    .unwrap();
    t
}

/// What org-events' own scheduled runs read: its real `Handler` (the configuration from the
/// environment, `TAG_READS_PER_RUN` = `budget`, template.yaml's default schedule) over `n`
/// candidates in Prod, invoked with scheduled events one schedule period apart. Per run: the
/// `ListTagsForResource` calls; then whether every candidate's tags were read exactly once,
/// and whether the StackSet holds exactly the tagged candidates.
pub async fn org_events_sweep(n: usize, budget: u32, runs: usize) -> (Vec<u32>, bool, bool) {
    use org_events::time::format_rfc3339;
    use org_events::{Config, Handler, Invocation};

    let w = World::new(n);
    let tagged = w.tagged(n, &[]);
    let World {
        org, set, scope, ..
    } = w;
    let env: std::collections::BTreeMap<&str, String> = [
        ("TARGET_OU_IDS", PROD.to_owned()),
        ("ACCOUNT_SCOPE", "ALL".into()),
        ("TARGET_ACCOUNT_IDS", String::new()),
        ("STACK_SET_NAME", SET.into()),
        ("STACK_SET_REGIONS", "us-east-1".into()),
        ("TAG_READS_PER_RUN", budget.to_string()),
    ]
    .into();
    let mut config = Config::from_env(|k| env.get(k).cloned(), "us-east-1").expect("config");
    config.scope = scope;
    let h = Handler::new(org.clone(), set, TokioClock, config);
    let period = template_schedule().1;
    let sample = std::fs::read_to_string(crate::repo_root().join("events/scheduled.json"))
        .expect("events/scheduled.json");
    let mut per_run = Vec::new();
    // The scheduled times: whole periods since the epoch, 6 hours apart, from 2024.
    let first = 1_704_067_200 / period;
    for k in 0..runs as u64 {
        let mut event: serde_json::Value = serde_json::from_str(&sample).expect("JSON");
        event["time"] = serde_json::json!(format_rfc3339(((first + k) * period) as f64));
        event["id"] = serde_json::json!(format!("bench-schedule-{k}"));
        let before = org.tag_calls();
        let inv = Invocation {
            request_id: format!("bench-{k:06}-0000-4000-8000-000000000000"),
            deadline: Instant::now() + Duration::from_secs(600),
        };
        let s = h.handle(&event, &inv).await.expect("scheduled run");
        assert!(s.failures.is_empty(), "{:?}", s.failures);
        per_run.push(org.tag_calls() - before);
    }
    let each_once = (1..=n).all(|i| org.tag_calls_of(&id(i)) == 1);
    let right = h.stacksets.inner.enrolled() == tagged;
    (per_run, each_once, right)
}
