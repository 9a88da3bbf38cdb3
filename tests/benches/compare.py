"""Compares ecr-policy-guard with Cloud Custodian's cross-account policy checker.

Run through tests/benches/compare.sh, which builds the release binaries, writes the corpora and
installs c7n into a private venv, then runs this file with that venv's Python:

    python compare.py WORK_DIR [--rss=10000,100000,1000000] LABEL=CORPUS.jsonl [LABEL=CORPUS.jsonl ...]

Each corpus gets one row: the whole process on 1, 2, 4, 8 (where present) and all CPUs
(pinned as `taskset` pins: `sched_setaffinity`, set by this script itself so that `taskset`'s own
start, about 1 ms, is not timed), the machine's ceiling for the same CPUs (as many independent one-CPU processes,
each on a slice of the corpus: no threaded program scales better than that), c7n warm
in-process, the ratio, the serde_json parse-only floor on one thread (the whole process on one
CPU against it, and the library in-process against it), and the peak RSS; then peak RSS on
large streamed batches (`--rss=`), then the one-event figures. Throughput is the median of
nine alternating rounds (every configuration once per round, so load from elsewhere hits all
alike); cold start is a median too. On a busy machine they still swing: run it on a quiet one.
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
LAMBDA = os.path.join(ROOT, "target", "lambda-zip", "ecr-policy-guard-lambda")
THROUGHPUT = os.path.join(RELEASE, "examples", "throughput")
CORPUS = os.path.join(RELEASE, "examples", "corpus")
EVENT = os.path.join(ROOT, "events", "set-policy-cross-account-root.json")
COMPLIANT_EVENT = os.path.join(ROOT, "events", "set-policy-compliant-push-pull.json")
ALLOWED = ["111122223333"]
OWN_ACCOUNT = "123456789012"
# Alternating rounds per corpus; the medians are reported.
ROUNDS = 9


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


def cpu_sets():
    """1 CPU, then 2, 4 and 8 where the machine has them, then all: the CPUs to pin to."""
    cores = os.cpu_count() or 1
    sizes = sorted({n for n in (1, 2, 4, 8) if n <= cores} | {cores})
    return [(n, set(range(n))) for n in sizes]


def pinned(cpus, fn):
    """Runs `fn` with this process pinned to `cpus`, so the processes it starts inherit the
    pinning (what `taskset` does, without `taskset`'s own exec in the time measured)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        return fn()
    finally:
        os.sched_setaffinity(0, before)


def run_together(cmds):
    """Starts every command at once, the i-th pinned to CPU i, and waits for them all (the
    machine's ceiling, below)."""
    procs = [pinned({cpu}, lambda: subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
             for cpu, cmd in enumerate(cmds)]
    for cmd, proc in zip(cmds, procs):
        _, err = proc.communicate()
        if proc.returncode not in (0, 1):
            sys.exit(f"error: {' '.join(cmd)} exited {proc.returncode}: {err.decode()[:300]}")


def write_slices(work, label, policies, n):
    """The corpus cut into `n` contiguous slices of equal count, one file each."""
    paths = []
    for i in range(n):
        path = os.path.join(work, f"slice-{label}-{n}-{i}.jsonl")
        with open(path, "w") as f:
            f.writelines(p + "\n" for p in policies[i * len(policies) // n:(i + 1) * len(policies) // n])
        paths.append(path)
    return paths


def corpus_row(work, label, corpus_path, rounds=ROUNDS):
    from c7n.filters.iamaccess import PolicyChecker

    policies = [line.rstrip("\n") for line in open(corpus_path) if line.strip()]
    n = len(policies)
    size_mb = sum(map(len, policies)) / 1e6
    checker = PolicyChecker({"allowed_accounts": set(ALLOWED + [OWN_ACCOUNT])})
    checker_pass = lambda: [checker.check(p) for p in policies]
    checker_pass()  # warm: c7n's figure is its in-process rate once loaded
    allow = [arg for account in ALLOWED for arg in ("--allow-root-account", account)]
    # The corpus and its slices are checked with the same command.
    check_cmd = lambda path: [GUARD, "check", "--format", "json", "--jsonl", path] + allow
    guard_cmd = check_cmd(corpus_path)
    sets = cpu_sets()
    # The machine's own ceiling for n CPUs: n independent one-CPU processes, each on a slice of
    # the corpus, started together. They share nothing, so whatever keeps them from n times the
    # rate of one (the host, memory, the fixed cost of a process) no threading design can beat.
    slices = {cpus: write_slices(work, label, policies, cpus) for cpus, _ in sets if cpus > 1}
    split_cmds = {cpus: [check_cmd(path) for path in paths] for cpus, paths in slices.items()}
    # Alternating rounds: each round times every configuration once, so a burst of load from
    # elsewhere hits them all alike; the medians are reported.
    samples = {"c7n": []} | {cpus: [] for cpus, _ in sets} | {("split", cpus): [] for cpus in slices}
    for _ in range(rounds):
        samples["c7n"].append(best_of(1, checker_pass))
        for cpus, mask in sets:
            samples[cpus].append(pinned(mask, lambda: best_of(1, lambda: run(guard_cmd))))
            if cpus in split_cmds:
                samples[("split", cpus)].append(best_of(1, lambda: run_together(split_cmds[cpus])))
    t = {key: statistics.median(values) for key, values in samples.items()}
    lib = dict(
        line.split()
        for line in subprocess.run([THROUGHPUT, corpus_path], capture_output=True, check=True, text=True).stdout.splitlines()
    )
    rss = peak_rss_kb(guard_cmd)
    summary = json.loads(subprocess.run(guard_cmd, capture_output=True).stdout)["summary"]
    return {
        "label": label, "n": n, "mb": size_mb, "t": t, "t_one": t[1], "t_all": t[sets[-1][0]],
        "t_split": {cpus: t[("split", cpus)] for cpus in slices}, "t_c7n": t["c7n"], "t_floor": float(lib["floor"]), "t_lib": float(lib["guard"]), "rss": rss,
        "non_compliant": summary["non_compliant"], "invalid": summary["invalid"],
    }


def rss_row(count, seed):
    """Peak RSS and rate of `check --jsonl -` on `count` generated mixed policies, streamed from
    the generator through a pipe (a million policies are about 2 GB: never written to disk)."""
    generator = subprocess.Popen([CORPUS, str(count), str(seed), "mixed"], stdout=subprocess.PIPE)
    start = time.perf_counter()
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%M", GUARD, "check", "--format", "json", "--jsonl", "-"],
        stdin=generator.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    elapsed = time.perf_counter() - start
    generator.stdout.close()
    generator.wait()
    if result.returncode not in (0, 1):
        sys.exit(f"error: check on {count} policies exited {result.returncode}: {result.stderr.decode()[:300]}")
    tail = result.stdout[-300:].decode(errors="replace")
    summary = json.loads(tail[tail.rindex('"summary":') + len('"summary":'):-2])
    if summary["inputs"] != count:
        sys.exit(f"error: {count} policies in, {summary['inputs']} results out")
    return {"count": count, "rss": int(result.stderr.decode().strip().splitlines()[-1]),
            "seconds": elapsed, "out_mb": len(result.stdout) / 1e6}


def main():
    work = sys.argv[1]
    rss_counts = []
    args = sys.argv[2:]
    if args and args[0].startswith("--rss="):
        rss_counts = [int(c) for c in args.pop(0)[len("--rss="):].split(",") if c]
    corpora = [arg.split("=", 1) for arg in args]
    rows = [corpus_row(work, label, path) for label, path in corpora]
    cores = os.cpu_count()
    sets = cpu_sets()

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

    print(f"`check --jsonl FILE --format json`, whole process, median of {ROUNDS} alternating rounds; {cores} logical CPUs; policies/s")
    print()
    all_cpus = sets[-1][0]
    head = " | ".join(f"{n} CPU{'s' if n > 1 else ''}" for n, _ in sets)
    print(f"| corpus | policies, MB | {head} | scaling 1 to {all_cpus} | machine ceiling 1 to {all_cpus} | c7n warm, in-process | vs c7n ({all_cpus} CPUs) "
          "| floor (serde_json, 1 thread) | 1 CPU vs floor | in-process, 1 thread, vs floor | peak RSS |")
    print("|---|---|" + "---|" * len(sets) + "---|---|---|---|---|---|---|---|")
    for r in rows:
        rate = lambda t: r["n"] / t
        rates = " | ".join(f"{rate(r['t'][n]):,.0f}" for n, _ in sets)
        ceiling = f"{r['t_one'] / r['t_split'][all_cpus]:.2f}x" if all_cpus in r["t_split"] else "n/a"
        print(f"| {r['label']} | {r['n']:,}, {r['mb']:.1f} MB | {rates} | {r['t_one'] / r['t_all']:.2f}x | {ceiling} | "
              f"{rate(r['t_c7n']):,.0f} | {r['t_c7n'] / r['t_all']:.1f}x | {rate(r['t_floor']):,.0f} | "
              f"{r['t_one'] / r['t_floor']:.2f}x | {r['t_lib'] / r['t_floor']:.2f}x | {r['rss'] / 1024:.1f} MB |")
    if cores < 8:
        print()
        print(f"(This machine has {cores} logical CPUs: no figures for {' and '.join(str(n) for n in (4, 8) if n > cores)}.)")
    if rss_counts:
        print()
        print("| `check --jsonl -`, mixed, streamed from the generator | peak RSS | policies/s | output |")
        print("|---|---|---|---|")
        for c in rss_counts:
            m = rss_row(c, 42)
            print(f"| {m['count']:,} policies | {m['rss'] / 1024:.1f} MB | {m['count'] / m['seconds']:,.0f} | {m['out_mb']:,.0f} MB |")
    print()
    print(f"| one event | ecr-policy-guard | Cloud Custodian |")
    print(f"|---|---|---|")
    print(f"| cold start, `evaluate` (median) | {cold_guard:.2f} ms | {cold_c7n:.0f} ms |")
    print(f"| peak RSS, `evaluate` / the Lambda | {rss_evaluate/1024:.1f} MB / {rss_lambda/1024:.1f} MB | |")
    print(f"| Lambda binary (stripped) / zip | {binary/1e6:.2f} MB / {zipped/1e6:.2f} MB | |")
    print()
    targets = []
    for r in rows:
        ratio = r["t_c7n"] / r["t_all"]
        want = 8 if r["label"] == "mixed" else 5
        targets.append((f"{r['label']}: {ratio:.1f}x c7n on {cores} CPUs (target >= {want}x)", ratio >= want))
        if cores >= 2:
            scaling = r["t_one"] / r["t"][2]
            ceiling = r["t_one"] / r["t_split"][2]
            targets.append((f"{r['label']}: {scaling:.2f}x from 1 to 2 CPUs (target >= 1.8x; this machine's ceiling "
                            f"{ceiling:.2f}x, so {scaling / ceiling:.0%} of it)", scaling >= 1.8))
        floor = r["t_one"] / r["t_floor"]
        targets.append((f"{r['label']}: whole process on 1 CPU {floor:.2f}x the serde_json floor's time (target <= 1.3x)", floor <= 1.3))
        targets.append((f"{r['label']}: peak RSS {r['rss']/1024:.1f} MB (target < 30 MB)", r["rss"] < 30 * 1024))
    targets += [
        (f"evaluate cold start: {cold_guard:.2f} ms (target < 5 ms)", cold_guard < 5),
        (f"Lambda zip: {zipped/1e6:.2f} MB (target < 4 MB)", zipped < 4e6),
        (f"peak RSS: evaluate {rss_evaluate/1024:.1f} MB, Lambda {rss_lambda/1024:.1f} MB (target < 20 MB)",
         max(rss_evaluate, rss_lambda) < 20 * 1024),
    ]
    for text, met in targets:
        print(f"- {'met' if met else 'MISSED'}: {text}")


if __name__ == "__main__":
    main()
