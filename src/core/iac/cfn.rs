//! CloudFormation and SAM templates: every ECR policy rendered as CloudFormation would render it,
//! once for every deploy the template allows ([`deploys`]): every `AllowedValues` of the
//! parameters its value depends on, both outcomes of conditions over free parameters, every
//! region a region-keyed mapping lists. A free parameter whose value reaches a policy is judged
//! with its `Default` and named as an assumption (`--strict` refuses it); a value that cannot be
//! known before deploy is a problem that names it; a stack set's inline template is judged as the
//! stacks it deploys. Never a pass by omission: any other resource whose type says ECR, a macro,
//! or intrinsic functions in `Mappings` are refused.

mod deploys;
mod render;
mod template;

use super::tree::{self, Node, Value};
use super::{
    Assumption, Extracted, FileError, FileReport, Located, Problem, ReplicationSpelling,
    ResourceKind, ResourceReport, Settings, Source, judge, problem_of,
};
use crate::policy::RegistryScope;
use crate::rules::Owner;
use crate::text::tick;
pub use deploys::MAX_DEPLOYS;
use deploys::{Analysis, Inputs};
use render::{Deployment, Env};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
pub use template::MAX_PARAMETERS;
use template::Template;

/// The top-level sections of a template (SAM adds `Globals`).
pub const SECTIONS: [&str; 11] = [
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Transform",
    "Resources",
    "Outputs",
    "Globals",
];

/// The resource types judged, the kind of policy each declares, and the properties judged.
const ECR_TYPES: [(&str, ResourceKind, &[&str]); 4] = [
    (
        "AWS::ECR::Repository",
        ResourceKind::RepositoryPolicy,
        &["RepositoryPolicyText"],
    ),
    (
        "AWS::ECR::RegistryPolicy",
        ResourceKind::RegistryPolicy,
        &["PolicyText"],
    ),
    (
        "AWS::ECR::RepositoryCreationTemplate",
        ResourceKind::CreationTemplate,
        &["Prefix", "AppliedFor", "RepositoryPolicy"],
    ),
    (
        "AWS::ECR::ReplicationConfiguration",
        ResourceKind::Replication,
        &["ReplicationConfiguration"],
    ),
];

/// The other ECR resource types CloudFormation has ("Amazon ECR resource type reference"), none
/// of which says who may reach a private repository: pull-through cache rules (upstream
/// registries), pull-time update exclusions, scanning and signing settings, and ECR Public
/// repositories, which the guard leaves alone as it leaves `aws.ecr-public` events.
const KNOWN_UNJUDGED: [&str; 5] = [
    "AWS::ECR::PullThroughCacheRule",
    "AWS::ECR::PullTimeUpdateExclusion",
    "AWS::ECR::RegistryScanningConfiguration",
    "AWS::ECR::SigningConfiguration",
    "AWS::ECR::PublicRepository",
];

/// A stack set's template is deployed as stacks of its own: judged like this file.
const STACK_SET: &str = "AWS::CloudFormation::StackSet";
const STACK_SET_PROPERTIES: &[&str] = &["Parameters", "StackInstancesGroup", "TemplateBody"];
/// Stacks whose template is read from elsewhere at deploy time.
const NESTED_STACKS: [(&str, &str); 2] = [
    ("AWS::CloudFormation::Stack", "TemplateURL"),
    ("AWS::Serverless::Application", "Location"),
];
/// Stack sets inside stack sets deeper than this are refused.
const MAX_NESTING: usize = 3;

/// What each file may render in all, per byte of its text, beyond a fixed allowance: enough for
/// every deploy of every policy, far too little for a template that copies values into itself.
const BUDGET_PER_BYTE: usize = 16;
const BUDGET_BASE: usize = 16 << 20;

/// A value that cannot be rendered, and the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    pub line: usize,
    pub problem: String,
    /// The deploy fails on it (a mapping key a non-default value lacks): it is no deploy at all.
    pub not_deployable: bool,
}

type Rendered<T> = Result<T, RenderError>;

fn fail<T>(line: usize, problem: impl Into<String>) -> Rendered<T> {
    Err(RenderError {
        line,
        problem: problem.into(),
        not_deployable: false,
    })
}

