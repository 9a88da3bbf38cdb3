//! Shift-left: the guard's rules on infrastructure code before it is deployed. CloudFormation and
//! SAM templates ([`cfn`]) and Terraform plans ([`terraform`]) are read into one tree with lines
//! ([`tree`]), every ECR policy in them is rendered as the deployment would render it and
//! [`Extracted`] by kind, and [`judge`] is the one place that decides each kind. Plain policy
//! documents come through here too ([`policy_file`]) when the output needs their lines (SARIF,
//! JUnit, or a batch mixing them with templates).

pub mod cfn;
pub mod terraform;
pub mod tree;

use crate::policy::{Place, Policy, PolicyError};
use crate::rules::{Owner, RuleConfig, RuleId, Violation};
use crate::text::tick;
use serde::Serialize;
use std::borrow::Cow;
use tree::{Node, TreeError, Value};

/// What kind of file an input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A CloudFormation or SAM template (YAML or JSON).
    Cloudformation,
    /// `terraform show -json` of a plan.
    Terraform,
    /// A policy document (or the AWS CLI's `get-repository-policy` output).
    Policy,
}

/// The kinds of ECR policy infrastructure code declares; each is judged by its own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    RepositoryPolicy,
    RegistryPolicy,
    CreationTemplate,
    Replication,
}

impl PolicyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::RepositoryPolicy => "repository-policy",
            PolicyKind::RegistryPolicy => "registry-policy",
            PolicyKind::CreationTemplate => "creation-template",
            PolicyKind::Replication => "replication",
        }
    }
}

/// A policy as the deployment renders it, with where its parts are in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    /// The policy's JSON text.
    pub text: String,
    /// The line of the policy itself (policy-wide findings point here).
    pub line: usize,
    /// The line of each statement, by index (where known; else `line` is used).
    pub statement_lines: Vec<usize>,
}

impl Located {
    /// A policy from its rendered node: an object (CloudFormation's `Json` properties) or a JSON
    /// string (a `!Sub` block, Terraform's `jsonencode`).
    pub fn from_node(node: &Node) -> Result<Located, String> {
        match &node.value {
            Value::Map(_) => {
                let statement_lines = match node.get("Statement").map(|s| &s.value) {
                    Some(Value::Seq(items)) => items.iter().map(|i| i.line).collect(),
                    Some(_) => node.get("Statement").map(|s| vec![s.line]).unwrap_or_default(),
                    None => Vec::new(),
                };
                Ok(Located {
                    text: node.to_json().to_string(),
                    line: node.line,
                    statement_lines,
                })
            }
            Value::String(text) => {
                // Lines within the string, when it is JSON at all (else the parser says why).
                let statement_lines = tree::from_json_text(text)
                    .ok()
                    .and_then(|policy| {
                        let statement = policy.get("Statement")?;
                        Some(match &statement.value {
                            Value::Seq(items) => {
                                items.iter().map(|i| node.line_in_text(i.line)).collect()
                            }
                            _ => vec![node.line_in_text(statement.line)],
                        })
                    })
                    .unwrap_or_default();
                Ok(Located {
                    text: text.clone(),
                    line: node.line,
                    statement_lines,
                })
            }
            _ => Err(format!(
                "a policy must be a JSON object or a string of JSON, found {}",
                node.kind()
            )),
        }
    }

    /// The line of statement `index`, or of the policy for policy-wide findings.
    pub fn line_of(&self, statement: Option<usize>) -> usize {
        statement
            .and_then(|i| self.statement_lines.get(i).copied())
            .unwrap_or(self.line)
    }
}

/// One replication rule's destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destination {
    pub region: String,
    pub registry_id: String,
    pub line: usize,
}

/// One ECR policy found in a template or plan, rendered, by kind: what [`judge`] decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Extracted {
    /// `AWS::ECR::Repository` `RepositoryPolicyText`, `aws_ecr_repository_policy`; a repository
    /// declared with no policy at all has `policy` `None`.
    RepositoryPolicy {
        policy: Option<Located>,
        line: usize,
    },
    /// `AWS::ECR::RegistryPolicy` `PolicyText`, `aws_ecr_registry_policy`.
    RegistryPolicy(Located),
    /// `AWS::ECR::RepositoryCreationTemplate`, `aws_ecr_repository_creation_template`: the policy
    /// every repository created under `prefix` gets (none at all when `policy` is `None`).
    CreationTemplate {
        prefix: String,
        policy: Option<Located>,
        line: usize,
    },
    /// `AWS::ECR::ReplicationConfiguration`, `aws_ecr_replication_configuration`.
    Replication {
        destinations: Vec<Destination>,
        line: usize,
    },
}

