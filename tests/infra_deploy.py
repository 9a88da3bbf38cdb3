"""Deployability check of the templates in infra/, against moto server (the local AWS emulator).

cfn-lint validates the templates' grammar but misses dependency cycles that only appear once
the SAM transform has run (cfn-lint 1.58.0 misses the one that made template.yaml undeployable),
so this script translates each template with AWS's own SAM translator for every combination of
the parameter values that drive its Conditions, checks each translated template's resource graph
with its own code, creates each one as a stack on moto's CloudFormation and reads the result
back from moto's services.

    python3 tests/infra_deploy.py graph infra/template.yaml [--param K=V]...
        Offline (no endpoint, no moto server): the dependency graph of every combination.
    python3 tests/infra_deploy.py [--endpoint http://127.0.0.1:PORT] deploy [TEMPLATE]...
        Every combination of each template (default: template.yaml, stackset.yaml, trail.yaml,
        hub.yaml, spoke.yaml)
        created on moto server; without --endpoint a moto_server is started on a free port
        for the run (for use by hand) and stopped afterwards.
    python3 tests/infra_deploy.py translate infra/template.yaml [--param K=V]...
        The translated template of one combination (parameters default), for reading.

Each command prints one JSON document on stdout. A failed check (a cycle, a reference to a
resource that a combination leaves out, a stack that did not reach CREATE_COMPLETE, a read-back
that does not hold) still prints the document, then one line on stderr, and exits 1; an error
that prevents the check prints only the line on stderr and exits 1.

A combination is one assignment of the parameters the Conditions read (every AllowedValue, the
default, the literals the Conditions compare with, a sample value), one per distinct truth table
of the Conditions. In a cycle "A -> B" means A refers to B (Ref, Fn::GetAtt, Fn::Sub, DependsOn)
so B must exist first; references are taken after Conditions and Fn::If are resolved.

graph:  {"template", "sam", "ok", "combinations": [{"label", "parameters", "conditions",
         "graph": {"acyclic", "cycles": ["A -> B -> A"], "unresolved": [...], "resources": [...],
         "edges"}}]}
deploy: {"endpoint", "standalone", "region", "account", "run", "packages", "central_topic_arn",
         "events": [sample files], "templates": {"template.yaml": {"template", "sam", "prepared",
         "combinations": [{"label", "parameters", "conditions", "graph",
           "stack": {"name", "status", "reasons"}, "outputs": {key: value},
           "resources": {logical id: {"type", "physical_id", "status"}},
           "skipped_by_moto": {type: [logical ids]},
           "function": {"name", "arn", "role", "runtime", "handler", "architectures",
                        "reserved_concurrency", "environment"},
           "iam": {"role_arn", "inline_policies": [{"policy", "statements": [{"sid", "effect",
                   "actions", "resources"}]}], "managed_policies", "actions"},
           "rules": [{"logical_id", "name", "arn", "state", "schedule", "pattern", "targets"}],
           "events": {sample file: matched by the pattern rule},
           "topic_arn", "topic": {"arn", "exists", "account", "kms_master_key_id"}, "alarm_topic",
           "keys": {logical id: {"key_id", "statements"}}, "queues": {output: {"url", "arn",
           "exists"}}}]}, ...},
         "checked_by_cfn_lint_only": {type: ["template.yaml:LogicalId", ...]}, "moto_gaps",
         "trail_yaml_matches_template", "ok", "failures"}

Needs Python 3.11 with boto3, aws-sam-translator, cfn-lint (its template decoder) and moto
(its EventBridge pattern matcher, and moto_server for the standalone mode). Only a loopback
endpoint is accepted, with the dummy credentials test/test: nothing here reaches real AWS.
"""

import argparse
import ast
import collections
import copy
import glob
import io
import itertools
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INFRA = os.path.join(ROOT, "infra")
EVENTS = os.path.join(ROOT, "events")
DEFAULT_TEMPLATES = ["template.yaml", "stackset.yaml", "trail.yaml", "hub.yaml", "spoke.yaml"]
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
# moto's one account; the central alert topic lives in another account, as in a real rollout.
ACCOUNT = "123456789012"
CENTRAL_ACCOUNT = "210987654321"
CENTRAL_TOPIC = "ecr-policy-guard-alerts"
ARTIFACT_KEY = "ecr-policy-guard/bootstrap.zip"
# Templates that name their resources (the hub's bus, the spoke's roles and rule: one stack per
# account and region in real life): each combination's stack is deleted once read back, so that
# the next combination, in the same moto account, can create the same names.
FIXED_NAMES = {"hub.yaml", "spoke.yaml"}

