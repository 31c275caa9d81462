//! `orgscope status`: desired accounts (the scope's expansion) against actual stack instances,
//! and the last StackSet operations. Read-only.
//!
//! This module holds the arguments and `run`, which wires the rest: `state` (where an account
//! stands), `rows` (desired × actual into rows), `locate` (accounts outside the targets),
//! `snapshot` (one read of the StackSet), `watch` (--watch) and `render` (text and json).

use std::process::ExitCode;

use shared::adapters::{load_config, CfnStackSets, SdkIdentity, SdkOrganizations};
use shared::core::expand;
use shared::preflight::deploy_mode;
use shared::read::{read_target_subtrees, DEFAULT_CONCURRENCY};

use crate::{fail, parse_scope, Output, ScopeArgs, StackSetArgs};

mod locate;
mod render;
mod rows;
mod snapshot;
mod state;
mod watch;

pub(crate) use locate::locate;
pub use rows::{classify, mark_oidc_reuse, Located, Row};
pub use state::State;

use render::{to_json, to_text};
use snapshot::snapshot;

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
        snap = match watch::until_idle(
            args.interval,
            snap,
            &org,
            &cfn,
            &name,
            &exp,
            &mut tree,
            &mut located,
        )
        .await
        {
            Ok(s) => s,
            Err(code) => return code,
        };
    }
    match args.output {
        Output::Json => println!("{}", to_json(&scope, &exp, &region, &snap)),
        Output::Text => print!("{}", to_text(&scope, &exp, &region, &snap, color)),
    }
    ExitCode::SUCCESS
}