/// The properties judged for a resource type (none for the types not judged).
fn judged_properties(type_name: &str) -> &'static [&'static str] {
    if type_name == STACK_SET {
        return STACK_SET_PROPERTIES;
    }
    ECR_TYPES
        .iter()
        .find(|(t, _, _)| *t == type_name)
        .map_or(&[], |(_, _, properties)| *properties)
}

/// True when a type's name says ECR (`AWS::ECR::...`, `Custom::EcrPolicy`): a part of it starts
/// with `ecr`, in any case.
pub fn says_ecr(type_name: &str) -> bool {
    type_name
        .split("::")
        .any(|part| part.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("ecr")))
}

/// What the guard does with a resource type.
enum Handling {
    Judged(ResourceKind),
    StackSet,
    Nested(&'static str),
    Refused,
    Skipped,
}

fn handling(type_name: &str) -> Handling {
    if let Some((_, kind, _)) = ECR_TYPES.iter().find(|(t, _, _)| *t == type_name) {
        return Handling::Judged(*kind);
    }
    if type_name == STACK_SET {
        return Handling::StackSet;
    }
    if let Some((_, property)) = NESTED_STACKS.iter().find(|(t, _)| *t == type_name) {
        return Handling::Nested(property);
    }
    if says_ecr(type_name) && !KNOWN_UNJUDGED.contains(&type_name) {
        return Handling::Refused;
    }
    Handling::Skipped
}

/// What the deploys of one template (or a stack set's template) share.
struct Context<'a> {
    settings: &'a Settings<'a>,
    given: HashMap<String, Vec<String>>,
    regions: Option<Vec<String>>,
    /// `AWS::AccountId`: `--account`, or a stand-in for whichever account deploys.
    account: &'a str,
    account_known: bool,
    /// The stand-in for whichever account deploys (a stack set's targets).
    stand_in: &'a str,
    budget: &'a Cell<usize>,
    nesting: usize,
}

impl Context<'_> {
    fn inputs(&self) -> Inputs<'_> {
        Inputs {
            given: &self.given,
            regions: self.regions.as_deref(),
            account: self.account,
            account_known: self.account_known,
        }
    }

    fn deployment(&self) -> Deployment<'_> {
        Deployment {
            partition: self.settings.partition,
            stack_name: self.settings.stack_name,
            budget: self.budget,
        }
    }
}

/// Judges every ECR resource of a template.
pub fn check_template(file: &str, text: &str, settings: &Settings) -> FileReport {
    let root = match read(text) {
        Ok(root) => root,
        Err(e) => return FileReport::failed(file, Source::Cloudformation, e),
    };
    // Without `--account` (and in a stack set's template, always), `AWS::AccountId` is whichever
    // account deploys: a stand-in no literal of the template can be mistaken for, named as
    // `${AWS::AccountId}` in every output.
    let stand_in = stand_in_account(text);
    let account = match settings.account_given {
        true => settings.account,
        false => stand_in.as_str(),
    };
    let mut given: HashMap<String, Vec<String>> = HashMap::new();
    for (key, value) in settings.parameters {
        // The last `--parameter` for a key wins.
        given.insert(key.clone(), vec![value.clone()]);
    }
    let budget = Cell::new(BUDGET_BASE.saturating_add(text.len().saturating_mul(BUDGET_PER_BYTE)));
    let context = Context {
        settings,
        given,
        regions: settings
            .region_given
            .then(|| vec![settings.region.to_owned()]),
        account,
        account_known: settings.account_given,
        stand_in: &stand_in,
        budget: &budget,
        nesting: 0,
    };
    let mut report = match check_tree(&root, &context) {
        Ok(resources) => FileReport {
            file: file.to_owned(),
            source: Source::Cloudformation,
            resources,
            error: None,
        },
        Err(e) => FileReport::failed(
            file,
            Source::Cloudformation,
            FileError {
                line: e.line,
                message: e.problem,
            },
        ),
    };
    name_the_deploying_account(&mut report, &stand_in);
    report
}

fn read(text: &str) -> Result<Node, tree::TreeError> {
    if text.trim_start().starts_with('{') {
        tree::from_json_text(text)
    } else {
        tree::from_yaml_text(text)
    }
}

