//! Presentation only: the tree with in/out marks, and the JSON shape.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use shared::core::{AccountScope, Entry, Expansion, OrgTree, Reason, Scope, TargetId};
use shared::read::ReadStats;

/// ANSI colors, or none.
pub(crate) struct Paint(pub(crate) bool);

impl Paint {
    pub(crate) fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    pub(crate) fn red(&self, s: &str) -> String {
        self.wrap("31", s)
    }
    pub(crate) fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }
    pub(crate) fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    pub(crate) fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
}

/// Cuts `s` to `max` characters, ending in `…` when cut.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Word-wraps `text` to `width` columns; the first line is prefixed by `first`, the others
/// by `indent` spaces. Words longer than the width are kept whole.
pub(crate) fn wrap(text: &str, first: &str, indent: usize, width: usize) -> String {
    let avail = width.saturating_sub(indent).max(20);
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    // A word wider than the column (a long URL) is cut into pieces that fit.
    let words = text.split_whitespace().flat_map(|w| {
        let chars: Vec<char> = w.chars().collect();
        chars
            .chunks(avail)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
    });
    for word in words {
        let word = word.as_str();
        let len = cur.chars().count();
        if len > 0 && len + 1 + word.chars().count() > avail {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    let pad = " ".repeat(indent);
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        if i == 0 {
            out.push_str(first);
        } else {
            out.push_str(&pad);
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The tag filter and the order it applies in, as every output that states a scope shows
/// them (plan, the scope preview, doctor, status); `None` without a tag filter, so that the
/// output of a scope without tags is what it was before they existed.
pub(crate) fn tag_lines(scope: &Scope) -> Option<String> {
    let tags = &scope.tags;
    if !tags.is_set() {
        return None;
    }
    let mut parts = Vec::new();
    if !tags.target.is_empty() {
        parts.push(format!(
            "TargetAccountTags {} (all must match)",
            tags.target
        ));
    }
    if !tags.excluded.is_empty() {
        parts.push(format!(
            "ExcludedAccountTags {} (any one excludes)",
            tags.excluded
        ));
    }
    let then = match scope.mode {
        AccountScope::All => "then ALL keeps every account left".to_owned(),
        mode => format!("then {mode} with TargetAccountIds applies to the accounts left"),
    };
    Some(format!(
        "Tags: {}\nOrder: the account tags narrow the accounts the target OUs give, {then}. \
         Tags on OUs and the root are not inherited by their accounts.\n",
        parts.join("; ")
    ))
}

/// How a skipped account is counted in a summary (`2 excluded by tag`): one rule for plan and
/// doctor. Exhaustive, so that a new reason is counted by name, never as "other".
pub(crate) fn skip_kind(reason: &Reason) -> String {
    match reason {
        Reason::ManagementAccount => "management account".into(),
        Reason::NotActive { state } => state.to_string(),
        Reason::NotListed => "not listed".into(),
        Reason::ExcludedByList => "excluded by list".into(),
        Reason::OutsideTargets { .. } => "outside targets".into(),
        Reason::TargetTagUnmet { .. } => "target tag unmet".into(),
        Reason::ExcludedByTag { .. } => "excluded by tag".into(),
        Reason::Undecided { .. } => "tags not read this run".into(),
        Reason::UnderTarget { .. } | Reason::ListedUnderTarget { .. } => "in scope".into(),
    }
}

/// How much of an account's reason the tree shows: 60 characters, and a tag's reason whole
/// up to 120 (the term and the account's value are the point of it).
fn note_chars(reason: &Reason) -> usize {
    match reason {
        Reason::TargetTagUnmet { .. } | Reason::ExcludedByTag { .. } => 120,
        _ => 60,
    }
}

/// The targeted part of the tree, each account marked in (✔) or out (✘) and why.
pub fn plan_text(scope: &Scope, tree: &OrgTree, e: &Expansion, color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    let mgmt = e
        .management_account_id
        .as_ref()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_else(|| "?".into());
    let _ = writeln!(
        out,
        "Organization {} (management account {mgmt})",
        e.organization_id
    );
    let listed = scope.accounts.len();
    let _ = writeln!(
        out,
        "Scope: {} over {} target{}{}",
        e.mode,
        scope.targets.len(),
        if scope.targets.len() == 1 { "" } else { "s" },
        if listed > 0 {
            format!(
                ", {listed} listed account{}",
                if listed == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        }
    );
    if let Some(lines) = tag_lines(scope) {
        out.push_str(&p.dim(lines.trim_end()));
        out.push('\n');
    }
    let verdicts: BTreeMap<&str, &Entry> = e
        .included
        .iter()
        .chain(&e.skipped)
        .map(|x| (x.id.as_str(), x))
        .collect();
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for n in tree.nodes.values() {
        if let Some(parent) = &n.parent {
            children
                .entry(parent.as_str())
                .or_default()
                .push(n.id.as_str());
        }
    }
    let mut accounts_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for a in tree.accounts.values() {
        accounts_of
            .entry(a.parent.as_str())
            .or_default()
            .push(a.id.as_str());
    }
    let under = tree.subtree_nodes(&scope.targets);
    // Draw each target once; a target inside another target is drawn as part of it.
    let tops: Vec<&TargetId> = scope
        .targets
        .iter()
        .filter(|t| {
            let parent = tree.nodes.get(t.as_str()).and_then(|n| n.parent.clone());
            !parent.is_some_and(|p| under.contains(&p))
        })
        .collect();
    for t in tops {
        let _ = writeln!(out, "\n{}", p.bold(&tree.path(t.as_str())));
        draw(
            &p,
            tree,
            t.as_str(),
            "",
            &children,
            &accounts_of,
            &verdicts,
            &mut out,
            &under,
        );
    }
    let outside: Vec<&Entry> = e
        .skipped
        .iter()
        .filter(|x| matches!(x.reason, Reason::OutsideTargets { .. }))
        .collect();
    if !outside.is_empty() {
        let _ = writeln!(out, "\nListed accounts outside the target OUs:");
        for x in outside {
            let _ = writeln!(
                out,
                "  {} {}  {}  {}",
                p.red("✘"),
                x.id,
                clip(&x.name, 24),
                p.dim(&format!("in {}", x.ou_path))
            );
        }
    }
    let mut why: BTreeMap<String, usize> = BTreeMap::new();
    for x in &e.skipped {
        *why.entry(skip_kind(&x.reason)).or_default() += 1;
    }
    let why: Vec<String> = why.into_iter().map(|(k, n)| format!("{n} {k}")).collect();
    let _ = writeln!(
        out,
        "\n{} in scope, {} skipped{}",
        p.green(&e.included.len().to_string()),
        e.skipped.len(),
        if why.is_empty() {
            String::new()
        } else {
            format!(" ({})", why.join(", "))
        }
    );
    if e.skipped
        .iter()
        .any(|x| x.reason == Reason::ManagementAccount)
    {
        let _ = writeln!(
            out,
            "{}",
            p.dim("The management account gets Port's role from the stack itself, not from the StackSet.")
        );
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn draw(
    p: &Paint,
    tree: &OrgTree,
    node: &str,
    indent: &str,
    children: &BTreeMap<&str, Vec<&str>>,
    accounts_of: &BTreeMap<&str, Vec<&str>>,
    verdicts: &BTreeMap<&str, &Entry>,
    out: &mut String,
    under: &BTreeSet<String>,
) {
    let accts: Vec<&str> = accounts_of
        .get(node)
        .map(|v| {
            v.iter()
                .copied()
                .filter(|a| verdicts.contains_key(a))
                .collect()
        })
        .unwrap_or_default();
    let mut kids: Vec<&str> = children
        .get(node)
        .map(|v| v.iter().copied().filter(|k| under.contains(*k)).collect())
        .unwrap_or_default();
    kids.sort_by_key(|k| {
        tree.nodes
            .get(*k)
            .map(|n| n.name.clone())
            .unwrap_or_default()
    });
    let total = accts.len() + kids.len();
    let mut i = 0;
    for a in accts {
        i += 1;
        let last = i == total;
        let x = verdicts[a];
        // In: nothing to say unless tags kept it; out: why.
        let (mark, note) = if x.reason.is_included() {
            (
                p.green("✔"),
                x.tags_note()
                    .map(|n| p.dim(&clip(&n, 60)))
                    .unwrap_or_default(),
            )
        } else {
            (p.red("✘"), p.dim(&clip(&x.why(), note_chars(&x.reason))))
        };
        let line = format!(
            "{indent}{}{mark} {}  {:<22} {note}",
            if last { "└── " } else { "├── " },
            x.id,
            clip(&x.name, 22)
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    for k in kids {
        i += 1;
        let last = i == total;
        let name = tree.nodes.get(k).map(|n| n.name.as_str()).unwrap_or(k);
        let _ = writeln!(
            out,
            "{indent}{}{} {}",
            if last { "└── " } else { "├── " },
            p.bold(name),
            p.dim(&format!("({k})"))
        );
        let next = format!("{indent}{}", if last { "    " } else { "│   " });
        draw(
            p,
            tree,
            k,
            &next,
            children,
            accounts_of,
            verdicts,
            out,
            under,
        );
    }
}

/// `{accounts, skipped, organization_id, management_account_id, ...}`, streamed to `w`: at
/// 10,000 accounts, building the whole document as a `serde_json::Value` first would more than
/// double the command's peak memory.
pub fn write_plan_json(
    w: impl std::io::Write,
    scope: &Scope,
    tree: &OrgTree,
    e: &Expansion,
    stats: &ReadStats,
) -> serde_json::Result<()> {
    #[derive(serde::Serialize)]
    struct EntryOut<'a> {
        id: &'a shared::core::AccountId,
        name: &'a str,
        ou_path: &'a str,
        state: String,
        reason: String,
        reason_code: &'a Reason,
        /// The `TargetAccountTags` terms that kept an included account.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tags_matched: Vec<String>,
    }
    struct Entries<'a>(&'a [Entry]);
    impl serde::Serialize for Entries<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().map(|x| EntryOut {
                id: &x.id,
                name: &x.name,
                ou_path: &x.ou_path,
                state: x.state.to_string(),
                reason: x.why(),
                reason_code: &x.reason,
                tags_matched: x.tags_matched.iter().map(ToString::to_string).collect(),
            }))
        }
    }
    #[derive(serde::Serialize)]
    struct TargetOut<'a> {
        id: &'a TargetId,
        path: String,
    }
    #[derive(serde::Serialize)]
    struct Summary {
        in_scope: usize,
        skipped: usize,
    }
    #[derive(serde::Serialize)]
    struct PlanOut<'a> {
        organization_id: &'a str,
        management_account_id: &'a Option<shared::core::AccountId>,
        account_scope: AccountScope,
        #[serde(skip_serializing_if = "Option::is_none")]
        target_account_tags: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        excluded_account_tags: Option<String>,
        targets: Vec<TargetOut<'a>>,
        accounts: Entries<'a>,
        skipped: Entries<'a>,
        summary: Summary,
        organizations_calls: &'a ReadStats,
    }
    let out = PlanOut {
        organization_id: &e.organization_id,
        management_account_id: &e.management_account_id,
        account_scope: e.mode,
        target_account_tags: (!scope.tags.target.is_empty()).then(|| scope.tags.target.to_string()),
        excluded_account_tags: (!scope.tags.excluded.is_empty())
            .then(|| scope.tags.excluded.to_string()),
        targets: scope
            .targets
            .iter()
            .map(|t| TargetOut {
                id: t,
                path: tree.path(t.as_str()),
            })
            .collect(),
        accounts: Entries(&e.included),
        skipped: Entries(&e.skipped),
        summary: Summary {
            in_scope: e.included.len(),
            skipped: e.skipped.len(),
        },
        organizations_calls: stats,
    };
    serde_json::to_writer_pretty(w, &out)
}
