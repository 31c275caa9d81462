//! Local stand-ins for AWS Lambda and CloudFormation's ResponseURL, so the real function
//! binaries run unchanged: the Lambda runtime API (`AWS_LAMBDA_RUNTIME_API`), the Lambda
//! `Invoke` API (for a function that re-invokes itself), and an S3-presigned-URL-like PUT
//! target that records what CloudFormation would receive.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::sync::Notify;

use crate::http::{serve, HttpRequest, HttpResponse};
use crate::lambda_logs::{RunningFunction, TemplateFunction};

/// What CloudFormation would receive at the ResponseURL.
#[derive(Clone, Default)]
pub struct ResponseSink {
    inner: Arc<Mutex<SinkState>>,
    notify: Arc<Notify>,
    pub addr: Option<SocketAddr>,
}

#[derive(Default)]
struct SinkState {
    fail_next: u32,
    attempts: u32,
    bodies: Vec<Value>,
    sizes: Vec<usize>,
}

impl ResponseSink {
    /// Listens on a free port; answers 200 to each PUT, or 500 while `fail_next` lasts.
    pub async fn start() -> Self {
        let mut sink = Self::default();
        let s = sink.clone();
        let addr = serve(move |req: HttpRequest| {
            let s = s.clone();
            async move {
                let mut st = s.inner.lock().unwrap();
                st.attempts += 1;
                if req.method != "PUT" {
                    return HttpResponse::status(405);
                }
                if st.fail_next > 0 {
                    st.fail_next -= 1;
                    return HttpResponse::status(500);
                }
                let v: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                st.bodies.push(v);
                st.sizes.push(req.body.len());
                s.notify.notify_waiters();
                HttpResponse::status(200)
            }
        })
        .await;
        sink.addr = Some(addr);
        sink
    }

    /// A presigned-looking URL: the signature in the query is what must never be logged.
    pub fn url(&self, request_id: &str) -> String {
        format!(
            "http://{}/cloudformation-custom-resource-response-useast1/arn%3Aaws%3Acloudformation/{request_id}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=SECRETSIGNATURE0123456789",
            self.addr.expect("started")
        )
    }

    pub fn fail_next(&self, n: u32) {
        self.inner.lock().unwrap().fail_next = n;
    }

    /// Every body received, in order.
    pub fn bodies(&self) -> Vec<Value> {
        self.inner.lock().unwrap().bodies.clone()
    }

    /// The byte length of every body received, as sent.
    pub fn sizes(&self) -> Vec<usize> {
        self.inner.lock().unwrap().sizes.clone()
    }

    /// PUT attempts, failed ones included.
    pub fn attempts(&self) -> u32 {
        self.inner.lock().unwrap().attempts
    }

    /// Waits for the n-th body (1-based).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Option<Value> {
        let end = Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if let Some(v) = self.inner.lock().unwrap().bodies.get(n - 1).cloned() {
                return Some(v);
            }
            if Instant::now() >= end {
                return None;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
        }
    }
}

/// Lambda's limit on an asynchronous invocation's payload (`Invoke` with `InvocationType`
/// `Event`), in bytes, as this stub enforces it: 256 KB. Over it, Lambda answers HTTP 413
/// `RequestEntityTooLargeException`, "N byte payload is too large for the Event invocation type
/// (limit 262144 bytes)" (Lambda's error, as its users quote it, e.g. aws/aws-pdk#771; the
/// Lambda API reference, Invoke, lists the 413 as `RequestTooLargeException`). AWS raised the
/// limit to 1 MB in 2025 (Lambda API reference, Invoke: "For asynchronous invocations, the
/// maximum payload size is 1 MB"); the stub keeps the older, smaller one, so that what it
/// accepts AWS accepts under either.
pub const ASYNC_PAYLOAD_LIMIT: usize = 262_144;

/// One queued invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub payload: Value,
    /// The payload's size in bytes, as it was sent (a self-invocation's request body).
    pub bytes: usize,
    pub timeout: Duration,
    /// Queued by the function itself through the Invoke API.
    pub self_invoked: bool,
}

#[derive(Default)]
struct RuntimeState {
    queue: VecDeque<Invocation>,
    results: HashMap<String, Result<Value, Value>>,
    history: Vec<Invocation>,
    /// Sizes of the asynchronous payloads refused as too large, in order.
    refused: Vec<usize>,
    first_next: Option<Instant>,
    init_error: Option<Value>,
    seq: u64,
    /// The emulator that authorizes Invoke requests (`authorize_with`): IAM as Lambda applies
    /// it, against the caller's policies (`lambda:InvokeFunction` on the function's ARN).
    authorizer: Option<String>,
    /// Invoke requests refused by IAM: AWS's AccessDenied message.
    denied: Vec<String>,
}