/// A 12-digit account id that appears nowhere in the text.
fn stand_in_account(text: &str) -> String {
    (0u64..)
        .map(|n| format!("{n:012}"))
        .find(|id| !text.contains(id.as_str()))
        .unwrap_or_default()
}

/// Every mention of the stand-in account becomes `${AWS::AccountId}`, as the template writes it.
fn name_the_deploying_account(report: &mut FileReport, stand_in: &str) {
    const DEPLOYING: &str = "${AWS::AccountId}";
    let fix = |s: &mut String| {
        if s.contains(stand_in) {
            *s = s.replace(stand_in, DEPLOYING);
        }
    };
    for resource in &mut report.resources {
        for finding in &mut resource.findings {
            if let Some(principal) = &mut finding.violation.principal {
                fix(principal);
            }
            finding.violation.resources.iter_mut().for_each(fix);
            if finding.violation.message.contains(stand_in) {
                finding.violation.message = finding
                    .violation
                    .message
                    .replace(stand_in, DEPLOYING)
                    .into();
            }
        }
        for problem in &mut resource.problems {
            fix(&mut problem.message);
        }
    }
    if let Some(error) = &mut report.error {
        fix(&mut error.message);
    }
}

fn check_tree(root: &Node, context: &Context) -> Rendered<Vec<ResourceReport>> {
    let tpl = Template::read(root)?;
    let judged = |type_name: &str| judged_properties(type_name);
    let mut analysis = Analysis::new(&tpl, &judged);
    let mut reports = Vec::new();
    for (index, &(id, resource)) in tpl.resources.iter().enumerate() {
        let Some(type_name) = resource.get("Type").and_then(Node::as_str) else {
            return fail(
                resource.line,
                format!("resource {} has no `Type`", tick(id)),
            );
        };
        match handling(type_name) {
            Handling::Skipped => {}
            Handling::Judged(kind) => {
                reports.push(judge_resource(&tpl, &mut analysis, index, kind, context)?)
            }
            Handling::StackSet => {
                reports.extend(stack_set(&tpl, &mut analysis, index, context)?);
            }
            Handling::Nested(property) => {
                let mut report =
                    ResourceReport::new(id, type_name, ResourceKind::Unknown, resource.line);
                report.problems.push(Problem::not_rendered(
                    resource.line,
                    format!(
                        "a nested stack's template comes from `{property}` at deploy time, not from this file, so the guard cannot judge what it deploys; check that template itself"
                    ),
                ));
                reports.push(report);
            }
            Handling::Refused => {
                let mut report =
                    ResourceReport::new(id, type_name, ResourceKind::Unknown, resource.line);
                report.problems.push(Problem::not_rendered(
                    resource.line,
                    format!(
                        "resource type {} names ECR but is not one the guard knows, so it may open a repository the guard cannot judge",
                        tick(type_name)
                    ),
                ));
                reports.push(report);
            }
        }
    }
    Ok(reports)
}

