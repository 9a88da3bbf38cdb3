//! An [`Incident`] as AWS Security Hub findings (AWS Security Finding Format, ASFF): one finding
//! per rule for the judged repository, so that each (account, region, repository, rule) has one
//! stable `Id` whose state follows the repository's. A rule the repository breaks is `FAILED`
//! and `ACTIVE`; one it no longer breaks (compliant, or reverted by the guard) is re-imported as
//! `PASSED` and `ARCHIVED`, which resolves it in Security Hub; one whose every violation is
//! waived is `FAILED` but `ARCHIVED` (on record, out of the active view) until the waiver
//! expires. Plain values: the Security Hub adapter converts them to the SDK's types.

use super::{partition, repository_arn, source_text, violation_line};
use crate::decision::Action;
use crate::incident::{Incident, Taken};
use crate::rules::{RuleId, Violation};
use crate::text::tick;
use serde::Serialize;
use std::collections::BTreeMap;

/// The ASFF version Security Hub accepts.
pub const SCHEMA_VERSION: &str = "2018-10-08";
/// Every finding's type: a rule about an ECR repository policy, under Security Hub's
/// "Software and Configuration Checks" namespace.
pub const FINDING_TYPE: &str =
    "Software and Configuration Checks/AWS Security Best Practices/ECR Repository Policy";
/// ASFF's limits on these fields, in characters.
const MAX_TITLE: usize = 256;
const MAX_DESCRIPTION: usize = 1024;
const MAX_REMEDIATION: usize = 512;

/// Where and when findings are imported: `BatchImportFindings` with the account's default
/// product must be called by the account the findings name (`AwsAccountId`), in its region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FindingContext<'a> {
    /// The account that imports them (the function's own; in hub mode the hub's).
    pub account: &'a str,
    /// The region of the Security Hub they are imported into.
    pub region: &'a str,
    /// This import's time, ISO 8601 (`2026-12-01T12:00:00.000Z`): `CreatedAt` and `UpdatedAt`.
    pub now: &'a str,
}

/// ASFF severity labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SeverityLabel {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl SeverityLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            SeverityLabel::Informational => "INFORMATIONAL",
            SeverityLabel::Low => "LOW",
            SeverityLabel::Medium => "MEDIUM",
            SeverityLabel::High => "HIGH",
            SeverityLabel::Critical => "CRITICAL",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ComplianceStatus {
    Passed,
    Failed,
}

impl ComplianceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ComplianceStatus::Passed => "PASSED",
            ComplianceStatus::Failed => "FAILED",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RecordState {
    Active,
    Archived,
}

impl RecordState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::Active => "ACTIVE",
            RecordState::Archived => "ARCHIVED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Severity {
    pub label: SeverityLabel,
    /// The rule's own severity, also on a passed finding (whose label is informational).
    pub original: String,
}

/// One ASFF finding, with the fields the guard sets (the names are ASFF's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Finding {
    pub schema_version: &'static str,
    pub id: String,
    pub product_arn: String,
    /// The rule id.
    pub generator_id: String,
    pub aws_account_id: String,
    pub types: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub severity: Severity,
    pub title: String,
    pub description: String,
    /// `Remediation.Recommendation.Text`: the fix.
    pub remediation_text: String,
    pub product_fields: BTreeMap<String, String>,
    /// The repository: `Resources[0]` of type `AwsEcrRepository`.
    pub resource: FindingResource,
    pub compliance_status: ComplianceStatus,
    pub record_state: RecordState,
}

/// The finding's one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FindingResource {
    /// `AwsEcrRepository`.
    #[serde(rename = "Type")]
    pub kind: &'static str,
    /// The repository's ARN.
    pub id: String,
    pub partition: &'static str,
    pub region: String,
    pub repository_name: String,
}

/// `arn:<partition>:securityhub:<region>:<account>:product/<account>/default`: the account's
/// own product, which needs no partner integration.
pub fn product_arn(account: &str, region: &str) -> String {
    format!(
        "arn:{}:securityhub:{region}:{account}:product/{account}/default",
        partition(region)
    )
}

/// The stable `Id` of the finding about `rule` on a resource (a repository's ARN names its
/// account, region and name; a registry's its account and region).
pub fn finding_id(resource_arn: &str, rule: RuleId) -> String {
    format!("{resource_arn}/ecr-policy-guard/{rule}")
}

