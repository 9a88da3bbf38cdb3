"""Reads the templates in infra/ for the Rust infra tests (tests/infra.rs), with cfn-lint's own
template decoder (it understands !Sub, !GetAtt and the other short forms).

    python3 tests/infra_check.py template.yaml pattern  # {"<events file>": bool}, moto's matcher
    python3 tests/infra_check.py stackset.yaml iam      # [{"policy", "statement"}] of the function
    python3 tests/infra_check.py spoke.yaml iam SpokeRole  # the same of one declared role

These read the templates as written; tests/infra_deploy.py checks that they deploy (every
combination of their conditions, translated, created on moto server and read back).
"""

import glob
import json
import os
import sys

from cfnlint.decode import decode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(name):
    template, errors = decode(os.path.join(ROOT, "infra", name))
    if errors:
        sys.exit(f"error: cannot read {name}: {errors[0]}")
    return template["Resources"]


def rule_pattern(resources):
    if "GuardFunction" in resources and "Events" in resources["GuardFunction"]["Properties"]:
        # SAM: the rule is an event source of the function.
        return resources["GuardFunction"]["Properties"]["Events"]["PolicyChange"]["Properties"]["Pattern"]
    # The guard's rule (stackset.yaml, hub.yaml), or the spoke's forwarding rule.
    rule = resources.get("PolicyChangeRule") or resources["ForwardRule"]
    return rule["Properties"]["EventPattern"]


def pattern(resources):
    # moto's implementation of EventBridge pattern matching, not a hand-written one.
    from moto.events.models import EventPattern

    matcher = EventPattern.load(json.dumps(rule_pattern(resources)))
    result = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "events", "*.json"))):
        with open(path) as f:
            result[os.path.basename(path)] = matcher.matches_event(json.load(f))
    return result


def role_of_function(resources):
    """The logical id of the role the function runs as, when the template declares it."""
    role = resources["GuardFunction"]["Properties"].get("Role")
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        target = role["Fn::GetAtt"]
        return target[0] if isinstance(target, list) else target.split(".", 1)[0]
    return None


def iam(resources, role=None):
    """Every statement of the function's own policies (or of the declared `role`), with the
    policy's name: the declared role's Policies and each AWS::IAM::Policy attached to that role,
    or SAM's Policies; `condition` is the Condition a policy resource is created under."""
    role = role or role_of_function(resources)
    if role:
        policies = [(p["PolicyName"], p["PolicyDocument"], None) for p in resources[role]["Properties"].get("Policies", [])]
        policies += [
            (r["Properties"]["PolicyName"], r["Properties"]["PolicyDocument"], r.get("Condition"))
            for r in resources.values()
            if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"].get("Roles", [])
        ]
    else:
        policies = [("inline", p, None) for p in resources["GuardFunction"]["Properties"]["Policies"]]
    return [
        {"policy": name, "statement": statement, "condition": condition}
        for name, document, condition in policies
        for statement in document["Statement"]
    ]


if __name__ == "__main__":
    commands = {"pattern": pattern, "iam": iam}
    if len(sys.argv) not in (3, 4) or sys.argv[2] not in commands:
        sys.exit("error: usage: infra_check.py TEMPLATE pattern|iam [ROLE]")
    print(json.dumps(commands[sys.argv[2]](load(sys.argv[1]), *sys.argv[3:]), default=str))