/// One resource judged in each of its deploys.
fn judge_resource(
    tpl: &Template,
    analysis: &mut Analysis,
    index: usize,
    kind: ResourceKind,
    context: &Context,
) -> Rendered<ResourceReport> {
    let (id, resource) = tpl.resources[index];
    let type_name = resource
        .get("Type")
        .and_then(Node::as_str)
        .unwrap_or_default();
    let mut report = ResourceReport::new(id, type_name, kind, resource.line);
    report.deploys = 0;
    let inputs = context.inputs();
    let deploys = match analysis.deploys(index, &inputs) {
        Ok(deploys) => deploys,
        // A circle is the template's fault, not this resource's: CloudFormation refuses it all.
        Err(e) if e.problem.starts_with("circular reference") => return Err(e),
        Err(e) => {
            report.add(Err(Problem::not_rendered(e.line, e.problem)), None);
            return Ok(report);
        }
    };
    let settings = context.settings;
    let deployment = context.deployment();
    let mut considered = 0;
    let mut assumed: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for deploy in &deploys {
        let env = Env::new(tpl, deploy, &deployment);
        let exists = match resource.get("Condition") {
            Some(condition) => env.named_condition(condition),
            None => Ok(true),
        };
        let outcome =
            exists.and_then(|exists| exists.then(|| extract(kind, resource, &env)).transpose());
        let scope = RegistryScope {
            account: deploy.account_known.then_some(deploy.account.as_str()),
            region: deploy.region_known.then_some(deploy.region.as_str()),
        };
        let outcome = match outcome {
            Err(e) if e.not_deployable => continue,
            // Not created in this deploy.
            Ok(None) => {
                considered += 1;
                continue;
            }
            Ok(Some(extracted)) => judge(
                &extracted,
                settings.rules,
                Owner::Account(&deploy.account),
                scope,
            )
            .map_err(problem_of),
            Err(e) => Err(Problem::not_rendered(e.line, e.problem)),
        };
        considered += 1;
        report.deploys += 1;
        for (param, values) in env.assumed() {
            assumed.entry(param).or_default().extend(values);
        }
        report.add(outcome, deploy.when.as_deref());
    }
    // Against every deploy: a resource created under some values only says which.
    report.settle(considered);
    for (param, values) in assumed {
        let (name, declaration) = tpl.parameters[param];
        let values: Vec<String> = values.into_iter().collect();
        if settings.strict {
            report.add(
                Err(Problem::not_rendered(
                    declaration.line,
                    format!(
                        "parameter {} has no `AllowedValues`, so a deploy may give it any value, and it reaches the policy (`--strict`); pass `--parameter {name}=VALUE`, or give it `AllowedValues`",
                        tick(name)
                    ),
                )),
                None,
            );
        } else {
            let shown: Vec<String> = values.iter().map(|v| tick(v)).collect();
            report.assumptions.push(Assumption {
                parameter: name.to_owned(),
                line: declaration.line,
                message: format!(
                    "parameter {} has no `AllowedValues`, so a deploy may give it any value: judged with {} only; pass `--parameter {name}=VALUE` to judge another, give it `AllowedValues`, or use `--strict` to refuse this",
                    tick(name),
                    shown.join(", ")
                ),
                values,
            });
        }
    }
    Ok(report)
}

/// A stack set's inline template, judged as the stacks it deploys: its `Parameters` and each
/// instance group's overrides are given values, its instance groups' regions are the regions, and
/// every account it deploys into is "the deploying account". A template elsewhere is a problem.
fn stack_set(
    tpl: &Template,
    analysis: &mut Analysis,
    index: usize,
    context: &Context,
) -> Rendered<Vec<ResourceReport>> {
    let (id, resource) = tpl.resources[index];
    let refused = |line: usize, message: String| {
        let mut report = ResourceReport::new(id, STACK_SET, ResourceKind::Unknown, resource.line);
        report.problems.push(Problem::not_rendered(line, message));
        Ok(vec![report])
    };
    let properties = resource.get("Properties");
    if properties.and_then(|p| p.get("TemplateBody")).is_none() {
        return refused(
            resource.line,
            "a stack set's template comes from `TemplateURL` at deploy time, not from this file, so the guard cannot judge what it deploys; check that template itself".into(),
        );
    }
    if context.nesting >= MAX_NESTING {
        return refused(
            resource.line,
            format!("stack sets nested more than {MAX_NESTING} deep inside templates"),
        );
    }
    let inputs = context.inputs();
    let deploys = match analysis.deploys(index, &inputs) {
        Ok(deploys) => deploys,
        Err(e) if e.problem.starts_with("circular reference") => return Err(e),
        Err(e) => return refused(e.line, e.problem),
    };
    let settings = context.settings;
    let deployment = context.deployment();
    let mut merged: Vec<ResourceReport> = Vec::new();
    for deploy in &deploys {
        let env = Env::new(tpl, deploy, &deployment);
        let inner = match stack_set_inputs(resource, &env) {
            Ok(inner) => inner,
            Err(e) if e.not_deployable => continue,
            Err(e) => return refused(e.line, e.problem),
        };
        let (body_node, body, given, regions) = inner;
        let root = match read(&body) {
            Ok(root) => root,
            Err(e) => {
                return refused(
                    body_node.line_in_text(e.line),
                    format!(
                        "the stack set's `TemplateBody` is not a template CloudFormation reads: {}",
                        e.problem
                    ),
                );
            }
        };
        // Its stacks deploy into the target accounts: whichever they are.
        let inner_context = Context {
            settings,
            given,
            regions,
            account: context.stand_in,
            account_known: false,
            stand_in: context.stand_in,
            budget: context.budget,
            nesting: context.nesting + 1,
        };
        let reports = match check_tree(&root, &inner_context) {
            Ok(reports) => reports,
            Err(e) => return refused(body_node.line_in_text(e.line), e.problem),
        };
        for mut report in reports {
            report.resource = format!("{id}/{}", report.resource);
            relocate(&mut report, &body_node);
            merge(&mut merged, report, deploy.when.as_deref());
        }
    }
    Ok(merged)
}

