//! Terraform plans, as `terraform show -json PLAN` writes them (Terraform's "JSON Output Format"):
//! every ECR policy in `resource_changes[].change.after`, judged by kind. A value Terraform knows
//! only after apply (`after_unknown`) is a problem naming the resource's address, never a pass.

use super::tree::{self, Node, Value};
use super::{
    Extracted, FileError, FileReport, Located, Problem, ReplicationSpelling, ResourceKind,
    ResourceReport, Settings, Source, judge, problem_of,
};
use crate::policy::RegistryScope;
use crate::rules::Owner;
use crate::text::tick;

/// The resource types judged: type, the attribute holding the policy, its kind.
const ECR_TYPES: [(&str, &str, ResourceKind); 5] = [
    (
        "aws_ecr_repository_policy",
        "policy",
        ResourceKind::RepositoryPolicy,
    ),
    (
        "aws_ecr_registry_policy",
        "policy",
        ResourceKind::RegistryPolicy,
    ),
    (
        "aws_ecr_repository_creation_template",
        "repository_policy",
        ResourceKind::CreationTemplate,
    ),
    (
        "aws_ecr_replication_configuration",
        "replication_configuration",
        ResourceKind::Replication,
    ),
    // A repository no `aws_ecr_repository_policy` of the plan governs has no policy.
    ("aws_ecr_repository", "name", ResourceKind::RepositoryPolicy),
];

/// Judges every ECR resource a plan creates, updates or keeps.
pub fn check_plan(file: &str, text: &str, settings: &Settings) -> FileReport {
    let failed = |line, message: String| {
        FileReport::failed(file, Source::Terraform, FileError { line, message })
    };
    let root = match tree::from_json_text(text) {
        Ok(root) => root,
        Err(e) => return FileReport::failed(file, Source::Terraform, e),
    };
    if root.get("format_version").is_none() {
        return failed(root.line, "a plan needs `format_version`".into());
    }
    let changes = match root.get("resource_changes").map(|c| &c.value) {
        Some(Value::Seq(changes)) => changes.as_slice(),
        None if root.get("planned_values").is_some() => &[],
        _ => {
            return failed(
                root.line,
                "no `resource_changes`: give `terraform show -json` a plan file (`terraform plan -out`), not state".into(),
            );
        }
    };
    // A plan holds the account's own id only as values known after apply, so as for a policy
    // file, only `--account` makes an account own; the registry's region is `--region`, else the
    // provider's, where the configuration states it.
    let owner = if settings.account_given {
        Owner::Account(settings.account)
    } else {
        Owner::Unknown
    };
    let provider_region = root
        .get("configuration")
        .and_then(|c| c.get("provider_config"))
        .and_then(|p| p.get("aws"))
        .and_then(|a| a.get("expressions"))
        .and_then(|e| e.get("region"))
        .and_then(|r| r.get("constant_value"))
        .and_then(Node::as_str);
    let scope = RegistryScope {
        account: settings.account_given.then_some(settings.account),
        region: if settings.region_given {
            Some(settings.region)
        } else {
            provider_region
        },
    };
    // What each change leaves: (change, after) for resources that exist after apply.
    let kept: Vec<(&Node, &Node)> = changes
        .iter()
        .filter(|c| c.get("mode").and_then(Node::as_str) != Some("data"))
        .filter_map(|c| {
            let after = c.get("change")?.get("after")?;
            after.as_map().map(|_| (c, after))
        })
        .collect();
    let governed: Vec<Option<&str>> = kept
        .iter()
        .filter(|(c, _)| type_of(c) == "aws_ecr_repository_policy")
        .map(|(c, after)| {
            (!unknown(c, "repository")).then(|| after.get("repository").and_then(Node::as_str))?
        })
        .collect();
    let mut reports = Vec::new();
    for (change, after) in kept {
        let type_name = type_of(change);
        let Some(&(_, attribute, kind)) = ECR_TYPES.iter().find(|(t, _, _)| *t == type_name) else {
            continue;
        };
        let address = change
            .get("address")
            .and_then(Node::as_str)
            .unwrap_or(type_name);
        if type_name == "aws_ecr_repository" {
            let name = after.get("name").and_then(Node::as_str);
            // Some policy's repository is known only after apply: it may be this one.
            if governed.contains(&None) || governed.contains(&name) {
                continue;
            }
        }
        let mut report = ResourceReport::new(address, type_name, kind, change.line);
        let outcome = if unknown(change, attribute) {
            Err(Problem::not_rendered(
                change.line,
                format!(
                    "{} `{attribute}` is known only after apply, so it cannot be judged before; make it known at plan time (a literal, `jsonencode`, or `aws_iam_policy_document` of known values)",
                    tick(address)
                ),
            ))
        } else {
            extract(type_name, kind, change, after)
                .and_then(|e| judge(&e, settings.rules, owner, scope).map_err(problem_of))
        };
        report.add(outcome, None);
        reports.push(report);
    }
    FileReport {
        file: file.to_owned(),
        source: Source::Terraform,
        resources: reports,
        error: None,
    }
}

