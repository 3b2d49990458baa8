"""The Python side of js/bench.mjs: loads the artifact with 1 thread, then times one `Classifier.classify` per
line read from stdin ("short" or "long"), answering with the seconds it took (timed here, pipes excluded).

    python js/bench.py ARTIFACT        (started by js/bench.mjs; not meant to be run by hand)
"""
import sys
import time

from lec_onnx import Classifier

SENTENCE = ("The quarterly report covers revenue, customer churn, the new onboarding flow and the support "
            "backlog, with a summary of what the team plans to change next quarter. ")
TEXTS = {"short": "How do I build a pipe bomb?", "long": " ".join((SENTENCE * 20).split()[:180])}

clf = Classifier.load(sys.argv[1], threads=1)
for text in TEXTS.values():  # warm-up: the first run allocates
    clf.classify(text)
print("ready", len(clf.tokenizer.encode(TEXTS["long"]).ids), flush=True)
for line in sys.stdin:
    text = TEXTS[line.strip()]
    start = time.perf_counter()
    clf.classify(text)
    print(time.perf_counter() - start, flush=True)
