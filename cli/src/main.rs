//! `orgscope`: preview, check and monitor the accounts Port's role reaches.

mod doctor;
mod preview;
mod render;
mod status;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use shared::adapters::{load_config, SdkOrganizations};
use shared::core::{RawList, Scope};
use shared::read::{read_target_subtrees, DEFAULT_CONCURRENCY};

/// Preview and check which AWS accounts receive Port's read-only role.
///
/// Run it with credentials for your AWS Organizations management account (the account that
/// shows "management account" in AWS Organizations). It only reads; it never changes anything.
#[derive(Parser, Debug)]
#[command(name = "orgscope", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The scope, exactly as the stack parameters take it.
#[derive(clap::Args, Debug, Clone)]
struct ScopeArgs {
    /// Comma-separated OU IDs (ou-abcd-12345678) or the root ID (r-abcd) for the whole
    /// organization. Accounts in child OUs are included.
    #[arg(long, env = "TARGET_OU_IDS")]
    target_ou_ids: String,
    /// ALL: every account under the OUs. INTERSECTION: only the listed accounts that are under
    /// the OUs. DIFFERENCE: every account under the OUs except the listed ones.
    #[arg(long, env = "ACCOUNT_SCOPE", default_value = "ALL")]
    account_scope: String,
    /// Comma-separated 12-digit account IDs, e.g. 123456789012,098765432109.
    #[arg(long, env = "TARGET_ACCOUNT_IDS", default_value = "")]
    target_account_ids: String,
    /// Only accounts with these account tags (the stack's TargetAccountTags): comma-separated
    /// terms, all must match; key=value, key=value1|value2 or key alone, e.g.
    /// env=prod|staging,team=payments. They narrow the accounts the target OUs give, before
    /// --account-scope with --target-account-ids applies. Empty: no tag filter.
    #[arg(long, env = "TARGET_ACCOUNT_TAGS", default_value = "")]
    target_account_tags: String,
    /// Accounts with any of these account tags are out, whatever else says (the stack's
    /// ExcludedAccountTags), e.g. port:exclude=true. Same syntax as --target-account-tags.
    #[arg(long, env = "EXCLUDED_ACCOUNT_TAGS", default_value = "")]
    excluded_account_tags: String,
}

/// Where the StackSet lives.
#[derive(clap::Args, Debug, Clone)]
struct StackSetArgs {
    /// The StackSet the stack created (its StackSetName parameter).
    #[arg(long, env = "STACK_SET_NAME", default_value = "Port-Integration-v3")]
    stack_set_name: String,
    /// The stack's ManagementAccountId parameter, to check it: empty when the stack is in the
    /// management account, its ID when the stack is in a delegated administrator. Without it,
    /// the mode is decided from the signed-in account alone.
    #[arg(long, env = "MANAGEMENT_ACCOUNT_ID")]
    management_account_id: Option<String>,
}

impl StackSetArgs {
    /// The declared mode, `Unknown` when not given.
    fn declared(&self) -> Result<shared::core::Declared, shared::core::ModeError> {
        match &self.management_account_id {
            None => Ok(shared::core::Declared::Unknown),
            Some(v) => shared::core::Declared::parse(Some(v)),
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum PlanOutput {
    Text,
    Json,
    /// A pull-request comment (needs --stack-set-name).
    Markdown,
}

#[derive(clap::Args, Debug)]
struct PlanArgs {
    #[command(flatten)]
    scope: ScopeArgs,
    #[arg(long, value_enum, default_value = "text")]
    output: PlanOutput,
    /// Compare the scope with this StackSet's stack instances (the stack's StackSetName
    /// parameter): which accounts would gain or lose Port's role if the stack took this scope.
    #[arg(long)]
    stack_set_name: Option<String>,
    /// With --stack-set-name: the stack's ManagementAccountId parameter (empty in the
    /// management account, its ID in a delegated administrator).
    #[arg(long, requires = "stack_set_name")]
    management_account_id: Option<String>,
    /// With --stack-set-name: the stack's OnAccountLeavesScope parameter, DELETE or RETAIN.
    #[arg(long, requires = "stack_set_name", default_value = "DELETE")]
    on_account_leaves_scope: String,
    /// With --stack-set-name: exit 0 when no account gains or loses the role, 2 when some do,
    /// 1 on any error (as `terraform plan -detailed-exitcode`).
    #[arg(long, requires = "stack_set_name")]
    detailed_exitcode: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show the exact accounts a scope expands to, each with the reason it is in or out.
    ///
    /// With --stack-set-name, compare the scope with what the StackSet has now: the accounts
    /// that would gain Port's role, those that would lose it, those unchanged, each with its
    /// reason. `--output markdown` prints a table for a pull-request comment, and
    /// `--detailed-exitcode` exits 0 for no change, 2 for changes, 1 for an error.
    Plan(PlanArgs),
    /// Check everything the stack needs before you deploy it (and after, when something is
    /// off): management account, trusted access, all features, region, every target OU and
    /// listed account, Port's OIDC provider and role, the StackSet, and the scope.
    ///
    /// Prints PASS, WARN or FAIL per check, each with what was found and the exact fix. Exits 1
    /// if any check fails. Read-only: it never changes anything in AWS.
    Doctor(doctor::DoctorArgs),
    /// Compare the accounts the scope wants with the StackSet's stack instances: enrolled,
    /// missing, extra, failed (with the fix), outdated, skipped, drifted; and the last StackSet
    /// operations. Read-only.
    ///
    /// With --watch it refreshes until the running operation ends, with a progress bar.
    Status(status::StatusArgs),
    /// Print a shell completion script, e.g. `orgscope completions bash > /etc/bash_completion.d/orgscope`.
    Completions { shell: clap_complete::Shell },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // Under --detailed-exitcode, 2 means "changes": a usage error must not read as one.
            let code = if !e.use_stderr() {
                0
            } else if std::env::args_os().any(|a| a == "--detailed-exitcode") {
                1
            } else {
                e.exit_code()
            };
            return ExitCode::from(u8::try_from(code).unwrap_or(1));
        }
    };
    init_logs();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(run(cli))
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ORGSCOPE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "orgscope",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Command::Doctor(args) => doctor::run(args, color()).await,
        Command::Status(args) => status::run(args, color()).await,
        Command::Plan(args) => plan(args).await,
    }
}

