//! `orgscope doctor`: gathers the facts (read-only calls only), lets the checks (`checks`, and
//! `shared::doctor` for those the stack's preflight shares) judge them, and prints the
//! checklist.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write;
use std::process::ExitCode;

use serde_json::json;
use shared::adapters::cloudtrail::SdkCloudTrail;
use shared::adapters::iam::SdkIam;
use shared::adapters::{load_config, CfnStackSets, SdkIdentity, SdkOrganizations, SdkQuotas};
use shared::core::parse_role_policies;
use shared::core::{expand, Expansion, OrgTree, Scope, TargetId};
use shared::doctor::{has_failure, organization_error, Check, Status};
use shared::metrics::DEFAULT_INTEGRATION_IDENTIFIER;
use shared::ports::{
    AwsError, CloudTrailApi, IamApi, OrgInfo, OrganizationsApi, QuotaApi, StackSetReader,
};
use shared::preflight::{read_mode, trusted_access, Listing};
use shared::read::{read_target_subtrees, DEFAULT_CONCURRENCY};

use crate::render::{plan_text, wrap, Paint};
use crate::{parse_scope, Output, ScopeArgs, StackSetArgs};

mod checks;
mod cloudtrail;
mod oidc;
mod region;
mod role_policies;
mod targets;

use checks::{
    checks, default_role_name, to_read, Inputs, KnownOu, RolePolicyFacts, TargetFinding,
    EVENTS_REGION, PORT_OIDC_URL,
};
use targets::suggest;

/// The most OUs listed when looking for suggestions for an unknown OU.
const SUGGEST_MAX_CALLS: usize = 200;

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    #[command(flatten)]
    scope: ScopeArgs,
    #[command(flatten)]
    stack_set: StackSetArgs,
    /// The IntegrationIdentifier you will enter in Port (names the role and tags resources).
    #[arg(long, env = "INTEGRATION_IDENTIFIER", default_value = DEFAULT_INTEGRATION_IDENTIFIER)]
    integration_identifier: String,
    /// The CustomRoleName, if you set one. Default: PortIntegrationRole-<integration identifier>.
    #[arg(long, env = "CUSTOM_ROLE_NAME")]
    role_name: Option<String>,
    /// Port's OIDC issuer URL. Keep the default unless Port told you otherwise.
    #[arg(long, env = "OIDC_PROVIDER_URL", default_value = PORT_OIDC_URL)]
    oidc_provider_url: String,
    /// The CreateOIDCProvider parameter you deploy with: with false, doctor warns that member
    /// accounts without Port's OIDC provider get a role Port cannot assume.
    #[arg(long, env = "CREATE_OIDC_PROVIDER", default_value = "true", value_parser = ["true", "false"])]
    create_oidc_provider: String,
    /// The PortRolePolicyArns you deploy with: short names (ReadOnlyAccess, ViewOnlyAccess,
    /// SecurityAudit, AWSCloudFormationReadOnlyAccess) or policy ARNs, comma-separated.
    /// doctor checks that each customer managed policy exists in this account and that the
    /// policies allow Cloud Control's read actions.
    #[arg(long, env = "PORT_ROLE_POLICY_ARNS", default_value = "ReadOnlyAccess")]
    role_policy_arns: String,
    /// The PortRolePermissionsBoundaryArn you deploy with (empty: none).
    #[arg(long, env = "PORT_ROLE_PERMISSIONS_BOUNDARY_ARN", default_value = "")]
    role_permissions_boundary_arn: String,
    /// text for people; json for scripts (the same data).
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// Also draw the scope's tree, each account in or out and why (as `orgscope plan` does).
    #[arg(long, short)]
    verbose: bool,
}

fn org_error(e: AwsError) -> String {
    organization_error(e)
}

