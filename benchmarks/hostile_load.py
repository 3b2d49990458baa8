"""Hostile load on `lec-onnx serve` (issue 39): 16 clients send a bounded number of requests drawn from ordinary,
malformed and hostile bodies (lone surrogates, control characters, deep nesting, huge numbers, invalid UTF-8,
long documents, requests of 64 long texts) and count the answers: status codes, unanswered requests, and the
latency of short single-text requests while long documents are in flight. Prints markdown (docs/serving.md).

    pip install ".[serve]" && python benchmarks/hostile_load.py [--requests 400] [--clients 16] [--seconds 300]

The server runs as a subprocess on 127.0.0.1 only (API key on, 2 workers); every run stops by itself after
--requests requests or --seconds, whichever comes first. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import collections
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import free_port, wait_ready  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MESSAGES: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
API_KEY = "hostile-load-key"
LONG_DOCUMENT = "The quarterly report covers revenue, costs and the outlook for next year. " * 1300  # ~99k chars


def prompts() -> list[str]:
    with (ROOT / "data" / "content_safety.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if len(line) < 400]


def body_kinds(short: list[str]) -> dict:
    """kind -> (weight, function of a random generator giving (body bytes, headers)). Kind "short" is one
    ordinary prompt; its latency is what long documents must not starve."""
    ok = {"Authorization": f"Bearer {API_KEY}"}

    def dumps(doc) -> bytes:
        return json.dumps(doc).encode()  # ensure_ascii: lone surrogates travel as escapes, as JSON allows

    # the big bodies are built once: the clients share the server's two cores
    documents = [dumps({"input": LONG_DOCUMENT[:n]}) for n in (3_000, 6_000, 12_000, 25_000, 50_000, 99_000)]
    many_texts, nine_long = dumps({"input": [LONG_DOCUMENT[:15_000]] * 64}), dumps({"input": [LONG_DOCUMENT] * 9})
    nested = b"[" * 200_000 + b"]" * 200_000

    return {
        "short": (50, lambda r: (dumps({"input": r.choice(short)}), ok)),
        "batch of 8": (8, lambda r: (dumps({"input": r.sample(short, 8), "system": "You are ACME's bot."}), ok)),
        "lone surrogate": (6, lambda r: (dumps({"input": f"{r.choice(short)} \ud800 \udfff"}), ok)),
        "control chars": (4, lambda r: (dumps({"input": "a\u0000b\u001b[31m \ufeff c\r\nd"}), ok)),
        "not JSON": (3, lambda r: (b"{\"input\": oops", ok)),
        "invalid UTF-8": (3, lambda r: (b'{"input": "caf\xe9"}', ok)),
        "deep nesting": (3, lambda r: (nested, ok)),
        "huge integer": (2, lambda r: (b'{"input": ' + b"9" * 20_000 + b"}", ok)),
        "wrong types": (3, lambda r: (dumps({"input": [r.choice(short), 5, None]}), ok)),
        "no API key": (3, lambda r: (dumps({"input": r.choice(short)}), {})),
        "long document": (8, lambda r: (r.choice(documents), ok)),  # 3k to 99k characters: 4 to 130 windows
        "64 long texts": (3, lambda r: (many_texts, ok)),
        "9 x 99k chars": (2, lambda r: (nine_long, ok)),
    }


def start_server(port: int, args, log) -> subprocess.Popen:
    command = [sys.executable, "-m", "lec_onnx", "serve", "--port", str(port), "--workers", str(args.workers),
               "--api-key", API_KEY, "--timeout", str(args.timeout), "--log-level", "warning"]
    command += ["--queue", str(args.queue)] if args.queue is not None else []
    return wait_ready(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log), port)  # a file: never full


class Load:
    """Shared state of the clients: requests left, long documents in flight, and every answer."""

    def __init__(self, args):
        self.left, self.stop_at = args.requests, time.monotonic() + args.seconds
        self.long_in_flight = self.retried = 0
        self.answers: list[tuple[str, str, float, bool]] = []  # kind, status, seconds, long document in flight
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.left <= 0 or time.monotonic() > self.stop_at:
                return False
            self.left -= 1
            return True


def client(load: Load, url: str, kinds: dict, seed: int, args) -> None:
    """Send requests until the load is done; a 429 is retried after its Retry-After (as clients should), at
    most --retries times. Records the final answer and how long its attempt took, from send to answer."""
    rng = random.Random(seed)
    names = list(kinds)
    weights = [kinds[k][0] for k in names]
    while load.take():
        kind = rng.choices(names, weights)[0]
        body, headers = kinds[kind][1](rng)
        is_long = kind == "long document"
        for attempt in range(args.retries + 1):
            with load.lock:
                load.long_in_flight += is_long
                during_long = load.long_in_flight > is_long
            status, seconds, retry_after = send(url, body, headers, args.answer_within)
            with load.lock:
                load.long_in_flight -= is_long
            if status != "429" or attempt == args.retries:
                break
            with load.lock:
                load.retried += 1
            time.sleep(min(retry_after, 5.0) * (0.5 + rng.random()))
        with load.lock:
            load.answers.append((kind, status, seconds, during_long))


def send(url: str, body: bytes, headers: dict, answer_within: float) -> tuple[str, float, float]:
    """(status, seconds, Retry-After seconds) of one attempt."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    began, retry_after = time.monotonic(), 1.0
    try:
        with urllib.request.urlopen(request, timeout=answer_within) as r:
            r.read()
            status = str(r.status)
    except urllib.error.HTTPError as e:
        status = str(e.code)
        if e.code in (429, 503):  # which limit: kept for the report
            MESSAGES[status][json.loads(e.read())["error"]["message"].split(":")[0]] += 1
            retry_after = float(e.headers.get("Retry-After", "1"))
    except (TimeoutError, OSError) as e:  # no answer in time, or the connection dropped
        status = "unanswered" if "timed out" in str(e) else f"connection error ({type(e).__name__})"
    return status, time.monotonic() - began, retry_after


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def report(load: Load, args, wall: float) -> str:
    by_kind = collections.defaultdict(collections.Counter)
    for kind, status, _, _ in load.answers:
        by_kind[kind][status] += 1
    statuses = sorted({s for c in by_kind.values() for s in c})
    lines = [f"{len(load.answers)} requests from {args.clients} clients in {wall:.0f} s (`lec-onnx serve --workers "
             f"{args.workers}{'' if args.queue is None else f' --queue {args.queue}'} --api-key ... --timeout "
             f"{args.timeout:g}`); answers per kind:", "",
             "| kind | " + " | ".join(statuses) + " |", "|---|" + "---|" * len(statuses)]
    for kind, counts in sorted(by_kind.items(), key=lambda kv: -sum(kv[1].values())):
        lines.append(f"| {kind} | " + " | ".join(str(counts.get(s, 0)) for s in statuses) + " |")
    total = collections.Counter(status for _, status, _, _ in load.answers)
    lines.append("| **all** | " + " | ".join(f"**{total.get(s, 0)}**" for s in statuses) + " |")
    fives = sum(n for s, n in total.items() if s.startswith("5"))
    lines += ["", f"5xx: {fives}; unanswered within {args.answer_within:g} s: {total.get('unanswered', 0)}; "
              f"429s retried after their Retry-After: {load.retried} (the table counts each request's last answer)",
              ""]
    for status, counts in sorted(MESSAGES.items()):
        lines.append(f"{status}: " + "; ".join(f"{n} x {message!r}" for message, n in counts.most_common()))
    lines += [""] + latency_rows(load)
    return "\n".join(lines)


