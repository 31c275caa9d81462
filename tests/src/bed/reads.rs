//! Reading the emulator's state for assertions: the request log (and counts and filters over
//! it), stack instances, OIDC providers.

use serde_json::Value;

use crate::TestBed;

impl TestBed {
    /// Every AWS request the emulator saw, in order.
    pub async fn requests(&self) -> Vec<Value> {
        self.get("requests").await["requests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The parameters of every `action` request since the last clear (CloudFormation's
    /// flat form parameters).
    pub async fn params_of(&self, action: &str) -> Vec<Value> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r["action"] == action && r["throttled"] != true)
            .map(|r| r["params"].clone())
            .collect()
    }

    /// The `Entries` of every EventBridge `PutEvents` request since the last clear, one list
    /// per request (the change events the functions put, and their resends).
    pub async fn put_events(&self) -> Vec<Vec<Value>> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r["service"] == "events" && r["action"] == "PutEvents")
            .map(|r| {
                r["params"]["Entries"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Mutating StackSet calls seen so far.
    pub async fn mutating_stackset_calls(&self) -> Vec<String> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r["service"] == "cloudformation" && r["throttled"] != true)
            .filter_map(|r| r["action"].as_str().map(str::to_owned))
            .filter(|a| {
                matches!(
                    a.as_str(),
                    "CreateStackInstances"
                        | "UpdateStackInstances"
                        | "DeleteStackInstances"
                        | "DetectStackSetDrift"
                        | "UpdateStackSet"
                        | "DeleteStackSet"
                )
            })
            .collect()
    }

    /// StackSet requests (all of them, throttled ones included) whose `CallAs` is not `want`
    /// or that came from another account than `caller`: `(action, caller, call_as)`. A
    /// `SELF` run may leave `CallAs` out (AWS's default).
    pub async fn stackset_calls_not_as(&self, want: &str, caller: &str) -> Vec<String> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r.get("call_as").is_some())
            .filter(|r| {
                let call_as = r["call_as"].as_str().unwrap_or("SELF");
                call_as != want || r["caller"] != caller
            })
            .map(|r| format!("{} from {} as {}", r["action"], r["caller"], r["call_as"]))
            .collect()
    }

    /// How many `action` requests the emulator saw (throttled ones included).
    pub async fn count_of(&self, action: &str) -> usize {
        self.requests()
            .await
            .iter()
            .filter(|r| r["action"] == action)
            .count()
    }

    /// How many StackSet requests the emulator saw.
    pub async fn stackset_call_count(&self) -> usize {
        self.requests()
            .await
            .iter()
            .filter(|r| r.get("call_as").is_some())
            .count()
    }

    /// `(account, status, detailed_status, drift_status)` of each instance, sorted.
    pub async fn instances(&self, stack_set: &str) -> Vec<Value> {
        let mut v = self
            .get(&format!("stack-instances?stack_set_name={stack_set}"))
            .await["instances"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        v.sort_by_key(|i| i["account"].as_str().unwrap_or_default().to_owned());
        v
    }

    /// Account IDs that have an instance, sorted.
    pub async fn instance_accounts(&self, stack_set: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .instances(stack_set)
            .await
            .iter()
            .filter_map(|i| i["account"].as_str().map(str::to_owned))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// `(account, created by a stack of the StackSet)` for every Port OIDC provider in a
    /// member account, sorted.
    pub async fn oidc_providers(&self) -> Vec<(String, bool)> {
        let mut v: Vec<(String, bool)> = self.get("oidc-providers").await["providers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|p| {
                (
                    p["account_id"].as_str().unwrap_or_default().to_owned(),
                    !p["created_by_stack_set"].is_null(),
                )
            })
            .collect();
        v.sort();
        v
    }
}