pub async fn run(args: DoctorArgs, color: bool) -> ExitCode {
    let scope = match parse_scope(&args.scope) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let conf = load_config().await;
    let org = SdkOrganizations::new(&conf);
    let cfn = CfnStackSets::new(&conf);
    let sts = SdkIdentity::new(&conf);
    let iam = SdkIam::new(&conf);
    let cloudtrail = SdkCloudTrail::new(&conf);
    let quotas = SdkQuotas::new(&conf);
    let region = conf.region().map(|r| r.to_string());
    let role_name = args
        .role_name
        .clone()
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| default_role_name(&args.integration_identifier));
    let stack_set_name = args.stack_set.stack_set_name.clone();

    let declared = match args.stack_set.declared() {
        Ok(d) => d,
        Err(e) => return crate::fail(2, &e.to_string()),
    };
    let (mode, trusted, trails, provider, role, quota) = tokio::join!(
        // The listing is asked in the management account too: there it tells what
        // delegated-administrator mode would need.
        read_mode(&org, &sts, Listing::Always),
        trusted_access(&org),
        // Asked in us-east-1 whatever the region: that is where Organizations' events arrive.
        cloudtrail.trails(EVENTS_REGION),
        iam.oidc_provider(&args.oidc_provider_url),
        iam.role(&role_name),
        quotas.stack_instance_quota(),
    );
    // The StackSet is read with the CallAs of the mode the facts decide (SELF when they do not
    // decide one: the deployment-mode check then FAILs and says why).
    if let Some(call_as) = mode.call_as() {
        cfn.set_call_as(call_as);
    }
    let caller = mode.caller.clone();
    let stack_set = cfn.describe(&stack_set_name).await;
    let organization: Result<OrgInfo, String> = mode.organization.clone().map_err(org_error);
    let stack_set = match stack_set {
        Ok(s) => Ok(Some(s)),
        Err(AwsError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.to_string()),
    };

    let role_policies = role_policy_facts(
        &iam,
        &args.role_policy_arns,
        &args.role_permissions_boundary_arn,
        region.as_deref(),
        caller
            .as_ref()
            .map(|c| c.as_str())
            .unwrap_or("<this account>"),
    )
    .await;
    let facts = read_scope_facts(&org, &scope, organization.is_ok()).await;
    let inputs = Inputs {
        caller: caller.map_err(|e| e.to_string()),
        organization,
        mode,
        declared,
        trusted_access: trusted,
        region: region.clone(),
        trails: trails.map_err(|e| e.to_string()),
        scope: &scope,
        targets: facts.targets,
        read: facts.read.clone(),
        not_in_organization: facts.not_in_organization,
        integration: args.integration_identifier.clone(),
        role_name,
        oidc_url: args.oidc_provider_url.clone(),
        create_oidc_provider: args.create_oidc_provider == "true",
        provider: provider.map_err(|e| e.to_string()),
        role: role.map_err(|e| e.to_string()),
        stack_set_name,
        stack_set,
        stack_instance_quota: quota.map_err(|e| e.to_string()),
        role_policies,
    };
    let result = checks(&inputs);
    match args.output {
        Output::Json => println!("{}", to_json(&inputs, &result)),
        Output::Text => {
            print!("{}", to_text(&inputs, &result, color));
            if args.verbose {
                if let Ok((tree, exp)) = &facts.read {
                    println!();
                    print!("{}", plan_text(&facts.scope, tree, exp, color));
                }
            }
        }
    }
    if has_failure(&result) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

struct ScopeFacts {
    targets: Vec<(TargetId, Result<TargetFinding, String>)>,
    /// The scope over the existing targets only, without accounts outside the organization.
    scope: Scope,
    read: Result<(OrgTree, Expansion), String>,
    not_in_organization: BTreeSet<shared::core::AccountId>,
}

