"""Compares ecr-policy-guard with Cloud Custodian's cross-account policy checker.

Run through tests/benches/compare.sh, which builds the release binaries, writes the corpus and
installs c7n into a private venv, then runs this file with that venv's Python:

    python compare.py WORK_DIR

Everything is measured in one run on one corpus and printed as a table with the ratios and the
targets. Wall-clock numbers: best of several runs for throughput, median for cold start.
"""

import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE = os.path.join(ROOT, "target", "release")
GUARD = os.path.join(RELEASE, "ecr-policy-guard")
LAMBDA = os.path.join(RELEASE, "ecr-policy-guard-lambda")
THROUGHPUT = os.path.join(RELEASE, "examples", "throughput")
EVENT = os.path.join(ROOT, "events", "set-policy-cross-account-root.json")
COMPLIANT_EVENT = os.path.join(ROOT, "events", "set-policy-compliant-push-pull.json")
ALLOWED = ["111122223333"]
OWN_ACCOUNT = "123456789012"


def best_of(runs, fn):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run(cmd, ok=(0, 1)):
    result = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if result.returncode not in ok:
        sys.exit(f"error: {' '.join(cmd)} exited {result.returncode}: {result.stderr.decode()[:300]}")


def median_ms(runs, cmd, ok=(0, 1)):
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        run(cmd, ok)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def peak_rss_kb(cmd):
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%M"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return int(result.stderr.decode().strip().splitlines()[-1])


def lambda_peak_rss_kb(event_path):
    """Runs the Lambda binary under a minimal Runtime API, hands it one event, and reads the
    process's high-water mark (VmHWM) once it has answered."""
    event = open(event_path, "rb").read()
    answered = threading.Event()
    served = []

    class Api(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if served:
                answered.wait(30)
                time.sleep(30)
                return
            served.append(1)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(event)))
            self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-1")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60000))
            self.send_header(
                "Lambda-Runtime-Invoked-Function-Arn",
                f"arn:aws:lambda:eu-west-1:{OWN_ACCOUNT}:function:ecr-policy-guard",
            )
            self.end_headers()
            self.wfile.write(event)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            self.rfile.read(length)
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            answered.set()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.path.join(ROOT, "target", "bench"),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "ecr-policy-guard",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": "eu-west-1",
        # A compliant event makes no AWS call; the endpoint is a dead local port regardless.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "GUARD_ALERT_TOPIC_ARN": f"arn:aws:sns:eu-west-1:{OWN_ACCOUNT}:alerts",
    }
    proc = subprocess.Popen([LAMBDA], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not answered.wait(30):
            sys.exit("error: the Lambda binary did not answer the event within 30 s")
        with open(f"/proc/{proc.pid}/status") as status:
            hwm = next(line for line in status if line.startswith("VmHWM:"))
        return int(hwm.split()[1])
    finally:
        proc.kill()
        proc.wait()
        server.shutdown()


def main():
    work = sys.argv[1]
    corpus_path = os.path.join(work, "corpus.jsonl")
    policies = [line.rstrip("\n") for line in open(corpus_path) if line.strip()]
    n = len(policies)
    size_mb = sum(map(len, policies)) / 1e6

    from c7n.filters.iamaccess import PolicyChecker

    checker = PolicyChecker({"allowed_accounts": set(ALLOWED + [OWN_ACCOUNT])})
    c7n_flagged = sum(1 for p in policies if checker.check(p))
    t_c7n = best_of(3, lambda: [checker.check(p) for p in policies])
    guard_cmd = [GUARD, "check", "--format", "json", "--jsonl", corpus_path]
    for account in ALLOWED:
        guard_cmd += ["--allow-root-account", account]
    t_guard = best_of(5, lambda: run(guard_cmd))
    # Single-threaded, in-process: the library against the serde_json parse-only floor.
    lib = dict(
        line.split()
        for line in subprocess.run([THROUGHPUT, corpus_path], capture_output=True, check=True, text=True).stdout.splitlines()
    )
    t_floor, t_lib = float(lib["floor"]), float(lib["guard"])
    report = json.loads(subprocess.run(guard_cmd, capture_output=True).stdout)
    summary = report["summary"]

    cold_guard = median_ms(51, [GUARD, "evaluate", EVENT])
    c7n_once = (
        "import json; from c7n.filters.iamaccess import PolicyChecker; "
        f"e = json.load(open({EVENT!r})); "
        "PolicyChecker({'allowed_accounts': {'111122223333'}}).check("
        "e['detail']['requestParameters']['policyText'])"
    )
    cold_c7n = median_ms(11, [sys.executable, "-c", c7n_once], ok=(0,))

    binary = os.path.getsize(LAMBDA)
    zip_path = os.path.join(work, "bootstrap.zip")
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(LAMBDA, "bootstrap")
    zipped = os.path.getsize(zip_path)
    rss_evaluate = peak_rss_kb([GUARD, "evaluate", EVENT])
    rss_lambda = lambda_peak_rss_kb(COMPLIANT_EVENT)

    rate = lambda t: n / t
    print(f"corpus: {n} policies, {size_mb:.1f} MB, seed 42 "
          f"(guard: {summary['non_compliant']} non-compliant, {summary['invalid']} invalid; "
          f"c7n: {c7n_flagged} with cross-account findings)")
    print()
    cores = os.cpu_count()
    print(f"| measure | ecr-policy-guard | Cloud Custodian (c7n PolicyChecker) | serde_json parse only |")
    print(f"|---|---|---|---|")
    print(f"| `check --jsonl` (whole process, {cores} cores, JSON out), policies/s | {rate(t_guard):,.0f} | | |")
    print(f"| in-process, 1 thread, policies/s | {rate(t_lib):,.0f} | {rate(t_c7n):,.0f} | {rate(t_floor):,.0f} |")
    print(f"| time for the corpus | {t_guard*1000:.0f} ms (process) / {t_lib*1000:.0f} ms (1 thread) | {t_c7n*1000:.0f} ms | {t_floor*1000:.0f} ms |")
    print(f"| cold start, one event (median) | {cold_guard:.2f} ms | {cold_c7n:.0f} ms | |")
    print(f"| peak RSS, `evaluate` one event | {rss_evaluate/1024:.1f} MB | | |")
    print(f"| peak RSS, Lambda handling one event | {rss_lambda/1024:.1f} MB | | |")
    print(f"| Lambda binary (stripped) / zip | {binary/1e6:.2f} MB / {zipped/1e6:.2f} MB | | |")
    print()
    speedup = t_c7n / t_guard
    speedup_1 = t_c7n / t_lib
    overhead = t_lib / t_floor - 1
    targets = [
        (f"throughput vs c7n: {speedup:.1f}x as `check --jsonl` on {cores} cores, "
         f"{speedup_1:.1f}x single-threaded in-process (target >= 5x)", speedup >= 5),
        (f"parse + rules against the serde_json parse-only floor, 1 thread: {overhead*100:+.0f}% (target <= +50%)",
         overhead <= 0.5),
        (f"evaluate cold start: {cold_guard:.2f} ms (target < 5 ms)", cold_guard < 5),
        (f"Lambda zip: {zipped/1e6:.2f} MB (target < 4 MB)", zipped < 4e6),
        (f"peak RSS: evaluate {rss_evaluate/1024:.1f} MB, Lambda {rss_lambda/1024:.1f} MB (target < 20 MB)",
         max(rss_evaluate, rss_lambda) < 20 * 1024),
    ]
    for text, met in targets:
        print(f"- {'met' if met else 'MISSED'}: {text}")


if __name__ == "__main__":
    main()
