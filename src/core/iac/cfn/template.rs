//! A template's sections indexed by name, checked for what CloudFormation itself refuses before
//! anything is rendered: unknown sections, macros the guard cannot run, intrinsic functions in
//! `Mappings`, more parameters than CloudFormation allows.

use super::super::tree::{Node, Value};
use super::{Rendered, SECTIONS, fail};
use crate::text::tick;
use std::collections::HashMap;

/// CloudFormation's quota on the parameters of one template ("CloudFormation quotas": 200).
pub const MAX_PARAMETERS: usize = 200;

/// The transforms the guard renders as CloudFormation does: SAM's resources keep their ECR
/// properties as written, and the language extensions add only functions the renderer knows
/// (`Fn::Length`, `Fn::ToJsonString`, `Fn::FindInMap` with a default). Any other macro rewrites
/// the template before it is deployed, so what would be deployed cannot be read from it.
const KNOWN_TRANSFORMS: [&str; 2] = ["AWS::Serverless-2016-10-31", "AWS::LanguageExtensions"];

/// A template's sections, each indexed by logical name: a template of tens of thousands of
/// resources is looked up in constant time per reference.
pub struct Template<'t> {
    /// Resources in document order.
    pub resources: Vec<(&'t str, &'t Node)>,
    resource_index: HashMap<&'t str, usize>,
    /// Declared parameters in document order.
    pub parameters: Vec<(&'t str, &'t Node)>,
    parameter_index: HashMap<&'t str, usize>,
    pub conditions: Vec<(&'t str, &'t Node)>,
    condition_index: HashMap<&'t str, usize>,
    mappings: HashMap<&'t str, &'t Node>,
}

impl<'t> Template<'t> {
    /// Indexes a template, refusing what CloudFormation refuses or what the guard cannot see
    /// through (a macro, `Fn::Transform`, `Fn::ForEach`).
    pub fn read(root: &'t Node) -> Rendered<Template<'t>> {
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
        if let Some(transform) = root.get("Transform") {
            check_transform(transform)?;
        }
        let Some(resources) = root.get("Resources").and_then(Node::as_map) else {
            return fail(root.line, "a template needs a `Resources` mapping");
        };
        let named = |node: Option<&'t Node>| -> Vec<(&'t str, &'t Node)> {
            node.and_then(Node::as_map)
                .unwrap_or_default()
                .iter()
                .map(|(k, v)| (k.as_str(), v))
                .collect()
        };
        let resources: Vec<(&str, &Node)> =
            resources.iter().map(|(k, v)| (k.as_str(), v)).collect();
        if let Some((id, node)) = resources
            .iter()
            .find(|(id, _)| id.starts_with("Fn::ForEach"))
        {
            return fail(
                node.line,
                format!(
                    "{} expands into resources the guard does not render (`AWS::LanguageExtensions`); judge the processed template instead",
                    tick(id)
                ),
            );
        }
        let parameters = named(root.get("Parameters"));
        if parameters.len() > MAX_PARAMETERS {
            return fail(
                root.get("Parameters").map_or(root.line, |p| p.line),
                format!(
                    "the template declares {} parameters; CloudFormation allows at most {MAX_PARAMETERS}",
                    parameters.len()
                ),
            );
        }
        let mappings = root
            .get("Mappings")
            .and_then(Node::as_map)
            .unwrap_or_default();
        for (_, mapping) in mappings {
            literal_mapping(mapping)?;
        }
        let conditions = named(root.get("Conditions"));
        find_transform(root)?;
        let index = |items: &[(&'t str, &'t Node)]| -> HashMap<&'t str, usize> {
            items
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (*k, i))
                .collect()
        };
        Ok(Template {
            resource_index: index(&resources),
            parameter_index: index(&parameters),
            condition_index: index(&conditions),
            resources,
            parameters,
            conditions,
            mappings: mappings.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        })
    }

    pub fn resource(&self, id: &str) -> Option<&'t Node> {
        self.resource_index.get(id).map(|&i| self.resources[i].1)
    }

    pub fn resource_index(&self, id: &str) -> Option<usize> {
        self.resource_index.get(id).copied()
    }

    pub fn parameter_index(&self, name: &str) -> Option<usize> {
        self.parameter_index.get(name).copied()
    }

    pub fn condition_index(&self, name: &str) -> Option<usize> {
        self.condition_index.get(name).copied()
    }

    pub fn mapping(&self, name: &str) -> Option<&'t Node> {
        self.mappings.get(name).copied()
    }
}

/// `Transform`: one name or a list; only the transforms the guard renders as CloudFormation does.
fn check_transform(transform: &Node) -> Rendered<()> {
    let names: Vec<&Node> = match &transform.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![transform],
    };
    for name in names {
        match name.as_str() {
            Some(known) if KNOWN_TRANSFORMS.contains(&known) => {}
            Some(macro_name) => {
                return fail(
                    name.line,
                    format!(
                        "`Transform` {} is a macro the guard cannot run: it rewrites the template before deploy; judge the processed template (`aws cloudformation get-template --template-stage Processed`) instead",
                        tick(macro_name)
                    ),
                );
            }
            None => {
                return fail(
                    name.line,
                    "`Transform` with parameters (`AWS::Include` or a macro) rewrites the template before deploy; judge the processed template instead",
                );
            }
        }
    }
    Ok(())
}

/// `Fn::Transform` anywhere: a macro (or `AWS::Include`) that replaces part of the template at
/// deploy time, so nothing near it can be judged from the file.
fn find_transform(root: &Node) -> Rendered<()> {
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        match &node.value {
            Value::Map(members) => {
                for (key, value) in members {
                    if key == "Fn::Transform" {
                        return fail(
                            node.line,
                            "`Fn::Transform` runs a macro (or `AWS::Include`) that replaces part of the template at deploy time; judge the processed template instead",
                        );
                    }
                    stack.push(value);
                }
            }
            Value::Seq(items) => stack.extend(items.iter()),
            _ => {}
        }
    }
    Ok(())
}

/// A mapping is literal data: CloudFormation refuses parameters, pseudo parameters and intrinsic
/// functions in `Mappings` ("Mappings syntax": "You can't include parameters, pseudo parameters,
/// or intrinsic functions in the Mappings section").
fn literal_mapping(mapping: &Node) -> Rendered<()> {
    let mut stack = vec![mapping];
    while let Some(node) = stack.pop() {
        match &node.value {
            Value::Map(members) => {
                if let [(key, _)] = members.as_slice()
                    && (key == "Ref" || key == "Condition" || key.starts_with("Fn::"))
                {
                    return fail(
                        node.line,
                        format!(
                            "`Mappings` hold literal values only; CloudFormation refuses {} in them",
                            tick(key)
                        ),
                    );
                }
                stack.extend(members.iter().map(|(_, v)| v));
            }
            Value::Seq(items) => stack.extend(items.iter()),
            _ => {}
        }
    }
    Ok(())
}
