//! The main job, locally: emulator + sample organization + both real function binaries,
//! printing what a platform engineer needs to see. Run it with `scripts/demo`.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_cloudformation::types::{AutoDeployment, Capability, Parameter, PermissionModels};
use e2e::esm::Options;
use e2e::lambda::{LambdaStub, ResponseSink};
use e2e::{repo_root, Deployment, Function, TestBed, STACK_SET};
use serde_json::{json, Value};

fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target"))
}

/// The binaries the demo runs: the arm64 release build (what `scripts/release` zips for
/// Lambda) when it exists and this machine can execute it (an arm64 host, or qemu-user with
/// binfmt), else the host's debug build. Decided once, by running the arm64 `orgscope`.
#[derive(Clone, Copy)]
enum Binaries {
    Arm64Release,
    HostDebug,
}

impl Binaries {
    fn detect() -> (Self, String) {
        let arm = target_dir().join("lambda/orgscope/bootstrap");
        if !arm.exists() {
            return (
                Self::HostDebug,
                format!("{} is not built (scripts/release builds it)", arm.display()),
            );
        }
        match std::process::Command::new(&arm).arg("--version").output() {
            Ok(out) if out.status.success() => (Self::Arm64Release, "this machine runs arm64 binaries".into()),
            Ok(out) => (Self::HostDebug, format!("the arm64 build exits with {}", out.status)),
            Err(e) => (
                Self::HostDebug,
                format!("this {} machine cannot execute arm64 binaries ({e}); qemu-user with binfmt would", std::env::consts::ARCH),
            ),
        }
    }

    fn path(self, name: &str) -> PathBuf {
        let p = match self {
            Self::Arm64Release => target_dir()
                .join("aarch64-unknown-linux-gnu/release")
                .join(name),
            Self::HostDebug => target_dir().join("debug").join(name),
        };
        assert!(p.exists(), "{} is not built: run scripts/demo", p.display());
        p
    }
}

static BINARIES: std::sync::OnceLock<Binaries> = std::sync::OnceLock::new();

fn bin(name: &str) -> PathBuf {
    BINARIES
        .get()
        .copied()
        .unwrap_or(Binaries::HostDebug)
        .path(name)
}

fn section(title: &str) {
    println!(
        "\n\x1b[1m── {title} {}\x1b[0m",
        "─".repeat(74usize.saturating_sub(title.len()))
    );
}

fn event(name: &str) -> Value {
    let p = repo_root().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(p).expect("event file")).expect("event JSON")
}

async fn run(stub: &LambdaStub, payload: Value) -> Result<Value, Value> {
    let id = stub.invoke(payload);
    stub.result(&id, Duration::from_secs(120))
        .await
        .expect("the function answered within 120 s")
}

