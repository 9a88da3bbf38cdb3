//! SARIF 2.1.0 for code scanning (GitHub, GitLab, Azure DevOps): one `reportingDescriptor` per
//! rule, one result per violation at the statement's line, with a fingerprint that survives
//! edits elsewhere in the file. What could not be judged (a value known only at deploy time, a
//! resource that cannot be read) is a tool execution notification, and the run is then not successful.

use crate::iac::{FileReport, ProblemKind, ResourceReport};
use crate::rules::RuleId;
use serde_json::{Value, json};

/// What each rule checks and how to fix it, as code scanning shows it.
fn describe(rule: RuleId) -> (&'static str, &'static str, &'static str) {
    match rule {
        RuleId::NoRootPrincipal => (
            "An Allow grants a whole AWS account (its root)",
            "An Allow statement names an account root (`arn:aws:iam::ID:root` or the bare 12-digit id), or a wildcard principal limited only to that account. This grants every principal the account's administrators allow, not the roles that need access. The repository's own account is not exempt.",
            "Name the roles or users that need access (`arn:aws:iam::ID:role/NAME`), or allowlist the account in `allowed_root_accounts` if granting all of it is intended.",
        ),
        RuleId::NoWildcardPrincipal => (
            "An Allow grants everyone (`*`)",
            "An Allow statement's principal is `*` (or `*` in a principal type) and no allowed condition limits the caller to specific principals, allowlisted accounts or allowlisted organizations.",
            "Name the principals, or add a limit on the caller such as `StringEquals` on `aws:PrincipalOrgID` with an organization in `allowed_org_ids`.",
        ),
        RuleId::NoAllowNotPrincipal => (
            "An Allow uses NotPrincipal",
            "`Allow` with `NotPrincipal` grants every principal except the ones listed, including anonymous callers.",
            "Use `Principal` with the roles that need access.",
        ),
        RuleId::NoUnscopedServicePrincipal => (
            "An Allow lets an AWS service act for any customer",
            "An Allow statement names a service principal (such as `codebuild.amazonaws.com`) and no condition on `aws:SourceAccount`, `aws:SourceArn`, `aws:SourceOrgID` or `aws:SourceOrgPaths` holds it to the repository's own account or an allowlisted account or organization. The service then acts on this repository for any AWS customer's resources (the cross-service confused deputy).",
            "Add a condition such as `StringEquals` on `aws:SourceAccount` with the repository's own account, or `ArnLike` on `aws:SourceArn` with the resources of an allowed account that the service acts for.",
        ),
        RuleId::DenyByDefaultRequired => (
            "Nothing denies everyone else",
            "No statement denies every ECR action to every principal except the repository's own and allowlisted principals, so any identity policy that grants ECR access reaches the repository.",
            "Add a `Deny` of `ecr:*` for `Principal` `*` whose condition exempts only your roles (e.g. `ArnNotEquals` on `aws:PrincipalArn`) or your own account (`StringNotEquals` on `aws:PrincipalAccount`).",
        ),
        RuleId::NoUnapprovedReplication => (
            "Replication copies images to an unapproved account",
            "A replication rule copies images to a destination registry (in any region) that is neither the registry's own account nor listed in `allowed_replication_accounts`. Every image the rule matches then leaves the account's control.",
            "Remove the destination, or add the account to `allowed_replication_accounts` if copying images there is intended.",
        ),
        RuleId::InvalidPolicy => (
            "The policy is not a valid ECR policy",
            "The policy as deployed would not parse, or breaks the grammar ECR reads for its kind: repository policy, registry policy or replication configuration (unknown keys, wrong types, duplicate keys, more than 10,240 characters).",
            "Fix the policy where the message points; ECR would refuse it, or read it differently from other tools.",
        ),
    }
}

fn rule_descriptor(rule: RuleId) -> Value {
    let (short, full, fix) = describe(rule);
    json!({
        "id": rule.as_str(),
        // SARIF wants `name` readable and different from the opaque `id`: `NoRootPrincipal`.
        "name": pascal_case(rule.as_str()),
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "help": {
            "text": format!("{full} Fix: {fix}"),
            "markdown": format!("{full}\n\n**Fix:** {fix}"),
        },
        "defaultConfiguration": {"level": "error"},
        "properties": {
            "tags": ["security", "ecr", "iam"],
            "security-severity": if rule == RuleId::DenyByDefaultRequired { "5.0" } else { "8.0" },
        },
    })
}