impl Extracted {
    pub fn kind(&self) -> PolicyKind {
        match self {
            Extracted::RepositoryPolicy { .. } => PolicyKind::RepositoryPolicy,
            Extracted::RegistryPolicy(_) => PolicyKind::RegistryPolicy,
            Extracted::CreationTemplate { .. } => PolicyKind::CreationTemplate,
            Extracted::Replication { .. } => PolicyKind::Replication,
        }
    }
}

/// A violation and the line of the statement (or policy) it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub line: usize,
    #[serde(flatten)]
    pub violation: Violation,
    /// The parameter values under which it holds, when not under all that were judged.
    pub when: Option<String>,
}

/// Why a policy could not be judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JudgeError {
    /// This kind needs rules that are not built yet (issue 11).
    #[error("{}", pending_message(*.0))]
    Pending(PolicyKind),
    #[error("{problem}")]
    Invalid { line: usize, problem: String },
}

fn pending_message(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Replication => "replication configurations are judged once issue 11 lands",
        _ => "registry policies are judged once issue 11 lands",
    }
}

/// Judges one extracted policy by its kind's rules: the single place each kind is decided.
pub fn judge(
    extracted: &Extracted,
    rules: &RuleConfig,
    owner: Owner,
) -> Result<Vec<Finding>, JudgeError> {
    match extracted {
        Extracted::RepositoryPolicy {
            policy: Some(policy),
            ..
        }
        | Extracted::CreationTemplate {
            policy: Some(policy),
            ..
        } => judge_repository_policy(policy, rules, owner),
        // As the guard judges a `CreateRepository` without a policy.
        Extracted::RepositoryPolicy { policy: None, line } => Ok(rules
            .check_no_policy()
            .into_iter()
            .map(|violation| Finding {
                line: *line,
                violation,
                when: None,
            })
            .collect()),
        Extracted::CreationTemplate {
            prefix,
            policy: None,
            line,
        } => Ok(vec![Finding {
            line: *line,
            violation: Violation {
                rule: RuleId::DenyByDefaultRequired,
                statement: None,
                sid: None,
                principal: None,
                via: None,
                message: Cow::Owned(format!(
                    "the creation template for prefix {} sets no repository policy, so nothing denies access by default to the repositories it creates; give it a `Deny` of `ecr:*` for `Principal` `*`",
                    tick(prefix)
                )),
            },
            when: None,
        }]),
        // Issue 11 brings the registry-policy grammar and the replication rule; until then
        // these kinds are extracted and located, and reported as not judged (exit 2).
        Extracted::RegistryPolicy(_) => Err(JudgeError::Pending(PolicyKind::RegistryPolicy)),
        Extracted::Replication { .. } => Err(JudgeError::Pending(PolicyKind::Replication)),
    }
}

fn judge_repository_policy(
    policy: &Located,
    rules: &RuleConfig,
    owner: Owner,
) -> Result<Vec<Finding>, JudgeError> {
    let parsed = Policy::parse(&policy.text).map_err(|e| invalid(policy, &e))?;
    Ok(rules
        .check(&parsed, owner)
        .into_iter()
        .map(|violation| Finding {
            line: policy.line_of(violation.statement),
            violation,
            when: None,
        })
        .collect())
}

fn invalid(policy: &Located, error: &PolicyError) -> JudgeError {
    let line = match error {
        PolicyError::Invalid {
            place: Place::Statement { index, .. },
            ..
        } => policy.line_of(Some(*index)),
        _ => policy.line,
    };
    JudgeError::Invalid {
        line,
        problem: error.to_string(),
    }
}

/// Why a resource could not be judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// The rendered policy is not a valid policy (the `invalid-policy` rule).
    InvalidPolicy,
    /// A value cannot be known before deploy (an import, a parameter without a value, a
    /// Terraform value known only after apply), or the file is not what it claims to be.
    NotRendered,
    /// The kind is not judged yet: issue 11 (registry policies, replication).
    Pending,
}

