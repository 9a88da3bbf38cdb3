//! One deploy's view of a template: values rendered as CloudFormation renders them. Every
//! recursion (nested functions, chains of conditions, names that reference names) shares one
//! depth bound, names and conditions are evaluated once per deploy, and everything rendered is
//! charged to the file's budget, so that no template renders into more than a bounded multiple of
//! its own size.

use super::super::tree::{Node, Value};
use super::deploys::{Deploy, Given, Param, no_default};
use super::template::Template;
use super::{RenderError, Rendered, fail};
use crate::text::tick;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Deeper than this, rendering stops with an error: functions nested in functions, conditions
/// naming conditions and names referencing names all count.
pub const MAX_RENDER_DEPTH: usize = 128;

/// What a rendered node costs beyond its text: its share of the tree.
const NODE_COST: usize = 16;

/// The deployment every deploy of a file shares.
pub struct Deployment<'a> {
    pub partition: &'a str,
    pub stack_name: &'a str,
    /// What is left of the file's rendering budget.
    pub budget: &'a Cell<usize>,
}

/// One deploy's view of the template.
pub struct Env<'a, 't> {
    pub tpl: &'a Template<'t>,
    pub deploy: &'a Deploy,
    pub deployment: &'a Deployment<'a>,
    /// Conditions already evaluated (`None` while being evaluated: a circle).
    conditions: RefCell<HashMap<usize, Option<bool>>>,
    /// Physical names already rendered (`None` while being rendered: a circle).
    names: RefCell<HashMap<usize, Option<String>>>,
    depth: Cell<usize>,
    /// Evaluating a condition: a free parameter is compared by its probe, not its value.
    in_condition: Cell<bool>,
    /// Free parameters whose value reached the rendering, with the values used.
    assumed: RefCell<BTreeMap<usize, BTreeSet<String>>>,
}

/// Leaves the depth as it was when dropped.
struct Deeper<'e>(&'e Cell<usize>);

impl Drop for Deeper<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

impl<'a, 't> Env<'a, 't> {
    pub fn new(tpl: &'a Template<'t>, deploy: &'a Deploy, deployment: &'a Deployment<'a>) -> Self {
        Env {
            tpl,
            deploy,
            deployment,
            conditions: RefCell::new(HashMap::new()),
            names: RefCell::new(HashMap::new()),
            depth: Cell::new(0),
            in_condition: Cell::new(false),
            assumed: RefCell::new(BTreeMap::new()),
        }
    }

    /// The free parameters whose value reached what was rendered, with the values used.
    pub fn assumed(&self) -> BTreeMap<usize, BTreeSet<String>> {
        self.assumed.borrow().clone()
    }

