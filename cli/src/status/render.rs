//! The status for people (`to_text`: counts, the accounts that need attention, the last
//! operations) and for scripts (`to_json`: the same data).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::json;
use shared::core::{Expansion, Scope};
use shared::ports::Operation;

use super::snapshot::{when, Snapshot};
use super::{Row, State, HISTORY_OPS, REUSE_LISTED};
use crate::render::{clip, wrap, Paint};

const WIDTH: usize = 100;

pub(super) fn to_text(
    scope: &Scope,
    exp: &Expansion,
    region: &str,
    s: &Snapshot,
    color: bool,
) -> String {
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
    if let Some(lines) = crate::render::tag_lines(scope) {
        for l in lines.lines() {
            out.push_str(&wrap(l, "", 7, WIDTH));
        }
    }
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

pub(super) fn to_json(scope: &Scope, exp: &Expansion, region: &str, s: &Snapshot) -> String {
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
