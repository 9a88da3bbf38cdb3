//! CloudFormation and SAM templates: every ECR policy rendered as CloudFormation would render it
//! (parameter defaults or `--parameter` values, pseudo parameters from the deployment settings,
//! the roles, users and repositories of the same template by their names and ARNs), once for
//! each combination of the `AllowedValues` its conditions depend on, so that every `!If` branch
//! the conditions allow is judged. A value that cannot be known before deploy is a problem that
//! names it, never a pass.

use super::tree::{self, Node, Value};
use super::{
    Extracted, FileReport, Located, Problem, ReplicationSpelling, ResourceKind, ResourceReport,
    Settings, Source, judge, problem_of,
};
use crate::rules::Owner;
use crate::text::tick;
use std::cell::RefCell;
use std::collections::BTreeMap;

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

/// The resource types judged, and the kind of policy each declares.
const ECR_TYPES: [(&str, ResourceKind); 4] = [
    ("AWS::ECR::Repository", ResourceKind::RepositoryPolicy),
    ("AWS::ECR::RegistryPolicy", ResourceKind::RegistryPolicy),
    (
        "AWS::ECR::RepositoryCreationTemplate",
        ResourceKind::CreationTemplate,
    ),
    (
        "AWS::ECR::ReplicationConfiguration",
        ResourceKind::Replication,
    ),
];

/// More combinations of parameter values than this are refused: fix some with `--parameter`.
pub const MAX_RENDERINGS: usize = 64;

/// A value that cannot be rendered, and the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    pub line: usize,
    pub problem: String,
}

type Rendered<T> = Result<T, RenderError>;

fn fail<T>(line: usize, problem: impl Into<String>) -> Rendered<T> {
    Err(RenderError {
        line,
        problem: problem.into(),
    })
}

/// A parameter's value in one rendering.
#[derive(Debug, Clone, PartialEq)]
enum Param {
    Text(String),
    List(Vec<String>),
    /// Known only at deploy time: the reason.
    Unknown(String),
}

/// Judges every ECR resource of a template.
pub fn check_template(file: &str, text: &str, settings: &Settings) -> FileReport {
    let root = if text.trim_start().starts_with('{') {
        tree::from_json_text(text)
    } else {
        tree::from_yaml_text(text)
    };
    let root = match root {
        Ok(root) => root,
        Err(e) => return FileReport::failed(file, Source::Cloudformation, e),
    };
    match check_tree(&root, settings) {
        Ok(resources) => FileReport {
            file: file.to_owned(),
            source: Source::Cloudformation,
            resources,
            error: None,
        },
        Err(e) => FileReport::failed(
            file,
            Source::Cloudformation,
            super::FileError {
                line: e.line,
                message: e.problem,
            },
        ),
    }
}

fn check_tree(root: &Node, settings: &Settings) -> Rendered<Vec<ResourceReport>> {
    let Some(sections) = root.as_map() else {
        return fail(
            root.line,
            format!("a template must be a mapping, found {}", root.kind()),
        );
    };
    if let Some((key, node)) = sections
        .iter()
        .find(|(key, _)| !SECTIONS.contains(&key.as_str()))
    {
        return fail(node.line, format!("unknown template section {}", tick(key)));
    }
    let Some(resources) = root.get("Resources").and_then(Node::as_map) else {
        return fail(root.line, "a template needs a `Resources` mapping");
    };
    let parameters = root.get("Parameters");
    let renderings = renderings(parameters, root.get("Conditions"), settings)?;
    let mut reports = Vec::new();
    for (id, resource) in resources {
        let Some(type_name) = resource.get("Type").and_then(Node::as_str) else {
            return fail(
                resource.line,
                format!("resource {} has no `Type`", tick(id)),
            );
        };
        let Some(&(_, kind)) = ECR_TYPES.iter().find(|(t, _)| *t == type_name) else {
            continue;
        };
        let mut report = ResourceReport::new(id, type_name, kind, resource.line);
        for (params, when) in &renderings {
            let env = Env {
                root,
                resources,
                params,
                settings,
                conditions: RefCell::new(BTreeMap::new()),
            };
            let outcome = match resource.get("Condition") {
                Some(condition) => env.named_condition(condition),
                None => Ok(true),
            }
            .and_then(|exists| exists.then(|| extract(kind, resource, &env)).transpose());
            let outcome = match outcome {
                // Not created under these values.
                Ok(None) => continue,
                Ok(Some(extracted)) => judge(
                    &extracted,
                    settings.rules,
                    Owner::Account(settings.account),
                    settings.deploy_scope(),
                )
                .map_err(problem_of),
                Err(e) => Err(Problem::not_rendered(e.line, e.problem)),
            };
            report.add(outcome, when.as_deref());
        }
        // Against every rendering: a resource created under some values only says which.
        report.settle(renderings.len());
        reports.push(report);
    }
    Ok(reports)
}