/// Each rule's severity in Security Hub.
pub fn rule_severity(rule: RuleId) -> SeverityLabel {
    match rule {
        // Anyone with an AWS account.
        RuleId::NoWildcardPrincipal => SeverityLabel::Critical,
        RuleId::NoRootPrincipal
        | RuleId::NoAllowNotPrincipal
        | RuleId::NoUnscopedServicePrincipal
        | RuleId::InvalidPolicy => SeverityLabel::High,
        RuleId::DenyByDefaultRequired => SeverityLabel::Medium,
        // Rules added later are high until they are given their own severity here.
        #[allow(unreachable_patterns, reason = "a rule added later gets a severity")]
        _ => SeverityLabel::High,
    }
}

fn rule_title(rule: RuleId) -> &'static str {
    match rule {
        RuleId::NoRootPrincipal => "grants a whole AWS account (its root)",
        RuleId::NoWildcardPrincipal => "grants any principal (`*`)",
        RuleId::NoAllowNotPrincipal => {
            "allows everyone but the principals listed (`Allow` with `NotPrincipal`)"
        }
        RuleId::NoUnscopedServicePrincipal => {
            "lets an AWS service act for any customer (an unscoped service principal)"
        }
        RuleId::DenyByDefaultRequired => "has no deny-by-default statement",
        RuleId::InvalidPolicy => "cannot be parsed",
        #[allow(unreachable_patterns, reason = "a rule added later gets a title")]
        _ => "breaks a rule",
    }
}

fn remediation(rule: RuleId) -> &'static str {
    match rule {
        RuleId::NoRootPrincipal => {
            "Name the roles of the other account that need access instead of its root, or allowlist the account in `allowed_root_accounts` if every principal in it may have access."
        }
        RuleId::NoWildcardPrincipal => {
            "Name the roles that need access, or limit the caller with a condition on an allowed organization (`StringEquals` `aws:PrincipalOrgID`) or account."
        }
        RuleId::NoAllowNotPrincipal => {
            "Replace `NotPrincipal` in the `Allow` statement with `Principal` naming the roles that need access."
        }
        RuleId::NoUnscopedServicePrincipal => {
            "Limit the service principal to your own resources with a condition on `aws:SourceAccount` (the repository's account), `aws:SourceArn`, `aws:SourceOrgID` or `aws:SourceOrgPaths` naming an allowed account or organization."
        }
        RuleId::DenyByDefaultRequired => {
            "Add a `Deny` of `ecr:*` for `Principal` `*` that exempts only your own roles or accounts (e.g. `StringNotEquals` on `aws:PrincipalAccount`)."
        }
        RuleId::InvalidPolicy => {
            "Review the policy by hand and set it again as valid JSON in IAM's policy grammar; the guard never rewrites a policy it cannot read."
        }
        #[allow(unreachable_patterns, reason = "a rule added later gets a remediation")]
        _ => "Review the repository policy against the organisation's rules.",
    }
}

/// Whether an incident is a verdict on a repository that findings can record: not ignored,
/// not malformed, and not superseded by a later change (the policy in place is not the one
/// judged, and the later change's own event updates the findings).
pub fn judged(incident: &Incident) -> bool {
    incident.outcome.as_ref().is_some_and(|o| {
        o.action != Action::Ignore
            && incident.taken != Taken::RevertSuperseded
            && repository_arn(o).is_some()
    })
}

