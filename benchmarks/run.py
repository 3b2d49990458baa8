"""Benchmark lec-onnx on this machine and write docs/benchmarks.md (+ plots in docs/benchmarks/).

    python benchmarks/run.py [--quick] [--models NAME ...] [--out docs]

Speed (int8 and fp32 truncated graphs vs the full model in PyTorch and as an optimum ONNX export), the limit
(FLOPs per token against this CPU's measured peak), cost (disk, memory, cold start, install size) and quality
(test split, against TF-IDF + LR). Needs the export extras (torch) and, for the full-model ONNX baseline,
`pip install optimum-onnx`. Builds missing bench artifacts into build/bench/ first (slow for the decoders).
Not part of the test suite.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tqdm.auto import tqdm  # noqa: E402

import cost  # noqa: E402
import quality  # noqa: E402
import report  # noqa: E402
import speed  # noqa: E402
from bench_artifacts import BENCH_DIR, DEFAULT_ARTIFACT, MODELS, ROOT, BenchModel, ensure_artifact  # noqa: E402

MINILM = "all-MiniLM-L6-v2"
THREADS = (1, 2)
MODES = {  # settings and repetitions: the full run must stay near 25 minutes on 2 busy cores
    "quick": {"tokens": (32, 128), "budget": speed.Budget(seconds=0.4, max_reps=10, min_reps_batch1=5, max_call_s=4),
              "quality_rows": 80, "cold_runs": 3},
    "full": {"tokens": (32, 128, 512), "budget": speed.Budget(seconds=1.2, max_reps=40, min_reps_batch1=12,
                                                                max_call_s=12),
             "quality_rows": 200, "cold_runs": 7},
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions, MiniLM only, 32/128 tokens")
    p.add_argument("--models", nargs="+", choices=list(MODELS),
                   help="models to benchmark (default: all; quick: MiniLM)")
    p.add_argument("--out", default=str(ROOT / "docs"), help="folder for benchmarks.md and benchmarks/*.png")
    p.add_argument("--skip-install", action="store_true", help="do not build the runtime-only venv")
    p.add_argument("--report-only", action="store_true", help="re-render the report from the last results JSON")
    return p.parse_args(argv)


def log(msg: str) -> None:
    tqdm.write(msg)


# ---------------------------------------------------------------- machine
def describe_machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    versions = {"Python": platform.python_version()}
    for pkg in ("onnxruntime", "torch", "transformers", "numpy", "tokenizers", "optimum-onnx", "lec-onnx"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem_kb / 1024 ** 2, "versions": versions,
            "os": platform.platform()}


# ---------------------------------------------------------------- artifacts
def int8_folder(model: BenchModel) -> Path:
    """MiniLM's int8 speed is the shipped default's graph; its fp32 graph comes from the bench export."""
    return DEFAULT_ARTIFACT if model.name == MINILM else model.artifact


def describe_artifacts(models: list[BenchModel]) -> list[dict]:
    rows = []
    shipped = ("default (shipped)", DEFAULT_ARTIFACT, MODELS[MINILM],
               "`make artifact`: all rows incl. test split, C = 0.01")
    entries = [shipped] if MINILM in [m.name for m in models] else []
    entries += [(f"bench/{m.name}", m.artifact, m, "this script: train split only, C = 0.01") for m in models]
    for name, folder, model, how in entries:
        sizes = cost.artifact_sizes(folder)
        manifest = json.loads((folder / "manifest.json").read_text())
        rows.append({"name": name, "folder": str(folder), "model": model.name, "layer": model.layer,
                     "layers": model.layers, "int8_mb": sizes.get("model.onnx", 0) / 1e6,
                     "fp32_mb": sizes["model.fp32.onnx"] / 1e6 if "model.fp32.onnx" in sizes else None,
                     "tokenizer_mb": sizes["tokenizer.json"] / 1e6, "how": how,
                     "parity": manifest.get("parity", {}),
                     "fp32_matmuls": manifest["graph"].get("int8_fp32_matmuls", 0)})
    return rows


# ---------------------------------------------------------------- speed
def flops_per_token(loaded, layers: int, tokens: int) -> float:
    """2 × matmul weights of the first `layers` layers + the attention term 4·s·hidden per layer."""
    import torch
    from lec_onnx.export.models import decoder_layers
    kept = decoder_layers(loaded.base)[:layers]
    weights = sum(m.weight.numel() for layer in kept for m in layer.modules() if isinstance(m, torch.nn.Linear))
    return 2.0 * weights + 4.0 * tokens * loaded.hidden_size * layers


def benchmark_model(model: BenchModel, mode: dict, notes: list[str]) -> dict:
    import torch
    from lec_onnx import Classifier
    from lec_onnx.export.models import load_model
    from lec_onnx.export.probe import load_probe

    loaded = load_model(str(model.path))
    probe, _ = load_probe(model.probe("content_safety"))
    vocab = json.loads((model.artifact / "manifest.json").read_text())["graph"]["vocab_size"]
    optimum_path, optimum_error = speed.optimum_model(model.path)
    if optimum_error:
        notes.append(f"{model.name}: {optimum_error}")
    trunk = lambda n: flops_per_token(loaded, model.layer, n)  # noqa: E731
    full = lambda n: flops_per_token(loaded, model.layers, n)  # noqa: E731
    flops = {"int8": trunk, "fp32": trunk, "int8-api": trunk, "fp32-api": trunk, "torch": full, "optimum": full}
    settings = [(b, n) for b in (1, 32) for n in mode["tokens"] if n <= loaded.model.config.max_position_embeddings]
    engines_count = 6 if optimum_path else 5
    timings, rate = [], {}
    with tqdm(total=len(THREADS) * len(settings) * engines_count, desc=f"speed {model.name}", unit="run") as bar:
        for threads in THREADS:
            torch.set_num_threads(threads)
            clf8 = Classifier.load(int8_folder(model), threads=threads, precision="int8")
            clf32 = Classifier.load(model.artifact, threads=threads, precision="fp32")
            engines = {"int8": speed.OnnxDirect(clf8, vocab), "fp32": speed.OnnxDirect(clf32, vocab),
                       "int8-api": speed.ClassifierApi(clf8), "fp32-api": speed.ClassifierApi(clf32),
                       "torch": speed.TorchFull(loaded, model.layer, vocab, probe.coef_, probe.intercept_)}
            if optimum_path:
                engines["optimum"] = speed.OptimumFull(optimum_path, threads, vocab, probe.coef_, probe.intercept_)
            timings += speed.run_settings(engines, flops, settings, threads, mode["budget"], bar, rate)
            del engines, clf8, clf32
    rows = [timing_row(t) for t in timings]
    print_speed(model.name, rows)
    return {"layer": model.layer, "layers": model.layers, "timings": rows,
            "optimum_error": optimum_error, "best": best_rates(rows, flops),
            "flops_per_token": {"trunk": {str(n): trunk(n) for n in (32, 128, 512)},
                                "full": {str(n): full(n) for n in (32, 128, 512)}}}


def timing_row(t: speed.Timing) -> dict:
    return {"engine": t.engine, "threads": t.threads, "batch": t.batch, "tokens": t.tokens,
            "texts_per_s": t.texts_per_s, "p50_ms": t.percentile_ms(50) if t.batch == 1 else None,
            "p95_ms": t.percentile_ms(95) if t.batch == 1 else None, "reps": len(t.seconds), "skipped": t.skipped}


def best_rates(rows: list[dict], flops: dict) -> dict:
    """Per graph engine, the setting with the most GFLOP/s achieved."""
    best = {}
    for r in rows:
        if r["engine"] in ("int8", "fp32", "torch", "optimum") and r["texts_per_s"]:
            gflops = flops[r["engine"]](r["tokens"]) * r["tokens"] * r["texts_per_s"] / 1e9
            if gflops > best.get(r["engine"], {}).get("gflops", 0):
                best[r["engine"]] = {"gflops": gflops, "threads": r["threads"], "batch": r["batch"],
                                     "tokens": r["tokens"]}
    return best


def print_speed(name: str, rows: list[dict]) -> None:
    log(f"\n{name}: texts/s (p50 ms at batch 1)")
    for r in rows:
        shown = (f"{r['texts_per_s']:9.1f}" + (f"  ({r['p50_ms']:.1f} ms)" if r["p50_ms"] else "")
                 if r["texts_per_s"] else f"  skipped: {r['skipped']}")
        log(f"  {r['engine']:9s} t{r['threads']} b{r['batch']:<2d} n{r['tokens']:<3d} {shown}")


def measure_peaks(previous: dict | None = None) -> dict:
    """Matmul peaks per thread count. Other jobs can only lower a measurement, so a second pass at the end of
    the run keeps the higher of the two (`previous`)."""
    peaks = {"numpy_fp32": {}, "ort_fp32": {}, "ort_int8": {}}
    for t in tqdm(THREADS, desc="peak matmul", unit="threads"):
        peaks["numpy_fp32"][str(t)] = speed.numpy_fp32_peak(t)
        peaks["ort_fp32"][str(t)] = speed.onnx_matmul_peak(t, int8=False)
        peaks["ort_int8"][str(t)] = speed.onnx_matmul_peak(t, int8=True)
    if previous:
        peaks = {k: {t: max(v, previous[k][t]) for t, v in d.items()} for k, d in peaks.items()}
    log("peak GFLOP/s (GOP/s for int8): " + json.dumps({k: {t: round(v, 1) for t, v in d.items()}
                                                        for k, d in peaks.items()}))
    return peaks


def measure_profiles(models: list[BenchModel]) -> dict:
    out = {}
    for m in tqdm(models, desc="profiling", unit="model"):
        vocab = json.loads((m.artifact / "manifest.json").read_text())["graph"]["vocab_size"]
        out[f"{m.name} int8"] = speed.profile_ops(int8_folder(m) / "model.onnx", 1, vocab)
        out[f"{m.name} fp32"] = speed.profile_ops(m.artifact / "model.fp32.onnx", 1, vocab)
    return out


# ---------------------------------------------------------------- cost
def measure_costs(models: list[BenchModel], mode: dict, skip_install: bool) -> dict:
    rss = {}
    jobs = [("default int8 (Classifier)", lambda: cost.classifier_rss_mb(DEFAULT_ARTIFACT, "int8"))]
    for m in models:
        jobs.append((f"{m.name} fp32 truncated (Classifier)", lambda m=m: cost.classifier_rss_mb(m.artifact, "fp32")))
        if m.name != MINILM:
            jobs.append((f"{m.name} int8 truncated (Classifier)",
                         lambda m=m: cost.classifier_rss_mb(m.artifact, "int8")))
        jobs.append((f"{m.name} PyTorch fp32 full model", lambda m=m: cost.torch_rss_mb(m.path)))
    for name, job in tqdm(jobs, desc="peak memory", unit="process"):
        rss[name] = job()
    cold = cost.cold_start(mode["cold_runs"])
    log(f"cold start: {json.dumps(cold, indent=1)}")
    install = {}
    if not skip_install:
        log("building a runtime-only venv in /tmp (pip install, no torch)...")
        try:
            install = cost.runtime_install(mode["cold_runs"])
            log(f"runtime-only site-packages: {install['site_packages'] / 1e6:.0f} MB")
        except Exception as e:  # a failed pip (no network, ...) must not lose the rest of the run
            install = {"error": f"{type(e).__name__}: {e}"}
    return {"rss_mb": rss, "cold_start": cold, "cold_runs": mode["cold_runs"], "install": install}


# ---------------------------------------------------------------- quality
def measure_quality(models: list[BenchModel], artifacts: list[dict], max_rows: int) -> dict:
    from lec_onnx import Classifier
    from lec_onnx.export.models import load_model
    # fp32 too: the int8 graph of a decoder can lose accuracy (see the parity column of the artifacts table)
    classifiers = {f"{a['name']} {p}": Classifier.load(a["folder"], threads=2, precision=p)
                   for a in artifacts for p in ("int8", "fp32") if p == "int8" or a["fp32_mb"]}
    sets = {task: quality.task_set(task, max_rows, list(classifiers.values()))
            for task in ("content_safety", "prompt_injection")}
    tasks = {}
    for task, ts in sets.items():
        entries = {"TF-IDF + LR (train split)": quality.score_tfidf(ts)}
        for name, clf in tqdm(classifiers.items(), desc=f"quality {task}", unit="artifact"):
            entries[name] = quality.score_artifact(clf, ts)
        tasks[task] = entries
    for m in models:  # one model load per model serves both tasks
        loaded = load_model(str(m.path))
        for task, ts in sets.items():
            result = quality.score_torch_probe(m, loaded, ts)
            if result:
                tasks[task][f"{m.name} PyTorch fp32 probe, layer {m.layer}"] = result
        del loaded
    for task, entries in tasks.items():
        log(f"\nquality {task}:")
        for name, q in entries.items():
            log(f"  {name:55s} F1 {q['f1']:.3f} AUC {q['roc_auc']:.3f} R@1%FPR {q['recall_at_1pct_fpr']:.3f} "
                f"(n={q['n']})")
    return {"max_rows": max_rows, "tasks": tasks,
            "rows": {t: {"test": ts.test_rows, "single_window": ts.single_window, "scored": len(ts.rows)}
                     for t, ts in sets.items()}}


# ---------------------------------------------------------------- main
def results_path(quick: bool) -> Path:
    return BENCH_DIR / ("results-quick.json" if quick else "results.json")


def write_report(results: dict, out: Path) -> Path:
    results["plots"] = report.plot_all(results, out / "benchmarks")
    path = out / "benchmarks.md"
    path.write_text(report.markdown(results))
    return path


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out).resolve()
    if args.report_only:
        print(f"report written to {write_report(json.loads(results_path(args.quick).read_text()), out)}")
        return 0
    mode = MODES["quick" if args.quick else "full"]
    names = args.models or ([MINILM] if args.quick else list(MODELS))
    models = [MODELS[n] for n in names]
    started, t0 = datetime.datetime.now(datetime.timezone.utc), time.perf_counter()
    load_start = os.getloadavg()
    log(f"load average {load_start}; models: {', '.join(names)}")
    notes: list[str] = [
        "MiniLM: the int8 speed rows are the shipped default graph; the fp32 rows come from the bench export of the "
        "same model, layer and heads (the default ships int8 only).",
        "Classifier rows at 512 tokens: the artifacts' window is 256 tokens, so the Classifier scores such a text "
        "as overlapping windows (stride 128) — the cost a user pays; the session rows run one 512-token sequence. "
        "Where a decoder's chat markup (with its default system prompt) alone is near 32 tokens, the 32-token "
        "Classifier text is a single word and the window a little longer than 32.",
        "Each engine is warmed up once per setting (skipped when one call is estimated longer than the per-setting "
        "time budget), then timed until the budget is spent; batch-1 settings get enough calls for a p95.",
    ]
    for m in models:
        ensure_artifact(m, log)
    if not (DEFAULT_ARTIFACT / "manifest.json").exists():
        raise SystemExit(f"the shipped default artifact is missing: {DEFAULT_ARTIFACT}")
    command = " ".join(["python benchmarks/run.py", shlex.join(sys.argv[1:] if argv is None else argv)]).strip()
    results = {"command": command,
               "started": started.strftime("%Y-%m-%d %H:%M UTC"), "quick": args.quick, "load_start": load_start,
               "machine": describe_machine(), "threads": list(THREADS), "notes": notes,
               "artifacts": describe_artifacts(models)}
    results["peak"] = measure_peaks()
    results["models"] = {m.name: benchmark_model(m, mode, notes) for m in models}
    results["profiles"] = measure_profiles(models)
    results["cost"] = measure_costs(models, mode, args.skip_install)
    results["quality"] = measure_quality(models, results["artifacts"], mode["quality_rows"])
    results["peak"] = measure_peaks(results["peak"])
    results["load_end"] = os.getloadavg()
    results["minutes"] = (time.perf_counter() - t0) / 60
    results_path(args.quick).parent.mkdir(parents=True, exist_ok=True)
    results_path(args.quick).write_text(json.dumps(results, indent=1, default=float))
    path = write_report(results, out)
    print("\n" + "\n".join(report.targets(results)[0]))
    print(f"\nreport written to {path} ({results['minutes']:.1f} min); raw results in {results_path(args.quick)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
