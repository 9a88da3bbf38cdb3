#!/usr/bin/env python3
"""Side by side: ecr-policy-guard, Checkov and Trivy on the same infrastructure code.

Embeds every repository-policy sample of tests/fixtures/policies/ (each beside its expected
outcome) in one CloudFormation template and one Terraform plan (`terraform show -json` shape),
adds the seed-style and cross-account templates and the realistic multi-resource template of
tests/fixtures/iac/, runs each tool on each file, and prints Markdown: per tool, how many
verdicts agree with the expected outcome (a violating policy passed is a miss, a compliant one
failed is a false alarm), the named cases, and how long each run took.

Usage: tests/benches/shift-left.sh (installs Checkov into target/bench/; see there).
  GUARD=path/to/ecr-policy-guard CHECKOV=path/to/checkov TRIVY=path/to/trivy shift_left.py
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORK = ROOT / "target" / "bench" / "shift-left"
POLICIES = ROOT / "tests" / "fixtures" / "policies"
IAC = ROOT / "tests" / "fixtures" / "iac"
ACCOUNT = "123456789012"


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def samples():
    """(name, policy text, expected) for every repository-policy sample; expected is
    'pass', 'fail' or 'invalid'."""
    out = []
    for path in sorted(POLICIES.glob("*.json")):
        if path.name.endswith(".expected.json") or path.name.startswith("registry-"):
            continue
        sidecar = json.loads(path.with_name(path.stem + ".expected.json").read_text())
        if sidecar.get("error") or any(
            v.get("rule") == "invalid-policy" for v in sidecar.get("violations", [])
        ):
            expected = "invalid"
        elif sidecar.get("violations"):
            expected = "fail"
        else:
            expected = "pass"
        if sidecar.get("account") not in (None, ACCOUNT) or sidecar.get("allowed_root_accounts") \
                or sidecar.get("allowed_org_ids") or sidecar.get("kind"):
            continue
        text = path.read_text()
        try:
            # A JSON string holding a policy is invalid as a file, and the usual form in a template.
            if isinstance(json.loads(text), str):
                continue
        except ValueError:
            pass
        out.append((path.stem, text, expected, sidecar.get("account") is None))
    return out


def owner_dependent(binary, cases):
    """Samples judged without an own account whose verdict changes once the account is known:
    a template always deploys into one, so their expected outcome does not carry over."""
    out = set()
    for name, _, _, unknown_owner in cases:
        if not unknown_owner:
            continue
        path = str(POLICIES / f"{name}.json")
        a = subprocess.run([binary, "check", path], capture_output=True).returncode
        b = subprocess.run([binary, "check", "--account", ACCOUNT, path], capture_output=True).returncode
        if a != b:
            out.add(name)
    return out


def logical_id(name):
    return "R" + "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


def cloudformation(cases):
    resources = {}
    for name, text, _ in cases:
        try:
            policy = json.loads(text, object_pairs_hook=no_duplicates)
        except ValueError:
            policy = text  # kept exact as a JSON string (duplicate keys, not JSON)
        resources[logical_id(name)] = {
            "Type": "AWS::ECR::Repository",
            "Properties": {"RepositoryName": name, "RepositoryPolicyText": policy},
        }
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}


def terraform_plan(cases):
    changes = []
    values = []
    for name, text, _ in cases:
        address = f'aws_ecr_repository_policy.{logical_id(name)}'
        after = {"repository": name, "policy": text}
        values.append({"address": address, "mode": "managed", "type": "aws_ecr_repository_policy",
                       "name": logical_id(name), "provider_name": "registry.terraform.io/hashicorp/aws",
                       "schema_version": 0, "values": after, "sensitive_values": {}})
        changes.append({"address": address, "mode": "managed", "type": "aws_ecr_repository_policy",
                        "name": logical_id(name), "provider_name": "registry.terraform.io/hashicorp/aws",
                        "change": {"actions": ["create"], "before": None, "after": after,
                                   "after_unknown": {"id": True, "registry_id": True},
                                   "before_sensitive": False, "after_sensitive": {}}})
    return {"format_version": "1.2", "terraform_version": "1.9.5",
            "planned_values": {"root_module": {"resources": values}},
            "resource_changes": changes,
            "configuration": {"provider_config": {"aws": {"name": "aws", "full_name": "registry.terraform.io/hashicorp/aws"}},
                              "root_module": {}},
            "applyable": True, "complete": True, "errored": False}


def timed(command):
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=WORK)
    return done, time.perf_counter() - start


def guard(binary, path):
    """{resource: 'pass' | 'fail' | 'invalid'}, seconds."""
    done, seconds = timed([binary, "check", "--account", ACCOUNT, "--format", "json", str(path)])
    report = json.loads(done.stdout)
    verdicts = {}
    for result in report["results"]:
        for r in result["resources"]:
            # A Terraform address ends in the resource's name.
            resource = r["resource"].split(".")[-1]
            if r["problems"]:
                verdicts[resource] = "invalid"
            else:
                verdicts[resource] = "fail" if r["findings"] else "pass"
    return verdicts, seconds


def checkov(binary, path, framework):
    """{resource: 'pass' | 'fail'} by CKV_AWS_32 (ECR policy not public), seconds. Not
    `--quiet`: it leaves the passed checks out of the output."""
    done, seconds = timed([binary, "-f", str(path), "--framework", framework, "--check", "CKV_AWS_32",
                           "-o", "json", "--compact", "--skip-download"])
    verdicts = {}
    try:
        reports = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        sys.exit(f"checkov output is not JSON: {done.stdout[:500]}{done.stderr[:500]}")
    if isinstance(reports, dict):
        reports = [reports]
    for report in reports:
        results = report.get("results", {}) if isinstance(report, dict) else {}
        for outcome, verdict in (("passed_checks", "pass"), ("failed_checks", "fail")):
            for check in results.get(outcome, []):
                resource = check["resource"].split(".")[-1]
                verdicts[resource] = verdict
    return verdicts, seconds


def trivy(binary, path):
    done, seconds = timed([binary, "config", "--quiet", "--format", "json", str(path)])
    failed = set()
    for result in json.loads(done.stdout or "{}").get("Results", []):
        for m in result.get("Misconfigurations", []):
            if m.get("AVDID") == "AVD-AWS-0032" and m.get("Status") == "FAIL":
                failed.add(m.get("CauseMetadata", {}).get("Resource", "").split(".")[-1])
    return failed, seconds


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    binary = os.environ.get("GUARD") or str(ROOT / "target" / "release" / "ecr-policy-guard")
    checkov_bin = os.environ.get("CHECKOV") or shutil.which("checkov")
    trivy_bin = os.environ.get("TRIVY") or shutil.which("trivy")
    cases = samples()
    left_out = owner_dependent(binary, cases)
    cases = [(n, t, e) for n, t, e, _ in cases if n not in left_out]
    expected = {logical_id(n): e for n, _, e in cases}
    cfn = WORK / "samples.template.json"
    cfn.write_text(json.dumps(cloudformation(cases), indent=2))
    plan = WORK / "samples.plan.json"
    plan.write_text(json.dumps(terraform_plan(cases), indent=2))
    # Named cases: (file, resource, expected).
    named = [
        (IAC / "cfn-seed-push-pull-deny.yaml", "ECRRepository", "pass", "seed: push role, pull role, deny everyone else"),
        (IAC / "cfn-push-pull-allow-deny.yaml", "Repository", "pass", "push and pull allows, deny everyone else"),
        (IAC / "cfn-cross-account-root.yaml", "Repository", "fail", "cross-account `:root` grant, deny outside both accounts"),
        (IAC / "cfn-cross-account-root-only.yaml", "Repository", "fail", "cross-account `:root` grant alone"),
        (IAC / "cfn-cross-account-user.yaml", "Repository", "pass", "cross-account grant to one user"),
    ]
    realistic = IAC / "cfn-realistic-platform.yaml"
    for resource, verdict in (("BaseImages", "pass"), ("PartnerShared", "fail"), ("PublicTools", "fail"),
                              ("OrgShared", "fail"), ("Legacy", "fail"), ("Scratch", "fail")):
        named.append((realistic, resource, verdict, f"realistic template: `{resource}`"))

    tools = [("ecr-policy-guard", True), ("Checkov (CKV_AWS_32)", bool(checkov_bin)),
             ("Trivy (AVD-AWS-0032)", bool(trivy_bin))]
    rows = {}
    seconds = {}

    def run(tool, path, framework):
        if tool == "ecr-policy-guard":
            return guard(binary, path)
        if tool.startswith("Checkov"):
            return checkov(checkov_bin, path, framework)
        failed, s = trivy(trivy_bin, path)
        return ({r: "fail" if r in failed else "pass" for r in expected} if path in (cfn, plan)
                else {r: "fail" for r in failed}), s

    for tool, available in tools:
        if not available:
            continue
        for label, path, framework in (("CloudFormation", cfn, "cloudformation"), ("Terraform plan", plan, "terraform_plan")):
            verdicts, s = run(tool, path, framework)
            seconds[(tool, label)] = s
            rows[(tool, label)] = verdicts
        for path in sorted({p for p, *_ in named}):
            verdicts, s = run(tool, path, "cloudformation")
            seconds[(tool, path.name)] = s
            rows[(tool, path.name)] = verdicts

    def score(verdicts, want):
        agree = miss = false_alarm = unjudged = 0
        for resource, expect in want.items():
            got = verdicts.get(resource)
            if expect == "invalid":
                # A policy ECR refuses: the guard says invalid; a scanner's pass or fail is a guess.
                agree += got in ("invalid",)
                unjudged += got not in ("invalid",)
            elif got == expect:
                agree += 1
            elif got is None or got == "invalid":
                unjudged += 1
            elif expect == "fail":
                miss += 1
            else:
                false_alarm += 1
        return agree, miss, false_alarm, unjudged

    print(f"{len(cases)} repository-policy samples (tests/fixtures/policies, expected: "
          f"{sum(e == 'pass' for *_, e in cases)} pass, {sum(e == 'fail' for *_, e in cases)} fail, "
          f"{sum(e == 'invalid' for *_, e in cases)} invalid), embedded in one CloudFormation template and one Terraform plan; "
          f"{len(left_out)} left out whose verdict depends on not knowing the own account\n")
    print("| tool | input | agrees | misses (violating policy passed) | false alarms (compliant policy failed) | not judged, or an invalid policy not called invalid | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for tool, available in tools:
        if not available:
            print(f"| {tool} | - | not run: not installable offline (see README) | | | | |")
            continue
        for label in ("CloudFormation", "Terraform plan"):
            a, m, f, u = score(rows[(tool, label)], expected)
            print(f"| {tool} | {label} | {a} / {len(expected)} | {m} | {f} | {u} | {seconds[(tool, label)]:.2f} |")
    print()
    header = [t for t, ok in tools if ok]
    print("| case | expected | " + " | ".join(header) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in header) + " |")
    for path, resource, want, about in named:
        cells = []
        for tool in header:
            got = rows[(tool, path.name)].get(resource, "not judged")
            mark = "ok" if got == want else "WRONG"
            cells.append(f"{got} ({mark})")
        print(f"| {about} | {want} | " + " | ".join(cells) + " |")
    print()
    for tool in header:
        total = sum(s for (t, _), s in seconds.items() if t == tool)
        print(f"- {tool}: {total:.2f} s over {sum(1 for (t, _) in seconds if t == tool)} runs")


if __name__ == "__main__":
    main()
