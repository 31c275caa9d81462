//! Does a set of IAM policy documents allow an action? Enough of IAM's evaluation for
//! `orgscope doctor`'s warning about Port's role (Cloud Control's read actions): identity-based
//! statements with `Action`/`NotAction` (wildcards `*` and `?`, case-insensitive: IAM User
//! Guide, "IAM JSON policy elements: Action"), `Effect` Allow or Deny, and the resource `*`
//! (Cloud Control's ListResources and GetResource support no resource-level permissions:
//! Service Authorization Reference, "Actions, resources, and condition keys for AWS Cloud
//! Control API"). A statement with a `Condition` is not counted as allowing (it may not
//! apply), but is counted as denying. An explicit Deny wins (IAM User Guide, "Policy
//! evaluation logic").

use serde_json::Value;

/// `pattern` (with `*` and `?`) matches `action`, ignoring case.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    fn go(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], a) || (!a.is_empty() && go(p, &a[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => go(&p[1..], &a[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), action.as_bytes())
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => vec![],
    }
}

/// The statement names `action` (through `Action`, or by not naming it in `NotAction`) on
/// every resource.
fn covers(st: &Value, action: &str) -> bool {
    let names = if st.get("NotAction").is_some() {
        !strings(st.get("NotAction"))
            .iter()
            .any(|p| action_matches(p, action))
    } else {
        strings(st.get("Action"))
            .iter()
            .any(|p| action_matches(p, action))
    };
    let everywhere = st.get("NotResource").is_none() && strings(st.get("Resource")).contains(&"*");
    names && everywhere
}

/// Some statement of `docs` allows `action` on `*`, unconditionally, and none denies it.
pub fn allows(docs: &[&Value], action: &str) -> bool {
    let all: Vec<&Value> = docs.iter().flat_map(|d| statements(d)).collect();
    let effect = |st: &Value, e: &str| st.get("Effect").and_then(Value::as_str) == Some(e);
    let denied = all
        .iter()
        .any(|st| effect(st, "Deny") && covers(st, action));
    let allowed = all
        .iter()
        .any(|st| effect(st, "Allow") && st.get("Condition").is_none() && covers(st, action));
    allowed && !denied
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcards_match_as_iam_documents_them() {
        assert!(action_matches(
            "cloudformation:List*",
            "cloudformation:ListResources"
        ));
        assert!(action_matches(
            "CloudFormation:getresource",
            "cloudformation:GetResource"
        ));
        assert!(action_matches("*", "cloudformation:GetResource"));
        assert!(action_matches(
            "cloudformation:Get?esource",
            "cloudformation:GetResource"
        ));
        assert!(!action_matches(
            "cloudformation:ListStack*",
            "cloudformation:ListResources"
        ));
        assert!(!action_matches("ec2:*", "cloudformation:ListResources"));
    }

    #[test]
    fn an_allow_on_every_resource_counts_a_deny_wins_and_a_condition_is_not_counted() {
        let cfn_read = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["cloudformation:Get*", "cloudformation:List*"], "Resource": "*"}
        ]});
        assert!(allows(&[&cfn_read], "cloudformation:ListResources"));
        let narrow = json!({"Statement": {"Effect": "Allow", "Action": "cloudformation:ListResources",
            "Resource": "arn:aws:cloudformation:*:*:stack/x/*"}});
        assert!(!allows(&[&narrow], "cloudformation:ListResources"));
        let deny = json!({"Statement": [{"Effect": "Deny", "Action": "cloudformation:*", "Resource": "*"}]});
        assert!(!allows(&[&cfn_read, &deny], "cloudformation:GetResource"));
        let cond = json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]});
        assert!(!allows(&[&cond], "cloudformation:GetResource"));
        let not_action =
            json!({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]});
        assert!(allows(&[&not_action], "cloudformation:GetResource"));
        assert!(!allows(&[], "cloudformation:GetResource"));
    }
}
