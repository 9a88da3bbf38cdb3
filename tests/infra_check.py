"""Reads infra/template.yaml for the Rust infra tests (tests/infra.rs), with cfn-lint's own
template decoder (it understands !Sub, !GetAtt and the other short forms).

    python3 tests/infra_check.py pattern   # {"<events file>": true|false} with moto's matcher
    python3 tests/infra_check.py iam       # the function's inline policy statements
"""

import glob
import json
import os
import sys

from cfnlint.decode import decode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def function_properties():
    template, errors = decode(os.path.join(ROOT, "infra", "template.yaml"))
    if errors:
        sys.exit(f"error: cannot read the template: {errors[0]}")
    return template["Resources"]["GuardFunction"]["Properties"]


def pattern():
    # moto's implementation of EventBridge pattern matching, not a hand-written one.
    from moto.events.models import EventPattern

    rule = function_properties()["Events"]["PolicyChange"]["Properties"]["Pattern"]
    matcher = EventPattern.load(json.dumps(rule))
    result = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "events", "*.json"))):
        with open(path) as f:
            result[os.path.basename(path)] = matcher.matches_event(json.load(f))
    return result


def iam():
    statements = []
    for policy in function_properties()["Policies"]:
        statements.extend(policy["Statement"])
    return statements


if __name__ == "__main__":
    commands = {"pattern": pattern, "iam": iam}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit("error: usage: infra_check.py pattern|iam")
    print(json.dumps(commands[sys.argv[1]](), default=str))