/// A problem with one resource: it could not be rendered or judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub line: usize,
    pub kind: ProblemKind,
    pub message: String,
    pub when: Option<String>,
}

impl Problem {
    pub fn not_rendered(line: usize, message: String) -> Problem {
        Problem {
            line,
            kind: ProblemKind::NotRendered,
            message,
            when: None,
        }
    }
}

/// Everything found about one resource of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceReport {
    /// The logical id (CloudFormation) or address (Terraform); `policy` for a policy file.
    pub resource: String,
    /// `AWS::ECR::Repository`, `aws_ecr_repository_policy`, ...
    #[serde(rename = "type")]
    pub resource_type: String,
    pub kind: PolicyKind,
    pub line: usize,
    pub findings: Vec<Finding>,
    pub problems: Vec<Problem>,
}

impl ResourceReport {
    pub fn new(resource: &str, resource_type: &str, kind: PolicyKind, line: usize) -> Self {
        ResourceReport {
            resource: resource.to_owned(),
            resource_type: resource_type.to_owned(),
            kind,
            line,
            findings: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// `Some(true)` compliant, `Some(false)` violations, `None` not fully judged.
    pub fn compliant(&self) -> Option<bool> {
        if self.problems.is_empty() {
            Some(self.findings.is_empty())
        } else {
            None
        }
    }

    /// Adds the outcome of judging one rendering (`when`: under which parameter values);
    /// identical findings and problems are kept once.
    pub fn add(&mut self, outcome: Result<Vec<Finding>, Problem>, when: Option<&str>) {
        match outcome {
            Ok(findings) => {
                for mut finding in findings {
                    finding.when = when.map(str::to_owned);
                    self.add_finding(finding);
                }
            }
            Err(mut problem) => {
                problem.when = when.map(str::to_owned);
                let known = self
                    .problems
                    .iter()
                    .any(|p| p.line == problem.line && p.message == problem.message);
                if !known {
                    self.problems.push(problem);
                }
            }
        }
    }

    fn add_finding(&mut self, finding: Finding) {
        let same = |f: &Finding| f.line == finding.line && f.violation == finding.violation;
        match self.findings.iter_mut().find(|f| same(f)) {
            // Found under other values too: it holds under each of them.
            Some(known) => match (&mut known.when, finding.when) {
                (Some(a), Some(b)) if *a != b => {
                    a.push_str(", or ");
                    a.push_str(&b);
                }
                (a, _) if a.is_none() => {}
                (a, None) => *a = None,
                _ => {}
            },
            None => self.findings.push(finding),
        }
    }

    /// Turns "holds when A, or B, or C" into no condition when those are all the renderings.
    pub fn settle(&mut self, renderings: usize) {
        for finding in &mut self.findings {
            let all = finding
                .when
                .as_deref()
                .is_some_and(|w| w.matches(", or ").count() + 1 == renderings);
            if all {
                finding.when = None;
            }
        }
    }
}

/// Everything found in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    pub file: String,
    pub source: Source,
    pub resources: Vec<ResourceReport>,
    /// Why the file as a whole could not be read (then `resources` is empty).
    pub error: Option<FileError>,
}

/// A file that could not be read as what it claims to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileError {
    pub line: usize,
    pub message: String,
}

impl From<TreeError> for FileError {
    fn from(e: TreeError) -> Self {
        FileError {
            line: e.line,
            message: e.problem,
        }
    }
}

impl FileReport {
    pub fn failed(file: &str, source: Source, error: impl Into<FileError>) -> FileReport {
        FileReport {
            file: file.to_owned(),
            source,
            resources: Vec::new(),
            error: Some(error.into()),
        }
    }
}

/// What the rules need besides the policy, and how a template is deployed.
#[derive(Debug, Clone)]
pub struct Settings<'a> {
    pub rules: &'a RuleConfig,
    /// The deploying account (`AWS::AccountId`): a template's repositories are its own.
    pub account: &'a str,
    /// Whether `account` was given (`--account`); a plain policy file has an own account only then.
    pub account_given: bool,
    pub region: &'a str,
    pub partition: &'a str,
    pub stack_name: &'a str,
    /// `--parameter KEY=VALUE`, in the order given.
    pub parameters: &'a [(String, String)],
}

