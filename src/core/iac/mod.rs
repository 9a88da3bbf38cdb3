//! Shift-left: the guard's rules on infrastructure code before it is deployed. CloudFormation and
//! SAM templates ([`cfn`]) and Terraform plans ([`terraform`]) are read into one tree with lines
//! ([`tree`]), every ECR policy in them is rendered as the deployment would render it and
//! [`Extracted`] by kind, and [`judge`] is the one place that decides each kind. Plain policy
//! documents come through here too ([`policy_file`]) when the output needs their lines (SARIF,
//! JUnit, or a batch mixing them with templates).

pub mod cfn;
pub mod terraform;
pub mod tree;

use crate::policy::{Place, Policy, PolicyError, PolicyKind, RegistryScope};
use crate::registry::{CreationTemplate, Replication};
use crate::rules::{Owner, RuleConfig, Violation};
use serde::Serialize;
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

/// The kinds of ECR resource infrastructure code declares; each is judged by its own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    RepositoryPolicy,
    RegistryPolicy,
    CreationTemplate,
    Replication,
    /// A resource the guard refuses to pass unseen: a type that names ECR but that it does not
    /// know, or a stack whose template is not in the file.
    Unknown,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::RepositoryPolicy => "repository-policy",
            ResourceKind::RegistryPolicy => "registry-policy",
            ResourceKind::CreationTemplate => "creation-template",
            ResourceKind::Replication => "replication",
            ResourceKind::Unknown => "unknown",
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
                    Some(_) => node
                        .get("Statement")
                        .map(|s| vec![s.line])
                        .unwrap_or_default(),
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
        applied_for: Vec<String>,
        policy: Option<Located>,
        line: usize,
    },
    /// `AWS::ECR::ReplicationConfiguration`, `aws_ecr_replication_configuration`, with the line
    /// of each rule's destinations.
    Replication {
        replication: Replication,
        destination_lines: Vec<Vec<usize>>,
        line: usize,
    },
}

/// How a replication configuration spells its fields: CloudFormation (`Rules`, `Destinations`,
/// `RegistryId`, ...) or Terraform (`rule`, `destination`, `registry_id`, ...).
pub struct ReplicationSpelling {
    pub destinations: &'static str,
    pub region: &'static str,
    pub registry_id: &'static str,
    pub filters: &'static str,
    pub filter: &'static str,
    pub filter_type: &'static str,
}

impl Extracted {
    /// A replication configuration from its rendered rules, read by the API's own reader
    /// ([`Replication::from_value`]) so that it is validated as ECR would.
    pub fn replication(
        rules: &[Node],
        spelling: &ReplicationSpelling,
        line: usize,
    ) -> Result<Extracted, String> {
        let items = |node: Option<&Node>| match node.map(|n| &n.value) {
            Some(Value::Seq(items)) => items.clone(),
            _ => Vec::new(),
        };
        let field =
            |node: &Node, key: &str| node.get(key).map_or(serde_json::Value::Null, Node::to_json);
        let mut api_rules = Vec::new();
        let mut destination_lines = Vec::new();
        for rule in rules {
            let destinations = items(rule.get(spelling.destinations));
            destination_lines.push(destinations.iter().map(|d| d.line).collect());
            let destinations: Vec<serde_json::Value> = destinations
                .iter()
                .map(|d| {
                    serde_json::json!({
                        "region": field(d, spelling.region),
                        "registryId": field(d, spelling.registry_id),
                    })
                })
                .collect();
            let filters: Vec<serde_json::Value> = items(rule.get(spelling.filters))
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "filter": field(f, spelling.filter),
                        "filterType": field(f, spelling.filter_type),
                    })
                })
                .collect();
            api_rules.push(serde_json::json!({
                "destinations": destinations,
                "repositoryFilters": filters,
            }));
        }
        let replication = Replication::from_value(&serde_json::json!({ "rules": api_rules }))
            .map_err(|e| e.to_string())?;
        Ok(Extracted::Replication {
            replication,
            destination_lines,
            line,
        })
    }
}

