"""Serving benchmarks: `lec-onnx serve` under locust at 1, 8 and 32 concurrent clients, and `lec-onnx batch`
throughput, local vs Ray Data with 2 workers, on the same file. Prints markdown tables (docs/serving.md).

    pip install ".[serve,ray]" locust && python benchmarks/serving.py [--seconds 20] [--rows 2000]

Traffic goes to 127.0.0.1 only, and every run is bounded in time. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
ACME = "You are a support bot for ACME; only answer about ACME."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, workers: int, queue: int) -> subprocess.Popen:
    return wait_ready(subprocess.Popen([sys.executable, "-m", "lec_onnx", "serve", "--port", str(port), "--workers",
                                        str(workers), "--queue", str(queue), "--log-level", "warning"]), port)


def wait_ready(proc: subprocess.Popen, port: int) -> subprocess.Popen:
    """The server process once GET /readyz answers 200; killed, and the script stopped, after 120 s."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not become ready within 120 s")


def run_locust(users: int, seconds: int, host: str, folder: Path) -> list[dict]:
    """One headless locust run; a row per HTTP status (and the total): count, requests/s, p50, p99 (ms)."""
    prefix = folder / f"u{users}"
    subprocess.run(["locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(users), "-r", str(users),
                    "-t", f"{seconds}s", "--host", host, "--csv", str(prefix), "--only-summary",
                    "--stop-timeout", "10", "--loglevel", "ERROR"], check=False, timeout=seconds + 120,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # locust exits 1 when any request failed
    with open(f"{prefix}_stats.csv", newline="") as f:
        return [{"users": users, "status": row["Name"] if row["Name"] else "all", "count": int(row["Request Count"]),
                 "rps": float(row["Requests/s"]), "p50": row["50%"], "p99": row["99%"]}
                for row in csv.DictReader(f)]


def server_table(args) -> str:
    port = free_port()
    proc = start_server(port, args.workers, args.queue)
    lines = [f"Server: `lec-onnx serve --workers {args.workers} --queue {args.queue}` (pool limit "
             f"{args.workers + args.queue} requests), one prompt per request, {args.seconds} s per level, "
             "no think time.", "",
             "| clients | status | requests | requests/s | p50 ms | p99 ms |", "|---|---|---|---|---|---|"]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for users in args.users:
                for r in run_locust(users, args.seconds, f"http://127.0.0.1:{port}", Path(tmp)):
                    status = "**all**" if r["status"] == "Aggregated" else r["status"]
                    lines.append(f"| {users} | {status} | {r['count']:,} | {r['rps']:.1f} | {r['p50']} | {r['p99']} |")
                    print(lines[-1], flush=True)
    finally:
        proc.terminate()
        proc.wait(60)
    return "\n".join(lines)


def batch_rows(n: int, seed: int = 0) -> list[dict]:
    """n bundled prompts: content-safety rows, and prompt-injection rows under their own or ACME's system
    prompt."""
    rng = random.Random(seed)
    cs = [json.loads(line) for line in (ROOT / "data" / "content_safety.jsonl").open(encoding="utf-8")]
    pi = [json.loads(line) for line in (ROOT / "data" / "prompt_injection.jsonl").open(encoding="utf-8")]
    rows = [{"text": r["text"], "system": None} for r in rng.sample(cs, n // 2)]
    pi = [r for r in pi if len(r.get("system") or "") < 400]  # longer ones leave the text no room in 256 tokens
    rows += [{"text": r["text"], "system": r.get("system") or ACME} for r in rng.sample(pi, n - n // 2)]
    rng.shuffle(rows)
    return [{"id": i, **r} for i, r in enumerate(rows)]


def batch_table(args) -> str:
    lines = [f"Batch: {args.rows:,} bundled prompts (half content safety, half prompt injection under a system "
             "prompt), JSONL in, Parquet out; wall time of the whole command (Ray: cluster start included).", "",
             "| engine | command | rows | wall s | rows/s |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "rows.jsonl"
        source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in batch_rows(args.rows)),
                          encoding="utf-8")
        runs = [("local, 1 thread", ["--threads", "1"]), ("local, 2 threads", ["--threads", "2"]),
                ("Ray Data, 2 actors x 1 thread", ["--engine", "ray", "--concurrency", "2"])]
        for i, (name, flags) in enumerate(runs):
            command = ["batch", "rows.jsonl", f"out{i}.parquet", "--system-column", "system", *flags]
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "lec_onnx", *command], check=True, cwd=tmp, timeout=1800,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wall = time.perf_counter() - start
            lines.append(f"| {name} | `lec-onnx {' '.join(command)}` | {args.rows:,} | {wall:.1f} | "
                         f"{args.rows / wall:.0f} |")
            print(lines[-1], flush=True)
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=int, default=20, help="locust run time per concurrency level")
    p.add_argument("--users", type=int, nargs="+", default=[1, 8, 32], help="concurrent clients")
    p.add_argument("--workers", type=int, default=2, help="server pool workers")
    p.add_argument("--queue", type=int, default=14, help="server queue (workers + queue = the pool's limit)")
    p.add_argument("--rows", type=int, default=2000, help="rows in the batch file")
    p.add_argument("--skip-server", action="store_true")
    p.add_argument("--skip-batch", action="store_true")
    args = p.parse_args(argv)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    tables = [] if args.skip_server else [server_table(args)]
    tables += [] if args.skip_batch else [batch_table(args)]
    end_load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nRun {started}, {os.cpu_count()} cores; load average (1 / 5 / 15 min) at the start {load}, "
          f"at the end {end_load}.\n")
    print("\n\n".join(tables))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
