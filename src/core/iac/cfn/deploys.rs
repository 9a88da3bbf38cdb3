//! Which deploys of a template are judged. A resource's judged properties read parameters (and
//! `AWS::Region`) directly, through `Fn::FindInMap` keys, `Fn::Sub` in both forms, `Fn::Select`,
//! `Fn::Join`, conditions, and the names of the roles, users and repositories they reference;
//! every value such an input can take is a deploy: each of its `AllowedValues`, and for a
//! parameter without them each value the template compares it with or looks it up by, plus "any
//! other value" where a condition compares it (so the condition is judged true and false). The
//! reference graph is walked once, iteratively; a circle in it is refused as CloudFormation
//! refuses one.

use super::super::DEFAULT_REGION;
use super::super::tree::{Node, Value};
use super::template::Template;
use super::{Rendered, fail, scalar_text};
use crate::text::tick;
use std::collections::{BTreeSet, HashMap, HashSet};

/// More deploys of one resource than this are refused: fix some with `--parameter`.
pub const MAX_DEPLOYS: usize = 256;

/// Regions to stand for "any other region" where a condition compares `AWS::Region` with some:
/// the first not compared is judged.
const SOME_REGIONS: [&str; 6] = [
    "us-east-1",
    "eu-west-1",
    "ap-southeast-2",
    "sa-east-1",
    "ca-central-1",
    "af-south-1",
];

/// A parameter's value in one deploy.
#[derive(Debug, Clone, PartialEq)]
pub enum Given {
    Text(String),
    List(Vec<String>),
}

/// What a parameter is in one deploy.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// Given (`--parameter`, a stack set's values) or one of its `AllowedValues`.
    Known(Given),
    /// No `AllowedValues` and not given: direct uses take `value` (its `Default`, or the value
    /// this deploy probes) and are an assumption; conditions compare `probe` (`None`: a value the
    /// template names nowhere).
    Free {
        value: Option<Given>,
        probe: Option<String>,
    },
    /// Known only at deploy time (an SSM parameter type): why.
    Unknown(String),
}

/// One deploy: every parameter's value, the region, and what sets it apart.
#[derive(Debug, Clone)]
pub struct Deploy {
    pub params: Vec<Param>,
    pub region: String,
    /// Whether the region is known (given, or one this deploy enumerates): a registry policy's
    /// repository ARNs must then name it.
    pub region_known: bool,
    /// `AWS::AccountId`: given, one a mapping or condition names, or the stand-in for whichever
    /// account deploys.
    pub account: String,
    pub account_known: bool,
    /// The values that set this deploy apart (`None` when the resource has only one).
    pub when: Option<String>,
    /// The deploy of every input's first value (defaults first): what most deployments are.
    pub first: bool,
}

/// What the template's deploy values come from besides itself.
pub struct Inputs<'a> {
    /// Values given per parameter name (`--parameter`, a stack set's `Parameters` and overrides).
    pub given: &'a HashMap<String, Vec<String>>,
    /// The regions it deploys into, when known (`--region`, a stack set's `Regions`).
    pub regions: Option<&'a [String]>,
    /// The account it deploys into: known (`--account`), or a stand-in for whichever does.
    pub account: &'a str,
    pub account_known: bool,
}

/// A vertex of the reference graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vertex {
    /// A resource's judged properties and its `Condition`.
    Judged(usize),
    /// What a reference to a resource reads: its name and path.
    Name(usize),
    Condition(usize),
}

/// What one vertex reads directly.
#[derive(Debug, Default)]
struct Direct {
    inputs: Vec<usize>,
    edges: Vec<Vertex>,
}

/// Literal values an input is compared with or looked up by.
#[derive(Debug, Default)]
struct Notes {
    literals: BTreeSet<String>,
    /// A condition compares it: "any other value" is a deploy too.
    compared: bool,
}