def latency_rows(load: Load) -> list[str]:
    rows = ["| short single-text requests answered 200 (send to answer) | count | p50 ms | p99 ms | max ms |",
            "|---|---|---|---|---|"]
    for label, during in (("while a long document was in flight", True), ("with no long document in flight", False),
                          ("all", None)):
        times = [t * 1000 for kind, status, t, d in load.answers
                 if kind == "short" and status == "200" and (during is None or d == during)]
        rows.append(f"| {label} | {len(times)} | {percentile(times, 0.5):.0f} | {percentile(times, 0.99):.0f} | "
                    f"{max(times, default=float('nan')):.0f} |")
    longs = [t for kind, status, t, _ in load.answers if kind == "long document" and status == "200"]
    rows += ["", f"long documents answered 200: {len(longs)}, seconds p50 {percentile(longs, 0.5):.1f}, "
             f"max {max(longs, default=float('nan')):.1f}"]
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=400)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=300, help="stop sending after this long")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--queue", type=int, help="the server's --queue (default: its own, 2 x workers)")
    p.add_argument("--timeout", type=float, default=30, help="the server's --timeout")
    p.add_argument("--answer-within", type=float, default=60, help="a client gives up (unanswered) after this")
    p.add_argument("--seed", type=int, default=39)
    p.add_argument("--retries", type=int, default=5, help="times a client retries a 429 after its Retry-After")
    args = p.parse_args()
    port = free_port()
    server_log = tempfile.TemporaryFile("w+", encoding="utf-8")
    proc = start_server(port, args, server_log)
    load = Load(args)
    kinds = body_kinds(prompts())
    url = f"http://127.0.0.1:{port}/v1/moderations"
    began = time.monotonic()
    threads = [threading.Thread(target=client, args=(load, url, kinds, args.seed + i, args))
               for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    proc.terminate()
    proc.wait(60)
    server_log.seek(0)
    log = server_log.read()
    print(report(load, args, wall))
    print(f"\nserver log: {'Traceback' in log and 'HAS A TRACEBACK' or 'no traceback'}; "
          f"{'stopped: every request answered' in log and 'stopped cleanly' or 'did not say it stopped cleanly'}")


if __name__ == "__main__":
    main()
