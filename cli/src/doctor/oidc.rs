//! Port's OIDC provider and role, and the role's trust policy.

use serde_json::Value;
use shared::doctor::{check, Check, Status};
use shared::ports::issuer_of;

use super::checks::*;

pub(super) fn caller_or_mgmt(i: &Inputs<'_>) -> String {
    match &i.caller {
        Ok(a) => a.to_string(),
        Err(_) => "this account".into(),
    }
}

pub(super) fn oidc_provider(i: &Inputs<'_>) -> Check {
    const T: &str = "OIDC provider";
    let acct = caller_or_mgmt(i);
    let issuer = issuer_of(&i.oidc_url);
    match &i.provider {
        Err(e) => check(
            "oidc-provider",
            Status::Warn,
            T,
            format!("could not read IAM in {acct}: {e}"),
        )
        .fix(format!(
            "Check it by hand: aws iam list-open-id-connect-providers (look for {issuer})"
        )),
        Ok(None) => check(
            "oidc-provider",
            Status::Pass,
            T,
            format!(
                "none for Port's issuer in {acct} yet: keep CreateOIDCProvider=true (the \
                 default)"
            ),
        ),
        Ok(Some(p)) => {
            let ours = p.tags.get(INTEGRATION_TAG) == Some(&i.integration);
            let aud = p.client_ids.iter().any(|c| c == PORT_AUDIENCE);
            if ours && aud {
                return check(
                    "oidc-provider",
                    Status::Pass,
                    T,
                    format!(
                        "Port's OIDC provider in {acct} was created by this integration's stack \
                         ({INTEGRATION_TAG}={})",
                        i.integration
                    ),
                );
            }
            let mut c = check(
                "oidc-provider",
                Status::Warn,
                T,
                format!(
                    "an OIDC provider for Port's URL already exists in {acct}: an account holds \
                     one per URL, so creating it again fails with EntityAlreadyExists{}",
                    if aud {
                        String::new()
                    } else {
                        format!("; it lacks the client ID {PORT_AUDIENCE}")
                    }
                ),
            );
            let mut fix = "Deploy with CreateOIDCProviderInManagementAccount=false: the \
                           management account's role reuses the existing provider, while \
                           CreateOIDCProvider=true (the default) still gives member accounts \
                           theirs (those that already hold one reuse it automatically). From a \
                           delegated administrator, deploy the management account's companion \
                           stack with CreateOIDCProvider=false."
                .to_owned();
            if !aud {
                fix.push_str(&format!(
                    " Then: aws iam add-client-id-to-open-id-connect-provider \
                     --open-id-connect-provider-arn {} --client-id {PORT_AUDIENCE}",
                    p.arn
                ));
            }
            c = c.fix(fix);
            c
        }
    }
}

/// With `CreateOIDCProvider=false` no member stack creates Port's provider: every member
/// account that does not already hold one gets a role whose trust names a provider that does
/// not exist. With `true` (the default) nothing to say: accounts that already hold one reuse
/// it (the engine retries them with the per-account override `CreateOIDCProvider=false`).
pub(super) fn member_oidc_providers(i: &Inputs<'_>) -> Option<Check> {
    (!i.create_oidc_provider).then(|| {
        check(
            "oidc-provider-members",
            Status::Warn,
            "OIDC in members",
            "CreateOIDCProvider=false: no member account gets Port's OIDC provider from the \
             stack, so any account without one gets a role whose trust names a provider that \
             does not exist, and Port cannot assume it (nothing fails: the role is created)"
                .to_owned(),
        )
        .fix(
            "Deploy with CreateOIDCProvider=true (the default): member accounts that already \
             hold Port's provider reuse it automatically (a per-account override), the others \
             get one.",
        )
    })
}

pub(super) fn role(i: &Inputs<'_>) -> Check {
    const T: &str = "IAM role";
    let acct = caller_or_mgmt(i);
    let name = &i.role_name;
    match &i.role {
        Err(e) => check(
            "role",
            Status::Warn,
            T,
            format!("could not read role {name} in {acct}: {e}"),
        )
        .fix(format!(
            "Check it by hand: aws iam get-role --role-name {name}"
        )),
        Ok(None) => check(
            "role",
            Status::Pass,
            T,
            format!("no role named {name} in {acct} yet: the stack creates it with Port's trust"),
        ),
        Ok(Some(r)) => {
            let why = trust_mismatch(&r.trust_policy, &i.oidc_url);
            let ours = r.tags.get(INTEGRATION_TAG) == Some(&i.integration);
            let other_name = format!(
                "Choose a free name: another --integration-identifier (role \
                 PortIntegrationRole-<id>) or CustomRoleName, or delete the old role: aws iam \
                 delete-role --role-name {name} (detach its policies first)."
            );
            if !why.is_empty() {
                check(
                    "role",
                    Status::Fail,
                    T,
                    format!(
                        "{name} already exists in {acct} and cannot be reused: {}. Port signs \
                         in only through its OIDC provider, and the stack must create the role \
                         with that trust itself",
                        why.join("; ")
                    ),
                )
                .fix(other_name)
            } else if ours {
                check(
                    "role",
                    Status::Pass,
                    T,
                    format!(
                        "{name} exists in {acct}, created by this integration's stack \
                         ({INTEGRATION_TAG}={}), and trusts Port's OIDC provider",
                        i.integration
                    ),
                )
            } else {
                check(
                    "role",
                    Status::Warn,
                    T,
                    format!(
                        "{name} already exists in {acct} and its trust matches Port's, but this \
                         integration's stack did not create it (no {INTEGRATION_TAG}={} tag): \
                         CloudFormation cannot adopt a role, so the stack fails with \"already \
                         exists\"",
                        i.integration
                    ),
                )
                .fix(other_name)
            }
        }
    }
}

