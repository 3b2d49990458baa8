"""Locust user for benchmarks/serving.py: POST one prompt at a time to /v1/moderations, no think time.

Requests are grouped by HTTP status (the stats rows are named "200", "429", ...), so the latency of answered
requests is not mixed with the instant 429s of a full pool.
"""
import json
import os
import random
from pathlib import Path

from locust import HttpUser, constant, task

DATA = Path(__file__).resolve().parent.parent / "data" / "content_safety.jsonl"
PROMPTS = [json.loads(line)["text"] for line in DATA.open(encoding="utf-8")]
API_KEY = os.environ.get("LEC_ONNX_API_KEY")


class ModerationUser(HttpUser):
    wait_time = constant(0)

    def on_start(self):
        self.rng = random.Random(id(self))
        if API_KEY:
            self.client.headers["Authorization"] = f"Bearer {API_KEY}"

    @task
    def moderate(self):
        body = {"input": self.rng.choice(PROMPTS), "model": "lec-onnx"}
        with self.client.post("/v1/moderations", json=body, catch_response=True) as response:
            response.request_meta["name"] = str(response.status_code)
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