fn pascal_case(kebab: &str) -> String {
    kebab
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// FNV-1a, 64 bits: a stable hash needing no dependency (fingerprints, not security).
fn fnv1a(parts: &[&str]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0x1f]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

fn location(file: &str, line: usize, resource: &ResourceReport) -> Value {
    json!({
        "physicalLocation": {
            "artifactLocation": {"uri": uri(file)},
            "region": {"startLine": line.max(1)},
        },
        "logicalLocations": [{
            "name": resource.resource,
            "fullyQualifiedName": format!("{}/{}", resource.resource_type, resource.resource),
            "kind": "resource",
        }],
    })
}

/// A path as a relative URI reference: forward slashes, spaces and other reserved characters
/// percent-encoded.
fn uri(path: &str) -> String {
    let path = path.strip_prefix("./").unwrap_or(path).replace('\\', "/");
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(byte));
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// The SARIF log of one run over these files.
pub fn sarif(reports: &[FileReport], tool_version: &str) -> Value {
    let rules: Vec<Value> = RuleId::ALL.iter().map(|&r| rule_descriptor(r)).collect();
    let index = |rule: RuleId| RuleId::ALL.iter().position(|&r| r == rule).unwrap_or(0);
    let mut results = Vec::new();
    let mut notifications = Vec::new();
    for report in reports {
        if let Some(error) = &report.error {
            notifications.push(json!({
                "level": "error",
                "message": {"text": error.message},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": uri(&report.file)},
                    "region": {"startLine": error.line.max(1)},
                }}],
            }));
        }
        for resource in &report.resources {
            for finding in &resource.findings {
                let v = &finding.violation;
                let statement = v.statement.map(|s| s.to_string()).unwrap_or_default();
                let mut text = format!("{}: {}", resource.resource, super::violation_line(v));
                if let Some(when) = &finding.when {
                    text.push_str(&format!(" (when {when})"));
                }
                results.push(json!({
                    "ruleId": v.rule.as_str(),
                    "ruleIndex": index(v.rule),
                    "level": "error",
                    "message": {"text": text},
                    "locations": [location(&report.file, finding.line, resource)],
                    // Stable across edits elsewhere in the file: no line numbers in it.
                    "partialFingerprints": {
                        "ecrPolicyGuard/v1": fnv1a(&[
                            &report.file,
                            &resource.resource,
                            v.rule.as_str(),
                            v.sid.as_deref().unwrap_or(&statement),
                            v.principal.as_deref().unwrap_or_default(),
                            v.via.as_deref().unwrap_or_default(),
                            finding.when.as_deref().unwrap_or_default(),
                        ]),
                    },
                    "properties": {
                        "resource": resource.resource,
                        "resourceType": resource.resource_type,
                        "statement": v.statement,
                        "sid": v.sid,
                        "principal": v.principal,
                        "deploysJudged": resource.deploys,
                    },
                }));
            }
            // Judged, but on a value a deploy may change: a warning, not a failed run.
            for assumption in &resource.assumptions {
                notifications.push(json!({
                    "level": "warning",
                    "message": {"text": format!("{}: assumed: {}", resource.resource, assumption.message)},
                    "locations": [location(&report.file, assumption.line, resource)],
                }));
            }
            for problem in &resource.problems {
                let text = format!("{}: {}", resource.resource, problem.message);
                if problem.kind == ProblemKind::InvalidPolicy {
                    let rule = RuleId::InvalidPolicy;
                    results.push(json!({
                        "ruleId": rule.as_str(),
                        "ruleIndex": index(rule),
                        "level": "error",
                        "message": {"text": text},
                        "locations": [location(&report.file, problem.line, resource)],
                        "partialFingerprints": {
                            "ecrPolicyGuard/v1": fnv1a(&[&report.file, &resource.resource, rule.as_str(), &problem.message]),
                        },
                    }));
                } else {
                    notifications.push(json!({
                        "level": "error",
                        "message": {"text": text},
                        "locations": [location(&report.file, problem.line, resource)],
                    }));
                }
            }
        }
    }
    let successful = notifications.iter().all(|n| n["level"] != "error");
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "ecr-policy-guard",
                "version": tool_version,
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": successful,
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_are_pascal_case() {
        assert_eq!(pascal_case("no-root-principal"), "NoRootPrincipal");
    }

    #[test]
    fn uris_are_relative_references() {
        assert_eq!(uri("./infra/a b.yaml"), "infra/a%20b.yaml");
        assert_eq!(uri("infra\\x.yaml"), "infra/x.yaml");
    }

    #[test]
    fn fingerprints_are_stable_and_separate_their_parts() {
        assert_eq!(fnv1a(&["a", "b"]), fnv1a(&["a", "b"]));
        assert_ne!(fnv1a(&["ab", ""]), fnv1a(&["a", "b"]));
        assert_eq!(fnv1a(&[]).len(), 16);
    }
}