# Values for parameters that have no default or that drive a Condition and need a non-default
# value to flip it. "{region}" is replaced by the region of the run.
SAMPLE_VALUES = {
    "CentralAlertTopicArn": f"arn:aws:sns:{{region}}:{CENTRAL_ACCOUNT}:{CENTRAL_TOPIC}",
    "AlertEmail": "security-alerts@example.com",
    "ReservedConcurrency": "5",
    # hub.yaml and spoke.yaml: the organization, and (for the spoke) the hub in the security
    # account; a listed account flips the hub's ListOrganization condition.
    "OrganizationId": "o-a1b2c3d4e5",
    "ScanAccounts": "222222222222",
    "HubRoleArn": f"arn:aws:iam::{CENTRAL_ACCOUNT}:role/ecr-policy-guard-hub",
    "HubEventBusArn": f"arn:aws:events:{{region}}:{CENTRAL_ACCOUNT}:event-bus/ecr-policy-guard",
    "RoleRegion": "{region}",
}

PSEUDO = {"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition", "AWS::Region",
          "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}


# What a stack on moto does not show, beside the resource types it skips.
MOTO_GAPS = [
    "IAM policies, KMS key policies and SNS topic policies are stored, not enforced: that the role"
    " may publish to the encrypted topic is read from the policies, not exercised",
    "AWS::IAM::Role ManagedPolicyArns are not attached (AWSLambdaBasicExecutionRole is not read back)",
    "the function's code is a placeholder zip and is never invoked; retries, dead-letter and"
    " on-failure delivery are read back as configured, not exercised",
    "a Statement list item that is AWS::NoValue is kept as null (CloudFormation drops it)",
]


class TemplateError(Exception):
    """A template the checks cannot follow (e.g. an Fn::If naming no condition)."""


# --- Templates -----------------------------------------------------------------------------------


def template_path(name):
    """A template named as in infra/ (template.yaml) or by a path."""
    if os.path.exists(name):
        return name
    candidate = os.path.join(INFRA, name)
    if os.path.exists(candidate):
        return candidate
    raise SystemExit(f"error: no template {name} (neither a path nor a file in infra/)")


def load_template(path):
    """A template as plain JSON data, read with cfn-lint's decoder (it knows the short forms)."""
    from cfnlint.decode import decode

    template, errors = decode(path)
    if errors:
        raise SystemExit(f"error: cannot read {path}: {errors[0]}")
    return json.loads(json.dumps(template))


def is_sam(template):
    transform = template.get("Transform", [])
    return SAM_TRANSFORM in (transform if isinstance(transform, list) else [transform])


class NoManagedPolicies:
    """The SAM translator's loader of AWS managed policy names: the templates use none by name
    (ARNs only), so nothing is looked up."""

    def load(self):
        return {}


def translate(template, parameters, code_uri):
    """The SAM template as plain CloudFormation, with every function's CodeUri set to an s3://
    URI as `sam package` leaves it."""
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(template)
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = code_uri
    try:
        return transform(template, dict(parameters), NoManagedPolicies())
    except InvalidDocumentException as e:
        causes = "; ".join(str(c) for c in e.causes) or str(e)
        raise SystemExit(f"error: the SAM translator rejects the template: {causes}")


# --- Conditions and combinations -----------------------------------------------------------------


def literal(value):
    """How CloudFormation compares a value: as a string (YAML's true is "true")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(literal(v) for v in value)
    return str(value)


def parameter_values(template, given, region, stack_name="stack"):
    """Every parameter's value (given, else its default) plus the pseudo parameters."""
    values = {}
    for name, spec in template.get("Parameters", {}).items():
        if name in given:
            values[name] = literal(given[name])
        elif "Default" in spec:
            values[name] = literal(spec["Default"])
    values.update({"AWS::Region": region, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                   "AWS::StackName": stack_name, "AWS::URLSuffix": "amazonaws.com"})
    return values


def evaluate_conditions(template, values):
    definitions = template.get("Conditions", {})
    results = {}

    def value(node):
        if isinstance(node, dict) and list(node) == ["Ref"]:
            if node["Ref"] not in values:
                raise SystemExit(f"error: a condition refers to `{node['Ref']}`, which has no value")
            return values[node["Ref"]]
        if isinstance(node, dict):
            raise SystemExit(f"error: unsupported function in a condition: {json.dumps(node)}")
        return literal(node)

    def evaluate(node):
        (function, arguments), = node.items()
        if function == "Fn::Equals":
            return value(arguments[0]) == value(arguments[1])
        if function == "Fn::Not":
            return not evaluate(arguments[0])
        if function == "Fn::And":
            return all(evaluate(a) for a in arguments)
        if function == "Fn::Or":
            return any(evaluate(a) for a in arguments)
        if function == "Condition":
            return condition(arguments)
        raise SystemExit(f"error: unsupported function in a condition: {function}")

    def condition(name):
        if name not in results:
            results[name] = evaluate(definitions[name])
        return results[name]

    return {name: condition(name) for name in definitions}


def condition_drivers(template):
    """The parameters the Conditions read, each with the literals it is compared with."""
    drivers = {}

    def walk(node):
        if isinstance(node, dict):
            if list(node) == ["Fn::Equals"]:
                a, b = node["Fn::Equals"]
                for ref, other in ((a, b), (b, a)):
                    if isinstance(ref, dict) and list(ref) == ["Ref"] and not isinstance(other, dict):
                        drivers.setdefault(ref["Ref"], []).append(literal(other))
            if list(node) == ["Ref"]:
                drivers.setdefault(node["Ref"], [])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(template.get("Conditions", {}))
    return {p: lits for p, lits in drivers.items() if p in template.get("Parameters", {})}


def combinations(template, fixed, region):
    """One parameter assignment per distinct truth table of the Conditions, defaults first.
    `fixed` holds values the caller chose (those parameters are not varied)."""
    parameters = template.get("Parameters", {})
    drivers = condition_drivers(template)
    names = sorted(p for p in drivers if p not in fixed)
    candidates = []
    for name in names:
        spec = parameters[name]
        if "AllowedValues" in spec:
            options = [literal(v) for v in spec["AllowedValues"]]
            if "Default" in spec:
                options.sort(key=lambda v: v != literal(spec["Default"]))
        else:
            options = []
            if "Default" in spec:
                options.append(literal(spec["Default"]))
            options += drivers[name]
            if name in SAMPLE_VALUES:
                options.append(SAMPLE_VALUES[name].format(region=region))
            if len(set(options)) < 2:
                # Something other than what the Conditions compare with.
                options.append("1" if spec.get("Type") == "Number" else "sample-value")
        candidates.append(list(dict.fromkeys(options)))
    seen = {}
    for choice in itertools.product(*candidates):
        given = dict(fixed)
        given.update(zip(names, choice))
        conditions = evaluate_conditions(template, parameter_values(template, given, region))
        key = tuple(sorted(conditions.items()))
        if key not in seen:
            varied = {n: v for n, v in zip(names, choice)
                      if "Default" not in parameters[n] or v != literal(parameters[n]["Default"])}
            seen[key] = {"label": ", ".join(f"{n}={v!r}" for n, v in varied.items()) or "defaults",
                         "parameters": given, "conditions": conditions}
    return list(seen.values())


# --- The dependency graph ------------------------------------------------------------------------


NO_VALUE = object()


def resolve(node, conditions):
    """The template data as CloudFormation sees it for one combination: each Fn::If replaced by
    its chosen branch, AWS::NoValue dropped."""
    if isinstance(node, dict):
        if list(node) == ["Fn::If"]:
            name, if_true, if_false = node["Fn::If"]
            if name not in conditions:
                raise TemplateError(f"Fn::If names an unknown condition `{name}`")
            return resolve(if_true if conditions[name] else if_false, conditions)
        if node == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        out = {}
        for k, v in node.items():
            v = resolve(v, conditions)
            if v is not NO_VALUE:
                out[k] = v
        return out
    if isinstance(node, list):
        return [v for v in (resolve(v, conditions) for v in node) if v is not NO_VALUE]
    return node


SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def references(node, found):
    """Every logical name that Ref, Fn::GetAtt and Fn::Sub (`${X}`, `${X.Attr}`) mention."""
    if isinstance(node, dict):
        if len(node) == 1:
            (function, arguments), = node.items()
            if function == "Ref" and isinstance(arguments, str):
                found.add(arguments)
                return
            if function == "Fn::GetAtt":
                if isinstance(arguments, str):
                    found.add(arguments.split(".", 1)[0])
                else:
                    found.add(arguments[0])
                    references(arguments[1:], found)
                return
            if function == "Fn::Sub":
                text, local = (arguments, {}) if isinstance(arguments, str) else arguments
                for match in SUB_VARIABLE.finditer(text):
                    name = match.group(1).strip()
                    if name.startswith("!") or name in local:
                        continue
                    found.add(name.split(".", 1)[0])
                references(local, found)
                return
        for v in node.values():
            references(v, found)
    elif isinstance(node, list):
        for v in node:
            references(v, found)


def dependency_graph(template, conditions):
    """{resource: set of resources it depends on} of one combination, and the references that
    name no parameter and no resource of that combination."""
    resources = {name: body for name, body in template.get("Resources", {}).items()
                 if "Condition" not in body or conditions.get(body["Condition"], False)}
    parameters = set(template.get("Parameters", {}))
    graph, unresolved = {}, []

    def targets(where, node):
        found = set()
        references(resolve(node, conditions), found)
        for name in sorted(found):
            if name not in resources and name not in parameters and name not in PSEUDO:
                unresolved.append(f"{where} refers to `{name}`, which this combination does not create")
        return {name for name in found if name in resources}

    for name, body in resources.items():
        deps = targets(name, {k: v for k, v in body.items()
                              if k not in ("Type", "Condition", "DependsOn", "DeletionPolicy",
                                           "UpdateReplacePolicy")})
        depends_on = body.get("DependsOn", [])
        for target in [depends_on] if isinstance(depends_on, str) else depends_on:
            if target in resources:
                deps.add(target)
            else:
                unresolved.append(f"{name} DependsOn `{target}`, which this combination does not create")
        graph[name] = deps
    for name, output in template.get("Outputs", {}).items():
        if "Condition" not in output or conditions.get(output["Condition"], False):
            targets(f"output {name}", output)
    return graph, unresolved


def find_cycles(graph):
    """One cycle, in dependency order and closed (A -> B -> A), per strongly connected group of
    resources that depend on each other; none for an acyclic graph."""
    index, low, on_stack, stack, groups, counter = {}, {}, set(), [], [], [0]

    def connect(v):  # Tarjan's algorithm, iteratively
        work = [(v, iter(sorted(graph[v])))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        group.add(w)
                        if w == node:
                            break
                    if len(group) > 1 or node in graph[node]:
                        groups.append(group)
            elif child not in index:
                index[child] = low[child] = counter[0]
                counter[0] += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])

    for v in sorted(graph):
        if v not in index:
            connect(v)

    cycles = []
    for group in sorted(groups, key=min):
        start = min(group)
        if start in graph[start]:
            cycles.append([start, start])
            continue
        # The shortest way from the start back to it inside the group (breadth first).
        previous, queue, end = {start: None}, collections.deque([start]), None
        while queue:
            node = queue.popleft()
            if start in graph[node] and node != start:
                end = node
                break
            for child in sorted(graph[node] & group):
                if child not in previous:
                    previous[child] = node
                    queue.append(child)
        path = [end]
        while previous[path[-1]] is not None:
            path.append(previous[path[-1]])
        cycles.append(list(reversed(path)) + [start])
    return cycles


