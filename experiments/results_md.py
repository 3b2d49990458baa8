"""Collect docs/results/<model>/<task>/sweep.{json,md} into docs/results.md (summary first, then each sweep)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
COMMAND = ("lec-onnx sweep -m ~/.cache/lec-onnx/models/{model} {data} --max-length 256 "
           "--heldout data/heldout-sha256.txt {extra}--out docs/results/{model}/{task}")
DATA = {"content_safety": "-d data/content_safety.jsonl -d data/overrefusal.jsonl --cap {cs}",
        "prompt_injection": "-d data/prompt_injection.jsonl --cap {pi}"}
# the 0.5B model costs ~5x the 135M one per text: fewer rows per source fit this machine's budget
CAPS = {"Qwen2.5-Coder-0.5B-Instruct": (40, 25, "--zero-shot-rows 100 --layer-step 2 ")}
DEFAULT_CAPS = (100, 80, "--zero-shot-rows 200 ")


def summary_rows(sweeps):
    yield ("| model | task | best layer / depth | pooling | LOSO F1 | in-dist. F1 | TF-IDF LOSO / in-dist. | "
           "zero-shot F1 | examples to beat TF-IDF | FPR over-refusal (held out / in mix) |")
    yield "|---|---|---|---|---|---|---|---|---|---|"
    for (model, task), r in sweeps.items():
        b, base = r["best"], r["baselines"]
        zs = base.get("zero_shot", {}).get("in_distribution", {}).get("f1")
        hn = r.get("hard_negatives")
        fpr = f"{hn['fpr_unseen_source']:.2f} / {hn['fpr_in_distribution']:.2f}" if hn else "–"
        zero_shot = "–" if zs is None else f"{zs:.3f}"
        yield (f"| {model} | {task} | {b['layer']} / {b['num_layers']} | {b['pooling']} | **{b['loso']['f1']:.3f}** | "
               f"{b['in_distribution']['f1']:.3f} | {base['tfidf_lr']['loso']['f1']:.3f} / "
               f"{base['tfidf_lr']['in_distribution']['f1']:.3f} | {zero_shot} | "
               f"{r['samples_to_beat'].get('tfidf_lr') or 'not reached'} | {fpr} |")


def main(intro: Path | None = None) -> None:
    sweeps = {}
    for path in sorted((DOCS / "results").glob("*/*/sweep.json")):
        sweeps[(path.parent.parent.name, path.parent.name)] = json.loads(path.read_text())
    stress = DOCS / "results" / "stress" / "README.md"  # the stress panel (issue 9), experiments/stress_md.py
    parts = [intro.read_text() if intro else "# Results", "",
             *([stress.read_text().replace("](", "](results/stress/").replace("](results/stress/http", "](http"), ""]
               if stress.exists() else []),
             "## Summary (leave-one-source-out sweeps, v1 data)", "", *summary_rows(sweeps), ""]
    for model, task in sweeps:
        folder = f"results/{model}/{task}"
        cs, pi, extra = CAPS.get(model, DEFAULT_CAPS)
        command = COMMAND.format(model=model, data=DATA[task].format(cs=cs, pi=pi), task=task, extra=extra)
        parts += [f"## {model} — {task}", "", "```bash", command,
                  "```", "", (DOCS / folder / "sweep.md").read_text().split("\n", 1)[1], "",
                  f"![F1 by layer]({folder}/f1_by_layer.png) ![F1 vs size]({folder}/f1_vs_size.png) "
                  f"![layer x size]({folder}/heatmap.png)", ""]
    (DOCS / "results.md").write_text("\n".join(parts))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