/// One rendering's parameter values, and what sets it apart (`None` when there is one).
type Rendering = (BTreeMap<String, Param>, Option<String>);

/// The parameter values of each rendering, with what sets it apart (`None` when there is one).
fn renderings(
    parameters: Option<&Node>,
    conditions: Option<&Node>,
    settings: &Settings,
) -> Rendered<Vec<Rendering>> {
    let mut base = BTreeMap::new();
    // Parameters the conditions read, with more than one value allowed: each value is a rendering.
    let mut varying: Vec<(String, Vec<String>)> = Vec::new();
    let mut read_by_conditions = Vec::new();
    if let Some(conditions) = conditions {
        references(conditions, &mut read_by_conditions);
    }
    for (name, declaration) in parameters.and_then(Node::as_map).unwrap_or_default() {
        let given = settings
            .parameters
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone());
        let allowed: Option<Vec<String>> = match declaration.get("AllowedValues").map(|a| &a.value)
        {
            Some(Value::Seq(items)) => Some(items.iter().map(scalar_text).collect()),
            _ => None,
        };
        if let (Some(value), Some(allowed)) = (&given, &allowed)
            && !allowed.contains(value)
        {
            return fail(
                declaration.line,
                format!(
                    "`--parameter {name}={value}` is not one of the `AllowedValues` of {}",
                    tick(name)
                ),
            );
        }
        let default = declaration.get("Default").map(scalar_text);
        let type_name = declaration
            .get("Type")
            .and_then(Node::as_str)
            .unwrap_or("String");
        match (&given, allowed) {
            (None, Some(allowed)) if read_by_conditions.contains(name) && allowed.len() > 1 => {
                let mut values = allowed;
                // The default first: the rendering most deployments are.
                if let Some(default) = &default
                    && let Some(i) = values.iter().position(|v| v == default)
                {
                    let d = values.remove(i);
                    values.insert(0, d);
                }
                varying.push((name.clone(), values));
            }
            _ => {}
        }
        let value = match given.or(default) {
            // Resolved from Parameter Store at deploy time, unless given here.
            Some(value)
                if type_name.starts_with("AWS::SSM::Parameter::Value<")
                    && !settings.parameters.iter().any(|(k, _)| k == name) =>
            {
                Param::Unknown(format!(
                    "parameter {} is read from the SSM parameter {} at deploy time; pass `--parameter {name}=VALUE`",
                    tick(name),
                    tick(&value)
                ))
            }
            Some(value) if type_name == "CommaDelimitedList" || type_name.starts_with("List<") => {
                Param::List(value.split(',').map(|s| s.trim().to_owned()).collect())
            }
            Some(value) => Param::Text(value),
            None => Param::Unknown(format!(
                "parameter {} has no `Default`; pass `--parameter {name}=VALUE`",
                tick(name)
            )),
        };
        base.insert(name.clone(), value);
    }
    let count = varying
        .iter()
        .try_fold(1usize, |n, (_, values)| n.checked_mul(values.len()))
        .unwrap_or(usize::MAX);
    if count > MAX_RENDERINGS {
        return fail(
            conditions.map_or(0, |c| c.line),
            format!(
                "the conditions depend on {count} combinations of parameter values (at most {MAX_RENDERINGS} are judged); fix some with `--parameter KEY=VALUE`"
            ),
        );
    }
    let mut out = vec![(base, None::<String>)];
    for (name, values) in &varying {
        let mut next = Vec::new();
        for (params, when) in &out {
            for value in values {
                let mut params = params.clone();
                params.insert(name.clone(), Param::Text(value.clone()));
                let part = format!("{} = {}", tick(name), tick(value));
                let when = Some(match when {
                    Some(w) => format!("{w} and {part}"),
                    None => part,
                });
                next.push((params, when));
            }
        }
        out = next;
    }
    Ok(out)
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