def check_graph(template, conditions):
    graph, unresolved = dependency_graph(template, conditions)
    cycles = find_cycles(graph)
    return {
        "acyclic": not cycles,
        "cycles": [" -> ".join(c) for c in cycles],
        "unresolved": unresolved,
        "resources": sorted(graph),
        "edges": sum(len(d) for d in graph.values()),
    }


def graph_failures(label, result):
    return ([f"cycle ({label}): {c}" for c in result["cycles"]]
            + [f"unresolved reference ({label}): {u}" for u in result["unresolved"]])


def translated_combinations(path, fixed, region, code_uri):
    """[(combination, plain CloudFormation template)] for every combination of a template."""
    source = load_template(path)
    out = []
    for combo in combinations(source, fixed, region):
        given = combo["parameters"]
        plain = translate(source, parameter_values(source, given, region), code_uri) if is_sam(source) else source
        # The translator keeps Conditions; evaluate them on the translated template (SAM may add
        # its own).
        combo["conditions"] = evaluate_conditions(plain, parameter_values(plain, given, region))
        out.append((combo, plain))
    return source, out


def command_graph(args):
    path = template_path(args.template)
    fixed = dict(args.param)
    os.environ.setdefault("AWS_DEFAULT_REGION", args.region)
    source, combos = translated_combinations(path, fixed, args.region, "s3://ecr-policy-guard-code/bootstrap.zip")
    document = {"template": os.path.relpath(path, ROOT), "sam": is_sam(source), "combinations": []}
    failures = []
    for combo, plain in combos:
        result = check_graph(plain, combo["conditions"])
        failures += graph_failures(combo["label"], result)
        document["combinations"].append({**combo, "graph": result})
    document["ok"] = not failures
    return document, failures