/// Why a role's trust policy is not Port's; empty when it is. Port's trust: `Allow`,
/// `Principal.Federated` = the IAM OIDC provider for the issuer, `sts:AssumeRoleWithWebIdentity`,
/// and a `StringEquals` condition `<issuer>:aud` = `sts.amazonaws.com`.
pub fn trust_mismatch(doc: &Value, oidc_url: &str) -> Vec<String> {
    let issuer = issuer_of(oidc_url);
    let provider_suffix = format!(":oidc-provider/{issuer}");
    let statements: Vec<&Value> = match &doc["Statement"] {
        Value::Array(a) => a.iter().collect(),
        v @ Value::Object(_) => vec![v],
        _ => vec![],
    };
    let allow: Vec<&Value> = statements
        .into_iter()
        .filter(|s| s["Effect"].as_str() == Some("Allow"))
        .collect();
    let strings = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            _ => vec![],
        }
    };
    let federated: Vec<&Value> = allow
        .iter()
        .copied()
        .filter(|s| {
            strings(&s["Principal"]["Federated"])
                .iter()
                .any(|p| p.ends_with(&provider_suffix))
        })
        .collect();
    if federated.is_empty() {
        let mut seen: Vec<String> = Vec::new();
        for s in &allow {
            match &s["Principal"] {
                Value::String(p) => seen.push(p.clone()),
                Value::Object(m) => {
                    for (k, v) in m {
                        for p in strings(v) {
                            seen.push(format!("{k} {p}"));
                        }
                    }
                }
                _ => {}
            }
        }
        seen.sort();
        seen.dedup();
        let who = if seen.is_empty() {
            "no one".to_owned()
        } else {
            seen.join(", ")
        };
        return vec![format!(
            "its trust policy allows {who}, not Port's OIDC provider for {issuer}"
        )];
    }
    let action_ok = |s: &&Value| {
        strings(&s["Action"])
            .iter()
            .any(|a| matches!(a.as_str(), "sts:AssumeRoleWithWebIdentity" | "sts:*" | "*"))
    };
    let with_action: Vec<&Value> = federated.iter().copied().filter(action_ok).collect();
    if with_action.is_empty() {
        return vec![format!(
            "it trusts Port's OIDC provider but does not allow sts:AssumeRoleWithWebIdentity \
             (it allows {})",
            federated
                .iter()
                .flat_map(|s| strings(&s["Action"]))
                .collect::<Vec<_>>()
                .join(", ")
        )];
    }
    let aud_key = format!("{issuer}:aud");
    let aud_ok = with_action.iter().any(|s| {
        ["StringEquals", "StringLike", "ForAnyValue:StringEquals"]
            .iter()
            .any(|op| {
                strings(&s["Condition"][op][&aud_key])
                    .iter()
                    .any(|v| v == PORT_AUDIENCE)
            })
    });
    if !aud_ok {
        return vec![format!(
            "its trust has no condition {aud_key} = {PORT_AUDIENCE}, the audience Port's \
             tokens carry"
        )];
    }
    vec![]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const URL: &str = PORT_OIDC_URL;

    fn port_trust(account: &str) -> Value {
        let iss = issuer_of(URL);
        json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::{account}:oidc-provider/{iss}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{iss}:aud"): "sts.amazonaws.com",
                format!("{iss}:sub"): "system:serviceaccount:org-x-port-oidc-sa"
            }}
        }]})
    }

    #[test]
    fn port_trust_matches() {
        assert!(trust_mismatch(&port_trust("123456789012"), URL).is_empty());
    }

    #[test]
    fn an_ec2_role_is_explained() {
        let doc = json!({"Statement": {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}});
        let why = trust_mismatch(&doc, URL);
        assert_eq!(why.len(), 1);
        assert!(why[0].contains("Service ec2.amazonaws.com"), "{why:?}");
        assert!(why[0].contains("not Port's OIDC provider"), "{why:?}");
    }

    #[test]
    fn wrong_action_and_missing_audience_are_named() {
        let mut doc = port_trust("123456789012");
        doc["Statement"][0]["Action"] = json!("sts:AssumeRole");
        assert!(
            trust_mismatch(&doc, URL)[0].contains("does not allow sts:AssumeRoleWithWebIdentity")
        );
        let mut doc = port_trust("123456789012");
        doc["Statement"][0]["Condition"] = json!({});
        assert!(trust_mismatch(&doc, URL)[0].contains(":aud = sts.amazonaws.com"));
    }

    #[test]
    fn another_issuer_does_not_match() {
        let doc = port_trust("123456789012");
        let why = trust_mismatch(&doc, "https://token.actions.githubusercontent.com");
        assert!(why[0].contains("not Port's OIDC provider"), "{why:?}");
    }
}
