//! The deployment templates (the SAM template, the StackSet one, the trail-only one, the hub and
//! its spoke): cfn-lint passes; every condition combination translates (AWS's SAM translator),
//! has an acyclic resource graph and is created on moto's CloudFormation, where the rule's
//! pattern routes exactly the sample events the guard judges, each role holds exactly what the
//! code calls, and the guard, configured from the stack, alerts through the stack's topic; the
//! SCP protects what the spoke creates; the packaged zip stays small. Needs cfn-lint, the SAM translator, boto3 and moto on PATH, as `tests/with-moto` provides.

use crate::support::{ACCOUNT, REGION, cli_on, event, event_policy, moto, package, root};
use ecr_policy_guard::adapters::moto::AlertQueue;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

/// Runs a tool from PATH; a missing tool fails the test with what to do about it.
fn tool(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{program}` ({e}): run the tests through tests/with-moto")
        })
}

/// The templates with the guard's function (and so its rule and role).
const TEMPLATES: [&str; 3] = ["template.yaml", "stackset.yaml", "hub.yaml"];

fn infra_check(template: &str, what: &str) -> Value {
    infra_check_with(template, &[what])
}

fn infra_check_with(template: &str, args: &[&str]) -> Value {
    let mut all = vec!["tests/infra_check.py", template];
    all.extend_from_slice(args);
    let out = tool("python3", &all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn cfn_lint_passes_on_every_template() {
    for template in [
        "template.yaml",
        "stackset.yaml",
        "trail.yaml",
        "hub.yaml",
        "spoke.yaml",
    ] {
        let out = tool("cfn-lint", &[&format!("infra/{template}")]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "cfn-lint {template}:\n{text}");
        assert!(
            text.trim().is_empty(),
            "cfn-lint warnings on {template}:\n{text}"
        );
    }
}

/// The sample files the rule must deliver: EventBridge envelopes the guard does not ignore
/// (a bare CloudTrail record never reaches EventBridge rules).
fn expected_deliveries() -> (BTreeSet<String>, usize) {
    let readme = std::fs::read_to_string(root().join("events/README.md")).unwrap();
    let mut expected = BTreeSet::new();
    let mut all = 0;
    for row in readme.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let file = cells[0].trim_matches('`');
        all += 1;
        let text = std::fs::read_to_string(root().join("events").join(file)).unwrap();
        let event: Value = serde_json::from_str(&text).unwrap();
        if cells[1] != "ignore" && event.get("detail-type").is_some() {
            expected.insert(file.to_owned());
        }
    }
    (expected, all)
}

#[test]
fn each_rule_matches_exactly_the_sample_events_the_guard_judges() {
    let (expected, all) = expected_deliveries();
    assert!(expected.len() >= 10 && expected.len() < all);
    for template in TEMPLATES.into_iter().chain(["spoke.yaml"]) {
        let matched = infra_check(template, "pattern");
        let matched = matched.as_object().unwrap();
        assert_eq!(matched.len(), all, "{template}: every sample was tried");
        let got: BTreeSet<String> = matched
            .iter()
            .filter(|(_, m)| m.as_bool() == Some(true))
            .map(|(f, _)| f.clone())
            .collect();
        assert_eq!(got, expected, "{template}");
    }
}

/// Resource types moto's CloudFormation does not create; the templates' use of them is checked
/// by cfn-lint only (printed by the deployment test, so a run shows them).
const NOT_EMULATED: [&str; 2] = ["AWS::CloudWatch::Alarm", "AWS::Lambda::EventInvokeConfig"];

