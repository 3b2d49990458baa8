"""Collect the stress panels (build/panel/<set>/...) into docs/results/stress/ and print their Markdown.

    python scripts/stress_md.py > docs/results/stress/README.md
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "results" / "stress"
PANELS = {  # folder under build/panel -> (title, command that made it)
    "minilm": ("all-MiniLM-L6-v2, full panel (the shipped recipe is chosen here)", "scripts/panels_minilm.sh"),
}
MODELS = ("all-MiniLM-L6-v2", "all-mpnet-base-v2", "SmolLM2-135M-Instruct")


def copy_panel(src: Path, name: str) -> str:
    dst = DOCS / name
    dst.mkdir(parents=True, exist_ok=True)
    for f in ("panel.json", "panel.md", "panel.png"):
        shutil.copy(src / f, dst / f)
    return f"{(dst / 'panel.md').read_text().strip()}\n\n![{name}]({name}/panel.png)\n"


def model_table() -> list[str]:
    """Best configuration per base model and task on the same small subset."""
    lines = ["| base model | task | best layer | C | mean held-out-family AUC | eval-only AUC |",
             "|---|---|---|---|---|---|"]
    for model in MODELS:
        for task in ("content_safety", "toxicity"):
            path = ROOT / "build" / "panel" / "models" / model / task / "panel.json"
            if not path.exists():
                continue
            r = json.loads(path.read_text())
            b = next(c for c in r["configs"] if all(c[k] == r["best"][k] for k in ("pooling", "layer", "C")))
            evals = ", ".join(f"{n} {m['auc']:.3f}" for n, m in b["eval_only"].items() if m["auc"] is not None)
            lines.append(f"| {model} | {task} | {b['layer']} / {r['model']['layers']} | {b['C']} | {b['score']:.3f} | "
                         f"{evals} |")
    return lines


INTRO = """## Stress panel (issue 9): figures that predict unseen data

The leave-one-source-out sweeps further down hold out one *source* at a time, but sources of one kind (five
sets of harmful requests, four of toxic tweets) vouch for each other, and the shipped default scored 0.64-0.67
weighted F1 on unseen public sets of other kinds. The stress panel (`lec-onnx panel`, `export/panel.py`) holds out
whole **families** of sources instead: hard negatives (harmless prompts that sound risky), new harmful requests,
toxic statements, system-prompt pairs, indirect injections, trigger-word negatives... A probe trained on every
other family scores the held-out one; a family with one label is pooled with the other label's out-of-family
rows so that AUC and recall at a false-positive rate exist. The **eval-only** sets (ToxicChat, OKTest, ETHOS,
DecodingTrust, SEP, ToxicChat jailbreaks: never trained on, never in the repository) are scored by the probe
trained on the whole mix. Per row: weighted F1 at the task's threshold, ROC-AUC, recall at 1% and 5% FPR, and
the share flagged.