/// The Lambda runtime API plus the Lambda Invoke API, in one local server.
#[derive(Clone)]
pub struct LambdaStub {
    state: Arc<Mutex<RuntimeState>>,
    notify: Arc<Notify>,
    pub addr: SocketAddr,
    /// The timeout each invocation gets (`Lambda-Runtime-Deadline-Ms` = now + this).
    pub default_timeout: Duration,
}

/// The function's name, as `AWS_LAMBDA_FUNCTION_NAME` gives it to the binaries.
pub const FUNCTION_NAME: &str = "orgscope-test";
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:orgscope-test";

impl LambdaStub {
    pub async fn start(default_timeout: Duration) -> Self {
        let state: Arc<Mutex<RuntimeState>> = Arc::default();
        let notify = Arc::new(Notify::new());
        let (st, nt) = (state.clone(), notify.clone());
        let timeout = default_timeout;
        let addr = serve(move |req: HttpRequest| {
            let (st, nt) = (st.clone(), nt.clone());
            async move { handle(st, nt, req, timeout).await }
        })
        .await;
        Self {
            state,
            notify,
            addr,
            default_timeout,
        }
    }

    /// Queues an invocation; returns its request ID.
    pub fn invoke(&self, payload: Value) -> String {
        let bytes = payload.to_string().len();
        enqueue(
            &self.state,
            &self.notify,
            payload,
            bytes,
            self.default_timeout,
            false,
        )
    }

    /// Authorizes every Invoke request through the emulator at `endpoint` (its IAM), as
    /// Lambda does: a caller whose policies do not allow `lambda:InvokeFunction` on this
    /// function gets HTTP 403 `AccessDeniedException`.
    pub fn authorize_with(&self, endpoint: &str) {
        self.state.lock().unwrap().authorizer = Some(endpoint.to_owned());
    }

    /// AWS's message for each Invoke request IAM refused.
    pub fn denied(&self) -> Vec<String> {
        self.state.lock().unwrap().denied.clone()
    }

    /// The sizes, in bytes, of the self-invocations refused as over [`ASYNC_PAYLOAD_LIMIT`].
    pub fn refused(&self) -> Vec<usize> {
        self.state.lock().unwrap().refused.clone()
    }

    /// Waits for an invocation's result: `Ok(response)` or `Err(error body)`.
    pub async fn result(
        &self,
        request_id: &str,
        timeout: Duration,
    ) -> Option<Result<Value, Value>> {
        let end = Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if let Some(r) = self.state.lock().unwrap().results.get(request_id).cloned() {
                return Some(r);
            }
            if Instant::now() >= end {
                return None;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
        }
    }

    /// Every invocation queued so far, self-invocations included.
    pub fn history(&self) -> Vec<Invocation> {
        self.state.lock().unwrap().history.clone()
    }

    /// When the function first asked for work (its init ended).
    pub fn first_next(&self) -> Option<Instant> {
        self.state.lock().unwrap().first_next
    }

    pub fn init_error(&self) -> Option<Value> {
        self.state.lock().unwrap().init_error.clone()
    }