#[tokio::main]
async fn main() {
    let (binaries, why) = Binaries::detect();
    BINARIES.set(binaries).ok();
    section("0. The binaries this demo runs");
    match binaries {
        Binaries::Arm64Release => {
            println!("the arm64 release build, the code the Lambda zips hold ({why}):")
        }
        Binaries::HostDebug => println!(
            "the {} debug build of the same source, not the arm64 release build: {why}:",
            std::env::consts::ARCH
        ),
    }
    for name in ["custom-resource", "org-events", "orgscope"] {
        println!("  {}", bin(name).display());
    }

    section("1. Local AWS: emulator (moto + StackSets fidelity layer) and the sample organization");
    let bed = TestBed::start().await;
    let f = bed.sample().await;
    println!("emulator at {}", bed.endpoint);
    println!(
        "organization {}  management account {}  root {}",
        f.0["organization_id"].as_str().unwrap_or_default(),
        f.management(),
        f.root()
    );
    bed.configure(json!({"operation_seconds": 1.0})).await;

    section("2. The StackSet, from the member template, as CloudFormation would create it");
    let conf = bed.sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&conf);
    let body = std::fs::read_to_string(repo_root().join("templates/member-role.yaml"))
        .expect("templates/member-role.yaml");
    let param = |k: &str, v: &str| {
        Parameter::builder()
            .parameter_key(k)
            .parameter_value(v)
            .build()
    };
    cfn.create_stack_set()
        .stack_set_name(STACK_SET)
        .template_body(body)
        .permission_model(PermissionModels::ServiceManaged)
        .auto_deployment(AutoDeployment::builder().enabled(false).build())
        .capabilities(Capability::CapabilityNamedIam)
        .parameters(param("RoleName", "PortIntegrationRole-aws-v3-multi"))
        .parameters(param(
            "OIDCProviderUrl",
            "https://oidc.eks.eu-west-1.amazonaws.com/id/56E5F51C07138118A9183ECEAA68FAF4",
        ))
        .parameters(param(
            "OIDCJwtSubject",
            "system:serviceaccount:org-org_1234567890-port-oidc-sa",
        ))
        .parameters(param("CreateOIDCProvider", "true"))
        .parameters(param("IntegrationIdentifier", "aws-v3-multi"))
        .send()
        .await
        .expect("CreateStackSet");
    println!("StackSet {STACK_SET}: service-managed, auto-deployment off (the functions enroll accounts)");

    let targets = format!("{},{}", f.ou("Root/Prod"), f.ou("Root/Staging"));
    let excluded = f.account("prod-eu-pci");
    section("3. What the scope means: `orgscope plan`");
    println!(
        "TargetOUIds={targets}  AccountScope=DIFFERENCE  TargetAccountIds={excluded} (prod-eu-pci)\n"
    );
    let plan = tokio::process::Command::new(bin("orgscope"))
        .args([
            "plan",
            "--target-ou-ids",
            &targets,
            "--account-scope",
            "DIFFERENCE",
            "--target-account-ids",
            &excluded,
        ])
        .envs(bed.env())
        .output()
        .await
        .expect("orgscope");
    print!("{}", String::from_utf8_lossy(&plan.stdout));
    eprint!("{}", String::from_utf8_lossy(&plan.stderr));
    // The sample accounts carry tags (env, team, port:exclude): the same OUs narrowed by them,
    // for show only (the stack below deploys the scope above, without tags).
    println!(
        "\nThe same OUs, ALL, narrowed by account tags: --target-account-tags env=prod \
         --excluded-account-tags port:exclude=true\n"
    );
    let tags = tokio::process::Command::new(bin("orgscope"))
        .args([
            "plan",
            "--target-ou-ids",
            &targets,
            "--target-account-tags",
            "env=prod",
            "--excluded-account-tags",
            "port:exclude=true",
        ])
        .envs(bed.env())
        .output()
        .await
        .expect("orgscope");
    print!("{}", String::from_utf8_lossy(&tags.stdout));
    eprint!("{}", String::from_utf8_lossy(&tags.stderr));

    section("4. CloudFormation Create → the real custom-resource binary (local Lambda runtime)");
    let sink = ResponseSink::start().await;
    let stub = LambdaStub::start(Duration::from_secs(120)).await;
    let quiet = [("AWS_LAMBDA_LOG_LEVEL", "WARN".to_string())];
    // Each function runs as the principal template.yaml makes it: the emulator refuses any
    // call its policies do not allow, as IAM would.
    let mut env = bed
        .function_env(Function::CustomResource, &Deployment::management())
        .await;
    env.extend(quiet.iter().cloned());
    println!("(running as the custom-resource function's role, with exactly the permissions template.yaml gives it)");
    let mut cr = stub.spawn(&bin("custom-resource"), &env);
    let mut create = event("cfn-create.json");
    create["ResponseURL"] = json!(sink.url("demo-create"));
    create["RequestId"] = json!("demo-create");
    create["ResourceProperties"]["TargetOUIds"] = json!(targets);
    create["ResourceProperties"]["TargetAccountIds"] = json!(excluded);
    let _ = run(&stub, create).await;
    let answer = sink
        .wait_for(1, Duration::from_secs(10))
        .await
        .expect("CloudFormation got an answer");
    println!("CloudFormation received (PUT to the ResponseURL):");
    println!(
        "{}",
        serde_json::to_string_pretty(&answer).unwrap_or_default()
    );
    let _ = cr.kill().await;

    section("5. The stack instances the StackSet now has");
    print_instances(&bed, &f).await;

    section("6. An account moves into a target OU → the real org-events binary enrolls it");
    let mover = f.account("sandbox-orphan");
    bed.move_account(&mover, &f.root(), &f.ou("Root/Prod/EU"))
        .await;
    println!("MoveAccount: sandbox-orphan ({mover}) from Root to Root/Prod/EU");
    let stub2 = LambdaStub::start(Duration::from_secs(120)).await;
    let mut env2 = bed
        .function_env(Function::OrgEvents, &Deployment::management())
        .await;
    env2.extend(quiet.iter().cloned());
    env2.extend([
        ("TARGET_OU_IDS", targets.clone()),
        ("ACCOUNT_SCOPE", "DIFFERENCE".into()),
        ("TARGET_ACCOUNT_IDS", excluded.clone()),
        ("STACK_SET_NAME", STACK_SET.into()),
        ("ON_ACCOUNT_LEAVES_SCOPE", "DELETE".into()),
    ]);
    let mut oe = stub2.spawn(&bin("org-events"), &env2);
    let mut mv = event("move-account.json");
    mv["detail"]["requestParameters"] = json!({
        "accountId": mover,
        "sourceParentId": f.root(),
        "destinationParentId": f.ou("Root/Prod/EU"),
    });
    // As AWS delivers it: template.yaml's rule puts the event on OrgEventsQueue, and the event
    // source mapping's poller hands the function an SQS batch whose record's body is the event.
    let queue = bed.org_events_queue().await;
    let rules = queue.put(&mv).await;
    println!("EventBridge: rule {rules:?} of template.yaml put the event on OrgEventsQueue");
    let poller = queue
        .lambda_poller(
            &bed,
            Options {
                time_scale: 0.05,
                ..Options::default()
            },
        )
        .await;
    let report = {
        let stub = stub2.clone();
        poller
            .drain(move |delivery| {
                let stub = stub.clone();
                async move { run(&stub, delivery).await.map_err(|e| e.to_string()) }
            })
            .await
    };
    println!(
        "the event source mapping's poller: {} batch(es) of {:?} message(s)",
        report.deliveries.len(),
        report
            .deliveries
            .iter()
            .map(|d| d.message_ids.len())
            .collect::<Vec<_>>()
    );
    for d in &report.deliveries {
        match &d.result {
            Ok(summary) => {
                println!("org-events summary:");
                println!(
                    "{}",
                    serde_json::to_string_pretty(summary).unwrap_or_default()
                );
            }
            Err(e) => println!("org-events failed: {e}"),
        }
    }
    let _ = oe.kill().await;
    print_instances(&bed, &f).await;
    let enrolled = bed.instance_accounts(STACK_SET).await.contains(&mover);
    println!(
        "\nsandbox-orphan enrolled: {}",
        if enrolled { "yes" } else { "NO" }
    );
    let refused = bed.denied().await;
    println!(
        "calls IAM refused under template.yaml's policies: {}",
        refused.len()
    );
    for (action, message) in &refused {
        println!("  {action}: {message}");
    }
    section("Done: nothing left running");
    if !enrolled || answer["Status"] != "SUCCESS" || !refused.is_empty() {
        std::process::exit(1);
    }
}

async fn print_instances(bed: &TestBed, f: &e2e::Fixture) {
    let names: std::collections::BTreeMap<String, String> = f.0["accounts"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (v["id"].as_str().unwrap_or_default().to_owned(), k.clone()))
                .collect()
        })
        .unwrap_or_default();
    let ous: std::collections::BTreeMap<String, String> = f.0["ous"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (v.as_str().unwrap_or_default().to_owned(), k.clone()))
                .collect()
        })
        .unwrap_or_default();
    let instances = bed.instances(STACK_SET).await;
    println!(
        "{:<14} {:<18} {:<10} {:<10} deployed through",
        "account", "name", "region", "status"
    );
    for i in &instances {
        let id = i["account"].as_str().unwrap_or_default();
        println!(
            "{:<14} {:<18} {:<10} {:<10} {}",
            id,
            names.get(id).map(String::as_str).unwrap_or("?"),
            i["region"].as_str().unwrap_or_default(),
            i["status"].as_str().unwrap_or_default(),
            ous.get(i["ou"].as_str().unwrap_or_default())
                .cloned()
                .unwrap_or_default()
        );
    }
    println!("{} instance(s)", instances.len());
}
