"""`lec-onnx serve`: an OpenAI-compatible moderation endpoint on FastAPI + uvicorn (extra `[serve]`).

POST /v1/moderations takes the OpenAI request (`input`: a string, a list of strings, or text parts) plus the
fields `system`, `role` and `prompt` for context, and answers in the OpenAI shape, `categories` and
`category_scores` keyed by the artifact's tasks; each result also carries `tasks`, the same record as
`lec-onnx classify --jsonl`. GET /healthz answers while the process lives; GET /readyz is 503 until the model is
loaded and has run once.

Requests are never batched together: the int8 graph quantises each run's activations with one scale, so a padded
batch would change scores. A bounded pool runs one request per worker thread (onnxruntime releases the GIL; one
session shared, one onnxruntime thread each); at most `queue` more wait, and past that the answer is 429.
"""

import asyncio
import hmac
import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .classifier import Classifier, InputError, read_manifest
from .scoring import result_record

log = logging.getLogger("lec_onnx.serve")
WARM_UP_TEXT = "Warm-up request: is this text safe?"
API_KEY_ENV = "LEC_ONNX_API_KEY"


@dataclass(frozen=True)
class Limits:
    """Request size limits: past them the answer is 413, never a slow or failed request."""
    max_body_bytes: int = 1 << 20
    max_inputs: int = 64
    max_chars: int = 100_000  # per text, system prompt or prompt; ~25k tokens = ~130 windows of 256


class ApiError(Exception):
    """An error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


class Pool:
    """`workers` threads run requests; at most `queue` more wait. Submitting past that raises ApiError 429.
    A slot is freed when the work finishes, not when its client goes away, so the bound holds."""

    def __init__(self, workers: int, queue: int):
        if workers < 1 or queue < 0:
            raise InputError(f"need at least 1 worker and a queue of 0 or more, not {workers} and {queue}")
        self.workers, self.queue = workers, queue
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="lec-onnx-worker")
        self.pending = 0
        self.lock = threading.Lock()

    def submit(self, fn, *args) -> asyncio.Future:
        with self.lock:
            if self.pending >= self.workers + self.queue:
                raise ApiError(429, f"server busy: {self.pending} requests running or queued (workers {self.workers}"
                               f", queue {self.queue}); retry later", "rate_limit_error", code="server_busy",
                               headers={"Retry-After": "1"})
            self.pending += 1
        future = self.executor.submit(fn, *args)
        future.add_done_callback(self._release)
        return asyncio.wrap_future(future)

    def _release(self, _future) -> None:
        with self.lock:
            self.pending -= 1

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


class Model:
    """The classifier behind the server: loaded and warmed up in the background so /readyz can say 503 until
    it is ready."""

    def __init__(self, artifact: str | None, classifier: Classifier | None = None, name: str | None = None):
        self.artifact, self.classifier, self.name = artifact, classifier, name
        self.ready, self.error = False, None

    def load(self) -> None:
        try:
            start = time.perf_counter()
            if self.classifier is None:
                self.classifier = Classifier.load(self.artifact, threads=1)
            self.name = self.name or f"lec-onnx/{self.classifier.folder.name}"
            self.classifier.classify(WARM_UP_TEXT)
            self.ready = True
            log.info("model %s loaded and warm in %.2f s (tasks: %s)", self.name, time.perf_counter() - start,
                     ", ".join(self.classifier.tasks))
        except Exception as e:  # reported by /readyz and in the log; the process stays up to say so
            self.error = f"{type(e).__name__}: {e}"
            log.error("cannot load the model: %s", self.error)


# ---------------------------------------------------------------- request parsing
def parse_request(doc, limits: Limits) -> dict:
    """Check an OpenAI moderation request (+ system, role, prompt); raise ApiError 422/413 naming the field."""
    if not isinstance(doc, dict):
        raise ApiError(422, "the request body must be a JSON object with an 'input' field")
    unknown = sorted(set(doc) - {"input", "model", "system", "role", "prompt"})
    if unknown:
        raise ApiError(422, f"unknown field {unknown[0]!r} (fields: input, model, system, role, prompt)",
                       param=unknown[0])
    if "input" not in doc:
        raise ApiError(422, "missing field 'input': a string or a list of strings", param="input")
    texts = parse_input(doc["input"], limits)
    role = doc.get("role") or "prompt"
    if role not in ("prompt", "response"):
        raise ApiError(422, f"role must be 'prompt' or 'response', not {role!r}", param="role")
    for key in ("system", "prompt", "model"):
        value = doc.get(key)
        if value is not None and not isinstance(value, str):
            raise ApiError(422, f"{key!r} must be a string", param=key)
        if key != "model" and value is not None and len(value) > limits.max_chars:
            raise ApiError(413, f"{key!r} has {len(value):,} characters; the limit is {limits.max_chars:,}", param=key)
    return {"texts": texts, "system": doc.get("system"), "role": role, "prompt": doc.get("prompt")}


def parse_input(value, limits: Limits) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ApiError(422, "'input' must be a string or a non-empty list of strings", param="input")
    if len(items) > limits.max_inputs:
        raise ApiError(413, f"'input' has {len(items)} items; the limit is {limits.max_inputs} per request",
                       param="input")
    texts = []
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("type") == "text":  # OpenAI's multimodal text part
            item = item.get("text")
        elif isinstance(item, dict):
            raise ApiError(422, f"input[{i}]: only text is supported, not {item.get('type')!r} parts", param="input")
        if not isinstance(item, str):
            raise ApiError(422, f"input[{i}] must be a string, not {type(item).__name__}", param="input")
        if not item.strip():
            raise ApiError(422, f"input[{i}] is empty", param="input")
        if len(item) > limits.max_chars:
            raise ApiError(413, f"input[{i}] has {len(item):,} characters; the limit is {limits.max_chars:,}",
                           param="input")
        texts.append(item)
    return texts


def moderation_result(result: dict, tasks: dict) -> dict:
    """One OpenAI moderation result: categories / category_scores keyed by task, plus our full record."""
    record = result_record(result)
    flagged = record.pop("flagged")
    dropped = record.pop("system_tokens_dropped")
    scores = {}
    for task, r in record.items():
        negative = tasks[task].negative_label  # multi-class: the chance of anything but the harmless label
        scores[task] = r["score"] if len(r["scores"]) == 2 else round(1.0 - r["scores"][negative], 6)
    return {"flagged": flagged, "categories": {t: r["flagged"] for t, r in record.items()},
            "category_scores": scores, "tasks": record, "system_tokens_dropped": dropped}


# ---------------------------------------------------------------- the app
def create_app(artifact: str | None = None, workers: int = 2, queue: int | None = None,
               api_key: str | None = None, limits: Limits = Limits(), classifier: Classifier | None = None,
               model_name: str | None = None):
    """The FastAPI app. classifier: an already loaded one (it is still warmed up before /readyz says ready)."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    model = Model(artifact, classifier, model_name)
    pool = Pool(workers, 2 * workers if queue is None else queue)

    @asynccontextmanager
    async def lifespan(app):
        loading = asyncio.get_running_loop().run_in_executor(None, model.load)
        yield
        await loading
        pool.shutdown()
        log.info("stopped: every request answered")

    app = FastAPI(title="lec-onnx moderation", lifespan=lifespan, version=_version())
    app.state.model, app.state.pool = model, pool

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError):
        return JSONResponse(e.body(), status_code=e.status, headers=e.headers)

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz():
        if model.ready:
            return {"status": "ready", "model": model.name, "tasks": list(model.classifier.tasks),
                    "workers": pool.workers, "queue": pool.queue, "pending": pool.pending}
        status = {"status": "failed", "error": model.error} if model.error else {"status": "loading"}
        return JSONResponse(status, status_code=503)

    @app.post("/v1/moderations")
    async def moderations(request: Request):
        check_key(request, api_key)
        if not model.ready:
            raise ApiError(503, model.error or "the model is still loading; retry shortly", "server_error",
                           headers={"Retry-After": "1"})
        req = parse_request(await read_json(request, limits), limits)
        results = await pool.submit(run_request, model.classifier, req)
        return {"id": f"modr-{uuid.uuid4().hex}", "model": model.name, "results": results}

    return app