    /// Waits until every queued invocation has a result.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            {
                let st = self.state.lock().unwrap();
                if st.queue.is_empty()
                    && st
                        .history
                        .iter()
                        .all(|i| st.results.contains_key(&i.request_id))
                {
                    return true;
                }
            }
            if Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The variables Lambda gives every function, aimed at this stub.
    fn command(&self, binary: &Path) -> Command {
        let mut cmd = Command::new(binary);
        cmd.env("AWS_LAMBDA_RUNTIME_API", self.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "orgscope-test")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/orgscope-test")
            .env("AWS_ENDPOINT_URL_LAMBDA", format!("http://{}", self.addr))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Spawns a function binary against this stub (and `env`, e.g. the emulator's).
    pub fn spawn(&self, binary: &Path, env: &[(&str, String)]) -> Child {
        self.command(binary)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .spawn()
            .expect("spawn function binary")
    }

    /// Spawns a function binary as template.yaml configures `function`: its environment
    /// variables and the ones Lambda sets from its `LoggingConfig`, then `env` (the
    /// emulator's endpoint, a test's own settings) on top. What it prints is collected and
    /// goes through Lambda's log-level filter (`RunningFunction::stop`).
    pub fn spawn_from_template(
        &self,
        binary: &Path,
        function: &TemplateFunction,
        env: &[(&str, String)],
    ) -> RunningFunction {
        let child = self
            .command(binary)
            .envs(function.env())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
        RunningFunction::new(child, function.logging.clone())
    }
}

fn enqueue(
    state: &Mutex<RuntimeState>,
    notify: &Notify,
    payload: Value,
    bytes: usize,
    timeout: Duration,
    self_invoked: bool,
) -> String {
    let mut st = state.lock().unwrap();
    st.seq += 1;
    let inv = Invocation {
        request_id: format!("00000000-0000-4000-8000-{:012}", st.seq),
        payload,
        bytes,
        timeout,
        self_invoked,
    };
    st.queue.push_back(inv.clone());
    st.history.push(inv.clone());
    drop(st);
    notify.notify_waiters();
    inv.request_id
}

async fn handle(
    state: Arc<Mutex<RuntimeState>>,
    notify: Arc<Notify>,
    req: HttpRequest,
    timeout: Duration,
) -> HttpResponse {
    let path = req.path.split('?').next().unwrap_or_default().to_owned();
    if std::env::var_os("STUB_DEBUG").is_some() {
        eprintln!("stub: {} {}", req.method, req.path);
    }
    if req.method == "GET" && path == "/2018-06-01/runtime/invocation/next" {
        state
            .lock()
            .unwrap()
            .first_next
            .get_or_insert_with(Instant::now);
        loop {
            let notified = notify.notified();
            let popped = state.lock().unwrap().queue.pop_front();
            if std::env::var_os("STUB_DEBUG").is_some() {
                eprintln!("stub: next -> {:?}", popped.as_ref().map(|i| &i.request_id));
            }
            if let Some(inv) = popped {
                let deadline = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    + inv.timeout.as_millis();
                return HttpResponse {
                    status: 200,
                    headers: vec![
                        ("Content-Type".into(), "application/json".into()),
                        (
                            "Lambda-Runtime-Aws-Request-Id".into(),
                            inv.request_id.clone(),
                        ),
                        ("Lambda-Runtime-Deadline-Ms".into(), deadline.to_string()),
                        (
                            "Lambda-Runtime-Invoked-Function-Arn".into(),
                            FUNCTION_ARN.into(),
                        ),
                        (
                            "Lambda-Runtime-Trace-Id".into(),
                            "Root=1-00000000-000000000000000000000000".into(),
                        ),
                    ],
                    body: inv.payload.to_string().into_bytes(),
                };
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), notified).await;
        }
    }
    if req.method == "POST" && path == "/2018-06-01/runtime/init/error" {
        state.lock().unwrap().init_error =
            Some(serde_json::from_slice(&req.body).unwrap_or(Value::Null));
        notify.notify_waiters();
        return HttpResponse::status(202);
    }
    if req.method == "POST" && path.starts_with("/2018-06-01/runtime/invocation/") {
        let rest = &path["/2018-06-01/runtime/invocation/".len()..];
        let (id, what) = rest.split_once('/').unwrap_or((rest, ""));
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let result = if what == "response" {
            Ok(body)
        } else {
            Err(body)
        };
        state.lock().unwrap().results.insert(id.to_owned(), result);
        notify.notify_waiters();
        return HttpResponse::status(202);
    }
    if req.method == "POST"
        && path.starts_with("/2015-03-31/functions/")
        && path.ends_with("/invocations")
    {
        if req.header("x-amz-invocation-type") != Some("Event") {
            return HttpResponse::json(
                400,
                &serde_json::json!({"message": "stub supports InvocationType=Event only"}),
            );
        }
        let authorizer = state.lock().unwrap().authorizer.clone();
        if let Some(endpoint) = authorizer {
            if let Some(message) = refusal(&endpoint, &req).await {
                state.lock().unwrap().denied.push(message.clone());
                let mut r = HttpResponse::json(403, &serde_json::json!({ "Message": message }));
                r.headers
                    .push(("x-amzn-ErrorType".into(), "AccessDeniedException".into()));
                return r;
            }
        }
        let bytes = req.body.len();
        if bytes > ASYNC_PAYLOAD_LIMIT {
            state.lock().unwrap().refused.push(bytes);
            let mut r = HttpResponse::json(
                413,
                &serde_json::json!({
                    "Type": "User",
                    "message": format!(
                        "{bytes} byte payload is too large for the Event invocation type \
                         (limit {ASYNC_PAYLOAD_LIMIT} bytes)"
                    ),
                }),
            );
            r.headers.push((
                "x-amzn-ErrorType".into(),
                "RequestEntityTooLargeException".into(),
            ));
            return r;
        }
        let payload: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        enqueue(&state, &notify, payload, bytes, timeout, true);
        return HttpResponse {
            status: 202,
            headers: vec![("x-amzn-RequestId".into(), "stub".into())],
            body: vec![],
        };
    }
    HttpResponse::status(404)
}

/// IAM's answer to an Invoke request, from the emulator that holds the caller's policies:
/// `None` when allowed. The access key is the SigV4 credential's.
async fn refusal(endpoint: &str, req: &HttpRequest) -> Option<String> {
    let auth = req.header("authorization").unwrap_or_default();
    let key = auth
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').next())
        .unwrap_or_default();
    let answer: Value = reqwest::Client::new()
        .post(format!("{endpoint}/_fidelity/authorize"))
        .json(&serde_json::json!({
            "access_key_id": key,
            "action": "lambda:InvokeFunction",
            "resources": [FUNCTION_ARN],
        }))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    if answer["allowed"] == true {
        None
    } else {
        Some(
            answer["message"]
                .as_str()
                .unwrap_or("access denied")
                .to_owned(),
        )
    }
}