/// Documented defaults of the deployment context (README, "Templates and plans").
pub const DEFAULT_ACCOUNT: &str = "123456789012";
pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_PARTITION: &str = "aws";
pub const DEFAULT_STACK_NAME: &str = "stack";

/// The kind of file a text is, by its name and its first key: a YAML name (`.yaml`, `.yml`,
/// `.template`) is a template; a JSON object whose first key is a CloudFormation template
/// section is a template, one whose first key is `format_version` is a Terraform plan; anything
/// else is a policy document.
pub fn classify(name: &str, head: &str) -> Source {
    let lower = name.to_ascii_lowercase();
    if [".yaml", ".yml", ".template"]
        .iter()
        .any(|ext| lower.ends_with(ext))
    {
        return Source::Cloudformation;
    }
    match first_key(head) {
        Some(key) if cfn::SECTIONS.contains(&key) => Source::Cloudformation,
        Some("format_version") => Source::Terraform,
        Some(_) | None if name == "-" && looks_like_yaml_template(head) => Source::Cloudformation,
        _ => Source::Policy,
    }
}

/// Standard input has no name: a YAML template is told by a template section at the start of a
/// line.
fn looks_like_yaml_template(head: &str) -> bool {
    !head.trim_start().starts_with('{')
        && head.lines().any(|l| {
            cfn::SECTIONS
                .iter()
                .any(|s| l.strip_prefix(s).is_some_and(|r| r.starts_with(':')))
        })
}

/// The first key of a JSON object, if the text starts as one (a few bytes are enough).
pub fn first_key(head: &str) -> Option<&str> {
    let rest = head.trim_start().strip_prefix('{')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = rest.find(['"', '\\'])?;
    Some(&rest[..end])
}

/// Judges one file of any kind ([`classify`]): a template, a plan or a policy document.
pub fn check_file(file: &str, text: &str, settings: &Settings) -> FileReport {
    match classify(file, text) {
        Source::Cloudformation => cfn::check_template(file, text, settings),
        Source::Terraform => terraform::check_plan(file, text, settings),
        Source::Policy => policy_file(file, text, settings),
    }
}

/// A policy document as a file report: its one policy located statement by statement.
pub fn policy_file(file: &str, text: &str, settings: &Settings) -> FileReport {
    let owner = if settings.account_given {
        Owner::Account(settings.account)
    } else {
        Owner::Unknown
    };
    let mut report = ResourceReport::new("policy", "policy", PolicyKind::RepositoryPolicy, 1);
    // The AWS CLI's output holds the policy as its `policyText` string.
    let node = tree::from_json_text(text).ok().map(|root| {
        let api_output = root.as_map().is_some_and(|members| {
            members
                .iter()
                .all(|(k, _)| ["registryId", "repositoryName", "policyText"].contains(&k.as_str()))
        });
        match root.get("policyText") {
            Some(policy) if api_output && policy.as_str().is_some() => policy.clone(),
            _ => root,
        }
    });
    let located = match &node {
        Some(node) => Located::from_node(node).unwrap_or_else(|_| Located {
            text: node.to_json().to_string(),
            line: node.line,
            statement_lines: Vec::new(),
        }),
        // Not JSON: the parser says why, with its line.
        None => Located {
            text: text.to_owned(),
            line: 1,
            statement_lines: Vec::new(),
        },
    };
    let extracted = Extracted::RepositoryPolicy {
        policy: Some(located),
        line: 1,
    };
    let outcome = judge(&extracted, settings.rules, owner).map_err(
        |e| match e {
            JudgeError::Invalid { line, problem } => {
                // A JSON error names its own line in the file.
                let line = match Policy::parse(text) {
                    Err(PolicyError::Json(j)) if j.line > 0 => j.line,
                    _ => line,
                };
                Problem {
                    line,
                    kind: ProblemKind::InvalidPolicy,
                    message: problem,
                    when: None,
                }
            }
            pending => problem_of(1, pending),
        },
    );
    report.add(outcome, None);
    FileReport {
        file: file.to_owned(),
        source: Source::Policy,
        resources: vec![report],
        error: None,
    }
}