#[tokio::test]
async fn every_template_deploys_on_moto_in_every_condition_combination() {
    let out = tool(
        "python3",
        &[
            "tests/infra_deploy.py",
            "--endpoint",
            &moto().endpoint,
            "deploy",
        ],
    );
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        out.status.success() && report["ok"] == true,
        "{}\n{}",
        report["failures"],
        String::from_utf8_lossy(&out.stderr)
    );
    let (expected, _) = expected_deliveries();
    let strings = |list: &Value| -> BTreeSet<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    };
    let mut stacks = 0;
    for (template, result) in report["templates"].as_object().unwrap() {
        for combination in result["combinations"].as_array().unwrap() {
            let label = format!("{template} ({})", combination["label"]);
            assert_eq!(combination["stack"]["status"], "CREATE_COMPLETE", "{label}");
            assert_eq!(combination["graph"]["acyclic"], true, "{label}");
            stacks += 1;
            if template == "trail.yaml" {
                continue;
            }
            let routed: BTreeSet<String> = combination["events"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, m)| m.as_bool() == Some(true))
                .map(|(f, _)| f.clone())
                .collect();
            assert_eq!(routed, expected, "{label}: the rule read back from moto");
            if template == "spoke.yaml" {
                // The spoke role (in its one region) may only read and restore policies; the
                // forwarding role only put events on the hub's bus, the rule's one target.
                let roles = &combination["roles"];
                let in_role_region = combination["conditions"]["MakeRole"] == true;
                assert_eq!(roles.get("SpokeRole").is_some(), in_role_region, "{label}");
                if in_role_region {
                    assert_eq!(
                        strings(&roles["SpokeRole"]["actions"]),
                        spoke_grants(),
                        "{label}"
                    );
                }
                assert_eq!(
                    strings(&roles["ForwardRole"]["actions"]),
                    BTreeSet::from(["events:PutEvents".to_owned()]),
                    "{label}"
                );
                let rule = &combination["rules"][0];
                let bus = combination["parameters"]["HubEventBusArn"]
                    .as_str()
                    .unwrap();
                assert_eq!(rule["targets"][0]["arn"], bus, "{label}");
                assert!(
                    rule["targets"][0]["role_arn"]
                        .as_str()
                        .unwrap()
                        .contains("ecr-policy-guard-forward-"),
                    "{label}"
                );
                continue;
            }
            let mut granted = function_grants(template);
            // The one grant the code does not call itself: delivering a failed invocation.
            granted.insert("sqs:SendMessage".into());
            if template == "hub.yaml" {
                let listing = combination["conditions"]["ListOrganization"] == true;
                assert_eq!(
                    listing,
                    combination["parameters"]["ScanAccounts"] == "organization"
                );
                if !listing {
                    granted.remove("organizations:ListAccounts");
                }
                // The central bus takes this rule; the schedule runs on the default bus.
                let buses: BTreeSet<&str> = combination["rules"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["event_bus"].as_str().unwrap())
                    .collect();
                assert_eq!(
                    buses,
                    BTreeSet::from(["default", "ecr-policy-guard"]),
                    "{label}"
                );
                let env = &combination["function"]["environment"];
                assert_eq!(
                    env["GUARD_SPOKE_ROLE_NAME"], "ecr-policy-guard-spoke",
                    "{label}"
                );
            }
            assert_eq!(
                strings(&combination["iam"]["actions"]),
                granted,
                "{label}: the role read back from moto IAM"
            );
        }
    }
    // 16 combinations of the SAM template, 2 of the StackSet one, the trail, 8 of the hub
    // (reserved concurrency, e-mail, organization-wide scan) and 2 of the spoke (the role's
    // region or another).
    assert_eq!(stacks, 29);
    let skipped = report["checked_by_cfn_lint_only"].as_object().unwrap();
    for kind in NOT_EMULATED {
        assert!(skipped.contains_key(kind), "{kind}: {skipped:?}");
    }
    eprintln!(
        "checked by cfn-lint only (moto does not create them): {}",
        skipped.keys().cloned().collect::<Vec<_>>().join(", ")
    );

    // The guard, configured from the default stack (the function's own settings), alerts
    // through the stack's topic: a subscriber receives it.
    let defaults = &report["templates"]["template.yaml"]["combinations"][0];
    let topic = defaults["outputs"]["AlertTopicArn"].as_str().unwrap();
    let settings = &defaults["function"]["environment"];
    assert_eq!(settings["GUARD_ALERT_TOPIC_ARN"], topic);
    let sdk = moto().sdk_config(REGION).await;
    let queue = AlertQueue::subscribe(&sdk, topic, "infra-stack-subscriber")
        .await
        .unwrap();
    let repo = "t-infra/stack";
    let ev = event("set-policy-cross-account-root.json", repo);
    let ecr = aws_sdk_ecr::Client::new(&sdk);
    ecr.create_repository()
        .repository_name(repo)
        .send()
        .await
        .unwrap();
    ecr.set_repository_policy()
        .repository_name(repo)
        .policy_text(event_policy(&ev))
        .send()
        .await
        .unwrap();
    let file = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("infra-stack-event.json");
    std::fs::write(&file, ev.to_string()).unwrap();
    let out = cli_on(
        moto(),
        &[
            "handle",
            "--mode",
            settings["GUARD_MODE"].as_str().unwrap(),
            "--topic-arn",
            settings["GUARD_ALERT_TOPIC_ARN"].as_str().unwrap(),
            &file.to_string_lossy(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let delivered = queue.drain(1).await.unwrap();
    assert_eq!(delivered.len(), 1);
    let notification: Value = serde_json::from_str(&delivered[0]).unwrap();
    assert_eq!(notification["TopicArn"], topic);
    assert_eq!(
        notification["Subject"],
        format!("ecr-policy-guard ALERT: {repo} in {ACCOUNT}")
    );
}

#[test]
fn the_graph_checker_names_a_dependency_cycle() {
    // The shape the SAM template had before: CloudFormation refuses it, cfn-lint 1.58 misses it.
    let out = tool(
        "python3",
        &[
            "tests/infra_deploy.py",
            "graph",
            "tests/fixtures/infra/cyclic-template.yaml",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["combinations"][0]["graph"]["cycles"],
        serde_json::json!(["AlertKey -> GuardFunctionRole -> AlertTopic -> AlertKey"])
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("AlertKey -> GuardFunctionRole"));
}

/// The AWS operations the adapters call, as named in src/adapters/aws.rs (`"service:Operation"`).
fn operations_in_code() -> BTreeSet<String> {
    let code = std::fs::read_to_string(root().join("src/adapters/aws.rs")).unwrap();
    code.split('"')
        .filter(|s| {
            let mut parts = s.split(':');
            matches!((parts.next(), parts.next(), parts.next()), (Some("ecr" | "sns" | "cloudtrail" | "ssm" | "sts" | "organizations"), Some(op), None)
                if op.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && op.chars().all(|c| c.is_ascii_alphanumeric()))
        })
        .map(str::to_owned)
        .collect()
}

/// The registry-level ECR operations the code calls: IAM knows no resource type for them.
const REGISTRY_DOORS: [&str; 7] = [
    "ecr:DeleteRegistryPolicy",
    "ecr:DescribeRegistry",
    "ecr:DescribeRepositoryCreationTemplates",
    "ecr:GetRegistryPolicy",
    "ecr:PutRegistryPolicy",
    "ecr:PutReplicationConfiguration",
    "ecr:UpdateRepositoryCreationTemplate",
];

/// The templates whose function acts in its own region only.
const REGIONAL: [&str; 2] = ["template.yaml", "stackset.yaml"];

/// Operations only the hub calls: the spoke roles, and the organization's accounts.
const HUB_ONLY: [&str; 2] = ["organizations:ListAccounts", "sts:AssumeRole"];

/// What a template's function role must be granted: every operation the code calls, but
/// `sts:GetCallerIdentity` (which needs no permission) and, outside the hub, the hub's own.
fn function_grants(template: &str) -> BTreeSet<String> {
    operations_in_code()
        .into_iter()
        .filter(|op| op != "sts:GetCallerIdentity")
        .filter(|op| template == "hub.yaml" || !HUB_ONLY.contains(&op.as_str()))
        .collect()
}

/// What the spoke role must be granted: the ECR and CloudTrail operations the code calls.
fn spoke_grants() -> BTreeSet<String> {
    operations_in_code()
        .into_iter()
        .filter(|op| op.starts_with("ecr:") || op.starts_with("cloudtrail:"))
        .collect()
}

#[test]
fn the_function_may_do_only_what_the_code_calls() {
    let called = operations_in_code();
    let expected: BTreeSet<String> = [
        "cloudtrail:LookupEvents",
        "ecr:DeleteRegistryPolicy",
        "ecr:DescribeRegistry",
        "ecr:DescribeRepositories",
        "ecr:DescribeRepositoryCreationTemplates",
        "ecr:GetRegistryPolicy",
        "ecr:GetRepositoryPolicy",
        "ecr:PutRegistryPolicy",
        "ecr:PutReplicationConfiguration",
        "ecr:SetRepositoryPolicy",
        "ecr:UpdateRepositoryCreationTemplate",
        "organizations:ListAccounts",
        "sns:Publish",
        "ssm:GetParameter",
        "ssm:PutParameter",
        "sts:AssumeRole",
        "sts:GetCallerIdentity",
    ]
    .map(String::from)
    .into();
    assert_eq!(
        called, expected,
        "the adapters' operations changed: review the templates' IAM statements"
    );
    for template in TEMPLATES {
        let called = function_grants(template);
        let mut granted = BTreeSet::new();
        for entry in infra_check(template, "iam").as_array().unwrap() {
            let (policy, statement) = (&entry["policy"], &entry["statement"]);
            assert_eq!(statement["Effect"], "Allow", "{template}");
            let actions: Vec<String> = match &statement["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(list) => list
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect(),
                other => panic!("{template}: unexpected Action {other}"),
            };
            let resource = statement["Resource"].to_string();
            for action in actions {
                assert!(
                    !action.contains('*'),
                    "{template}: wildcard action `{action}`"
                );
                // The one grant the code does not call itself: Lambda delivering a failed
                // invocation to the on-failure queue (SAM adds it implicitly).
                if policy == "on-failure-destination" {
                    assert_eq!(action, "sqs:SendMessage", "{template}");
                    assert!(
                        resource.contains("FailedInvocationQueue"),
                        "{template}: {resource}"
                    );
                    continue;
                }
                assert!(
                    called.contains(&action),
                    "{template}: `{action}` is granted but the code never calls it"
                );
                if REGISTRY_DOORS.contains(&action.as_str()) {
                    // No resource type exists for these: "*", held to the stack's region where
                    // the function acts in one region only.
                    assert_eq!(statement["Resource"], "*", "{template}: `{action}`");
                    let region = &statement["Condition"]["StringEquals"]["aws:RequestedRegion"];
                    if REGIONAL.contains(&template) {
                        assert_eq!(
                            region.to_string(),
                            r#"{"Ref":"AWS::Region"}"#,
                            "{template}: `{action}` outside the stack's region"
                        );
                    }
                } else if action.starts_with("ecr:") {
                    assert_ne!(
                        statement["Resource"], "*",
                        "{template}: `{action}` on every resource"
                    );
                    assert!(
                        resource.contains(":repository/"),
                        "{template}: `{action}` on {resource}"
                    );
                }
                if action.starts_with("ssm:") {
                    assert!(
                        resource.contains(":parameter/ecr-policy-guard/scan-position"),
                        "{template}: {resource}"
                    );
                }
                // The hub assumes only roles of the spoke's name, in any account.
                if action == "sts:AssumeRole" {
                    assert_eq!(
                        resource,
                        r#"{"Fn::Sub":"arn:${AWS::Partition}:iam::*:role/${SpokeRoleName}"}"#,
                        "{template}"
                    );
                }
                // Listing the organization only where the scan covers it.
                if action == "organizations:ListAccounts" {
                    assert_eq!(policy, "organization-accounts", "{template}");
                }
                granted.insert(action);
            }
        }
        assert_eq!(
            granted, called,
            "{template}: every call the code makes is granted"
        );
    }
}

#[test]
fn the_spoke_role_may_only_read_and_restore_policies_for_the_hub_and_the_scp_protects_it() {
    let mut granted = BTreeSet::new();
    for entry in infra_check_with("spoke.yaml", &["iam", "SpokeRole"])
        .as_array()
        .unwrap()
    {
        let statement = &entry["statement"];
        assert_eq!(statement["Effect"], "Allow");
        for action in statement["Action"].as_array().map_or_else(
            || vec![statement["Action"].as_str().unwrap()],
            |list| list.iter().map(|a| a.as_str().unwrap()).collect(),
        ) {
            if REGISTRY_DOORS.contains(&action) {
                assert_eq!(statement["Resource"], "*", "`{action}`");
            } else if action.starts_with("ecr:") {
                assert!(statement["Resource"].to_string().contains(":repository/*"));
            }
            granted.insert(action.to_owned());
        }
    }
    assert_eq!(granted, spoke_grants());

    // The template as written: the role trusts only the hub's role, from inside the organization.
    let text = std::fs::read_to_string(root().join("infra/spoke.yaml")).unwrap();
    for needle in [
        "AWS: !Ref HubRoleArn",
        "aws:PrincipalOrgID: !Ref OrganizationId",
        "RoleName: !Ref SpokeRoleName",
        "Name: ecr-policy-guard-forward\n",
        "RoleName: !Sub ecr-policy-guard-forward-${AWS::Region}",
        "Default: ecr-policy-guard-spoke",
    ] {
        assert!(text.contains(needle), "spoke.yaml lacks `{needle}`");
    }
    // The SCP denies changing those names' role and rule to everyone but the StackSet.
    let scp: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("infra/scp-protect-spoke.json")).unwrap(),
    )
    .unwrap();
    let statements = scp["Statement"].as_array().unwrap();
    let resources: BTreeSet<String> = statements
        .iter()
        .flat_map(|s| match &s["Resource"] {
            Value::String(r) => vec![r.clone()],
            list => list
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect(),
        })
        .collect();
    assert_eq!(
        resources,
        BTreeSet::from([
            "arn:*:events:*:*:rule/ecr-policy-guard-forward".to_owned(),
            "arn:*:iam::*:role/ecr-policy-guard-forward-*".to_owned(),
            "arn:*:iam::*:role/ecr-policy-guard-spoke".to_owned(),
        ])
    );
    for s in statements {
        assert_eq!(s["Effect"], "Deny");
        assert_eq!(
            s["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
            "arn:*:iam::*:role/stacksets-exec-*"
        );
        let actions: Vec<&str> = s["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(!actions.iter().any(|a| a.contains('*')), "{actions:?}");
    }
    let all: BTreeSet<&str> = statements
        .iter()
        .flat_map(|s| {
            s["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
        })
        .collect();
    for needed in [
        "iam:DeleteRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "events:DeleteRule",
        "events:DisableRule",
        "events:RemoveTargets",
        "events:PutTargets",
    ] {
        assert!(all.contains(needed), "the SCP does not deny `{needed}`");
    }
}

/// The documented ceiling for the deployment zip (README, infra/README.md).
const MAX_ZIP_BYTES: u64 = 4_000_000;

#[test]
fn the_packaging_command_builds_a_zip_under_the_documented_size() {
    // The last line the command printed is "<path> <bytes> bytes".
    let line = &package().summary;
    let mut words = line.split_whitespace();
    let (path, bytes) = (
        words.next().unwrap(),
        words.next().unwrap().parse::<u64>().unwrap(),
    );
    assert_eq!(root().join(path), package().zip, "{line}");
    let on_disk = std::fs::metadata(&package().zip).unwrap().len();
    assert_eq!(bytes, on_disk, "{line}");
    assert!(
        bytes < MAX_ZIP_BYTES,
        "the zip is {bytes} bytes; the documented ceiling is {MAX_ZIP_BYTES}"
    );
    assert!(bytes > 500_000, "suspiciously small zip: {bytes} bytes");
    // The size the README quotes is this command's, and not stale.
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let marker = "deployment zip (`infra/package.sh`): ";
    let quoted = readme
        .split(marker)
        .nth(1)
        .and_then(|rest| rest.split(" bytes").next())
        .unwrap_or_else(|| panic!("README.md quotes no `{marker}N bytes`"));
    let quoted: u64 = quoted.replace(',', "").parse().unwrap();
    let off = (quoted as f64 - bytes as f64).abs() / bytes as f64;
    assert!(
        off <= 0.10,
        "README.md quotes {quoted} bytes for the zip; infra/package.sh built {bytes}: update it"
    );
}