/// The findings about the repository an incident judged, one per rule; none when it is not
/// [`judged`].
pub fn findings(incident: &Incident, ctx: &FindingContext) -> Vec<Finding> {
    let Some(outcome) = incident.outcome.as_ref().filter(|_| judged(incident)) else {
        return Vec::new();
    };
    let Some(arn) = repository_arn(outcome) else {
        return Vec::new();
    };
    let f = &outcome.facts;
    let unknown = "?";
    let repository = f.repository.as_deref().unwrap_or(unknown);
    let region = f.region.as_deref().unwrap_or(unknown);
    let account = f.registry_id.as_deref().or(f.account.as_deref());
    let place = format!(
        "{} (account {}, {region})",
        tick(repository),
        account.unwrap_or(unknown)
    );
    let seen = match (&f.event_name, &f.event_id) {
        (Some(name), Some(id)) => format!("{name} event {id}"),
        (Some(name), None) => name.clone(),
        _ => "an event".to_owned(),
    };
    let reverted = matches!(incident.taken, Taken::Reverted | Taken::AlreadyReverted);
    let mut fields = BTreeMap::from([
        (
            "ecr-policy-guard/Repository".to_owned(),
            repository.to_owned(),
        ),
        ("ecr-policy-guard/Region".to_owned(), region.to_owned()),
        (
            "ecr-policy-guard/Taken".to_owned(),
            incident.taken.as_str().to_owned(),
        ),
        (
            "ecr-policy-guard/Mode".to_owned(),
            outcome.mode.as_str().to_owned(),
        ),
        ("ecr-policy-guard/Seen".to_owned(), seen.clone()),
    ]);
    if let Some(account) = account {
        fields.insert("ecr-policy-guard/Account".into(), account.to_owned());
    }
    RuleId::ALL
        .into_iter()
        .map(|rule| {
            let of_rule: Vec<&Violation> = outcome
                .violations
                .iter()
                .filter(|v| v.rule == rule)
                .collect();
            let counted = of_rule.iter().filter(|v| !v.is_waived()).count();
            let lines: Vec<String> = of_rule.iter().map(|v| violation_line(v)).collect();
            let (status, state, description) = if of_rule.is_empty() {
                let text = format!("{place} has no violation of `{rule}` ({seen}).");
                (ComplianceStatus::Passed, RecordState::Archived, text)
            } else if counted > 0 && reverted {
                let restored = incident
                    .target
                    .as_ref()
                    .map(|t| source_text(t, f.subject))
                    .unwrap_or_default();
                let text = format!(
                    "{place} broke `{rule}` and the guard restored {restored} ({seen}). It had: {}",
                    lines.join("; ")
                );
                (ComplianceStatus::Passed, RecordState::Archived, text)
            } else if counted > 0 {
                let text = format!("{place} breaks `{rule}` ({seen}): {}", lines.join("; "));
                (ComplianceStatus::Failed, RecordState::Active, text)
            } else {
                let text = format!(
                    "{place} breaks `{rule}`, waived ({seen}): {}",
                    lines.join("; ")
                );
                (ComplianceStatus::Failed, RecordState::Archived, text)
            };
            let mut product_fields = fields.clone();
            let marks: Vec<_> = of_rule.iter().filter_map(|v| v.waiver.as_ref()).collect();
            if let Some(mark) = marks.iter().find(|m| m.waived).or(marks.first()) {
                let w = &mark.waiver;
                product_fields.insert("ecr-policy-guard/Waiver".into(), w.number.to_string());
                product_fields.insert(
                    "ecr-policy-guard/WaiverStatus".into(),
                    w.status.as_str().into(),
                );
                product_fields.insert(
                    "ecr-policy-guard/WaiverExpires".into(),
                    w.expires.to_string(),
                );
            }
            let original = rule_severity(rule);
            let label = match status {
                ComplianceStatus::Passed => SeverityLabel::Informational,
                ComplianceStatus::Failed => original,
            };
            Finding {
                schema_version: SCHEMA_VERSION,
                id: finding_id(&arn, rule),
                product_arn: product_arn(ctx.account, ctx.region),
                generator_id: rule.as_str().to_owned(),
                aws_account_id: ctx.account.to_owned(),
                types: vec![FINDING_TYPE.to_owned()],
                created_at: ctx.now.to_owned(),
                updated_at: ctx.now.to_owned(),
                severity: Severity {
                    label,
                    original: original.as_str().to_owned(),
                },
                title: cut(
                    &format!("ECR repository policy {} ({rule})", rule_title(rule)),
                    MAX_TITLE,
                ),
                description: cut(&description, MAX_DESCRIPTION),
                remediation_text: cut(remediation(rule), MAX_REMEDIATION),
                product_fields,
                resource: FindingResource {
                    kind: "AwsEcrRepository",
                    id: arn.clone(),
                    partition: partition(region),
                    region: region.to_owned(),
                    repository_name: repository.to_owned(),
                },
                compliance_status: status,
                record_state: state,
            }
        })
        .collect()
}

/// `text` cut to `max` characters, ending in `…` when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((at, _)) if text.chars().count() > max => format!("{}…", &text[..at]),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_to_the_limit_on_a_character_boundary() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "ab…");
        assert_eq!(cut(&"é".repeat(2000), 1024).chars().count(), 1024);
        assert_eq!(
            product_arn("123456789012", "cn-north-1"),
            "arn:aws-cn:securityhub:cn-north-1:123456789012:product/123456789012/default"
        );
    }
}