/// A judging error as a resource's problem.
pub fn problem_of(line: usize, error: JudgeError) -> Problem {
    match error {
        JudgeError::Pending(_) => Problem {
            line,
            kind: ProblemKind::Pending,
            message: error.to_string(),
            when: None,
        },
        JudgeError::Invalid { line, problem } => Problem {
            line,
            kind: ProblemKind::InvalidPolicy,
            message: problem,
            when: None,
        },
    }
}

/// Counts over the files of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IacSummary {
    pub files: usize,
    pub resources: usize,
    pub compliant: usize,
    pub non_compliant: usize,
    /// Resources (or whole files) that could not be rendered or judged.
    pub invalid: usize,
    /// Of those, resources of a kind not judged yet (issue 11).
    pub pending: usize,
    pub violations: usize,
}

impl IacSummary {
    pub fn of(reports: &[FileReport]) -> IacSummary {
        let mut s = IacSummary {
            files: reports.len(),
            ..IacSummary::default()
        };
        for report in reports {
            if report.error.is_some() {
                s.invalid += 1;
            }
            for r in &report.resources {
                s.resources += 1;
                s.violations += r.findings.len();
                match r.compliant() {
                    Some(true) => s.compliant += 1,
                    Some(false) => s.non_compliant += 1,
                    None => {
                        s.invalid += 1;
                        if r.problems.iter().any(|p| p.kind == ProblemKind::Pending) {
                            s.pending += 1;
                        }
                    }
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_told_apart_by_name_and_first_key() {
        assert_eq!(classify("a.yaml", "{"), Source::Cloudformation);
        assert_eq!(classify("a.YML", ""), Source::Cloudformation);
        assert_eq!(
            classify("t.json", "{\n  \"AWSTemplateFormatVersion\": \"2010-09-09\""),
            Source::Cloudformation
        );
        assert_eq!(classify("t.json", "{\"Resources\": {}}"), Source::Cloudformation);
        assert_eq!(
            classify("plan.json", "{\"format_version\":\"1.2\",\"terraform_version\""),
            Source::Terraform
        );
        assert_eq!(classify("p.json", "{\"Version\": \"2012-10-17\"}"), Source::Policy);
        assert_eq!(classify("p.json", "Resources:\n"), Source::Policy);
        assert_eq!(classify("-", "Resources:\n  R:\n"), Source::Cloudformation);
        assert_eq!(classify("-", "{\"Statement\": []}"), Source::Policy);
    }

    #[test]
    fn the_pending_kinds_say_so_and_are_never_compliant() {
        let located = Located {
            text: "{}".into(),
            line: 3,
            statement_lines: vec![],
        };
        let rules = RuleConfig::default();
        let err = judge(&Extracted::RegistryPolicy(located), &rules, Owner::Unknown).unwrap_err();
        assert_eq!(err.to_string(), "registry policies are judged once issue 11 lands");
        let replication = Extracted::Replication {
            destinations: vec![],
            line: 1,
        };
        let err = judge(&replication, &rules, Owner::Unknown).unwrap_err();
        assert_eq!(
            err.to_string(),
            "replication configurations are judged once issue 11 lands"
        );
        let mut report = ResourceReport::new("R", "t", PolicyKind::Replication, 1);
        report.add(Err(problem_of(1, err)), None);
        assert_eq!(report.compliant(), None);
    }

    #[test]
    fn a_finding_under_every_rendering_holds_unconditionally() {
        let finding = |when: &str| Finding {
            line: 4,
            violation: RuleConfig::default().check_no_policy().remove(0),
            when: Some(when.to_owned()),
        };
        let mut report = ResourceReport::new("R", "t", PolicyKind::RepositoryPolicy, 1);
        report.add(Ok(vec![finding("x")]), Some("`Env` = `dev`"));
        report.add(Ok(vec![finding("x")]), Some("`Env` = `prod`"));
        assert_eq!(report.findings.len(), 1);
        assert_eq!(
            report.findings[0].when.as_deref(),
            Some("`Env` = `dev`, or `Env` = `prod`")
        );
        report.settle(3);
        assert!(report.findings[0].when.is_some());
        report.settle(2);
        assert_eq!(report.findings[0].when, None);
    }
}