/// What a stack set gives its template in one deploy of the outer template: the template's
/// text, its parameter values and its regions.
type StackSetInputs = (
    Node,
    String,
    HashMap<String, Vec<String>>,
    Option<Vec<String>>,
);

fn stack_set_inputs(resource: &Node, env: &Env) -> Rendered<StackSetInputs> {
    let line = resource.line;
    let property = |name: &str| -> Rendered<Option<Node>> {
        match resource.get("Properties").and_then(|p| p.get(name)) {
            Some(value) => env.render(value),
            None => Ok(None),
        }
    };
    let Some(body) = property("TemplateBody")? else {
        return fail(line, "a stack set needs `TemplateBody` or `TemplateURL`");
    };
    let text = env.string(&body, "`TemplateBody`")?;
    let mut given: HashMap<String, Vec<String>> = HashMap::new();
    let mut pairs = |list: Option<&Node>, line: usize| -> Rendered<()> {
        for pair in seq(list) {
            let key = pair.get("ParameterKey").and_then(Node::as_str);
            let value = pair.get("ParameterValue").map(scalar_text);
            match (key, value) {
                (Some(key), Some(value)) => {
                    let values = given.entry(key.to_owned()).or_default();
                    if !values.contains(&value) {
                        values.push(value);
                    }
                }
                _ => {
                    return fail(
                        line,
                        "a stack set parameter needs `ParameterKey` and `ParameterValue`",
                    );
                }
            }
        }
        Ok(())
    };
    let parameters = property("Parameters")?;
    pairs(parameters.as_ref(), line)?;
    let groups = property("StackInstancesGroup")?;
    let mut regions: Vec<String> = Vec::new();
    for group in seq(groups.as_ref()) {
        pairs(group.get("ParameterOverrides"), group.line)?;
        for region in seq(group.get("Regions")) {
            let region = scalar_text(region);
            if !regions.contains(&region) {
                regions.push(region);
            }
        }
    }
    let body_line = Node {
        line: body.line,
        literal: body.literal,
        value: Value::Null,
    };
    Ok((
        body_line,
        text,
        given,
        (!regions.is_empty()).then_some(regions),
    ))
}

/// A report of a stack set's template on the lines of this file: exact for a literal block
/// (`TemplateBody: |`), else the line of `TemplateBody`.
fn relocate(report: &mut ResourceReport, body: &Node) {
    report.line = body.line_in_text(report.line);
    for f in &mut report.findings {
        f.line = body.line_in_text(f.line);
    }
    for p in &mut report.problems {
        p.line = body.line_in_text(p.line);
    }
    for a in &mut report.assumptions {
        a.line = body.line_in_text(a.line);
    }
}

/// Adds a report to the one already made for the same resource in another deploy of the outer
/// template, or as a new one.
fn merge(reports: &mut Vec<ResourceReport>, report: ResourceReport, when: Option<&str>) {
    let joined = |inner: Option<&str>| match (when, inner) {
        (Some(a), Some(b)) => Some(format!("{a} and {b}")),
        (a, b) => a.or(b).map(str::to_owned),
    };
    let Some(known) = reports.iter_mut().find(|r| r.resource == report.resource) else {
        let mut report = report;
        if when.is_some() {
            for f in &mut report.findings {
                f.when = joined(f.when.as_deref());
            }
        }
        reports.push(report);
        return;
    };
    known.deploys += report.deploys;
    for finding in report.findings {
        let when = joined(finding.when.as_deref());
        known.add(Ok(vec![finding]), when.as_deref());
    }
    for problem in report.problems {
        let when = joined(problem.when.as_deref());
        known.add(Err(problem), when.as_deref());
    }
    for assumption in report.assumptions {
        if !known
            .assumptions
            .iter()
            .any(|a| a.parameter == assumption.parameter)
        {
            known.assumptions.push(assumption);
        }
    }
}

