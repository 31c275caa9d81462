//! `orgscope plan --stack-set-name`: the scope you pass against what the StackSet has now,
//! for review: the accounts that would gain Port's role, those that would lose it, those
//! unchanged, each with its reason. Read-only.
//!
//! The diff is the core's reconcile plan (`shared::core::plan_reaching`, planned as the
//! stack's own update would plan it) read by `shared::core::preview`; this module only reads
//! AWS and renders.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::json;
use shared::adapters::{load_config, CfnStackSets, SdkIdentity, SdkOrganizations};
use shared::core::{
    expand, plan_reaching, preview, Declared, Desired, Expansion, LeavePolicy, OrgTree, PlanPolicy,
    Preview, PreviewRow, Scope,
};
use shared::engine::{Engine, EngineConfig};
use shared::ports::{StackSetInfo, StackSetReader, TokioClock};
use shared::preflight::deploy_mode;
use shared::read::{read_target_subtrees, DEFAULT_CONCURRENCY};

use crate::render::{clip, tag_lines, wrap, Paint};
use crate::status::{locate, Located};

/// A section of the markdown longer than this is folded (`<details>`).
pub const FOLD_AFTER: usize = 10;
/// The most accounts a markdown section lists (all are counted): a pull-request comment
/// holds at most 65,536 characters.
pub const MARKDOWN_ROWS: usize = 40;
/// A reason longer than this is cut in the markdown table.
const MARKDOWN_REASON_CHARS: usize = 300;
/// Text output width.
const WIDTH: usize = 100;

/// What the preview read and decided.
pub struct Previewed {
    pub info: StackSetInfo,
    pub region: String,
    pub scope: Scope,
    pub tree: OrgTree,
    pub expansion: Expansion,
    pub instances: usize,
    pub plan_summary: String,
    pub preview: Preview,
}

/// Reads the organization and the StackSet, plans as the stack's update would (the
/// custom resource's Update: earlier failures forgotten, instances in the stack's region),
/// and previews the plan.
pub async fn compute(
    scope: Scope,
    stack_set: &str,
    declared: Declared,
    on_leave: LeavePolicy,
) -> Result<Previewed, String> {
    let conf = load_config().await;
    let region = conf.region().map(|r| r.to_string()).ok_or_else(|| {
        "no AWS region: set AWS_REGION (or a profile's region) to the region of the stack and \
         its StackSet, e.g. AWS_REGION=us-east-1"
            .to_owned()
    })?;
    let org = SdkOrganizations::new(&conf);
    let (_, mode) = deploy_mode(&org, &SdkIdentity::new(&conf), declared)
        .await
        .map_err(|e| e.to_string())?;
    let cfn = CfnStackSets::calling_as(&conf, mode.call_as);
    let engine = Engine {
        org: &org,
        stacksets: &cfn,
        clock: &TokioClock,
        config: EngineConfig::default(),
    };
    let info = engine
        .check_stack_set(stack_set)
        .await
        .map_err(|e| e.to_string())?;
    let (mut tree, _) = read_target_subtrees(&org, &scope, DEFAULT_CONCURRENCY)
        .await
        .map_err(|e| e.to_string())?;
    let expansion = expand(&scope, &tree).map_err(|e| e.to_string())?;
    let instances = cfn.instances(stack_set).await.map_err(|e| e.to_string())?;
    let desired = Desired {
        accounts: expansion.account_ids(),
        regions: [region.clone()].into(),
    };
    let leaving = desired.leaving(&instances, on_leave);
    let unreachable = engine
        .unreachable(&leaving, &tree)
        .await
        .map_err(|e| e.to_string())?;
    let policy = PlanPolicy {
        on_leave,
        repair_drift: false,
        ..PlanPolicy::default()
    };
    let plan = plan_reaching(
        &desired,
        &instances,
        &BTreeMap::new(),
        &policy,
        &unreachable,
    );
    let mut located = Located::new();
    locate(&org, &mut tree, &instances, &mut located).await;
    let preview = preview(&expansion, &plan, &instances, &located);
    Ok(Previewed {
        info,
        region,
        scope,
        tree,
        expansion,
        instances: instances.len(),
        plan_summary: plan.summary(),
        preview,
    })
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `DIFFERENCE over Root/Prod (ou-...), 1 listed account`.
fn scope_line(p: &Previewed) -> String {
    let targets: Vec<String> = p
        .scope
        .targets
        .iter()
        .map(|t| p.tree.path(t.as_str()))
        .collect();
    let listed = p.scope.accounts.len();
    format!(
        "{} over {}{}",
        p.expansion.mode,
        targets.join(", "),
        if listed > 0 {
            format!(", {}", plural(listed, "listed account", "listed accounts"))
        } else {
            String::new()
        }
    )
}

fn counts_line(p: &Preview) -> String {
    format!(
        "{} gain Port's role, {} lose it, {} unchanged",
        p.gain.len(),
        p.loss.len(),
        p.unchanged.len()
    )
}

pub fn to_text(p: &Previewed, color: bool) -> String {
    let paint = Paint(color);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        paint.bold(&format!(
            "StackSet {} in {}: {} now",
            p.info.name,
            p.region,
            plural(p.instances, "stack instance", "stack instances")
        ))
    );
    out.push_str(&wrap(&format!("Scope: {}", scope_line(p)), "", 7, WIDTH));
    if let Some(lines) = tag_lines(&p.scope) {
        for l in lines.lines() {
            out.push_str(&wrap(l, "", 7, WIDTH));
        }
    }
    let _ = writeln!(out, "\n{}", counts_line(&p.preview));
    let sections: [(&str, &[PreviewRow], String); 3] = [
        ("Gain Port's role", &p.preview.gain, paint.green("+")),
        ("Lose Port's role", &p.preview.loss, paint.red("-")),
        ("Unchanged", &p.preview.unchanged, paint.dim("=")),
    ];
    for (title, rows, mark) in sections {
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title} ({}):", rows.len());
        for r in rows {
            let line = format!("  {mark} {}  {:<24}  {}", r.account, clip(&r.name, 24), {
                clip(&r.ou_path, 44)
            });
            let _ = writeln!(out, "{}", line.trim_end());
            out.push_str(&wrap(&r.reason, "      ", 6, WIDTH));
        }
    }
    if !p.preview.has_changes() {
        let _ = writeln!(
            out,
            "\n{}",
            paint.green("No account gains or loses Port's role.")
        );
    }
    out
}