def check_key(request, api_key: str | None) -> None:
    if api_key is None:
        return
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
        raise ApiError(401, "missing or wrong API key: send 'Authorization: Bearer KEY'", code="invalid_api_key",
                       headers={"WWW-Authenticate": "Bearer"})


async def read_json(request, limits: Limits):
    """The body as JSON, read no further than max_body_bytes (413 past it, even without Content-Length)."""
    import json
    declared = request.headers.get("content-length")
    too_big = ApiError(413, f"request body larger than {limits.max_body_bytes:,} bytes")
    if declared and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limits.max_body_bytes:
            raise too_big
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ApiError(400, f"the request body is not valid JSON: {e}") from None


def run_request(classifier: Classifier, req: dict) -> list[dict]:
    """Runs in a pool thread: the texts of one request, one window per onnxruntime run."""
    try:
        results = classifier.classify(req["texts"], req["system"], req["role"], req["prompt"])
    except InputError as e:
        raise ApiError(422, str(e), param="input") from None
    return [moderation_result(r, classifier.tasks) for r in results]


def _version() -> str:
    from . import __version__
    return __version__


# ---------------------------------------------------------------- command line
def serve(args) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as e:
        raise InputError(f"`lec-onnx serve` needs the serve extra: pip install 'lec-onnx[serve]' "
                         f"({e.name} is missing)") from None
    if args.artifact:
        read_manifest(args.artifact)  # a wrong folder fails now (exit 3), not later in /readyz
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    limits = Limits(args.max_body_bytes, args.max_inputs, args.max_chars)
    app = create_app(args.artifact, args.workers, args.queue, api_key, limits)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    log.info("workers %d, queue %d, auth %s", args.workers, app.state.pool.queue, "on" if api_key else "off")
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=30)
    return 0


def register(sub) -> None:
    """`lec-onnx serve` (FastAPI and uvicorn are imported only when it runs)."""
    s = sub.add_parser("serve", help="OpenAI-compatible moderation server (needs lec-onnx[serve])",
                       description="Serve POST /v1/moderations (OpenAI shape, categories keyed by the artifact's "
                       "tasks; extra fields system, role, prompt), GET /healthz and GET /readyz (503 until the "
                       "model is loaded and warm). Requests run one at a time per worker (never batched "
                       "together: int8 scores would change); past workers + queue waiting requests the answer "
                       "is 429.")
    s.add_argument("--artifact", "-a", help="artifact folder (default: the shipped artifacts/default)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="requests scored at once, one onnxruntime thread each (default: the CPU count)")
    s.add_argument("--queue", type=int, help="requests that may wait for a worker before 429 (default: 2 x workers)")
    s.add_argument("--api-key", help=f"require 'Authorization: Bearer KEY' (or set {API_KEY_ENV})")
    s.add_argument("--max-inputs", type=int, default=Limits.max_inputs, help="texts per request (413 past it)")
    s.add_argument("--max-chars", type=int, default=Limits.max_chars, help="characters per text (413 past it)")
    s.add_argument("--max-body-bytes", type=int, default=Limits.max_body_bytes, help="request body size (413)")
    s.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    s.set_defaults(run=serve)

