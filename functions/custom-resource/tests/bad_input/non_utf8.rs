use super::*;

/// A Lambda runtime API that hands out raw bytes, for the one payload `LambdaStub` cannot
/// carry (it queues `serde_json::Value`s): bytes that are not UTF-8.
mod raw_runtime {
    use std::collections::{HashMap, VecDeque};
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use e2e::http::{serve, HttpRequest, HttpResponse};

    /// (request ID, raw payload)
    type Queue = VecDeque<(String, Vec<u8>)>;

    #[derive(Clone, Default)]
    pub struct RawRuntime {
        queue: Arc<Mutex<Queue>>,
        /// request ID → ("response" | "error", body)
        pub results: Arc<Mutex<HashMap<String, (String, String)>>>,
    }

    impl RawRuntime {
        pub async fn start() -> (Self, SocketAddr) {
            let rt = Self::default();
            let st = rt.clone();
            let addr = serve(move |req: HttpRequest| {
                let st = st.clone();
                async move { st.handle(req).await }
            })
            .await;
            (rt, addr)
        }

        pub fn push(&self, id: &str, body: Vec<u8>) {
            self.queue.lock().unwrap().push_back((id.to_owned(), body));
        }

        pub async fn result(&self, id: &str, timeout: Duration) -> Option<(String, String)> {
            let end = std::time::Instant::now() + timeout;
            loop {
                if let Some(r) = self.results.lock().unwrap().get(id).cloned() {
                    return Some(r);
                }
                if std::time::Instant::now() > end {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }

        async fn handle(&self, req: HttpRequest) -> HttpResponse {
            let path = req.path.split('?').next().unwrap_or_default().to_owned();
            if req.method == "GET" && path == "/2018-06-01/runtime/invocation/next" {
                loop {
                    let next = self.queue.lock().unwrap().pop_front();
                    if let Some((id, body)) = next {
                        let deadline = SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .unwrap()
                            .as_millis()
                            + 60_000;
                        return HttpResponse {
                            status: 200,
                            headers: vec![
                                ("Content-Type".into(), "application/json".into()),
                                ("Lambda-Runtime-Aws-Request-Id".into(), id),
                                ("Lambda-Runtime-Deadline-Ms".into(), deadline.to_string()),
                                (
                                    "Lambda-Runtime-Invoked-Function-Arn".into(),
                                    e2e::lambda::FUNCTION_ARN.into(),
                                ),
                                (
                                    "Lambda-Runtime-Trace-Id".into(),
                                    "Root=1-00000000-000000000000000000000000".into(),
                                ),
                            ],
                            body,
                        };
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            if req.method == "POST" && path.starts_with("/2018-06-01/runtime/invocation/") {
                let rest = &path["/2018-06-01/runtime/invocation/".len()..];
                let (id, what) = rest.split_once('/').unwrap_or((rest, ""));
                self.results.lock().unwrap().insert(
                    id.to_owned(),
                    (
                        what.to_owned(),
                        String::from_utf8_lossy(&req.body).into_owned(),
                    ),
                );
                return HttpResponse::status(202);
            }
            HttpResponse::status(404)
        }
    }
}

/// Raw bytes that are not UTF-8 cannot be a CloudFormation request (CloudFormation sends
/// JSON), and since the runtime cannot parse them, their ResponseURL cannot be read either:
/// nobody can be answered. The runtime must report an invocation error and keep serving.
#[tokio::test]
async fn raw_non_utf8_bytes_are_an_invocation_error_and_the_binary_keeps_serving() {
    let bed = e2e::TestBed::start().await;
    let f = bed.sample().await;
    let sink = e2e::lambda::ResponseSink::start().await;
    let (rt, addr) = raw_runtime::RawRuntime::start().await;
    let mut junk = format!(
        "{{\"RequestType\":\"Create\",\"ResponseURL\":\"{}\",\"RequestId\":\"junk\",\"TargetOUIds\":\"ou-",
        sink.url("junk")
    )
    .into_bytes();
    junk.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    junk.extend_from_slice(b"\"}");
    assert!(std::str::from_utf8(&junk).is_err());
    rt.push("00000000-0000-4000-8000-000000000001", junk);
    let next = request(
        &sink,
        "create",
        "after-junk",
        set(&f, &[("TargetOUIds", json!("ou-ABCD-12345678"))]),
    );
    rt.push(
        "00000000-0000-4000-8000-000000000002",
        next.to_string().into_bytes(),
    );
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_custom-resource"))
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "orgscope-test")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .envs(
            bed.function_env(Function::CustomResource, &Deployment::management())
                .await,
        )
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let wait = std::time::Duration::from_secs(30);
    let (what, body) = rt
        .result("00000000-0000-4000-8000-000000000001", wait)
        .await
        .expect("the junk got a result");
    assert_eq!(what, "error", "{body}");
    println!("invocation error for non-UTF-8 bytes: {body}");
    let (what, _) = rt
        .result("00000000-0000-4000-8000-000000000002", wait)
        .await
        .expect("the runtime went on to the next invocation");
    assert_eq!(what, "response");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the runtime is still up"
    );
    let bodies = sink.bodies();
    assert_eq!(bodies.len(), 1, "only the readable request was answered");
    assert_eq!(bodies[0]["RequestId"], "after-junk");
    assert_eq!(bodies[0]["Status"], "FAILED");
    assert!(bed.requests().await.is_empty());
    child.kill().await.ok();
}