/// The text of a scalar as CloudFormation passes parameter values: strings as they are, numbers
/// and booleans as written.
fn scalar_text(node: &Node) -> String {
    match &node.value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// The rendered property of a resource, if it has it.
fn property(env: &Env, resource: &Node, name: &str) -> Rendered<Option<Node>> {
    match resource.get("Properties").and_then(|p| p.get(name)) {
        Some(value) => env.render(value),
        None => Ok(None),
    }
}

fn located(node: &Node) -> Rendered<Located> {
    Located::from_node(node).map_err(|problem| RenderError {
        line: node.line,
        problem,
        not_deployable: false,
    })
}

/// The policy a resource declares, rendered, by kind.
fn extract(kind: ResourceKind, resource: &Node, env: &Env) -> Rendered<Extracted> {
    let line = resource.line;
    Ok(match kind {
        ResourceKind::RepositoryPolicy => Extracted::RepositoryPolicy {
            policy: property(env, resource, "RepositoryPolicyText")?
                .as_ref()
                .map(located)
                .transpose()?,
            line,
        },
        ResourceKind::RegistryPolicy => match property(env, resource, "PolicyText")? {
            Some(policy) => Extracted::RegistryPolicy(located(&policy)?),
            None => return fail(line, "an `AWS::ECR::RegistryPolicy` needs `PolicyText`"),
        },
        ResourceKind::CreationTemplate => Extracted::CreationTemplate {
            prefix: match property(env, resource, "Prefix")? {
                Some(prefix) => env.string(&prefix, "`Prefix`")?,
                None => {
                    return fail(
                        line,
                        "an `AWS::ECR::RepositoryCreationTemplate` needs `Prefix`",
                    );
                }
            },
            applied_for: match property(env, resource, "AppliedFor")? {
                Some(applied) => seq(Some(&applied)).iter().map(scalar_text).collect(),
                None => Vec::new(),
            },
            policy: property(env, resource, "RepositoryPolicy")?
                .as_ref()
                .map(located)
                .transpose()?,
            line,
        },
        ResourceKind::Replication => {
            let configuration = property(env, resource, "ReplicationConfiguration")?;
            let rules = configuration.as_ref().and_then(|c| c.get("Rules"));
            let spelling = ReplicationSpelling {
                destinations: "Destinations",
                region: "Region",
                registry_id: "RegistryId",
                filters: "RepositoryFilters",
                filter: "Filter",
                filter_type: "FilterType",
            };
            Extracted::replication(seq(rules), &spelling, line).map_err(|problem| RenderError {
                line: configuration.as_ref().map_or(line, |c| c.line),
                problem,
                not_deployable: false,
            })?
        }
        ResourceKind::Unknown => return fail(line, "not a resource the guard judges"),
    })
}

fn seq(node: Option<&Node>) -> &[Node] {
    match node.map(|n| &n.value) {
        Some(Value::Seq(items)) => items,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_that_say_ecr() {
        for yes in [
            "AWS::ECR::Repository",
            "Custom::EcrPolicy",
            "AWS::ECR::Future",
            "Org::ECRPublic::Thing",
        ] {
            assert!(says_ecr(yes), "{yes}");
        }
        for no in [
            "AWS::SecretsManager::Secret",
            "AWS::IAM::Role",
            "AWS::ECS::Service",
            "Custom::Secrets",
        ] {
            assert!(!says_ecr(no), "{no}");
        }
    }

    #[test]
    fn the_stand_in_account_is_absent_from_the_text() {
        assert_eq!(stand_in_account("nothing"), "000000000000");
        assert_eq!(
            stand_in_account("000000000000 000000000001"),
            "000000000002"
        );
    }
}