/// Which targets exist, then the tree and expansion over those that do.
async fn read_scope_facts<O: OrganizationsApi>(api: &O, scope: &Scope, org_ok: bool) -> ScopeFacts {
    let mut findings: BTreeMap<TargetId, Result<TargetFinding, String>> = BTreeMap::new();
    let roots = if org_ok {
        api.roots().await.map_err(org_error)
    } else {
        Err("the organization could not be read".into())
    };
    for t in &scope.targets {
        let f = if t.is_root() {
            match &roots {
                Ok(r) if r.iter().any(|n| n.id == t.as_str()) => Ok(TargetFinding::Root),
                Ok(r) => Ok(TargetFinding::NotFound {
                    suggestions: r
                        .iter()
                        .map(|n| KnownOu {
                            id: n.id.clone(),
                            name: "Root".into(),
                            path: format!("Root ({}) = the whole organization", n.id),
                        })
                        .collect(),
                }),
                Err(e) => Err(e.clone()),
            }
        } else {
            match api.ou_name(t.as_str()).await {
                Ok(name) => Ok(TargetFinding::Found { path: name }),
                Err(AwsError::NotFound { .. }) => Ok(TargetFinding::NotFound {
                    suggestions: vec![],
                }),
                Err(e) => Err(org_error(e)),
            }
        };
        findings.insert(t.clone(), f);
    }
    // Suggestions for unknown OUs: list the organization's OUs (bounded), rank by closeness.
    let unknown: Vec<TargetId> = findings
        .iter()
        .filter(|(t, f)| !t.is_root() && matches!(f, Ok(TargetFinding::NotFound { .. })))
        .map(|(t, _)| t.clone())
        .collect();
    if !unknown.is_empty() {
        if let Ok(roots) = &roots {
            let known = all_ous(api, roots).await;
            for t in unknown {
                findings.insert(
                    t.clone(),
                    Ok(TargetFinding::NotFound {
                        suggestions: suggest(t.as_str(), &known, 3),
                    }),
                );
            }
        }
    }
    let existing: BTreeSet<TargetId> = findings
        .iter()
        .filter(|(_, f)| matches!(f, Ok(TargetFinding::Root | TargetFinding::Found { .. })))
        .map(|(t, _)| t.clone())
        .collect();
    let mut sub = Scope {
        targets: existing,
        mode: scope.mode,
        accounts: scope.accounts.clone(),
        tags: scope.tags.clone(),
    };
    let mut not_in_organization = BTreeSet::new();
    let read = if !org_ok {
        Err("the organization could not be read".to_owned())
    } else {
        match read_target_subtrees(api, &sub, DEFAULT_CONCURRENCY).await {
            Err(e) => Err(e.to_string()),
            Ok((tree, _)) => {
                not_in_organization = tree.not_in_organization.clone();
                sub.accounts.retain(|a| !not_in_organization.contains(a));
                let mut tree = tree;
                tree.not_in_organization.clear();
                match expand(&sub, &tree) {
                    Ok(e) => Ok((tree, e)),
                    Err(e) => Err(e.to_string()),
                }
            }
        }
    };
    let targets = scope
        .targets
        .iter()
        .map(|t| {
            let mut f = findings.remove(t).unwrap_or(Err("not checked".into()));
            if let (Ok(TargetFinding::Found { path }), Ok((tree, _))) = (&mut f, &read) {
                *path = tree.path(t.as_str());
            }
            (t.clone(), f)
        })
        .collect();
    ScopeFacts {
        targets,
        scope: sub,
        read,
        not_in_organization,
    }
}

/// Every OU of the organization with its path, breadth first, at most `SUGGEST_MAX_CALLS` pages.
async fn all_ous<O: OrganizationsApi>(api: &O, roots: &[shared::core::OrgNode]) -> Vec<KnownOu> {
    let mut paths: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    let mut queue: VecDeque<(String, Option<String>)> = VecDeque::new();
    for r in roots {
        paths.insert(r.id.clone(), "Root".into());
        queue.push_back((r.id.clone(), None));
    }
    let mut calls = 0;
    while let Some((parent, token)) = queue.pop_front() {
        if calls >= SUGGEST_MAX_CALLS {
            break;
        }
        calls += 1;
        let Ok(page) = api.list_ous_page(&parent, token).await else {
            continue;
        };
        let base = paths.get(&parent).cloned().unwrap_or_default();
        for n in page.items {
            let path = format!("{base}/{}", n.name);
            out.push(KnownOu {
                id: n.id.clone(),
                name: n.name.clone(),
                path: format!("{path} ({})", n.id),
            });
            paths.insert(n.id.clone(), path);
            queue.push_back((n.id, None));
        }
        if let Some(t) = page.next {
            queue.push_back((parent, Some(t)));
        }
    }
    out
}

const TITLE_WIDTH: usize = 18;
const WIDTH: usize = 100;

