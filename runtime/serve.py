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
import math
import os
import threading
import time
import uuid
from collections import deque
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass

from .classifier import Classifier, InputError, read_manifest
from .errors import WindowLimitError
from .scoring import result_record

log = logging.getLogger("lec_onnx.serve")
WARM_UP_TEXT = "Warm-up request: is this text safe?"
API_KEY_ENV = "LEC_ONNX_API_KEY"
TURN_SECONDS = 0.05  # a job runs windows for this long per turn (a long document's window is one turn)
INTAKE_SECONDS = 1.0  # a request of many characters waits at most this long for its first turn in the long lane
FIT = 0.5  # work is admitted only if its estimated time fits this share of the time left before its deadline


@dataclass(frozen=True)
class Limits:
    """What one request may cost. Size past them is 413, never a slow or failed request; time past `timeout` is
    503; long documents past what the long lane can finish in time are 429 (see Pool)."""
    max_body_bytes: int = 1 << 20
    max_inputs: int = 64
    max_chars: int = 100_000  # per text, system prompt or prompt; ~25k tokens = ~130 windows of 256
    max_windows: int = 256  # onnxruntime runs per request, counted with the tokenizer before any run (413)
    timeout: float = 30.0  # seconds from arrival to answer; past it 503 and the request's turns stop
    long_windows: float = 1.0  # a request whose work is more than this many full windows (in tokens) is long

    def describe(self, workers: int) -> dict:
        """The limits as GET /healthz shows them."""
        return {"max_body_bytes": self.max_body_bytes, "max_inputs": self.max_inputs, "max_chars": self.max_chars,
                "max_windows": self.max_windows, "timeout_seconds": self.timeout,
                "long_windows": self.long_windows, "long_workers": max(1, workers // 2)}


class ApiError(Exception):
    """An error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


def busy(message: str) -> ApiError:
    return ApiError(429, message, "rate_limit_error", code="server_busy", headers={"Retry-After": "1"})


def deadline_error(timeout: float, detail: str) -> ApiError:
    return ApiError(503, f"no answer within the server's timeout of {timeout:g} s ({detail}); retry later, or "
                    "send fewer or shorter texts", "server_error", code="timeout", headers={"Retry-After": "1"})


class Job:
    """One request in the pool. Its first turn tokenises and counts windows: past max_windows, or past what this
    server can score before the deadline at its measured speed, the answer is 413 before any run. Each later turn
    runs windows for up to TURN_SECONDS (a short request finishes in one turn; a long document's window is one
    turn). It stops at its deadline, or once its client has been answered already."""

    def __init__(self, classifier: Classifier, req: dict, limits: Limits, arrived: float | None = None):
        self.classifier, self.req, self.limits = classifier, req, limits
        self.arrived = time.monotonic() if arrived is None else arrived
        self.deadline = self.arrived + limits.timeout
        self.future: Future = Future()
        self.scoring = None  # set by the first turn
        self.abandoned = False  # the handler answered 503 already: stop at the next turn
        # the lane: a request with many characters is tokenised in the long lane already (~4 characters a
        # token), so short requests never wait for that; the first turn then decides by the tokens
        chars = sum(map(len, req["texts"])) + len(req["system"] or "") + len(req["prompt"] or "")
        self.long = chars > 4 * classifier.max_length * limits.long_windows
        self.outcome = None  # what to deliver to the waiting client, once the pool has freed the job's slot

    def turn(self, window_seconds: float | None = None) -> bool:
        """Work for one turn; True when the job is finished and `deliver()` will answer. Never raises."""
        try:
            if self.abandoned:
                self.outcome = (None, None)
                return True
            if self.scoring is None:
                self._check_deadline()
                self.scoring = self._start(window_seconds)
                self.long = self.scoring.work_left > self.limits.long_windows
                if self.long:
                    return False  # its windows run in the long lane
            if not self._run_for(TURN_SECONDS):
                return False
            results = [moderation_result(r, self.classifier.tasks) for r in self.scoring.results()]
            self.outcome = (self.future.set_result, results)
        except ApiError as e:
            self.outcome = (self.future.set_exception, e)
        except Exception as e:  # a bug must still answer (500, logged), never leave the client waiting
            log.exception("request failed")
            self.outcome = (self.future.set_exception, ApiError(500, f"internal error: {type(e).__name__}",
                                                                "server_error"))
        return True

    def _run_for(self, seconds: float) -> bool:
        """Run windows until none are left (True) or `seconds` have passed (False); the deadline is checked
        before every run."""
        began = time.monotonic()
        while True:
            self._check_deadline()
            if not self.scoring.step():
                return True
            if time.monotonic() - began >= seconds:
                return False

    def _check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            scoring = self.scoring
            done = sum(len(batch) for batch in scoring.batches[:scoring.done]) if scoring else 0
            raise deadline_error(self.limits.timeout, f"{done} of {scoring.windows if scoring else '?'} windows "
                                 "scored")

    def _start(self, window_seconds: float | None):
        req = self.req
        try:
            scoring = self.classifier.start(req["texts"], req["system"], req["role"], req["prompt"],
                                            max_windows=self.limits.max_windows)
        except WindowLimitError as e:
            raise ApiError(413, f"{e} (--max-windows)", param="input", code="too_many_windows") from None
        except InputError as e:
            raise ApiError(422, str(e), param="input") from None
        needed = scoring.work_left * (window_seconds or 0.0)
        if needed > FIT * (self.deadline - time.monotonic()):
            raise ApiError(413, f"the texts need {scoring.windows} windows, about {needed:.0f} s of scoring on this "
                           f"server ({window_seconds:.2f} s a full window), more than its timeout of "
                           f"{self.limits.timeout:g} s allows: send fewer or shorter texts", param="input",
                           code="too_many_windows")
        return scoring

    def work_left(self) -> float:
        return self.scoring.work_left if self.scoring else 0.0

    def deliver(self) -> None:
        """Answer the waiting client (called once the slot is free, so its next request finds room)."""
        setter, value = self.outcome
        try:
            setter(value) if setter else self.future.cancel()
        except InvalidStateError:  # cancelled meanwhile: nobody waits for it
            pass


class Pool:
    """`workers` threads take turns over every admitted request, in two lanes: short requests (and every
    request's first turn, which counts its work) and long ones (more than `long_windows` full windows of work).
    While short requests wait, long documents get at most half the workers (at least one) and never two turns in
    a row, so a short request waits for a turn of the other short ones and at most one long turn; an idle worker
    takes any lane. Within a lane turns go round robin, admitted long documents before requests still to be
    tokenised there (each of those waits at most INTAKE_SECONDS).

    Admission bounds the time to answer: at most `workers + queue` requests (429 past that); a long document only
    if the long lane can finish it and everything before it in time (its admitted work, in full windows, times
    `window_seconds`, within FIT of the deadline; 429 with the wait in Retry-After otherwise). `window_seconds`
    is measured: one full window at warm-up, then a moving average of long turns. A slot is freed when its work
    ends, not when its client goes away, so the bounds hold."""

    def __init__(self, workers: int, queue: int):
        if workers < 1 or queue < 0:
            raise InputError(f"need at least 1 worker and a queue of 0 or more, not {workers} and {queue}")
        self.workers, self.queue = workers, queue
        self.long_share = max(1, workers // 2)  # workers long documents may hold while short requests wait
        self.pending = self.long_turns = 0
        self.last_long = False  # the last turn given was a long one
        self.window_seconds: float | None = None
        self.lanes: dict[bool, deque[Job]] = {False: deque(), True: deque()}  # keyed by Job.long
        self.long_jobs: set[Job] = set()  # admitted to the long lane, running or waiting
        self.lock = threading.Condition()
        self.closing = False
        self.threads = [threading.Thread(target=self._work, name=f"lec-onnx-worker-{i}", daemon=True)
                        for i in range(workers)]
        for thread in self.threads:
            thread.start()

    def submit(self, job: Job) -> asyncio.Future:
        with self.lock:
            if self.pending >= self.workers + self.queue:
                raise busy(f"server busy: {self.pending} requests running or queued (workers {self.workers}, "
                           f"queue {self.queue}); retry later")
            self.pending += 1
            self.lanes[job.long].append(job)
            self.lock.notify()
        return asyncio.wrap_future(job.future)

    def _next(self) -> tuple[Job, bool] | None:
        """Under the lock: the next job to take a turn and whether it is long; None if nothing waits."""
        short, long = self.lanes[False], self.lanes[True]
        # with short requests waiting, a long turn only on a free long share and never twice in a row (one
        # worker alternates)
        take_long = bool(long) and (not short or (self.long_turns < self.long_share and not self.last_long))
        self.last_long = take_long
        if take_long:
            self.long_turns += 1
            return self._pick_long(long), True
        return (short.popleft(), False) if short else None

    @staticmethod
    def _pick_long(lane: deque) -> Job:
        """Admitted documents first (round robin), so what admission promised holds; a request still to be
        tokenised (many characters) once it has waited INTAKE_SECONDS, or when nothing else waits."""
        intake = next((job for job in lane if job.scoring is None), None)
        admitted = next((job for job in lane if job.scoring is not None), None)
        if intake is not None and (admitted is None or time.monotonic() - intake.arrived > INTAKE_SECONDS):
            lane.remove(intake)
            return intake
        lane.remove(admitted)
        return admitted

    def _work(self) -> None:
        while True:
            with self.lock:
                while (picked := self._next()) is None and not self.closing:
                    self.lock.wait()
                if picked is None:
                    return
            job, long_turn = picked
            began, work = time.perf_counter(), job.work_left()
            finished = job.turn(self.window_seconds)
            with self.lock:
                if long_turn:
                    self.long_turns -= 1
                    self._measure(time.perf_counter() - began, work - job.work_left())
                if job.long and job not in self.long_jobs and not finished:
                    finished = not self._admit_long(job)
                if finished:
                    self.pending -= 1
                    self.long_jobs.discard(job)
                else:
                    self.lanes[job.long].append(job)
                    self.lock.notify()
            if finished:
                job.deliver()

    def _measure(self, seconds: float, windows: float) -> None:
        """Update window_seconds from a long turn: at once when slower (admitting too much means 503s later),
        slowly when faster."""
        if windows >= 0.5:  # a turn of mostly full windows: the last window of a text may be short
            per_window = seconds / windows
            self.window_seconds = per_window if self.window_seconds is None else max(
                per_window, 0.8 * self.window_seconds + 0.2 * per_window)

    def _admit_long(self, job: Job) -> bool:
        """Under the lock, once a job turns out long: admit it if the long lane can finish it in time, or 429."""
        backlog = sum(j.work_left() for j in self.long_jobs)
        seconds = (backlog + job.work_left()) * (self.window_seconds or 0.0) / self.long_share
        if seconds <= FIT * (job.deadline - time.monotonic()):
            self.long_jobs.add(job)
            return True
        wait = max(1, math.ceil(backlog * (self.window_seconds or 0.0) / self.long_share))
        job.outcome = (job.future.set_exception, ApiError(
            429, f"server busy with long documents: about {seconds:.0f} s of them before this one would be "
            f"done, past its timeout of {job.limits.timeout:g} s; retry in {wait} s", "rate_limit_error",
            code="server_busy", headers={"Retry-After": str(wait)}))
        return False

    def shutdown(self) -> None:
        with self.lock:
            self.closing = True
            self.lock.notify_all()
        for thread in self.threads:
            thread.join()


class Model:
    """The classifier behind the server: loaded and warmed up in the background so /readyz can say 503 until
    it is ready."""

    def __init__(self, artifact: str | None, classifier: Classifier | None = None, name: str | None = None):
        self.artifact, self.classifier, self.name = artifact, classifier, name
        self.ready, self.error = False, None

    def load(self, pool: "Pool | None" = None) -> None:
        try:
            start = time.perf_counter()
            if self.classifier is None:
                self.classifier = Classifier.load(self.artifact, threads=1)
            self.name = self.name or f"lec-onnx/{self.classifier.folder.name}"
            self.classifier.classify(WARM_UP_TEXT)
            if pool is not None:
                # timed alone; doubled because the workers will share the cores with each other and the loop
                pool.window_seconds = 2 * self.time_one_window()
            self.ready = True
            log.info("model %s loaded and warm in %.2f s (tasks: %s; %.3f s a full window)", self.name,
                     time.perf_counter() - start, ", ".join(self.classifier.tasks),
                     pool.window_seconds if pool else 0.0)
        except Exception as e:  # reported by /readyz and in the log; the process stays up to say so
            self.error = f"{type(e).__name__}: {e}"
            log.error("cannot load the model: %s", self.error)


    def time_one_window(self) -> float:
        """Seconds one full window takes here: the first estimate of what a request will cost."""
        scoring = self.classifier.start(" ".join([WARM_UP_TEXT] * self.classifier.max_length))
        began = time.perf_counter()
        scoring.step()
        return time.perf_counter() - began


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
        loading = asyncio.get_running_loop().run_in_executor(None, model.load, pool)
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
        return {"status": "ok", "limits": limits.describe(pool.workers)}

    @app.get("/readyz")
    async def readyz():
        if model.ready:
            return {"status": "ready", "model": model.name, "tasks": list(model.classifier.tasks),
                    "workers": pool.workers, "queue": pool.queue, "pending": pool.pending,
                    "long_documents": len(pool.long_jobs), "window_seconds": pool.window_seconds}
        status = {"status": "failed", "error": model.error} if model.error else {"status": "loading"}
        return JSONResponse(status, status_code=503)

    @app.post("/v1/moderations")
    async def moderations(request: Request):
        arrived = time.monotonic()
        check_key(request, api_key)
        if not model.ready:
            raise ApiError(503, model.error or "the model is still loading; retry shortly", "server_error",
                           headers={"Retry-After": "1"})
        req = parse_request(await read_json(request, limits), limits)
        job = Job(model.classifier, req, limits, arrived)
        results = await answer(pool.submit(job), job)
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


async def answer(future: asyncio.Future, job: Job) -> list[dict]:
    """The job's results; 503 at its deadline even if every worker is stuck in a long run (the pool's own check
    answers first, between runs; this is the backstop, and it tells the pool to drop the job)."""
    try:
        return await asyncio.wait_for(asyncio.shield(future), max(0.0, job.deadline - time.monotonic()) + 0.5)
    except asyncio.TimeoutError:
        job.abandoned = True
        raise deadline_error(job.limits.timeout, "still running") from None


async def read_json(request, limits: Limits):
    """The body as JSON, read no further than max_body_bytes (413 past it, even without Content-Length) and no
    longer than the timeout (408). Any JSON parse failure is 400: bad syntax or UTF-8, nesting too deep for the
    parser, an integer too long to convert."""
    import json
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise ApiError(413, f"request body larger than {limits.max_body_bytes:,} bytes")
    try:
        body = await asyncio.wait_for(read_body(request, limits), limits.timeout)
    except asyncio.TimeoutError:
        raise ApiError(408, f"the request body did not arrive within {limits.timeout:g} s") from None
    try:
        return json.loads(body)
    except RecursionError:
        raise ApiError(400, "the request body is not valid JSON: nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, and int() of a 5,000-digit number
        raise ApiError(400, f"the request body is not valid JSON: {e}") from None


async def read_body(request, limits: Limits) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limits.max_body_bytes:
            raise ApiError(413, f"request body larger than {limits.max_body_bytes:,} bytes")
    return bytes(body)


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
    limits = Limits(args.max_body_bytes, args.max_inputs, args.max_chars, args.max_windows, args.timeout,
                    args.long_windows)
    small = [name for name, value in vars(limits).items() if value <= 0]
    if small:
        raise InputError(f"--{small[0].replace('_', '-')} must be more than 0")
    app = create_app(args.artifact, args.workers, args.queue, api_key, limits)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    log.info("workers %d, queue %d, auth %s, limits %s", args.workers, app.state.pool.queue,
             "on" if api_key else "off", limits.describe(args.workers))
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
    s.add_argument("--max-windows", type=int, default=Limits.max_windows,
                   help="windows (onnxruntime runs) per request, counted with the tokenizer before scoring (413)")
    s.add_argument("--timeout", type=float, default=Limits.timeout,
                   help="seconds a request may take from arrival to answer (503 past it; its work stops)")
    s.add_argument("--long-windows", type=float, default=Limits.long_windows,
                   help="a request with more work than this many full windows is long: long documents share at "
                   "most half the workers while short requests wait, and wait in line only if they can still be "
                   "answered before --timeout (429 otherwise)")
    s.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    s.set_defaults(run=serve)