    fn deeper(&self, line: usize, what: &str) -> Rendered<Deeper<'_>> {
        let depth = self.depth.get() + 1;
        if depth > MAX_RENDER_DEPTH {
            return fail(line, format!("{what} nested too deeply"));
        }
        self.depth.set(depth);
        Ok(Deeper(&self.depth))
    }

    fn charge(&self, cost: usize, line: usize) -> Rendered<()> {
        let left = self.deployment.budget.get();
        match left.checked_sub(cost) {
            Some(left) => {
                self.deployment.budget.set(left);
                Ok(())
            }
            None => fail(
                line,
                "rendering the template grows past the guard's bound (a value copied into itself many times, such as a long parameter joined thousands of times); simplify it",
            ),
        }
    }

    fn text(&self, s: String, line: usize) -> Rendered<Option<Node>> {
        self.charge(s.len() + NODE_COST, line)?;
        Ok(Some(Node::new(line, Value::String(s))))
    }

    fn url_suffix(&self) -> &'static str {
        if self.deployment.partition == "aws-cn" {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        }
    }

    /// A node as CloudFormation renders it; `None` for `AWS::NoValue` (the key or item goes).
    pub fn render(&self, node: &Node) -> Rendered<Option<Node>> {
        let line = node.line;
        let _deeper = self.deeper(line, "intrinsic functions")?;
        match &node.value {
            Value::Map(members) => {
                if let [(key, argument)] = members.as_slice()
                    && (key == "Ref" || key.starts_with("Fn::"))
                {
                    return self.intrinsic(key, argument, line);
                }
                self.charge(NODE_COST, line)?;
                let mut out = Vec::with_capacity(members.len());
                for (key, value) in members {
                    if let Some(value) = self.render(value)? {
                        self.charge(key.len(), line)?;
                        out.push((key.clone(), value));
                    }
                }
                Ok(Some(Node {
                    line,
                    literal: node.literal,
                    value: Value::Map(out),
                }))
            }
            Value::Seq(items) => {
                self.charge(NODE_COST, line)?;
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(item) = self.render(item)? {
                        out.push(item);
                    }
                }
                Ok(Some(Node {
                    line,
                    literal: node.literal,
                    value: Value::Seq(out),
                }))
            }
            Value::String(s) => {
                self.charge(s.len() + NODE_COST, line)?;
                Ok(Some(node.clone()))
            }
            _ => {
                self.charge(NODE_COST, line)?;
                Ok(Some(node.clone()))
            }
        }
    }

    /// A node that must render to something (not `AWS::NoValue`).
    pub fn value(&self, node: &Node) -> Rendered<Node> {
        match self.render(node)? {
            Some(value) => Ok(value),
            None => fail(node.line, "`AWS::NoValue` where a value is needed"),
        }
    }

    pub fn string(&self, node: &Node, what: &str) -> Rendered<String> {
        let value = self.value(node)?;
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

    fn list(&self, node: &Node, what: &str) -> Rendered<Vec<Node>> {
        let value = self.value(node)?;
        match value.value {
            Value::Seq(items) => Ok(items),
            _ => fail(
                node.line,
                format!("{what} must be a list, found {}", value.kind()),
            ),
        }
    }

    fn intrinsic(&self, name: &str, argument: &Node, line: usize) -> Rendered<Option<Node>> {
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
                let resource = self.string(resource, "a `Fn::GetAtt` resource")?;
                let attribute = self.string(attribute, "a `Fn::GetAtt` attribute")?;
                let arn = self.attribute(&resource, &attribute, line)?;
                self.text(arn, line)
            }
            "Fn::Sub" => {
                let (template, variables) = match &argument.value {
                    Value::String(s) => (s.clone(), None),
                    Value::Seq(items) if items.len() == 2 => (
                        self.string(&items[0], "a `Fn::Sub` template")?,
                        Some(&items[1]),
                    ),
                    _ => return fail(line, "`Fn::Sub` takes a string, or a string and a mapping"),
                };
                let out = self.substitute(&template, variables, line)?;
                self.charge(out.len() + NODE_COST, line)?;
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
                let delimiter = self.string(delimiter, "a `Fn::Join` delimiter")?;
                let mut parts = Vec::new();
                for item in self.list(items, "the `Fn::Join` list")? {
                    parts.push(self.string(&item, "a `Fn::Join` item")?);
                }
                self.text(parts.join(&delimiter), line)
            }
            "Fn::Select" => {
                let [index, items] = args(2)? else {
                    return fail(line, "`Fn::Select` takes an index and a list");
                };
                let index = self.string(index, "a `Fn::Select` index")?;
                let items = self.list(items, "the `Fn::Select` list")?;
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
                let delimiter = self.string(delimiter, "a `Fn::Split` delimiter")?;
                let source = self.string(source, "the `Fn::Split` string")?;
                if delimiter.is_empty() {
                    return fail(line, "`Fn::Split` needs a delimiter that is not empty");
                }
                let mut items = Vec::new();
                for part in source.split(delimiter.as_str()) {
                    self.charge(part.len() + NODE_COST, line)?;
                    items.push(Node::new(line, Value::String(part.to_owned())));
                }
                Ok(Some(Node::new(line, Value::Seq(items))))
            }
            "Fn::If" => {
                let [condition, yes, no] = args(3)? else {
                    return fail(line, "`Fn::If` takes a condition and two values");
                };
                if self.named_condition(condition)? {
                    self.render(yes)
                } else {
                    self.render(no)
                }
            }
            "Fn::FindInMap" => self.find_in_map(argument, line),
            "Fn::ToJsonString" => {
                let value = self.value(argument)?;
                self.text(value.to_json().to_string(), line)
            }
            "Fn::Length" => {
                let items = self.list(argument, "the `Fn::Length` list")?;
                Ok(Some(Node::new(line, Value::Number(items.len().into()))))
            }
            "Fn::ImportValue" => {
                let export = self
                    .string(argument, "the export name")
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

    /// `Fn::FindInMap`: a map, two keys, and (with `AWS::LanguageExtensions`) a default. A key
    /// the map lacks fails the deploy: for any deploy but the first that is no deploy at all.
    fn find_in_map(&self, argument: &Node, line: usize) -> Rendered<Option<Node>> {
        let items = match &argument.value {
            Value::Seq(items) if items.len() == 3 || items.len() == 4 => items,
            _ => return fail(line, "`Fn::FindInMap` takes a map and two keys"),
        };
        let mut keys = Vec::with_capacity(3);
        for key in &items[..3] {
            keys.push(self.string(key, "a `Fn::FindInMap` key")?);
        }
        let found = self
            .tpl
            .mapping(&keys[0])
            .and_then(|m| m.get(&keys[1]))
            .and_then(|m| m.get(&keys[2]));
        if let Some(value) = found {
            return self.render(value);
        }
        if let Some(default) = items.get(3).and_then(|d| d.get("DefaultValue")) {
            return self.render(default);
        }
        Err(RenderError {
            line,
            problem: format!(
                "`Fn::FindInMap` finds nothing at {} / {} / {}",
                tick(&keys[0]),
                tick(&keys[1]),
                tick(&keys[2])
            ),
            not_deployable: !self.deploy.first,
        })
    }

    /// `Ref`: a parameter, a pseudo parameter, or a resource of the template.
    fn reference(&self, target: &str, line: usize) -> Rendered<Option<Node>> {
        let d = self.deployment;
        let region = self.deploy.region.as_str();
        match target {
            "AWS::AccountId" => return self.text(self.deploy.account.clone(), line),
            "AWS::Region" => return self.text(region.to_owned(), line),
            "AWS::Partition" => return self.text(d.partition.to_owned(), line),
            "AWS::URLSuffix" => return self.text(self.url_suffix().to_owned(), line),
            "AWS::StackName" => return self.text(d.stack_name.to_owned(), line),
            "AWS::StackId" => {
                return self.text(
                    format!(
                        "arn:{}:cloudformation:{region}:{}:stack/{}/00000000-0000-0000-0000-000000000000",
                        d.partition, self.deploy.account, d.stack_name
                    ),
                    line,
                );
            }
            "AWS::NotificationARNs" => return Ok(Some(Node::new(line, Value::Seq(Vec::new())))),
            "AWS::NoValue" => return Ok(None),
            _ => {}
        }
        if let Some(index) = self.tpl.parameter_index(target) {
            return self.parameter(index, target, line);
        }
        match self.tpl.resource_index(target) {
            Some(index) => {
                let name = self.physical_name(index, line)?;
                self.text(name, line)
            }
            None => fail(
                line,
                format!(
                    "`Ref` {} names no parameter, pseudo parameter or resource of the template",
                    tick(target)
                ),
            ),
        }
    }

    fn parameter(&self, index: usize, name: &str, line: usize) -> Rendered<Option<Node>> {
        let given = |g: &Given| -> Rendered<Option<Node>> {
            match g {
                Given::Text(value) => self.text(value.clone(), line),
                Given::List(values) => {
                    let mut items = Vec::with_capacity(values.len());
                    for v in values {
                        self.charge(v.len() + NODE_COST, line)?;
                        items.push(Node::new(line, Value::String(v.clone())));
                    }
                    Ok(Some(Node::new(line, Value::Seq(items))))
                }
            }
        };
        match &self.deploy.params[index] {
            Param::Known(g) => given(g),
            Param::Free { probe, .. } if self.in_condition.get() => {
                let probe = probe
                    .clone()
                    .unwrap_or_else(|| format!("\u{0}any other value of {name}"));
                self.text(probe, line)
            }
            Param::Free { value: Some(g), .. } => {
                let shown = match g {
                    Given::Text(v) => v.clone(),
                    Given::List(v) => v.join(","),
                };
                self.assumed
                    .borrow_mut()
                    .entry(index)
                    .or_default()
                    .insert(shown);
                given(g)
            }
            Param::Free { value: None, .. } => fail(
                line,
                format!("cannot render `Ref` {}: {}", tick(name), no_default(name)),
            ),
            Param::Unknown(why) => fail(line, format!("cannot render `Ref` {}: {why}", tick(name))),
        }
    }

    /// What `Ref` returns for the resources a policy names: roles, users and repositories;
    /// rendered once per deploy.
    fn physical_name(&self, index: usize, line: usize) -> Rendered<String> {
        let known = self.names.borrow().get(&index).cloned();
        match known {
            Some(Some(name)) => return Ok(name),
            Some(None) => {
                return fail(
                    line,
                    format!(
                        "the name of {} depends on itself",
                        tick(self.tpl.resources[index].0)
                    ),
                );
            }
            None => {}
        }
        let _deeper = self.deeper(line, "references")?;
        self.names.borrow_mut().insert(index, None);
        let name = self.render_name(index, line)?;
        self.names.borrow_mut().insert(index, Some(name.clone()));
        Ok(name)
    }

    fn render_name(&self, index: usize, line: usize) -> Rendered<String> {
        let (id, resource) = self.tpl.resources[index];
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
            Some(name) => self.string(name, property),
            // CloudFormation generates `<stack>-<logical id>-<suffix>`; the guard leaves out the
            // random suffix (repository names are lowercase).
            None => {
                let mut name: String = format!("{}-{id}", self.deployment.stack_name);
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
        let d = self.deployment;
        let region = &self.deploy.region;
        let account = &self.deploy.account;
        let index = self.tpl.resource_index(id);
        let resource = index.map(|i| self.tpl.resources[i].1);
        let type_name = resource
            .and_then(|r| r.get("Type"))
            .and_then(Node::as_str)
            .unwrap_or("");
        let path = |resource: &Node| -> Rendered<String> {
            match resource.get("Properties").and_then(|p| p.get("Path")) {
                Some(path) => self.string(path, "`Path`"),
                None => Ok("/".to_owned()),
            }
        };
        let name = |i: usize| self.physical_name(i, line);
        match (resource.zip(index), type_name, attribute) {
            (Some((r, i)), "AWS::IAM::Role", "Arn") => Ok(format!(
                "arn:{}:iam::{account}:role{}{}",
                d.partition,
                path(r)?,
                name(i)?
            )),
            (Some((r, i)), "AWS::IAM::User", "Arn") => Ok(format!(
                "arn:{}:iam::{account}:user{}{}",
                d.partition,
                path(r)?,
                name(i)?
            )),
            (Some((_, i)), "AWS::ECR::Repository", "Arn") => Ok(format!(
                "arn:{}:ecr:{region}:{account}:repository/{}",
                d.partition,
                name(i)?
            )),
            (Some((_, i)), "AWS::ECR::Repository", "RepositoryUri") => Ok(format!(
                "{account}.dkr.ecr.{region}.{}/{}",
                self.url_suffix(),
                name(i)?
            )),
            // SAM: a function without `Role` gets `<Function>Role`.
            (None, _, "Arn") if self.sam_function_role(id) => Ok(format!(
                "arn:{}:iam::{account}:role/{}-{id}",
                d.partition, d.stack_name
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
            .and_then(|function| self.tpl.resource(function))
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
            } else {
                let value = if let Some(value) = variables.and_then(|v| v.get(name)) {
                    self.string(value, "a `Fn::Sub` variable")?
                } else if let Some((id, attribute)) = name.split_once('.')
                    && !name.starts_with("AWS::")
                {
                    self.attribute(id, attribute, line)?
                } else {
                    match self.reference(name, line)? {
                        Some(Node {
                            value: Value::String(s),
                            ..
                        }) => s,
                        _ => {
                            return fail(
                                line,
                                format!("`Fn::Sub` variable {} is not a string", tick(name)),
                            );
                        }
                    }
                };
                // Each copy is charged: a long value substituted many times is an expansion.
                self.charge(value.len(), line)?;
                out.push_str(&value);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The value of a condition named by `node` (a `Condition` attribute, `Fn::If`'s first item).
    pub fn named_condition(&self, node: &Node) -> Rendered<bool> {
        let Some(name) = node.as_str() else {
            return fail(node.line, "a condition is named by a string");
        };
        let Some(index) = self.tpl.condition_index(name) else {
            return fail(
                node.line,
                format!("no condition {} in `Conditions`", tick(name)),
            );
        };
        let known = self.conditions.borrow().get(&index).copied();
        match known {
            Some(Some(value)) => return Ok(value),
            Some(None) => {
                return fail(
                    node.line,
                    format!("condition {} depends on itself", tick(name)),
                );
            }
            None => {}
        }
        let _deeper = self.deeper(node.line, "conditions")?;
        self.conditions.borrow_mut().insert(index, None);
        let outer = self.in_condition.replace(true);
        let value = self.condition_value(self.tpl.conditions[index].1);
        self.in_condition.set(outer);
        let value = value?;
        self.conditions.borrow_mut().insert(index, Some(value));
        Ok(value)
    }

    /// A condition function: `Fn::Equals`, `Fn::And`, `Fn::Or`, `Fn::Not`, `Condition`.
    fn condition_value(&self, node: &Node) -> Rendered<bool> {
        let line = node.line;
        let _deeper = self.deeper(line, "conditions")?;
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
                    let a = self.value(a)?.to_json();
                    let b = self.value(b)?.to_json();
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
                    if !self.condition_value(item)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            "Fn::Or" => {
                for item in items()? {
                    if self.condition_value(item)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            "Fn::Not" => match items()? {
                [item] => Ok(!self.condition_value(item)?),
                _ => fail(line, "`Fn::Not` takes one condition"),
            },
            other => fail(line, format!("{} is not a condition function", tick(other))),
        }
    }
}