pub fn to_json(p: &Previewed) -> String {
    let v = json!({
        "stack_set": p.info,
        "region": p.region,
        "account_scope": p.expansion.mode,
        "target_account_tags": p.scope.tags.target.to_string(),
        "excluded_account_tags": p.scope.tags.excluded.to_string(),
        "targets": p.scope.targets.iter().map(|t| json!({"id": t, "path": p.tree.path(t.as_str())})).collect::<Vec<_>>(),
        "stack_instances": p.instances,
        "changes": p.preview.has_changes(),
        "counts": {
            "gain": p.preview.gain.len(),
            "loss": p.preview.loss.len(),
            "unchanged": p.preview.unchanged.len(),
        },
        "plan": p.plan_summary,
        "gain": p.preview.gain,
        "loss": p.preview.loss,
        "unchanged": p.preview.unchanged,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// Escapes text for a markdown table cell: no column break, no HTML, no emphasis or links
/// from account or OU names.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' | '@' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The comment marker a workflow finds its earlier comment by.
pub fn marker(stack_set: &str) -> String {
    format!("<!-- orgscope-plan {} -->", cell(stack_set))
}

fn md_section(out: &mut String, title: &str, rows: &[PreviewRow], fold: bool) {
    if rows.is_empty() {
        return;
    }
    let heading = format!("{title} ({})", rows.len());
    if fold {
        let _ = writeln!(out, "<details><summary>{heading}</summary>\n");
    } else {
        let _ = writeln!(out, "**{heading}**\n");
    }
    let _ = writeln!(out, "| Account | Name | OU | Why |");
    let _ = writeln!(out, "|---|---|---|---|");
    for r in rows.iter().take(MARKDOWN_ROWS) {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            r.account,
            cell(&r.name),
            cell(&r.ou_path),
            cell(&clip(&r.reason, MARKDOWN_REASON_CHARS))
        );
    }
    if rows.len() > MARKDOWN_ROWS {
        let _ = writeln!(
            out,
            "\n… and {} more: `orgscope plan --output json` lists them all.",
            rows.len() - MARKDOWN_ROWS
        );
    }
    if fold {
        let _ = writeln!(out, "\n</details>");
    }
    out.push('\n');
}

/// A pull-request comment: the counts always, each list as a table; lists longer than
/// [`FOLD_AFTER`] and the unchanged accounts folded, each cut at [`MARKDOWN_ROWS`].
pub fn to_markdown(p: &Previewed) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", marker(&p.info.name));
    let _ = writeln!(
        out,
        "### Port role scope preview: StackSet `{}` ({})\n",
        cell(&p.info.name),
        cell(&p.region)
    );
    let _ = writeln!(out, "Scope: {}  ", cell(&scope_line(p)));
    if let Some(lines) = tag_lines(&p.scope) {
        for l in lines.lines() {
            let _ = writeln!(out, "{}  ", cell(l));
        }
    }
    let _ = writeln!(
        out,
        "Now: {}.\n",
        plural(p.instances, "stack instance", "stack instances")
    );
    let pv = &p.preview;
    let _ = writeln!(
        out,
        "| Gain Port's role | Lose Port's role | Unchanged |\n|---:|---:|---:|\n| {} | {} | {} |\n",
        pv.gain.len(),
        pv.loss.len(),
        pv.unchanged.len()
    );
    if !pv.has_changes() {
        let _ = writeln!(out, "No account gains or loses Port's role.\n");
    }
    md_section(
        &mut out,
        "➕ Gain Port's role",
        &pv.gain,
        pv.gain.len() > FOLD_AFTER,
    );
    md_section(
        &mut out,
        "➖ Lose Port's role",
        &pv.loss,
        pv.loss.len() > FOLD_AFTER,
    );
    md_section(&mut out, "Unchanged", &pv.unchanged, true);
    let _ = writeln!(
        out,
        "<sub>`orgscope plan --stack-set-name` (read-only): the scope in this change against \
         the StackSet's stack instances now.</sub>"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::core::AccountId;

    #[test]
    fn a_cell_cannot_break_the_table_or_inject_markup() {
        assert_eq!(
            cell("a|b <img> [x](y) *z* `c`"),
            "a\\|b &lt;img&gt; \\[x\\](y) \\*z\\* \\`c\\`"
        );
        assert_eq!(cell("line\nbreak"), "line break");
    }

    fn row(n: usize, effect: shared::core::Effect) -> PreviewRow {
        PreviewRow {
            account: AccountId::parse(&format!("{n:012}")).unwrap(),
            name: format!("acct-{n}"),
            ou_path: "Root/Prod (ou-ab12-aaaaaaaa)".into(),
            effect,
            has_role_after: true,
            reason: "under target Root/Prod (ou-ab12-aaaaaaaa): Port's role is created".into(),
        }
    }

    fn previewed(gain: usize, loss: usize) -> Previewed {
        use shared::core::{AccountScope, Effect, RawList};
        Previewed {
            info: StackSetInfo {
                name: "Port-Integration-v3".into(),
                arn: None,
                service_managed: true,
                auto_deployment: false,
                status: "ACTIVE".into(),
            },
            region: "us-east-1".into(),
            scope: Scope::parse(
                &RawList::from("ou-ab12-aaaaaaaa"),
                "ALL",
                &RawList::from(""),
            )
            .unwrap(),
            tree: OrgTree::default(),
            expansion: Expansion {
                organization_id: "o-x".into(),
                management_account_id: None,
                mode: AccountScope::All,
                included: vec![],
                skipped: vec![],
            },
            instances: loss,
            plan_summary: String::new(),
            preview: Preview {
                gain: (1..=gain).map(|n| row(n, Effect::Gain)).collect(),
                loss: (1..=loss).map(|n| row(1000 + n, Effect::Loss)).collect(),
                unchanged: vec![],
            },
        }
    }

    #[test]
    fn long_lists_are_folded_and_cut_but_always_counted() {
        let md = to_markdown(&previewed(MARKDOWN_ROWS + 5, 3));
        // Counts of every account, whatever is listed.
        assert!(
            md.contains(&format!("| {} | 3 | 0 |", MARKDOWN_ROWS + 5)),
            "{md}"
        );
        // The long gain list folded, cut at MARKDOWN_ROWS with the rest counted.
        assert!(md.contains(&format!(
            "<details><summary>➕ Gain Port's role ({})</summary>",
            MARKDOWN_ROWS + 5
        )));
        assert_eq!(
            md.matches("Port's role is created |").count(),
            MARKDOWN_ROWS + 3
        );
        assert!(md.contains("… and 5 more: `orgscope plan --output json` lists them all."));
        // The short loss list stays open.
        assert!(md.contains("**➖ Lose Port's role (3)**"));
        assert!(!md.contains("Unchanged ("), "an empty list has no section");
    }

    #[test]
    fn no_change_says_so_under_the_counts() {
        let md = to_markdown(&previewed(0, 0));
        assert!(md.contains("| 0 | 0 | 0 |\n\nNo account gains or loses Port's role."));
        assert!(md.starts_with("<!-- orgscope-plan Port-Integration-v3 -->\n"));
    }
}