/// The inputs each resource reads, and the literals each input meets; built once per template.
pub struct Analysis<'a, 't> {
    tpl: &'a Template<'t>,
    judged: &'a dyn Fn(&str) -> &'static [&'static str],
    direct: HashMap<Vertex, Direct>,
    closure: HashMap<Vertex, Vec<u64>>,
    notes: HashMap<usize, Notes>,
    /// Each parameter's candidate values (computed on first use).
    candidates: HashMap<usize, Vec<Param>>,
    /// The inputs after the parameters: `AWS::Region`, then `AWS::AccountId`.
    region: usize,
    account: usize,
}

/// The properties a reference to a resource reads: its physical name and IAM path.
const NAME_PROPERTIES: [&str; 4] = ["RoleName", "UserName", "RepositoryName", "Path"];

impl<'a, 't> Analysis<'a, 't> {
    /// `judged` names the properties judged for a resource type.
    pub fn new(tpl: &'a Template<'t>, judged: &'a dyn Fn(&str) -> &'static [&'static str]) -> Self {
        Analysis {
            tpl,
            judged,
            direct: HashMap::new(),
            closure: HashMap::new(),
            notes: HashMap::new(),
            candidates: HashMap::new(),
            region: tpl.parameters.len(),
            account: tpl.parameters.len() + 1,
        }
    }

    fn words(&self) -> usize {
        (self.account + 1).div_ceil(64)
    }

    /// The parameters (and region) a resource's judged properties read, in any way.
    fn inputs_of(&mut self, resource: usize) -> Rendered<Vec<usize>> {
        let bits = self.closure_of(Vertex::Judged(resource))?;
        Ok((0..=self.account)
            .filter(|i| bits[i / 64] & (1 << (i % 64)) != 0)
            .collect())
    }

    /// The inputs a vertex reads through any chain of references: an iterative depth-first walk
    /// (chains of tens of thousands of conditions do not reach the stack), each vertex once.
    fn closure_of(&mut self, start: Vertex) -> Rendered<Vec<u64>> {
        if let Some(bits) = self.closure.get(&start) {
            return Ok(bits.clone());
        }
        self.ensure_direct(start);
        let mut path: Vec<(Vertex, usize)> = vec![(start, 0)];
        let mut on_path: HashSet<Vertex> = HashSet::from([start]);
        while let Some(&(vertex, next)) = path.last() {
            let edge = self.direct[&vertex].edges.get(next).copied();
            match edge {
                Some(target) => {
                    if let Some(top) = path.last_mut() {
                        top.1 += 1;
                    }
                    if self.closure.contains_key(&target) {
                        continue;
                    }
                    if on_path.contains(&target) {
                        return Err(self.circle(&path, target));
                    }
                    self.ensure_direct(target);
                    on_path.insert(target);
                    path.push((target, 0));
                }
                None => {
                    let mut bits = vec![0u64; self.words()];
                    let direct = &self.direct[&vertex];
                    for &input in &direct.inputs {
                        bits[input / 64] |= 1 << (input % 64);
                    }
                    for target in &direct.edges {
                        if let Some(theirs) = self.closure.get(target) {
                            for (b, t) in bits.iter_mut().zip(theirs) {
                                *b |= t;
                            }
                        }
                    }
                    self.closure.insert(vertex, bits);
                    on_path.remove(&vertex);
                    path.pop();
                }
            }
        }
        Ok(self.closure.get(&start).cloned().unwrap_or_default())
    }

    fn circle(&self, path: &[(Vertex, usize)], back_to: Vertex) -> super::RenderError {
        let from = path.iter().position(|(v, _)| *v == back_to).unwrap_or(0);
        let mut names: Vec<String> = path[from..].iter().map(|(v, _)| self.name(*v)).collect();
        names.push(self.name(back_to));
        let line = self.line(back_to);
        super::RenderError {
            line,
            problem: format!(
                "circular reference: {}; CloudFormation refuses resources or conditions that depend on each other in a circle",
                names.join(" → ")
            ),
            not_deployable: false,
        }
    }

    fn name(&self, vertex: Vertex) -> String {
        match vertex {
            Vertex::Judged(i) | Vertex::Name(i) => tick(self.tpl.resources[i].0),
            Vertex::Condition(i) => format!("condition {}", tick(self.tpl.conditions[i].0)),
        }
    }

    fn line(&self, vertex: Vertex) -> usize {
        match vertex {
            Vertex::Judged(i) | Vertex::Name(i) => self.tpl.resources[i].1.line,
            Vertex::Condition(i) => self.tpl.conditions[i].1.line,
        }
    }

    fn ensure_direct(&mut self, vertex: Vertex) {
        if self.direct.contains_key(&vertex) {
            return;
        }
        let mut direct = Direct::default();
        let tpl = self.tpl;
        match vertex {
            Vertex::Judged(i) => {
                let resource = tpl.resources[i].1;
                if let Some(name) = resource.get("Condition").and_then(Node::as_str)
                    && let Some(c) = tpl.condition_index(name)
                {
                    direct.edges.push(Vertex::Condition(c));
                }
                let type_name = resource.get("Type").and_then(Node::as_str).unwrap_or("");
                for property in (self.judged)(type_name) {
                    if let Some(value) = resource.get("Properties").and_then(|p| p.get(property)) {
                        self.walk(value, &mut direct);
                    }
                }
            }
            Vertex::Name(i) => {
                let resource = tpl.resources[i].1;
                for property in NAME_PROPERTIES {
                    if let Some(value) = resource.get("Properties").and_then(|p| p.get(property)) {
                        self.walk(value, &mut direct);
                    }
                }
            }
            Vertex::Condition(i) => self.walk(tpl.conditions[i].1, &mut direct),
        }
        self.direct.insert(vertex, direct);
    }

    /// A name a `Ref` or `${...}` reads: an input, or an edge to a resource's name.
    fn read_name(&mut self, name: &str, out: &mut Direct) {
        if let Some(i) = self.tpl.parameter_index(name) {
            out.inputs.push(i);
        } else if name == "AWS::Region" {
            out.inputs.push(self.region);
        } else if name == "AWS::AccountId" {
            out.inputs.push(self.account);
        } else if let Some(i) = self.tpl.resource_index(name) {
            out.edges.push(Vertex::Name(i));
        }
    }

    fn read_condition(&mut self, name: &str, out: &mut Direct) {
        if let Some(c) = self.tpl.condition_index(name) {
            out.edges.push(Vertex::Condition(c));
        }
    }

    /// The input a `{"Ref": name}` node reads, if that is what it is.
    fn ref_input(&self, node: &Node) -> Option<usize> {
        let name = node.get("Ref")?.as_str()?;
        if node.as_map()?.len() != 1 {
            return None;
        }
        match name {
            "AWS::Region" => Some(self.region),
            "AWS::AccountId" => Some(self.account),
            _ => self.tpl.parameter_index(name),
        }
    }

    /// Everything a value reads directly (its subtree is as deep as the reader allows, 128).
    fn walk(&mut self, node: &Node, out: &mut Direct) {
        match &node.value {
            Value::Map(members) => {
                if let [(key, argument)] = members.as_slice() {
                    self.intrinsic(key, argument, out);
                }
                for (_, value) in members {
                    self.walk(value, out);
                }
            }
            Value::Seq(items) => {
                for item in items {
                    self.walk(item, out);
                }
            }
            _ => {}
        }
    }

    fn intrinsic(&mut self, key: &str, argument: &Node, out: &mut Direct) {
        let items = match &argument.value {
            Value::Seq(items) => items.as_slice(),
            _ => &[],
        };
        match key {
            "Ref" => {
                if let Some(name) = argument.as_str() {
                    self.read_name(name, out);
                }
            }
            "Condition" => {
                if let Some(name) = argument.as_str() {
                    self.read_condition(name, out);
                }
            }
            "Fn::If" => {
                if let Some(name) = items.first().and_then(Node::as_str) {
                    self.read_condition(name, out);
                }
            }
            "Fn::GetAtt" => {
                if let Some(id) = items.first().and_then(Node::as_str) {
                    self.read_name(id, out);
                }
            }
            "Fn::Sub" => {
                let (template, variables) = match &argument.value {
                    Value::String(s) => (Some(s.as_str()), None),
                    _ => (items.first().and_then(Node::as_str), items.get(1)),
                };
                for name in sub_names(template.unwrap_or_default()) {
                    if variables.is_some_and(|v| v.get(name).is_some()) {
                        continue;
                    }
                    let id = name.split_once('.').map_or(name, |(id, _)| id);
                    self.read_name(if name.starts_with("AWS::") { name } else { id }, out);
                }
            }
            "Fn::FindInMap" => {
                let mapping = items
                    .first()
                    .and_then(Node::as_str)
                    .and_then(|m| self.tpl.mapping(m));
                if let Some(mapping) = mapping {
                    if let Some(input) = items.get(1).and_then(|k| self.ref_input(k)) {
                        let keys = mapping
                            .as_map()
                            .unwrap_or_default()
                            .iter()
                            .map(|(k, _)| k.clone());
                        self.notes.entry(input).or_default().literals.extend(keys);
                    }
                    if let Some(input) = items.get(2).and_then(|k| self.ref_input(k)) {
                        let keys: Vec<String> = mapping
                            .as_map()
                            .unwrap_or_default()
                            .iter()
                            .flat_map(|(_, level)| level.as_map().unwrap_or_default().iter())
                            .map(|(k, _)| k.clone())
                            .collect();
                        self.notes.entry(input).or_default().literals.extend(keys);
                    }
                }
            }
            "Fn::Equals" => {
                if let [a, b] = items {
                    for (this, other) in [(a, b), (b, a)] {
                        let Some(input) = self.ref_input(this) else {
                            continue;
                        };
                        let notes = self.notes.entry(input).or_default();
                        notes.compared = true;
                        if matches!(
                            other.value,
                            Value::String(_) | Value::Number(_) | Value::Bool(_)
                        ) {
                            notes.literals.insert(scalar_text(other));
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Every deploy of a resource that matters to its judged properties.
    pub fn deploys(&mut self, resource: usize, inputs: &Inputs) -> Rendered<Vec<Deploy>> {
        let reads = self.inputs_of(resource)?;
        let mut params = Vec::with_capacity(self.region);
        let mut varying: Vec<(usize, Vec<Param>)> = Vec::new();
        for index in 0..self.region {
            let candidates = self.candidates(index, inputs)?;
            params.push(candidates[0].clone());
            if candidates.len() > 1 && reads.contains(&index) {
                varying.push((index, candidates));
            }
        }
        let regions = self.regions(reads.contains(&self.region), inputs);
        let accounts = self.accounts(reads.contains(&self.account), inputs);
        let count = varying
            .iter()
            .map(|(_, c)| c.len())
            .chain([regions.0.len(), accounts.0.len()])
            .try_fold(1usize, |n, k| n.checked_mul(k))
            .unwrap_or(usize::MAX);
        let line = self.tpl.resources[resource].1.line;
        if count > MAX_DEPLOYS {
            return fail(
                line,
                format!(
                    "its policy depends on {count} combinations of parameter values (at most {MAX_DEPLOYS} are judged); fix some with `--parameter KEY=VALUE`"
                ),
            );
        }
        let (region_values, region_known) = regions;
        let (account_values, account_known) = accounts;
        let mut out = vec![Deploy {
            params,
            region: region_values[0].clone(),
            region_known,
            account: account_values[0].clone(),
            account_known,
            when: None,
            first: true,
        }];
        for (index, candidates) in &varying {
            let name = self.tpl.parameters[*index].0;
            out = spread(&out, candidates, |deploy, candidate, i| {
                deploy.params[*index] = candidate.clone();
                deploy.first &= i == 0;
                add_when(&mut deploy.when, &param_when(name, candidate));
            });
        }
        if region_values.len() > 1 {
            out = spread(&out, &region_values, |deploy, region, i| {
                deploy.region = region.clone();
                deploy.first &= i == 0;
                add_when(
                    &mut deploy.when,
                    &format!("`AWS::Region` = {}", tick(region)),
                );
            });
        }
        if account_values.len() > 1 {
            let stand_in = inputs.account;
            out = spread(&out, &account_values, |deploy, account, i| {
                deploy.account = account.clone();
                // The stand-in is "any other account": no known account.
                deploy.account_known = account != stand_in;
                deploy.first &= i == 0;
                let shown = match account == stand_in {
                    true => "any other account".to_owned(),
                    false => tick(account),
                };
                add_when(&mut deploy.when, &format!("`AWS::AccountId` = {shown}"));
            });
        }
        Ok(out)
    }

    /// The accounts a resource is judged in: the given one; else, where a mapping or condition
    /// names accounts, each of them (and any other where a condition compares it); else the
    /// stand-in for whichever account deploys.
    fn accounts(&self, reads_account: bool, inputs: &Inputs) -> (Vec<String>, bool) {
        let stand_in = || (vec![inputs.account.to_owned()], inputs.account_known);
        if inputs.account_known {
            return stand_in();
        }
        match self.notes.get(&self.account).filter(|_| reads_account) {
            Some(notes) if !notes.literals.is_empty() => {
                let mut accounts: Vec<String> = Vec::new();
                if notes.compared {
                    accounts.push(inputs.account.to_owned());
                }
                accounts.extend(notes.literals.iter().cloned());
                (accounts, true)
            }
            _ => stand_in(),
        }
    }

    /// The regions a resource is judged in, and whether they are known.
    fn regions(&self, reads_region: bool, inputs: &Inputs) -> (Vec<String>, bool) {
        if let Some(given) = inputs.regions.filter(|r| !r.is_empty()) {
            let mut regions: Vec<String> = Vec::new();
            for r in given {
                if !regions.contains(r) {
                    regions.push(r.clone());
                }
            }
            return (regions, true);
        }
        let notes = self.notes.get(&self.region).filter(|_| reads_region);
        match notes {
            Some(notes) if !notes.literals.is_empty() => {
                let mut regions: Vec<String> = notes.literals.iter().cloned().collect();
                if let Some(i) = regions.iter().position(|r| r == DEFAULT_REGION) {
                    let default = regions.remove(i);
                    regions.insert(0, default);
                }
                if notes.compared
                    && let Some(other) = SOME_REGIONS.iter().find(|r| !notes.literals.contains(**r))
                {
                    regions.push((*other).to_owned());
                }
                (regions, true)
            }
            _ => (vec![DEFAULT_REGION.to_owned()], false),
        }
    }

    /// The values a parameter can take in a deploy, its default (or given value) first.
    fn candidates(&mut self, index: usize, inputs: &Inputs) -> Rendered<Vec<Param>> {
        if let Some(known) = self.candidates.get(&index) {
            return Ok(known.clone());
        }
        let (name, declaration) = self.tpl.parameters[index];
        let type_name = declaration
            .get("Type")
            .and_then(Node::as_str)
            .unwrap_or("String");
        let is_list = type_name == "CommaDelimitedList" || type_name.starts_with("List<");
        let given = |text: &str| -> Given {
            match is_list {
                true => Given::List(text.split(',').map(|s| s.trim().to_owned()).collect()),
                false => Given::Text(text.to_owned()),
            }
        };
        let allowed: Option<Vec<String>> = match declaration.get("AllowedValues").map(|a| &a.value)
        {
            Some(Value::Seq(items)) => Some(items.iter().map(scalar_text).collect()),
            _ => None,
        };
        let default = declaration.get("Default").map(scalar_text);
        let ssm = type_name.starts_with("AWS::SSM::Parameter::Value<");
        let out = if let Some(values) = inputs.given.get(name) {
            let mut out = Vec::new();
            for value in values {
                if let Some(allowed) = &allowed
                    && !is_list
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
                push_new(&mut out, Param::Known(given(value)));
            }
            out
        } else if ssm {
            vec![Param::Unknown(match &default {
                Some(value) => format!(
                    "parameter {} is read from the SSM parameter {} at deploy time; pass `--parameter {name}=VALUE`",
                    tick(name),
                    tick(value)
                ),
                None => no_default(name),
            })]
        } else if let Some(allowed) = allowed.filter(|a| !a.is_empty()) {
            let mut out = Vec::new();
            if let Some(default) = &default {
                push_new(&mut out, Param::Known(given(default)));
            }
            if is_list {
                // Each item must be allowed: the whole list, and each item alone.
                push_new(&mut out, Param::Known(Given::List(allowed.clone())));
                for value in &allowed {
                    push_new(&mut out, Param::Known(Given::List(vec![value.clone()])));
                }
            } else {
                for value in &allowed {
                    push_new(&mut out, Param::Known(given(value)));
                }
            }
            out
        } else {
            let notes = self.notes.get(&index);
            let mut probes: Vec<Option<String>> = Vec::new();
            if let Some(default) = &default {
                probes.push(Some(default.clone()));
            }
            for literal in notes.map(|n| &n.literals).into_iter().flatten() {
                if !probes.contains(&Some(literal.clone())) {
                    probes.push(Some(literal.clone()));
                }
            }
            if notes.is_some_and(|n| n.compared) || probes.is_empty() {
                probes.push(None);
            }
            probes
                .into_iter()
                .map(|probe| Param::Free {
                    value: probe.as_deref().or(default.as_deref()).map(given),
                    probe,
                })
                .collect()
        };
        self.candidates.insert(index, out.clone());
        Ok(out)
    }
}

/// Why a parameter without a value cannot be rendered.
pub fn no_default(name: &str) -> String {
    format!(
        "parameter {} has no `Default`; pass `--parameter {name}=VALUE`",
        tick(name)
    )
}

fn push_new(out: &mut Vec<Param>, param: Param) {
    if !out.contains(&param) {
        out.push(param);
    }
}

/// Each deploy once per value, the first value first.
fn spread<T>(
    deploys: &[Deploy],
    values: &[T],
    mut set: impl FnMut(&mut Deploy, &T, usize),
) -> Vec<Deploy> {
    let mut out = Vec::with_capacity(deploys.len() * values.len());
    for deploy in deploys {
        for (i, value) in values.iter().enumerate() {
            let mut next = deploy.clone();
            set(&mut next, value, i);
            out.push(next);
        }
    }
    out
}

fn add_when(when: &mut Option<String>, part: &str) {
    match when {
        Some(w) => {
            w.push_str(" and ");
            w.push_str(part);
        }
        None => *when = Some(part.to_owned()),
    }
}

fn param_when(name: &str, param: &Param) -> String {
    let shown = match param {
        Param::Known(Given::Text(v)) => tick(v),
        Param::Known(Given::List(v)) => tick(&v.join(",")),
        Param::Free { probe: Some(v), .. } => tick(v),
        Param::Free { probe: None, .. } => "any other value".to_owned(),
        Param::Unknown(_) => "its deploy-time value".to_owned(),
    };
    format!("{} = {shown}", tick(name))
}

/// The names `${...}` reads in a `Fn::Sub` template (`${!Literal}` reads nothing).
pub fn sub_names(template: &str) -> impl Iterator<Item = &str> {
    template.split("${").skip(1).filter_map(|part| {
        let (name, _) = part.split_once('}')?;
        let name = name.trim();
        (!name.starts_with('!') && !name.is_empty()).then_some(name)
    })
}