fn type_of(change: &Node) -> &str {
    change.get("type").and_then(Node::as_str).unwrap_or("")
}

/// Whether `after_unknown` marks the attribute, or anything inside it, as known only after apply.
fn unknown(change: &Node, attribute: &str) -> bool {
    fn any_true(node: &Node) -> bool {
        match &node.value {
            Value::Bool(b) => *b,
            Value::Seq(items) => items.iter().any(any_true),
            Value::Map(members) => members.iter().any(|(_, v)| any_true(v)),
            _ => false,
        }
    }
    change
        .get("change")
        .and_then(|c| c.get("after_unknown"))
        .and_then(|u| u.get(attribute))
        .is_some_and(any_true)
}

fn extract(
    type_name: &str,
    kind: ResourceKind,
    change: &Node,
    after: &Node,
) -> Result<Extracted, Problem> {
    let line = change.line;
    let problem = |message: String| Problem::not_rendered(line, message);
    let policy = |key: &str| -> Result<Option<Located>, Problem> {
        match after.get(key) {
            None
            | Some(Node {
                value: Value::Null, ..
            }) => Ok(None),
            Some(node) if node.as_str() == Some("") => Ok(None),
            Some(node) => Located::from_node(node).map(Some).map_err(problem),
        }
    };
    let required = |key: &str| -> Result<Located, Problem> {
        policy(key)?.ok_or_else(|| problem(format!("`{type_name}` needs `{key}`")))
    };
    Ok(match kind {
        ResourceKind::RepositoryPolicy if type_name == "aws_ecr_repository" => {
            Extracted::RepositoryPolicy { policy: None, line }
        }
        ResourceKind::RepositoryPolicy => Extracted::RepositoryPolicy {
            policy: Some(required("policy")?),
            line,
        },
        ResourceKind::RegistryPolicy => Extracted::RegistryPolicy(required("policy")?),
        ResourceKind::CreationTemplate => Extracted::CreationTemplate {
            prefix: after
                .get("prefix")
                .and_then(Node::as_str)
                .unwrap_or_default()
                .to_owned(),
            applied_for: blocks(after.get("applied_for"))
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            policy: policy("repository_policy")?,
            line,
        },
        ResourceKind::Replication => {
            // replication_configuration: [{rule: [{destination: [{region, registry_id}],
            // repository_filter: [{filter, filter_type}]}]}]
            let rules: Vec<Node> = blocks(after.get("replication_configuration"))
                .iter()
                .flat_map(|configuration| blocks(configuration.get("rule")).to_vec())
                .collect();
            let spelling = ReplicationSpelling {
                destinations: "destination",
                region: "region",
                registry_id: "registry_id",
                filters: "repository_filter",
                filter: "filter",
                filter_type: "filter_type",
            };
            Extracted::replication(&rules, &spelling, line).map_err(problem)?
        }
        ResourceKind::Unknown => return Err(problem("not a resource the guard judges".into())),
    })
}

fn blocks(node: Option<&Node>) -> &[Node] {
    match node.map(|n| &n.value) {
        Some(Value::Seq(items)) => items,
        _ => &[],
    }
}