/// Every name a `Ref` (or a `${...}` of `Fn::Sub`) refers to within a node.
fn references(node: &Node, out: &mut Vec<String>) {
    match &node.value {
        Value::Map(members) => {
            for (key, value) in members {
                match (key.as_str(), &value.value) {
                    ("Ref", Value::String(name)) => out.push(name.clone()),
                    ("Fn::Sub", Value::String(text)) => {
                        for part in text.split("${").skip(1) {
                            if let Some((name, _)) = part.split_once('}') {
                                out.push(name.trim().to_owned());
                            }
                        }
                    }
                    _ => references(value, out),
                }
            }
        }
        Value::Seq(items) => items.iter().for_each(|i| references(i, out)),
        _ => {}
    }
}

/// One rendering's view of the template.
struct Env<'t> {
    root: &'t Node,
    resources: &'t [(String, Node)],
    params: &'t BTreeMap<String, Param>,
    settings: &'t Settings<'t>,
    /// Conditions already evaluated (`None` while being evaluated: a cycle).
    conditions: RefCell<BTreeMap<String, Option<bool>>>,
}

impl Env<'_> {
    fn resource(&self, id: &str) -> Option<&Node> {
        self.resources.iter().find(|(k, _)| k == id).map(|(_, v)| v)
    }

    fn url_suffix(&self) -> &'static str {
        if self.settings.partition == "aws-cn" {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        }
    }

    /// A node as CloudFormation renders it; `None` for `AWS::NoValue` (the key or item goes).
    fn render(&self, node: &Node, depth: usize) -> Rendered<Option<Node>> {
        if depth > 64 {
            return fail(node.line, "intrinsic functions nested too deeply");
        }
        let line = node.line;
        match &node.value {
            Value::Map(members) => {
                if let [(key, argument)] = members.as_slice()
                    && (key == "Ref" || key.starts_with("Fn::"))
                {
                    return self.intrinsic(key, argument, line, depth);
                }
                let mut out = Vec::with_capacity(members.len());
                for (key, value) in members {
                    if let Some(value) = self.render(value, depth + 1)? {
                        out.push((key.clone(), value));
                    }
                }
                Ok(Some(Node {
                    value: Value::Map(out),
                    ..node.clone()
                }))
            }
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(item) = self.render(item, depth + 1)? {
                        out.push(item);
                    }
                }
                Ok(Some(Node {
                    value: Value::Seq(out),
                    ..node.clone()
                }))
            }
            _ => Ok(Some(node.clone())),
        }
    }

    /// A node that must render to something (not `AWS::NoValue`).
    fn value(&self, node: &Node, depth: usize) -> Rendered<Node> {
        match self.render(node, depth)? {
            Some(value) => Ok(value),
            None => fail(node.line, "`AWS::NoValue` where a value is needed"),
        }
    }

    fn string(&self, node: &Node, depth: usize, what: &str) -> Rendered<String> {
        let value = self.value(node, depth)?;
        match value.value {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => fail(
                node.line,
                format!("{what} must be a string, found {}", value.kind()),
            ),
        }
    }

    fn list(&self, node: &Node, depth: usize, what: &str) -> Rendered<Vec<Node>> {
        let value = self.value(node, depth)?;
        match value.value {
            Value::Seq(items) => Ok(items),
            _ => fail(
                node.line,
                format!("{what} must be a list, found {}", value.kind()),
            ),
        }
    }

    fn intrinsic(
        &self,
        name: &str,
        argument: &Node,
        line: usize,
        depth: usize,
    ) -> Rendered<Option<Node>> {
        let text = |s: String| Ok(Some(Node::new(line, Value::String(s))));
        let args = |n: usize| -> Rendered<&[Node]> {
            match &argument.value {
                Value::Seq(items) if items.len() == n => Ok(items),
                _ => fail(line, format!("`{name}` takes a list of {n}")),
            }
        };
        match name {
            "Ref" => {
                let Some(target) = argument.as_str() else {
                    return fail(line, "`Ref` takes a name");
                };
                self.reference(target, line)
            }
            "Fn::GetAtt" => {
                let [resource, attribute] = args(2)? else {
                    return fail(line, "`Fn::GetAtt` takes a resource and an attribute");
                };
                let resource = self.string(resource, depth + 1, "a `Fn::GetAtt` resource")?;
                let attribute = self.string(attribute, depth + 1, "a `Fn::GetAtt` attribute")?;
                self.attribute(&resource, &attribute, line).and_then(text)
            }
            "Fn::Sub" => {
                let (template, variables) = match &argument.value {
                    Value::String(s) => (s.clone(), None),
                    Value::Seq(items) if items.len() == 2 => (
                        self.string(&items[0], depth + 1, "a `Fn::Sub` template")?,
                        Some(&items[1]),
                    ),
                    _ => return fail(line, "`Fn::Sub` takes a string, or a string and a mapping"),
                };
                let out = self.substitute(&template, variables, line, depth)?;
                Ok(Some(Node {
                    line,
                    literal: argument.literal,
                    value: Value::String(out),
                }))
            }
            "Fn::Join" => {
                let [delimiter, items] = args(2)? else {
                    return fail(line, "`Fn::Join` takes a delimiter and a list");
                };
                let delimiter = self.string(delimiter, depth + 1, "a `Fn::Join` delimiter")?;
                let parts = self
                    .list(items, depth + 1, "the `Fn::Join` list")?
                    .iter()
                    .map(|item| self.string(item, depth + 1, "a `Fn::Join` item"))
                    .collect::<Rendered<Vec<_>>>()?;
                text(parts.join(&delimiter))
            }
            "Fn::Select" => {
                let [index, items] = args(2)? else {
                    return fail(line, "`Fn::Select` takes an index and a list");
                };
                let index = self.string(index, depth + 1, "a `Fn::Select` index")?;
                let items = self.list(items, depth + 1, "the `Fn::Select` list")?;
                match index.parse::<usize>().ok().and_then(|i| items.get(i)) {
                    Some(item) => Ok(Some(item.clone())),
                    None => fail(
                        line,
                        format!("`Fn::Select` index {} is outside the list", tick(&index)),
                    ),
                }
            }
            "Fn::Split" => {
                let [delimiter, source] = args(2)? else {
                    return fail(line, "`Fn::Split` takes a delimiter and a string");
                };
                let delimiter = self.string(delimiter, depth + 1, "a `Fn::Split` delimiter")?;
                let source = self.string(source, depth + 1, "the `Fn::Split` string")?;
                Ok(Some(Node::new(
                    line,
                    Value::Seq(
                        source
                            .split(delimiter.as_str())
                            .map(|s| Node::new(line, Value::String(s.to_owned())))
                            .collect(),
                    ),
                )))
            }
            "Fn::If" => {
                let [condition, yes, no] = args(3)? else {
                    return fail(line, "`Fn::If` takes a condition and two values");
                };
                if self.named_condition(condition)? {
                    self.render(yes, depth + 1)
                } else {
                    self.render(no, depth + 1)
                }
            }
            "Fn::FindInMap" => {
                let items = match &argument.value {
                    Value::Seq(items) if items.len() == 3 => items,
                    _ => return fail(line, "`Fn::FindInMap` takes a map and two keys"),
                };
                let keys = items
                    .iter()
                    .map(|k| self.string(k, depth + 1, "a `Fn::FindInMap` key"))
                    .collect::<Rendered<Vec<_>>>()?;
                let found = self
                    .root
                    .get("Mappings")
                    .and_then(|m| m.get(&keys[0]))
                    .and_then(|m| m.get(&keys[1]))
                    .and_then(|m| m.get(&keys[2]));
                match found {
                    Some(value) => self.render(value, depth + 1),
                    None => fail(
                        line,
                        format!(
                            "`Fn::FindInMap` finds nothing at {} / {} / {}",
                            tick(&keys[0]),
                            tick(&keys[1]),
                            tick(&keys[2])
                        ),
                    ),
                }
            }
            "Fn::ToJsonString" => {
                let value = self.value(argument, depth + 1)?;
                text(value.to_json().to_string())
            }
            "Fn::Length" => {
                let items = self.list(argument, depth + 1, "the `Fn::Length` list")?;
                Ok(Some(Node::new(line, Value::Number(items.len().into()))))
            }
            "Fn::ImportValue" => {
                let export = self
                    .string(argument, depth + 1, "the export name")
                    .unwrap_or_else(|_| "?".to_owned());
                fail(
                    line,
                    format!(
                        "cannot render `Fn::ImportValue` {}: it is another stack's export, known only at deploy time; put the value in the template or a parameter",
                        tick(&export)
                    ),
                )
            }
            other => fail(
                line,
                format!(
                    "cannot render {}: its value is known only at deploy time, or the function is not one the guard renders",
                    tick(other)
                ),
            ),
        }
    }

    /// `Ref`: a parameter, a pseudo parameter, or a resource of the template.
    fn reference(&self, target: &str, line: usize) -> Rendered<Option<Node>> {
        let text = |s: String| Ok(Some(Node::new(line, Value::String(s))));
        let s = self.settings;
        match target {
            "AWS::AccountId" => return text(s.account.to_owned()),
            "AWS::Region" => return text(s.region.to_owned()),
            "AWS::Partition" => return text(s.partition.to_owned()),
            "AWS::URLSuffix" => return text(self.url_suffix().to_owned()),
            "AWS::StackName" => return text(s.stack_name.to_owned()),
            "AWS::StackId" => {
                return text(format!(
                    "arn:{}:cloudformation:{}:{}:stack/{}/00000000-0000-0000-0000-000000000000",
                    s.partition, s.region, s.account, s.stack_name
                ));
            }
            "AWS::NotificationARNs" => return Ok(Some(Node::new(line, Value::Seq(Vec::new())))),
            "AWS::NoValue" => return Ok(None),
            _ => {}
        }
        match self.params.get(target) {
            Some(Param::Text(value)) => return text(value.clone()),
            Some(Param::List(values)) => {
                return Ok(Some(Node::new(
                    line,
                    Value::Seq(
                        values
                            .iter()
                            .map(|v| Node::new(line, Value::String(v.clone())))
                            .collect(),
                    ),
                )));
            }
            Some(Param::Unknown(why)) => {
                return fail(line, format!("cannot render `Ref` {}: {why}", tick(target)));
            }
            None => {}
        }
        match self.resource(target) {
            Some(resource) => self.physical_name(target, resource, line).and_then(text),
            None => fail(
                line,
                format!(
                    "`Ref` {} names no parameter, pseudo parameter or resource of the template",
                    tick(target)
                ),
            ),
        }
    }

    /// What `Ref` returns for the resources a policy names: roles, users and repositories.
    fn physical_name(&self, id: &str, resource: &Node, line: usize) -> Rendered<String> {
        let type_name = resource.get("Type").and_then(Node::as_str).unwrap_or("");
        let property = match type_name {
            "AWS::IAM::Role" => "RoleName",
            "AWS::IAM::User" => "UserName",
            "AWS::ECR::Repository" => "RepositoryName",
            _ => {
                return fail(
                    line,
                    format!(
                        "cannot render `Ref` {} ({}): the guard renders only roles, users and repositories of the template",
                        tick(id),
                        tick(type_name)
                    ),
                );
            }
        };
        match resource.get("Properties").and_then(|p| p.get(property)) {
            Some(name) => self.string(name, 1, property),
            // CloudFormation generates `<stack>-<logical id>-<suffix>`; the guard leaves out the
            // random suffix (repository names are lowercase).
            None => {
                let mut name: String = format!("{}-{id}", self.settings.stack_name);
                name.truncate(64);
                if type_name == "AWS::ECR::Repository" {
                    name = name.to_ascii_lowercase();
                }
                Ok(name)
            }
        }
    }

    /// `Fn::GetAtt` of a role's or user's ARN, or a repository's ARN or URI.
    fn attribute(&self, id: &str, attribute: &str, line: usize) -> Rendered<String> {
        let s = self.settings;
        let resource = self.resource(id);
        let type_name = resource
            .and_then(|r| r.get("Type"))
            .and_then(Node::as_str)
            .unwrap_or("");
        let path = |resource: &Node| -> Rendered<String> {
            match resource.get("Properties").and_then(|p| p.get("Path")) {
                Some(path) => self.string(path, 1, "`Path`"),
                None => Ok("/".to_owned()),
            }
        };
        let iam_arn = |r: &Node, kind: &str| -> Rendered<String> {
            Ok(format!(
                "arn:{}:iam::{}:{kind}{}{}",
                s.partition,
                s.account,
                path(r)?,
                self.physical_name(id, r, line)?
            ))
        };
        match (resource, type_name, attribute) {
            (Some(r), "AWS::IAM::Role", "Arn") => iam_arn(r, "role"),
            (Some(r), "AWS::IAM::User", "Arn") => iam_arn(r, "user"),
            (Some(r), "AWS::ECR::Repository", "Arn") => Ok(format!(
                "arn:{}:ecr:{}:{}:repository/{}",
                s.partition,
                s.region,
                s.account,
                self.physical_name(id, r, line)?
            )),
            (Some(r), "AWS::ECR::Repository", "RepositoryUri") => Ok(format!(
                "{}.dkr.ecr.{}.{}/{}",
                s.account,
                s.region,
                self.url_suffix(),
                self.physical_name(id, r, line)?
            )),
            // SAM: a function without `Role` gets `<Function>Role`.
            (None, _, "Arn") if self.sam_function_role(id) => Ok(format!(
                "arn:{}:iam::{}:role/{}-{id}",
                s.partition, s.account, s.stack_name
            )),
            (None, _, _) => fail(
                line,
                format!(
                    "`Fn::GetAtt` {} names no resource of the template",
                    tick(&format!("{id}.{attribute}"))
                ),
            ),
            _ => fail(
                line,
                format!(
                    "cannot render `Fn::GetAtt` {} ({}): CloudFormation knows it only after deploy",
                    tick(&format!("{id}.{attribute}")),
                    tick(type_name)
                ),
            ),
        }
    }

    fn sam_function_role(&self, id: &str) -> bool {
        id.strip_suffix("Role")
            .and_then(|function| self.resource(function))
            .is_some_and(|f| {
                f.get("Type").and_then(Node::as_str) == Some("AWS::Serverless::Function")
                    && f.get("Properties").and_then(|p| p.get("Role")).is_none()
            })
    }

    /// `Fn::Sub`: `${Name}` (a variable of the mapping, a parameter, a pseudo parameter, a
    /// resource), `${Resource.Attribute}`, and `${!Literal}`.
    fn substitute(
        &self,
        template: &str,
        variables: Option<&Node>,
        line: usize,
        depth: usize,
    ) -> Rendered<String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return fail(
                    line,
                    format!("`Fn::Sub` has an unclosed `${{` in {}", tick(template)),
                );
            };
            let name = after[..end].trim();
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = variables.and_then(|v| v.get(name)) {
                out.push_str(&self.string(value, depth + 1, "a `Fn::Sub` variable")?);
            } else if let Some((id, attribute)) = name.split_once('.')
                && !name.starts_with("AWS::")
            {
                out.push_str(&self.attribute(id, attribute, line)?);
            } else {
                match self.reference(name, line)? {
                    Some(Node {
                        value: Value::String(s),
                        ..
                    }) => out.push_str(&s),
                    _ => {
                        return fail(
                            line,
                            format!("`Fn::Sub` variable {} is not a string", tick(name)),
                        );
                    }
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The value of a condition named by `node` (a `Condition` attribute, `Fn::If`'s first item).
    fn named_condition(&self, node: &Node) -> Rendered<bool> {
        let Some(name) = node.as_str() else {
            return fail(node.line, "a condition is named by a string");
        };
        self.condition(name, node.line)
    }

    fn condition(&self, name: &str, line: usize) -> Rendered<bool> {
        if let Some(known) = self.conditions.borrow().get(name) {
            return match known {
                Some(value) => Ok(*value),
                None => fail(line, format!("condition {} depends on itself", tick(name))),
            };
        }
        let Some(definition) = self.root.get("Conditions").and_then(|c| c.get(name)) else {
            return fail(line, format!("no condition {} in `Conditions`", tick(name)));
        };
        self.conditions.borrow_mut().insert(name.to_owned(), None);
        let value = self.condition_value(definition, 0)?;
        self.conditions
            .borrow_mut()
            .insert(name.to_owned(), Some(value));
        Ok(value)
    }

    /// A condition function: `Fn::Equals`, `Fn::And`, `Fn::Or`, `Fn::Not`, `Condition`.
    fn condition_value(&self, node: &Node, depth: usize) -> Rendered<bool> {
        let line = node.line;
        if depth > 64 {
            return fail(line, "conditions nested too deeply");
        }
        let Some([(function, argument)]) = node.as_map() else {
            return fail(
                line,
                "a condition must be `Fn::Equals`, `Fn::And`, `Fn::Or`, `Fn::Not` or `Condition`",
            );
        };
        let items = || match &argument.value {
            Value::Seq(items) => Ok(items.as_slice()),
            _ => fail(line, format!("`{function}` takes a list")),
        };
        match function.as_str() {
            "Condition" => self.named_condition(argument),
            "Fn::Equals" => match items()? {
                [a, b] => {
                    let a = self.value(a, depth + 1)?.to_json();
                    let b = self.value(b, depth + 1)?.to_json();
                    let text = |v: &serde_json::Value| match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    Ok(text(&a) == text(&b))
                }
                _ => fail(line, "`Fn::Equals` takes two values"),
            },
            "Fn::And" => {
                for item in items()? {
                    if !self.condition_value(item, depth + 1)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            "Fn::Or" => {
                for item in items()? {
                    if self.condition_value(item, depth + 1)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            "Fn::Not" => match items()? {
                [item] => Ok(!self.condition_value(item, depth + 1)?),
                _ => fail(line, "`Fn::Not` takes one condition"),
            },
            other => fail(line, format!("{} is not a condition function", tick(other))),
        }
    }
}

/// The rendered property of a resource, if it has it.
fn property(env: &Env, resource: &Node, name: &str) -> Rendered<Option<Node>> {
    match resource.get("Properties").and_then(|p| p.get(name)) {
        Some(value) => env.render(value, 0),
        None => Ok(None),
    }
}

fn located(node: &Node) -> Rendered<Located> {
    Located::from_node(node).map_err(|problem| RenderError {
        line: node.line,
        problem,
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
                Some(prefix) => env.string(&prefix, 0, "`Prefix`")?,
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
            })?
        }
    })
}

fn seq(node: Option<&Node>) -> &[Node] {
    match node.map(|n| &n.value) {
        Some(Value::Seq(items)) => items,
        _ => &[],
    }
}