Operating points: the out-of-family decision values calibrate the probe (Platt scaling, folded into the probe's
weights and bias, so the graph's Gemm outputs calibrated scores); the threshold is the one that maximises
weighted F1 on the pooled out-of-family scores (`--threshold-rule max-f1`; `hard-negative-fpr` instead keeps
the false positives on hard negatives at or under `--max-fpr`). Configurations are ranked on the mean AUC of the
held-out families; the eval-only sets only check the choice. Machine: 2 cores shared with 4 other jobs (load
10-15), one thread per job, so rows are capped per (source, label, split) and the grids are small.

```bash
python scripts/build_data_v2.py        # data/ v2 from ../shared/data/extra
scripts/panels_minilm.sh               # the three MiniLM panels below and probes/*.json (lec-onnx panel ...)
CS_ONLY=1 scripts/panels_models.sh     # base models on one small subset (content_safety)
python scripts/old_vs_new.py           # old default vs TF-IDF + LR vs new, per task
python scripts/stress_md.py > docs/results/stress/README.md && python scripts/results_md.py docs/results_intro.md
```
"""


FINDINGS = """**Findings (MiniLM, measured 2026-11-24 under CPU load from 4 other jobs).**
- The new recipe does **not** beat the old default on every row. Where both are on unseen data (the v2 families
  and the eval-only sets) it wins on toxicity everywhere except ToxicChat (ETHOS F1 0.60 → 0.70, DecodingTrust
  toxicity 0.55 → 0.80, stereotypes 0.60 → 0.76, every held-out toxic-statement family), on OKTest (safe
  requests with alarming words: F1 0.79 → 0.94, flagged 35% → 11%), on held-out hard negatives (F1 0.67 → 0.70)
  and on system-prompt pairs (recall at 5% FPR 0.65 → 0.75); it loses on ToxicChat (content safety AUC 0.77 →
  0.68; F1 0.70 → 0.57) and SEP (F1 0.41 → 0.35; neither separates SEP: AUC 0.56 / 0.54, TF-IDF 0.61).
  On the v1 families the old probe was trained on those very sources, so it looks better there.
- Content safety with toxic statements as negatives keeps the two concepts apart on OKTest, but when the toxic
  statements are themselves held out the request head scores them high (AUC 0.70): the data mix that teaches
  "a statement is not a request" needs statements of every kind.
- Indirect injections (BIPIA) held out are not detected at all (AUC 0.49): nothing else in the mix looks like a
  document with an embedded instruction; SEP (eval-only) is the same kind and fails the same way.
- Goals 0.90 / 0.80 / 0.95 are not met with MiniLM. On the same small subset, all-mpnet-base-v2 (layer 8) beats
  MiniLM on every content-safety measure (mean held-out-family AUC 0.85 vs 0.79, ToxicChat AUC 0.80 vs 0.74):
  the next step is its full panel (SmolLM2 and Qwen2.5-Coder were not run: CPU budget).
- Export check of the three probes (`lec-onnx export ... --parity-rows 200`): with 7 of 30 MatMuls in fp32 the
  int8 graph agrees with torch on 99.0% / 99.5% / 99.5% of labels, but content_safety's F1 differs by 0.017, so
  the gate refused. The calibrated content_safety scores are compressed (Platt a = 0.24: out-of-family, the raw
  probe is overconfident) and the gate compares labels at 0.5 rather than at the task's threshold (0.39).
"""


def mix_table() -> list[str]:
    """Content-safety data mixes at the chosen layer: excluded sources are still scored, never trained on."""
    variants = {"v2 recipe (all families; toxic statements as negatives)": ROOT / "build/panel/minilm/content_safety"}
    variants.update({f"without {p.name[3:] if p.name.startswith('no-') else p.name}": p
                     for p in sorted((ROOT / "build" / "panel" / "minilm-mix").glob("*"))})
    lines = ["| content_safety mix (layer 5, C = 0.01) | mean family AUC | hard negatives F1 / AUC | toxic statements "
             "AUC | OKTest flagged | ToxicChat AUC |", "|---|---|---|---|---|---|"]
    for name, folder in variants.items():
        if not (folder / "panel.json").exists():
            continue
        r = json.loads((folder / "panel.json").read_text())
        c = next(c for c in r["configs"] if c["layer"] == 5)
        hn, tox = c["families"]["hard negatives"], c["families"]["toxic statements"]
        lines.append(f"| {name} | {c['score']:.3f} | {hn['f1']:.2f} / {hn['auc']:.2f} | {tox['auc']:.2f} | "
                     f"{c['eval_only']['oktest']['flag_rate']:.0%} | {c['eval_only']['toxicchat']['auc']:.2f} |")
    return lines


def main() -> None:
    parts = [INTRO, FINDINGS]
    old_vs_new = DOCS / "old_vs_new.md"
    if old_vs_new.exists():
        parts += ["### Old default vs new recipe, per task (scripts/old_vs_new.py)", "",
                  "Each cell: old / TF-IDF + LR / **new**; ▲ where new beats old. Old: the shipped recipe (MiniLM "
                  "layer 5, C = 0.01, v1 data, threshold 0.5) refitted on the panel's features; it saw the v1 "
                  "families, so on them it is in-distribution. TF-IDF + LR (1-2-grams, threshold 0.5) and new go "
                  "through the panel protocol (family held out whole). New: the panel's choice, calibrated, at its "
                  "threshold.", "", old_vs_new.read_text()]
    for folder, (title, command) in PANELS.items():
        for task in ("content_safety", "toxicity", "prompt_injection"):
            src = ROOT / "build" / "panel" / folder / task
            if (src / "panel.json").exists():
                parts += [f"### {title}: {task}", "", f"Made by `{command}` (the commands are in the script).", "",
                          copy_panel(src, f"{folder}-{task}").split("\n", 1)[1]]
    for model in MODELS:
        for task in ("content_safety", "toxicity"):
            src = ROOT / "build" / "panel" / "models" / model / task
            if (src / "panel.json").exists():
                copy_panel(src, f"subset-{model}-{task}")
    mix = ["### Data mix (content_safety)", "", "`lec-onnx panel ... --layer 5 --exclude SOURCE` (same command as "
           "the MiniLM panel): an excluded source is still scored as a panel row but never trained on. Leaving out "
           "the weakly labelled hh-rlhf red-team openers helps on toxic statements but costs hard negatives (the "
           "issue's first concern), so they stay in. Without toxic statements as negatives, hard negatives and "
           "ToxicChat improve but every row whose comparison set holds the (now unseen) toxic statements drops; "
           "this choice deserves a second look (not resolved in the time available). Rows with one label meet the "
           "other families' test rows, so mixes that drop a family also change those comparison rows.", "",
           *mix_table(), ""]
    print("\n".join(parts + mix + ["### Base models on the same subset (scripts/panels_models.sh)", "",
                                   *model_table()]))


if __name__ == "__main__":
    main()