async fn plan(args: PlanArgs) -> ExitCode {
    if let Some(name) = args.stack_set_name.clone() {
        return plan_against(&args, &name).await;
    }
    let output = match args.output {
        PlanOutput::Text => Output::Text,
        PlanOutput::Json => Output::Json,
        PlanOutput::Markdown => {
            return fail(
                2,
                "--output markdown shows a change to a StackSet's scope: add --stack-set-name \
                 <the stack's StackSetName>",
            )
        }
    };
    let scope = match parse_scope(&args.scope) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let conf = load_config().await;
    let org = SdkOrganizations::new(&conf);
    let (tree, stats) = match read_target_subtrees(&org, &scope, DEFAULT_CONCURRENCY).await {
        Ok(x) => x,
        Err(e) => return fail(1, &e.to_string()),
    };
    let expansion = match shared::core::expand(&scope, &tree) {
        Ok(x) => x,
        Err(e) => return fail(2, &e.to_string()),
    };
    match output {
        Output::Json => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let written = render::write_plan_json(&mut out, &scope, &tree, &expansion, &stats)
                .map_err(std::io::Error::from)
                .and_then(|()| std::io::Write::write_all(&mut out, b"\n"))
                .and_then(|()| std::io::Write::flush(&mut out));
            if let Err(e) = written {
                return fail(1, &format!("cannot write the plan: {e}"));
            }
        }
        Output::Text => print!("{}", render::plan_text(&scope, &tree, &expansion, color())),
    }
    ExitCode::SUCCESS
}

/// `plan --stack-set-name`: the preview of the scope change. With --detailed-exitcode every
/// error exits 1 (2 means changes); without it, bad input exits 2 as elsewhere.
async fn plan_against(args: &PlanArgs, name: &str) -> ExitCode {
    let bad_input: u8 = if args.detailed_exitcode { 1 } else { 2 };
    let scope = match parse_scope(&args.scope) {
        Ok(s) => s,
        Err(_) if args.detailed_exitcode => return ExitCode::from(1),
        Err(code) => return code,
    };
    let name = match shared::core::parse_stack_set_name(name) {
        Ok(n) => n,
        Err(e) => return fail(bad_input, &e.to_string()),
    };
    let on_leave: shared::core::LeavePolicy = match args.on_account_leaves_scope.parse() {
        Ok(p) => p,
        Err(e) => return fail(bad_input, &e.to_string()),
    };
    let declared = match &args.management_account_id {
        None => shared::core::Declared::Unknown,
        Some(v) => match shared::core::Declared::parse(Some(v)) {
            Ok(d) => d,
            Err(e) => return fail(bad_input, &e.to_string()),
        },
    };
    let p = match preview::compute(scope, &name, declared, on_leave).await {
        Ok(p) => p,
        Err(e) => return fail(1, &e),
    };
    match args.output {
        PlanOutput::Text => print!("{}", preview::to_text(&p, color())),
        PlanOutput::Json => println!("{}", preview::to_json(&p)),
        PlanOutput::Markdown => print!("{}", preview::to_markdown(&p)),
    }
    if args.detailed_exitcode && p.preview.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn parse_scope(a: &ScopeArgs) -> Result<Scope, ExitCode> {
    Scope::parse(
        &RawList::from(a.target_ou_ids.as_str()),
        &a.account_scope,
        &RawList::from(a.target_account_ids.as_str()),
    )
    .and_then(|s| s.with_tag_parameters(&a.target_account_tags, &a.excluded_account_tags))
    .map_err(|e| fail(2, &e.to_string()))
}

fn fail(code: u8, msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(code)
}
