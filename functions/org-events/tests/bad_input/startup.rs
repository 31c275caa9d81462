use super::*;

use super::rows::input_rows;

/// Runs the real binary with `env` (and the test bed's endpoint); it must fail its start-up.
async fn start_binary(bed: &TestBed, env: &Env) -> (bool, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_org-events"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // Never reached on a config error; present so that a bug would show as a request.
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .envs(
            bed.function_env(Function::OrgEvents, &Deployment::management())
                .await,
        )
        .envs(env)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("the binary ends promptly")
        .expect("run org-events");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (out.status.success(), text)
}

#[tokio::test]
async fn every_bad_configuration_fails_start_up_with_the_scope_engine_message_and_no_aws_call() {
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    bed.create_stack_set(STACK_SET, true).await;
    bed.control("requests/clear", json!({})).await;
    let rows = input_rows(&f);
    // FAULTS.md counts the rows: a lost row fails here.
    assert_eq!(rows.len(), 47, "FAULTS.md says 47 rows");
    println!("{} rows", rows.len());
    let mut problems = Vec::new();
    for row in &rows {
        let e = match Config::from_env(|k| row.env.get(k).cloned(), REGION) {
            Ok(c) => {
                problems.push(format!("[{}] accepted: {c:?}", row.name));
                continue;
            }
            Err(e) => e.to_string(),
        };
        for want in &row.want {
            if !e.contains(want.as_str()) {
                problems.push(format!("[{}] message lacks {want:?}: {e}", row.name));
            }
        }
        if e.len() > 1200 {
            problems.push(format!("[{}] message is {} bytes", row.name, e.len()));
        }
        // The real binary, when the OS lets such an environment through.
        if row.env.values().all(|v| v.len() < EXEC_LIMIT) {
            let (ok, logs) = start_binary(&bed, &row.env).await;
            if ok {
                problems.push(format!("[{}] the binary started", row.name));
            }
            if !logs.contains("invalid configuration") || !logs.contains(row.want[0].as_str()) {
                problems.push(format!(
                    "[{}] start-up output lacks the message: {logs}",
                    row.name
                ));
            }
            if logs.contains("panicked") {
                problems.push(format!("[{}] panicked: {logs}", row.name));
            }
        }
        println!("{:<36} {}", row.name, e.lines().next().unwrap_or_default());
    }
    let requests = bed.requests().await;
    assert!(
        requests.is_empty(),
        "a configuration error reached AWS: {:?}",
        requests.iter().map(|r| &r["action"]).collect::<Vec<_>>()
    );
    assert!(
        problems.is_empty(),
        "{} of {} rows wrong:\n{}",
        problems.len(),
        rows.len(),
        problems.join("\n")
    );
}
/// A non-UTF-8 environment value cannot come from CloudFormation (template parameters are
/// strings), but "invalid configuration fails loudly at start-up" (issue 4). This test found
/// that `main.rs` read the environment with `std::env::var(k).ok()`, which turned a value that
/// is not UTF-8 into "unset" (ON_ACCOUNT_LEAVES_SCOPE=RETAIN with a stray byte silently became
/// the default DELETE); it now reads values lossily, so the parser rejects them by name.
#[tokio::test]
async fn a_non_utf8_environment_value_fails_start_up() {
    use std::os::unix::ffi::OsStrExt;
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    let stub = e2e::lambda::LambdaStub::start(Duration::from_secs(30)).await;
    let mut env: Vec<(&str, String)> = bed
        .function_env(Function::OrgEvents, &Deployment::management())
        .await;
    env.push(("TARGET_OU_IDS", f.ou("Root/Prod")));
    env.push(("ACCOUNT_SCOPE", "ALL".into()));
    env.push(("STACK_SET_NAME", STACK_SET.into()));
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_org-events"));
    cmd.env("AWS_LAMBDA_RUNTIME_API", stub.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "orgscope-test")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env(
            "ON_ACCOUNT_LEAVES_SCOPE",
            std::ffi::OsStr::from_bytes(b"RETAI\xffN"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(!status.success(), "exited 0");
            break;
        }
        assert!(
            stub.first_next().is_none(),
            "start-up succeeded with a non-UTF-8 ON_ACCOUNT_LEAVES_SCOPE (read as DELETE)"
        );
        assert!(Instant::now() < deadline, "neither failed nor started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