fn to_text(i: &Inputs<'_>, checks: &[Check], color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    let org = i.organization.as_ref().ok();
    let _ = writeln!(
        out,
        "{}",
        p.bold(&format!(
            "Organization {} (management account {})",
            org.map(|o| o.id.as_str()).unwrap_or("?"),
            org.map(|o| o.management_account_id.as_str()).unwrap_or("?"),
        ))
    );
    let _ = writeln!(
        out,
        "Signed in to {} in {}",
        i.caller.as_ref().map(|c| c.as_str()).unwrap_or("?"),
        i.region.as_deref().unwrap_or("no region"),
    );
    let _ = writeln!(out);
    let indent = 6 + TITLE_WIDTH + 2;
    for c in checks {
        let status = match c.status {
            Status::Pass => p.green("PASS"),
            Status::Warn => p.yellow("WARN"),
            Status::Fail => p.red("FAIL"),
        };
        let first = format!("{status}  {:<w$}  ", c.title, w = TITLE_WIDTH);
        out.push_str(&wrap(&c.detail, &first, indent, WIDTH));
        if let Some(fix) = &c.fix {
            let first = format!("{}{}", " ".repeat(indent), p.bold("fix: "));
            out.push_str(&wrap(fix, &first, indent + 5, WIDTH));
        }
    }
    let n = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let (pass, warn, fail) = (n(Status::Pass), n(Status::Warn), n(Status::Fail));
    let _ = writeln!(
        out,
        "\n{} passed, {} warning{}, {} failed",
        pass,
        warn,
        if warn == 1 { "" } else { "s" },
        fail
    );
    if fail > 0 {
        let _ = writeln!(
            out,
            "{}",
            p.red("Fix the FAIL lines, then run orgscope doctor again before you deploy.")
        );
    } else if warn > 0 {
        let _ = writeln!(out, "Ready to deploy; read the WARN lines first.");
    } else {
        let _ = writeln!(out, "Ready to deploy.");
    }
    out
}

fn to_json(i: &Inputs<'_>, checks: &[Check]) -> String {
    let n = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let org = i.organization.as_ref().ok();
    let scope = match &i.read {
        Ok((_, e)) => json!({
            "account_scope": e.mode,
            "in_scope": e.included.iter().map(|x| {
                let mut v = json!({"id": x.id, "name": x.name, "ou_path": x.ou_path});
                if !x.tags_matched.is_empty() {
                    v["tags_matched"] = json!(x.tags_matched.iter().map(ToString::to_string).collect::<Vec<_>>());
                }
                v
            }).collect::<Vec<_>>(),
            "in_scope_count": e.included.len(),
            "skipped_count": e.skipped.len(),
        }),
        Err(e) => json!({"error": e}),
    };
    let v = json!({
        "ok": !has_failure(checks),
        "caller": i.caller.as_ref().ok(),
        "organization_id": org.map(|o| &o.id),
        "management_account_id": org.map(|o| &o.management_account_id),
        "region": i.region,
        "summary": {"pass": n(Status::Pass), "warn": n(Status::Warn), "fail": n(Status::Fail)},
        "checks": checks,
        "scope": scope,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// The partition of `region` (AWS General Reference, "AWS partitions": China and GovCloud
/// regions are their own; every other region is `aws`).
fn partition_of_region(region: Option<&str>) -> &'static str {
    match region {
        Some(r) if r.starts_with("cn-") => "aws-cn",
        Some(r) if r.starts_with("us-gov-") => "aws-us-gov",
        _ => "aws",
    }
}

/// Checks the two values (`shared::core::role_policies`) and reads from IAM, in the signed-in
/// account, each policy doctor cannot judge by its short name.
async fn role_policy_facts<I: IamApi>(
    iam: &I,
    policies: &str,
    boundary: &str,
    region: Option<&str>,
    account: &str,
) -> RolePolicyFacts {
    let partition = partition_of_region(region);
    let parsed = parse_role_policies(policies, boundary, partition).map_err(|e| e.to_string());
    let arns = match &parsed {
        Ok(p) => to_read(p, partition, account),
        Err(_) => vec![],
    };
    // At most 11 (10 policies and the boundary), one after the other.
    let mut documents = Vec::with_capacity(arns.len());
    for a in arns {
        let d = iam.policy_document(&a).await.map_err(|e| e.to_string());
        documents.push((a, d));
    }
    RolePolicyFacts {
        parsed,
        documents,
        partition: partition.to_string(),
        account: account.to_string(),
    }
}