impl Extracted {
    pub fn kind(&self) -> ResourceKind {
        match self {
            Extracted::RepositoryPolicy { .. } => ResourceKind::RepositoryPolicy,
            Extracted::RegistryPolicy(_) => ResourceKind::RegistryPolicy,
            Extracted::CreationTemplate { .. } => ResourceKind::CreationTemplate,
            Extracted::Replication { .. } => ResourceKind::Replication,
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

/// Why a policy could not be judged: the rendered policy is not a valid one of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct JudgeError {
    pub line: usize,
    pub problem: String,
}

/// Judges one extracted policy by its kind's rules: the single place each kind is decided, by
/// the same functions that judge the live registry (`check`, `check_registry`,
/// `check_template`, `check_replication`). `scope` is the registry a registry policy belongs to.
pub fn judge(
    extracted: &Extracted,
    rules: &RuleConfig,
    owner: Owner,
    scope: RegistryScope,
) -> Result<Vec<Finding>, JudgeError> {
    let at = |line: usize| {
        move |violation| Finding {
            line,
            violation,
            when: None,
        }
    };
    match extracted {
        Extracted::RepositoryPolicy {
            policy: Some(policy),
            ..
        } => {
            let parsed = Policy::parse(&policy.text).map_err(|e| invalid(policy, &e))?;
            Ok(located_findings(policy, rules.check(&parsed, owner)))
        }
        // As the guard judges a `CreateRepository` without a policy.
        Extracted::RepositoryPolicy { policy: None, line } => {
            Ok(rules.check_no_policy().into_iter().map(at(*line)).collect())
        }
        Extracted::RegistryPolicy(policy) => {
            let parsed =
                Policy::parse_registry(&policy.text, scope).map_err(|e| invalid(policy, &e))?;
            Ok(located_findings(
                policy,
                rules.check_registry(&parsed, owner),
            ))
        }
        Extracted::CreationTemplate {
            prefix,
            applied_for,
            policy,
            line,
        } => {
            let template = CreationTemplate {
                prefix: prefix.clone(),
                applied_for: applied_for.clone(),
                repository_policy: policy.as_ref().map(|p| p.text.clone()),
            };
            let violations = rules
                .check_template(&template, owner)
                .map_err(|e| match policy {
                    Some(policy) => invalid(policy, &e),
                    None => JudgeError {
                        line: *line,
                        problem: e.to_string(),
                    },
                })?;
            Ok(match policy {
                Some(policy) => located_findings(policy, violations),
                None => violations.into_iter().map(at(*line)).collect(),
            })
        }
        Extracted::Replication {
            replication,
            destination_lines,
            line,
        } => {
            // Each violation names its rule (`statement`) and destination account: it is on the
            // line of that rule's next destination to that account not yet reported.
            let mut reported: Vec<(usize, usize)> = Vec::new();
            let findings = rules
                .check_replication(replication, owner)
                .into_iter()
                .map(|violation| {
                    let rule = violation.statement.unwrap_or(0);
                    let destinations = replication
                        .rules
                        .get(rule)
                        .map_or(&[][..], |r| &r.destinations);
                    let index = destinations.iter().enumerate().position(|(i, d)| {
                        Some(d.registry_id.as_str()) == violation.principal.as_deref()
                            && !reported.contains(&(rule, i))
                    });
                    if let Some(i) = index {
                        reported.push((rule, i));
                    }
                    let at_line = index
                        .and_then(|i| destination_lines.get(rule)?.get(i).copied())
                        .unwrap_or(*line);
                    at(at_line)(violation)
                })
                .collect();
            Ok(findings)
        }
    }
}

/// Violations on the lines of their statements (policy-wide ones on the policy's).
fn located_findings(policy: &Located, violations: Vec<Violation>) -> Vec<Finding> {
    violations
        .into_iter()
        .map(|violation| Finding {
            line: policy.line_of(violation.statement),
            violation,
            when: None,
        })
        .collect()
}

fn invalid(policy: &Located, error: &PolicyError) -> JudgeError {
    let line = match error {
        PolicyError::Invalid {
            place: Place::Statement { index, .. },
            ..
        } => policy.line_of(Some(*index)),
        _ => policy.line,
    };
    JudgeError {
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
}

/// A free parameter (no `AllowedValues`, not given) whose value reaches a judged policy: judged
/// with the values named, though a deploy may give it any other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assumption {
    pub parameter: String,
    /// The parameter's declaration.
    pub line: usize,
    /// The values it was judged with (its `Default`, and the values the template compares it with).
    pub values: Vec<String>,
    pub message: String,
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
    pub kind: ResourceKind,
    pub line: usize,
    /// How many deploys were judged (templates: every combination of the values that reach the
    /// resource; plans and policy files: one).
    pub deploys: usize,
    pub findings: Vec<Finding>,
    pub problems: Vec<Problem>,
    /// The free parameters it was judged on assumed values of (`--strict` makes them problems).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assumptions: Vec<Assumption>,
}

impl ResourceReport {
    pub fn new(resource: &str, resource_type: &str, kind: ResourceKind, line: usize) -> Self {
        ResourceReport {
            resource: resource.to_owned(),
            resource_type: resource_type.to_owned(),
            kind,
            line,
            deploys: 1,
            findings: Vec::new(),
            problems: Vec::new(),
            assumptions: Vec::new(),
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
        let when = when.map(str::to_owned);
        match outcome {
            Ok(findings) => {
                for finding in findings {
                    let same = |f: &&mut Finding| {
                        f.line == finding.line && f.violation == finding.violation
                    };
                    match self.findings.iter_mut().find(same) {
                        Some(known) => or_when(&mut known.when, when.clone()),
                        None => self.findings.push(Finding {
                            when: when.clone(),
                            ..finding
                        }),
                    }
                }
            }
            Err(problem) => {
                let same =
                    |p: &&mut Problem| p.line == problem.line && p.message == problem.message;
                match self.problems.iter_mut().find(same) {
                    Some(known) => or_when(&mut known.when, when),
                    None => self.problems.push(Problem { when, ..problem }),
                }
            }
        }
    }

    /// Turns "holds when A, or B, or C" into no condition when those are all the renderings.
    pub fn settle(&mut self, renderings: usize) {
        let all = |when: &Option<String>| {
            when.as_deref()
                .is_some_and(|w| w.matches(", or ").count() + 1 == renderings)
        };
        for finding in &mut self.findings {
            if all(&finding.when) {
                finding.when = None;
            }
        }
        for problem in &mut self.problems {
            if all(&problem.when) {
                problem.when = None;
            }
        }
    }
}

/// Found under other values too: it holds under each of them (under all, once one says so).
fn or_when(known: &mut Option<String>, when: Option<String>) {
    match (known.as_mut(), when) {
        (Some(a), Some(b)) if *a != b => {
            a.push_str(", or ");
            a.push_str(&b);
        }
        (Some(_), None) => *known = None,
        _ => {}
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
    /// Whether `region` was given (`--region`); a plan otherwise names its provider's, if any.
    pub region_given: bool,
    pub partition: &'a str,
    pub stack_name: &'a str,
    /// What a plain policy file is (`--registry`), and the registry it is for as far as given.
    pub files_kind: PolicyKind,
    pub files_scope: RegistryScope<'a>,
    /// `--parameter KEY=VALUE`, in the order given.
    pub parameters: &'a [(String, String)],
    /// `--strict`: an assumption (a free parameter judged with its `Default`) is a problem.
    pub strict: bool,
}

impl Settings<'_> {
    /// The registry a template or plan deploys into: its registry policy must name it.
    pub fn deploy_scope(&self) -> RegistryScope<'_> {
        RegistryScope {
            account: Some(self.account),
            region: Some(self.region),
        }
    }
}

/// Documented defaults of the deployment context (README, "Templates and plans"). A template
/// judged without `--account` uses a stand-in for "whichever account deploys" instead of
/// `DEFAULT_ACCOUNT` (see `cfn::check_template`).
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
    let (extracted, kind) = match settings.files_kind {
        PolicyKind::Repository => (
            Extracted::RepositoryPolicy {
                policy: Some(located),
                line: 1,
            },
            ResourceKind::RepositoryPolicy,
        ),
        PolicyKind::Registry => (
            Extracted::RegistryPolicy(located),
            ResourceKind::RegistryPolicy,
        ),
    };
    let mut report = ResourceReport::new("policy", "policy", kind, 1);
    let outcome = judge(&extracted, settings.rules, owner, settings.files_scope).map_err(|e| {
        // A JSON error names its own line in the file.
        let line = match Policy::parse(text) {
            Err(PolicyError::Json(j)) if j.line > 0 => j.line,
            _ => e.line,
        };
        problem_of(JudgeError { line, ..e })
    });
    report.add(outcome, None);
    FileReport {
        file: file.to_owned(),
        source: Source::Policy,
        resources: vec![report],
        error: None,
    }
}

/// A judging error as a resource's problem: the rendered policy is not a valid one.
pub fn problem_of(error: JudgeError) -> Problem {
    Problem {
        line: error.line,
        kind: ProblemKind::InvalidPolicy,
        message: error.problem,
        when: None,
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
    pub violations: usize,
    /// Free parameters judged on their `Default` (or compared values) only.
    pub assumptions: usize,
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
                s.assumptions += r.assumptions.len();
                match r.compliant() {
                    Some(true) => s.compliant += 1,
                    Some(false) => s.non_compliant += 1,
                    None => s.invalid += 1,
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
            classify(
                "t.json",
                "{\n  \"AWSTemplateFormatVersion\": \"2010-09-09\""
            ),
            Source::Cloudformation
        );
        assert_eq!(
            classify("t.json", "{\"Resources\": {}}"),
            Source::Cloudformation
        );
        assert_eq!(
            classify(
                "plan.json",
                "{\"format_version\":\"1.2\",\"terraform_version\""
            ),
            Source::Terraform
        );
        assert_eq!(
            classify("p.json", "{\"Version\": \"2012-10-17\"}"),
            Source::Policy
        );
        assert_eq!(classify("p.json", "Resources:\n"), Source::Policy);
        assert_eq!(classify("-", "Resources:\n  R:\n"), Source::Cloudformation);
        assert_eq!(classify("-", "{\"Statement\": []}"), Source::Policy);
    }

    #[test]
    fn a_finding_under_every_rendering_holds_unconditionally() {
        let finding = |when: &str| Finding {
            line: 4,
            violation: RuleConfig::default().check_no_policy().remove(0),
            when: Some(when.to_owned()),
        };
        let mut report = ResourceReport::new("R", "t", ResourceKind::RepositoryPolicy, 1);
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

    #[test]
    fn a_problem_under_every_deploy_holds_unconditionally_and_one_under_some_says_which() {
        let problem = || Problem::not_rendered(3, "cannot render `Ref` `X`".into());
        let mut report = ResourceReport::new("R", "t", ResourceKind::RepositoryPolicy, 1);
        report.add(Err(problem()), Some("`Env` = `dev`"));
        report.add(Err(problem()), Some("`Env` = `prod`"));
        assert_eq!(report.problems.len(), 1);
        report.settle(3);
        assert_eq!(
            report.problems[0].when.as_deref(),
            Some("`Env` = `dev`, or `Env` = `prod`")
        );
        report.settle(2);
        assert_eq!(report.problems[0].when, None);
    }
}