def command_translate(args):
    path = template_path(args.template)
    os.environ.setdefault("AWS_DEFAULT_REGION", args.region)
    source = load_template(path)
    if not is_sam(source):
        return source, []
    values = parameter_values(source, dict(args.param), args.region)
    return translate(source, values, "s3://ecr-policy-guard-code/bootstrap.zip"), []


# --- moto server ---------------------------------------------------------------------------------


def loopback(endpoint):
    host = urllib.parse.urlparse(endpoint).hostname or ""
    if host != "localhost" and not host.startswith("127.") and host != "::1":
        raise SystemExit(f"error: {endpoint} is not a loopback address; this script only talks to a local moto server")
    return endpoint.rstrip("/")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto():
    """A moto_server on a free port: (endpoint, process)."""
    sibling = os.path.join(os.path.dirname(sys.executable), "moto_server")
    program = sibling if os.access(sibling, os.X_OK) else shutil.which("moto_server")
    if not program:
        raise SystemExit("error: moto_server is not installed (pip install 'moto[server]==5.2.5'), or pass --endpoint")
    port = free_port()
    process = subprocess.Popen([program, "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"error: moto_server exited with status {process.returncode}")
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            return endpoint, process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("error: moto_server did not answer within 30 s")


class Aws:
    """boto3 clients bound to the moto endpoint with the dummy credentials."""

    def __init__(self, endpoint, region, credentials=None):
        import boto3

        self.endpoint, self.region = endpoint, region
        self.credentials = credentials or {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
        self.session = boto3.session.Session(region_name=region, **self.credentials)
        self.clients = {}

    def __call__(self, service):
        if service not in self.clients:
            self.clients[service] = self.session.client(service, endpoint_url=self.endpoint)
        return self.clients[service]

    def in_account(self, account):
        """Clients acting in another account (moto keys resources by the assumed role's account)."""
        creds = self("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/infra-deploy-check",
                                        RoleSessionName="infra-deploy")["Credentials"]
        return Aws(self.endpoint, self.region, {"aws_access_key_id": creds["AccessKeyId"],
                                                "aws_secret_access_key": creds["SecretAccessKey"],
                                                "aws_session_token": creds["SessionToken"]})


def bootstrap_zip():
    """A small Lambda zip: moto stores the code and never runs it here."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        z.writestr(info, "#!/bin/sh\necho 'placeholder for the ecr-policy-guard binary'\n")
    return buffer.getvalue()


def put_object(aws, bucket, key, body):
    s3 = aws("s3")
    if aws.region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": aws.region})
    s3.put_object(Bucket=bucket, Key=key, Body=body)


# --- Creating and reading back one stack ---------------------------------------------------------


def wait_for_stack(aws, name, timeout=120):
    cfn = aws("cloudformation")
    deadline = time.monotonic() + timeout
    while True:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            return stack
        time.sleep(0.5)


def delete_stack(aws, name):
    """Deletes a stack; its final status (moto forgets a deleted stack's name at once)."""
    aws("cloudformation").delete_stack(StackName=name)
    try:
        return wait_for_stack(aws, name)["StackStatus"]
    except Exception as e:  # noqa: BLE001 - botocore's ClientError, without importing botocore
        if "does not exist" in str(e):
            return "DELETE_COMPLETE"
        raise


def failure_reasons(aws, name):
    events = aws("cloudformation").describe_stack_events(StackName=name)["StackEvents"]
    return [f"{e['LogicalResourceId']} ({e['ResourceType']}): {e.get('ResourceStatusReason', e['ResourceStatus'])}"
            for e in events if e["ResourceStatus"].endswith("FAILED")]


def stack_resources(aws, name):
    out = {}
    for page in aws("cloudformation").get_paginator("list_stack_resources").paginate(StackName=name):
        for r in page["StackResourceSummaries"]:
            if not r["LogicalResourceId"]:
                continue  # moto lists each resource it skipped as a nameless entry
            out[r["LogicalResourceId"]] = {"type": r["ResourceType"], "physical_id": r.get("PhysicalResourceId"),
                                           "status": r["ResourceStatus"]}
    return out


def as_list(value):
    return value if isinstance(value, list) else [value]


def policy_document(document):
    """A policy document as boto3 returns it from moto: a dict, JSON text, or (moto 5.2.5, for a
    role's Policies created by CloudFormation) the Python repr of a dict."""
    if isinstance(document, dict):
        return document
    text = urllib.parse.unquote(document)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return ast.literal_eval(text)


def read_role(aws, role_arn):
    iam = aws("iam")
    name = role_arn.rsplit("/", 1)[-1]
    inline = []
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        document = policy_document(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])
        inline.append({"policy": policy, "statements": [
            {"sid": s.get("Sid"), "effect": s.get("Effect"), "actions": as_list(s.get("Action", [])),
             "resources": as_list(s.get("Resource", []))} for s in as_list(document.get("Statement", []))]})
    managed = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]]
    actions = sorted({a for p in inline for s in p["statements"] if s["effect"] == "Allow" for a in s["actions"]})
    return {"role_arn": role_arn, "inline_policies": inline, "managed_policies": managed, "actions": actions}


def read_topic(aws, arn):
    """The topic's attributes, read in the topic's own account."""
    if not arn:
        return None
    account = arn.split(":")[4]
    client = (aws if account == ACCOUNT else aws.in_account(account))("sns")
    try:
        attributes = client.get_topic_attributes(TopicArn=arn)["Attributes"]
    except client.exceptions.NotFoundException:
        return {"arn": arn, "exists": False}
    return {"arn": arn, "exists": True, "account": account, "kms_master_key_id": attributes.get("KmsMasterKeyId")}


def read_keys(aws, resources):
    """Each KMS key's policy statements: {logical id: {"key_id", "statements"}}."""
    kms = aws("kms")
    out = {}
    for logical, r in sorted(resources.items()):
        if r["type"] != "AWS::KMS::Key":
            continue
        document = policy_document(kms.get_key_policy(KeyId=r["physical_id"], PolicyName="default")["Policy"])
        out[logical] = {"key_id": r["physical_id"], "statements": [
            {"sid": st.get("Sid"), "effect": st.get("Effect"),
             "principals": {kind: as_list(v) for kind, v in (st.get("Principal") or {}).items()}
             if isinstance(st.get("Principal"), dict) else st.get("Principal"),
             "actions": as_list(st.get("Action", []))}
            # moto keeps an AWS::NoValue list item as null where CloudFormation drops it.
            for st in as_list(document.get("Statement", [])) if st is not None]}
    return out


def key_grants(keys, key_id, kind, principal):
    """Whether the key (by id or ARN) lets the principal use it for publishing."""
    for key in keys.values():
        if key["key_id"] != key_id and not str(key_id).endswith("/" + key["key_id"]):
            continue
        for st in key["statements"]:
            if (st["effect"] == "Allow" and isinstance(st["principals"], dict)
                    and principal in st["principals"].get(kind, [])
                    and {"kms:GenerateDataKey", "kms:Decrypt"} <= set(st["actions"])):
                return True
    return False


def sample_events():
    out = {}
    for path in sorted(glob.glob(os.path.join(EVENTS, "*.json"))):
        with open(path) as f:
            out[os.path.basename(path)] = json.load(f)
    return out


def read_rules(aws, resources, events):
    from moto.events.models import EventPattern

    client = aws("events")
    rules = []
    for logical, r in sorted(resources.items()):
        if r["type"] != "AWS::Events::Rule":
            continue
        # A rule on a custom bus: CloudFormation's physical id is "<bus>|<rule>", moto's only
        # the rule's name, so the buses are tried in turn.
        bus, _, name = r["physical_id"].rpartition("|")
        buses = [bus] if bus else [b["Name"] for b in client.list_event_buses()["EventBuses"]]
        for candidate in sorted(buses, key=lambda b: b != "default"):
            try:
                rule = client.describe_rule(Name=name, EventBusName=candidate)
                break
            except client.exceptions.ResourceNotFoundException:
                continue
        else:
            raise TemplateError(f"rule {logical} ({name}) is on no event bus")
        where = {"EventBusName": rule.get("EventBusName", "default")}
        targets = client.list_targets_by_rule(Rule=name, **where)["Targets"]
        entry = {"logical_id": logical, "name": rule["Name"], "arn": rule["Arn"], "state": rule.get("State"),
                 "event_bus": rule.get("EventBusName"),
                 "schedule": rule.get("ScheduleExpression"), "pattern": None,
                 "targets": [{"id": t["Id"], "arn": t["Arn"], "role_arn": t.get("RoleArn"),
                              "dead_letter_arn": t.get("DeadLetterConfig", {}).get("Arn"),
                              "retry_policy": t.get("RetryPolicy")} for t in targets]}
        if rule.get("EventPattern"):
            entry["pattern"] = json.loads(rule["EventPattern"])
            # moto's implementation of EventBridge matching (its TestEventPattern is a stub).
            matcher = EventPattern.load(rule["EventPattern"])
            entry["matches"] = {name: bool(matcher.matches_event(event)) for name, event in events.items()}
        rules.append(entry)
    return rules


def moto_skipped(active, created):
    """Resources of the combination that moto's CloudFormation did not create (types it does not
    emulate): {type: [logical ids]}."""
    out = {}
    for name, body in sorted(active.items()):
        if name not in created:
            out.setdefault(body["Type"], []).append(name)
    return out


def deploy_one(aws, stack_name, combo, plain, declared, events):
    """Creates one combination's stack and reads it back. Returns (report, failures)."""
    label = combo["label"]
    result = {"label": label, "parameters": combo["parameters"], "conditions": combo["conditions"]}
    graph = check_graph(plain, combo["conditions"])
    result["graph"] = graph
    failures = graph_failures(label, graph)
    if failures:
        # moto's CloudFormation recurses on a cycle until it fails with HTTP 500: not created.
        result["stack"] = {"name": stack_name, "status": "NOT_CREATED", "reasons": failures}
        return result, failures
    cfn = aws("cloudformation")
    parameters = [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(combo["parameters"].items())
                  if k in declared]
    try:
        cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(plain), Parameters=parameters,
                         Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"])
    except Exception as e:  # noqa: BLE001 - moto answers some templates with HTTP 500
        reason = " ".join(f"{type(e).__name__}: {e}".split())[:500]
        result["stack"] = {"name": stack_name, "status": "CREATE_REQUEST_FAILED", "reasons": [reason]}
        return result, [f"stack ({label}) CREATE_REQUEST_FAILED: {reason}"]
    stack = wait_for_stack(aws, stack_name)
    status = stack["StackStatus"]
    result["stack"] = {"name": stack_name, "status": status, "reasons": []}
    if status != "CREATE_COMPLETE":
        result["stack"]["reasons"] = failure_reasons(aws, stack_name) or [stack.get("StackStatusReason", status)]
        return result, [f"stack ({label}) {status}: {'; '.join(result['stack']['reasons'])}"]

    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    resources = stack_resources(aws, stack_name)
    active = {name: body for name, body in plain.get("Resources", {}).items()
              if "Condition" not in body or combo["conditions"].get(body["Condition"], False)}
    result.update({"outputs": outputs, "resources": resources, "skipped_by_moto": moto_skipped(active, resources)})

    declared_functions = [n for n, body in active.items() if body["Type"] == "AWS::Lambda::Function"]
    if not declared_functions:
        # No guard (trail.yaml, spoke.yaml): its roles and rules, if any, are read back.
        result["roles"] = {name: read_role(aws, aws("iam").get_role(RoleName=r["physical_id"].rsplit("/", 1)[-1])["Role"]["Arn"])
                           for name, r in resources.items() if r["type"] == "AWS::IAM::Role"}
        rules = read_rules(aws, resources, events)
        result["rules"] = rules
        pattern_rules = [r for r in rules if r["pattern"] is not None]
        if len(pattern_rules) == 1:
            result["events"] = pattern_rules[0].pop("matches")
        return result, failures
    functions = [r for r in resources.values() if r["type"] == "AWS::Lambda::Function"]
    if len(functions) != 1:
        return result, failures + [f"({label}) expected one function, found {len(functions)}"]
    lam = aws("lambda")
    config = lam.get_function(FunctionName=functions[0]["physical_id"])["Configuration"]
    concurrency = lam.get_function_concurrency(FunctionName=config["FunctionName"])
    result["function"] = {
        "name": config["FunctionName"], "arn": config["FunctionArn"], "role": config["Role"],
        "runtime": config.get("Runtime"), "handler": config.get("Handler"),
        "architectures": config.get("Architectures"),
        "reserved_concurrency": concurrency.get("ReservedConcurrentExecutions"),
        "environment": config.get("Environment", {}).get("Variables", {}),
    }
    result["iam"] = read_role(aws, config["Role"])
    rules = read_rules(aws, resources, events)
    result["rules"] = rules
    pattern_rules = [r for r in rules if r["pattern"] is not None]
    if len(pattern_rules) == 1:
        result["events"] = pattern_rules[0].pop("matches")
    else:
        failures.append(f"({label}) expected one event-pattern rule, found {len(pattern_rules)}")
    for rule in rules:
        if config["FunctionArn"] not in [t["arn"] for t in rule["targets"]]:
            failures.append(f"({label}) rule {rule['logical_id']} does not target the function")

    topic_arn = outputs.get("AlertTopicArn") or config.get("Environment", {}).get("Variables", {}).get(
        "GUARD_ALERT_TOPIC_ARN")
    result["topic_arn"] = topic_arn
    result["topic"] = read_topic(aws, topic_arn)
    if outputs.get("AlarmTopicArn"):
        result["alarm_topic"] = read_topic(aws, outputs["AlarmTopicArn"])
    for key in ("topic", "alarm_topic"):
        if result.get(key) and not result[key]["exists"]:
            failures.append(f"({label}) {key} {result[key]['arn']} does not exist")
    if topic_arn and result["function"]["environment"].get("GUARD_ALERT_TOPIC_ARN") != topic_arn:
        failures.append(f"({label}) the function publishes to "
                        f"{result['function']['environment'].get('GUARD_ALERT_TOPIC_ARN')}, the output says {topic_arn}")
    # The encrypted topics' keys: the function's role may use the key of the topic it publishes
    # to (when that topic is this stack's), CloudWatch the key of the topic the alarms notify.
    keys = read_keys(aws, resources)
    result["keys"] = keys
    topic = result.get("topic") or {}
    if topic.get("exists") and topic.get("account") == ACCOUNT and topic.get("kms_master_key_id"):
        if not key_grants(keys, topic["kms_master_key_id"], "AWS", config["Role"]):
            failures.append(f"({label}) the alert topic's key does not let the function's role publish")
    alarm_topic = result.get("alarm_topic") or {}
    if alarm_topic.get("exists") and alarm_topic.get("kms_master_key_id"):
        if not key_grants(keys, alarm_topic["kms_master_key_id"], "Service", "cloudwatch.amazonaws.com"):
            failures.append(f"({label}) the alarm topic's key does not let CloudWatch publish")
    queues = {}
    for key, url in outputs.items():
        if key.endswith("QueueUrl"):
            try:
                arn = aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                queues[key] = {"url": url, "arn": arn, "exists": True}
            except Exception as e:  # noqa: BLE001 - reported, not raised
                queues[key] = {"url": url, "exists": False, "error": str(e)}
                failures.append(f"({label}) {key} {url}: {e}")
    result["queues"] = queues
    return result, failures


def deploy_template(aws, run, name, events, central_topic):
    path = template_path(name)
    stem = os.path.splitext(os.path.basename(path))[0]
    region = aws.region
    source = load_template(path)
    fixed = {}
    prepared = {}
    declared = source.get("Parameters", {})
    code_uri = None
    if is_sam(source):
        bucket = f"{run}-code"
        put_object(aws, bucket, ARTIFACT_KEY, bootstrap_zip())
        code_uri = f"s3://{bucket}/{ARTIFACT_KEY}"
        prepared["code_uri"] = code_uri
    if "ArtifactBucketPrefix" in declared:
        # The StackSet reads code from <prefix>-<region> in each region.
        prefix = f"{run}-{stem}-artifacts"
        key = declared.get("ArtifactKey", {}).get("Default", ARTIFACT_KEY)
        put_object(aws, f"{prefix}-{region}", key, bootstrap_zip())
        fixed["ArtifactBucketPrefix"] = prefix
        prepared["artifact_bucket"] = f"{prefix}-{region}"
        prepared["artifact_key"] = key
    for parameter, spec in declared.items():
        if "Default" not in spec and parameter not in fixed:
            if parameter not in SAMPLE_VALUES:
                raise SystemExit(f"error: {name}: no test value for the required parameter {parameter}")
            fixed[parameter] = SAMPLE_VALUES[parameter].format(region=region)
    if "CentralAlertTopicArn" in declared:
        prepared["central_topic_arn"] = central_topic
    _, combos = translated_combinations(path, fixed, region, code_uri or "s3://unused/unused.zip")
    report = {"template": os.path.relpath(path, ROOT), "sam": is_sam(source), "prepared": prepared,
              "combinations": []}
    failures = []
    for i, (combo, plain) in enumerate(combos):
        declared_here = set(plain.get("Parameters", {}))
        stack_name = f"{run}-{stem}-{i:02d}"
        result, failed = deploy_one(aws, stack_name, combo, plain, declared_here, events)
        if os.path.basename(path) in FIXED_NAMES and result["stack"]["status"] not in (
                "NOT_CREATED", "CREATE_REQUEST_FAILED"):
            result["stack"]["deleted"] = delete_stack(aws, stack_name)
        report["combinations"].append(result)
        failures += [f"{name}: {f}" for f in failed]
    return report, failures


def trail_resources_match():
    """trail.yaml is template.yaml's optional trail on its own: the same resources."""
    template = load_template(template_path("template.yaml"))["Resources"]
    trail = load_template(template_path("trail.yaml"))["Resources"]
    from_template = {n: {k: v for k, v in r.items() if k != "Condition"}
                     for n, r in template.items() if r.get("Condition") == "MakeTrail"}
    return from_template == trail, sorted(from_template), sorted(trail)


def package_versions():
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("moto", "aws-sam-translator", "cfn-lint", "boto3"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


def command_deploy(args):
    templates = args.templates or DEFAULT_TEMPLATES
    process = None
    endpoint = args.endpoint
    if endpoint:
        endpoint = loopback(endpoint)
    else:
        endpoint, process = start_moto()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        aws = Aws(endpoint, args.region)
        account = aws("sts").get_caller_identity()["Account"]
        run = f"epg-{uuid.uuid4().hex[:8]}"
        # The security account's topic that CentralAlertTopicArn names, created in that account.
        central = aws.in_account(CENTRAL_ACCOUNT)("sns").create_topic(Name=CENTRAL_TOPIC)["TopicArn"]
        events = sample_events()
        document = {"endpoint": endpoint, "standalone": process is not None, "region": args.region,
                    "account": account, "run": run, "packages": package_versions(),
                    "central_topic_arn": central, "events": sorted(events), "templates": {}}
        failures = []
        for name in templates:
            report, failed = deploy_template(aws, run, name, events, central)
            document["templates"][os.path.basename(name)] = report
            failures += failed
        # What moto did not create, by type: those resources are checked by cfn-lint only.
        lint_only = {}
        for name, report in document["templates"].items():
            for combo in report["combinations"]:
                for rtype, names in combo.get("skipped_by_moto", {}).items():
                    for n in names:
                        where = f"{name}:{n}"
                        if where not in lint_only.setdefault(rtype, []):
                            lint_only[rtype].append(where)
        document["checked_by_cfn_lint_only"] = {t: sorted(w) for t, w in sorted(lint_only.items())}
        document["moto_gaps"] = MOTO_GAPS
        if {"template.yaml", "trail.yaml"} <= set(document["templates"]):
            same, in_template, in_trail = trail_resources_match()
            document["trail_yaml_matches_template"] = same
            if not same:
                failures.append(f"trail.yaml's resources {in_trail} differ from template.yaml's "
                                f"MakeTrail resources {in_template}")
        document["ok"] = not failures
        document["failures"] = failures
        return document, failures
    finally:
        if process:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


# --- Command line --------------------------------------------------------------------------------


def parameter(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return tuple(text.split("=", 1))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", help="moto server URL (loopback only); deploy starts one when omitted")
    parser.add_argument("--region", default="eu-west-1")
    commands = parser.add_subparsers(dest="command", required=True)
    graph = commands.add_parser("graph", help="dependency graph of every combination (offline)")
    graph.add_argument("template")
    graph.add_argument("--param", type=parameter, action="append", default=[], metavar="KEY=VALUE")
    translate_cmd = commands.add_parser("translate", help="the translated template of one combination")
    translate_cmd.add_argument("template")
    translate_cmd.add_argument("--param", type=parameter, action="append", default=[], metavar="KEY=VALUE")
    deploy = commands.add_parser("deploy", help="create every combination on moto server and read it back")
    deploy.add_argument("templates", nargs="*")
    args = parser.parse_args(argv)

    # The SAM translator warns about its own unpublished metrics on stderr: keep stderr one line.
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    # Dummy credentials only, and no profile or config file from the environment.
    os.environ.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": args.region, "AWS_REGION": args.region,
                       "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(var, None)
    if args.command != "deploy":
        os.environ.pop("AWS_ENDPOINT_URL", None)

    handler = {"graph": command_graph, "translate": command_translate, "deploy": command_deploy}[args.command]
    try:
        document, failures = handler(args)
    except TemplateError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(document, indent=1, default=str))
    if failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        print(f"{failures[0]}{more}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - one line, as the callers expect
        if os.environ.get("INFRA_DEPLOY_TRACEBACK"):
            raise
        message = " ".join(f"{type(e).__name__}: {e}".split())
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)
