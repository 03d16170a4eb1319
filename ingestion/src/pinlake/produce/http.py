"""``pinlake produce --to api``: post events to the ingestion API like the original script.

Batch rows go to the Kafka REST v2 endpoints (``POST /topics/<prefix>.<table>``, one record per
request like the original, or ``batch_size`` records per request); with ``stream`` they go to the
Kinesis proxy (``PUT /streams/streaming-<prefix>-<table>/record`` with the row as ``Data``, which
the tutorial's template stores as its JSON text, or ``/records`` with each row's JSON text as a
string ``data``, which its template stores as is: either way the Kinesis record is the row's JSON).

A record counts as sent only when the API acknowledged it. Connection errors, 429 and 5xx are
retried with exponential backoff and equal jitter (tenacity's ``wait_random_exponential`` is
full jitter; half the step fixed keeps a retry storm from piling onto a recovering broker).
For a partially acknowledged request (a 5xx Kafka REST body with per-record ``offsets``, or
Kinesis' ``FailedRecordCount``) only the records that were not acknowledged are sent again, so a
retry never duplicates an acknowledged record. Once one request is given up (its retry budget
spent), the run stops: the requests in flight or queued are not tried again, no further event is
drawn, and the records not acknowledged are counted as failed (an API that is gone costs the
retry budget once, not once per request). While requests are retried, the progress bar says
why.

The HTTP client is aiohttp: at one record per request (the original's shape, 33,462 requests in
the demo) the client's own CPU bounds the rate, and aiohttp's is about a fifth of httpx's on the
same event loop (0.21–0.24 against 1.27–1.32 ms of CPU per request, 1,800–2,000 against 600–660
requests/s over 8 connections to the same API; bench/README.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
)

from pinlake.config import TABLES, Settings
from pinlake.console import console, err_console, progress, table
from pinlake.errors import PinlakeError, one_line
from pinlake.loopback import nothing_listens, on_loopback
from pinlake.produce.options import ProduceResult, ProduceToApi, missing_rows_line
from pinlake.produce.payload import row_to_json

KAFKA_JSON = "application/vnd.kafka.json.v2+json"
ACCEPT = "application/vnd.kafka.v2+json, application/vnd.kafka+json, application/json"
MAX_ATTEMPTS = 25
RETRY_BUDGET = 90.0  # seconds: a request is given up after this long (or MAX_ATTEMPTS)
BACKOFF_BASE = 0.1
BACKOFF_CAP = 5.0
REQUEST_TIMEOUT = 60.0  # > the API's delivery timeout, so a slow ack is never retried blindly
HEALTH_TIMEOUT = 5.0  # seconds for the API's /healthz before anything is sent
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass
class ApiProduceResult:
    """What ``produce --to api`` did: events drawn, records acknowledged and failed, requests
    and retries, ``elapsed`` seconds, each request's latency (s), records acknowledged per
    table, the first five errors' messages."""

    events: int = 0
    acknowledged: int = 0
    failed: int = 0
    requests: int = 0
    retries: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    per_table: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: a request was given up, so the run stopped: the events after it were not drawn
    stopped: bool = False
    #: Ctrl-C stopped the run: ``in_flight`` records had been sent and not answered yet (the
    #: API may have acknowledged some of them; they are neither counted nor failed), and
    #: ``not_sent`` records of the events drawn were never sent (queued, or in a batch not yet
    #: full). With them every record of the events drawn is in one count: ``acknowledged +
    #: failed + in_flight + not_sent`` is the records of ``events`` less ``missing`` (helper-80:
    #: the rest of an event drawn when Ctrl-C came, and unfull batches, were in none)
    interrupted: bool = False
    in_flight: int = 0
    not_sent: int = 0
    #: events without a row in a table (no record sent for it), per table
    missing: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Records acknowledged per second of ``elapsed`` (0 before any time passed)."""
        return self.acknowledged / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, q: float) -> float | None:
        """The ``q`` quantile (0 < q < 1) of the latencies, in seconds, of the requests whose
        records were all acknowledged; None without any (helper-112: a run that acknowledged
        nothing showed p50 and p99 0.0 ms)."""
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else None
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cuts[min(98, max(0, round(q * 100) - 1))]


@dataclass
class _Request:
    table: str
    records: list[dict]  # JSON-able rows


def unacknowledged(pending: list[int], status: int, body: bytes, *, stream: bool) -> list[int]:
    """Which of ``pending`` (indexes of a request's records, in request order) a response with
    HTTP ``status`` and ``body`` did not acknowledge: those may be sent again.

    Kafka REST v2 (``POST /topics/<topic>``, docs/ingestion-apis-and-performance.md): the body's
    ``offsets`` list has one entry per record, in order; a record is acknowledged when its entry
    has an ``offset`` and no ``error_code`` (a 5xx body may acknowledge some records). Kinesis
    ``PutRecords``: one ``Records`` entry per record, acknowledged when it has a
    ``SequenceNumber`` (failed entries carry ``ErrorCode``); ``PutRecord``: a 200 with a
    ``SequenceNumber``. Any other body (not JSON, another shape, a count that does not match)
    acknowledges nothing, and a 4xx other than 429 never reaches here (it is not retried)."""
    if status != 200 and status < 500:  # 429: nothing was taken
        return pending
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return pending
    if not isinstance(data, dict):
        return pending
    if stream and isinstance(data.get("Records"), list):
        entries = data["Records"]
        if len(entries) != len(pending):
            return pending
        return [
            i
            for i, e in zip(pending, entries, strict=True)
            if not (isinstance(e, dict) and e.get("SequenceNumber"))
        ]
    if stream and status == 200 and data.get("SequenceNumber"):
        return []
    offsets = data.get("offsets")
    if isinstance(offsets, list) and len(offsets) == len(pending):
        return [
            i
            for i, o in zip(pending, offsets, strict=True)
            if not (
                isinstance(o, dict) and o.get("error_code") is None and o.get("offset") is not None
            )
        ]
    return pending


def _backoff(attempt: int) -> float:
    """Exponential backoff with "equal jitter": half the step fixed, half random."""
    step = min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)
    return step / 2 + random.uniform(0, step / 2)


def forbidden_hint(key_sent: bool) -> str:
    """What a 403 tells the producer: API Gateway (and pinlake's API with
    ``PINLAKE_API__API_KEY`` set) answers it when the ``x-api-key`` header is missing or wrong
    (API Gateway developer guide, "Gateway response types"). A refused run said only ``HTTP 403
    … Forbidden`` (helper-80)."""
    if key_sent:
        return "(the x-api-key sent, from --api-key or PINLAKE_API__API_KEY, is not the API's key)"
    return "(the API wants its key in x-api-key: --api-key KEY, or PINLAKE_API__API_KEY)"


class _Poster:
    def __init__(
        self, settings: Settings, session: aiohttp.ClientSession, url: str, stream: bool
    ) -> None:
        self.settings = settings
        self.session = session
        self.url = url
        self.stream = stream
        self.result = ApiProduceResult(per_table={t: 0 for t in TABLES})
        #: set once a request is given up: every other request then stops at its next try
        self.given_up: str | None = None
        #: called with the reason whenever a request is about to be retried
        self.on_retry: Callable[[str], object] = lambda _why: None

    def _error(self, message: str) -> None:
        if len(self.result.errors) < 5:
            self.result.errors.append(message)

    def _build(self, req: _Request, pending: list[int]) -> tuple[str, str, dict, bytes]:
        rows = [req.records[i] for i in pending]
        if not self.stream:
            url = f"/topics/{self.settings.topic(req.table)}"
            body = orjson.dumps({"records": [{"value": r} for r in rows]})
            return "POST", url, {"content-type": KAFKA_JSON, "accept": ACCEPT}, body
        name = self.settings.stream(req.table)
        key = f"partition-{req.table}"
        if len(req.records) == 1:
            body = orjson.dumps({"StreamName": name, "Data": rows[0], "PartitionKey": key})
            return "PUT", f"/streams/{name}/record", {"content-type": "application/json"}, body
        body = orjson.dumps(
            {
                "records": [
                    # the template stores data's value as is (a string's characters; an
                    # object as Java's map text): the row goes as its JSON text
                    {"data": orjson.dumps(r).decode(), "partition-key": f"{key}-{i}"}
                    for i, r in zip(pending, rows, strict=True)
                ]
            }
        )
        return "PUT", f"/streams/{name}/records", {"content-type": "application/json"}, body

    async def _attempt(self, req: _Request, pending: list[int]) -> None:
        """One request for the ``pending`` records (indexes into ``req.records``). Raises
        :class:`_Retry` with the records still not acknowledged, :class:`_Rejected` on a 4xx."""
        method, url, headers, body = self._build(req, pending)
        self.result.requests += 1
        try:
            async with self.session.request(
                method, self.url + url, headers=headers, data=body
            ) as resp:
                status, raw = resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Retry(pending, f"{type(exc).__name__}: {exc}") from exc
        text = one_line(raw[:400].decode(errors="replace"))[:200]  # e.g. a server's HTML page
        if status == 403:  # API Gateway's answer to a missing or wrong x-api-key
            text += " " + forbidden_hint(bool(self.session.headers.get("x-api-key")))
        if status != 200 and status not in RETRY_STATUS:  # 4xx: retrying will not help
            raise _Rejected(f"HTTP {status} {url}: {text}")
        left = unacknowledged(pending, status, raw, stream=self.stream)
        # a 200 that leaves records: Kinesis' partial failure
        why = f"{len(left)} records failed: {text}" if status == 200 else f"HTTP {status}: {text}"
        acked = len(pending) - len(left)
        self.result.acknowledged += acked
        self.result.per_table[req.table] += acked
        if left:
            raise _Retry(left, why)

    async def send(self, req: _Request) -> int:
        """Send one request's records until each is acknowledged or given up (after
        :data:`MAX_ATTEMPTS` tries or :data:`RETRY_BUDGET` seconds, or at once when another
        request was given up: :attr:`given_up`); only records not yet acknowledged are sent
        again. Returns how many of its records were acknowledged."""
        pending = list(range(len(req.records)))  # narrowed only by acknowledgements
        start = time.perf_counter()
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_Retry),
            stop=stop_after_attempt(MAX_ATTEMPTS) | stop_after_delay(RETRY_BUDGET),
            wait=lambda state: _backoff(state.attempt_number),
            before_sleep=self._count_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if self.given_up is not None:
                        raise _Stopped
                    try:
                        await self._attempt(req, pending)
                    except _Retry as exc:
                        pending = exc.pending  # the next try resends only these
                        raise
        except _Retry as exc:
            attempts = retrying.statistics["attempt_number"]
            self.given_up = f"gave up after {attempts} attempts: {exc}"
            self._error(self.given_up)
        except _Rejected as exc:
            self._error(str(exc))
        except _Stopped:
            pass
        else:
            self.result.latencies.append(time.perf_counter() - start)
            return len(req.records)
        self.result.failed += len(pending)
        return len(req.records) - len(pending)

    def _count_retry(self, state: Any) -> None:
        self.result.retries += 1
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        self.on_retry(str(exc) if exc is not None else "retrying")


class _Retry(Exception):
    """Some records of a request were not acknowledged and may be sent again."""

    def __init__(self, pending: list[int], why: str) -> None:
        super().__init__(why)
        self.pending = pending


class _Rejected(Exception):
    """The API refused the request (4xx): sending it again cannot help."""


class _Stopped(Exception):
    """Another request was given up: the run stops, this request is not tried again."""


async def _produce(
    settings: Settings,
    events: Iterable[tuple[int, dict[str, Any]]],
    options: ProduceToApi,
    url: str,
    key: str | None,
    show_progress: bool,
) -> ApiProduceResult:
    concurrency, batch_size, stream = options.concurrency, options.batch_size, options.stream
    limit = options.events
    headers = {"x-api-key": key} if key else {}
    queue: asyncio.Queue[_Request | None] = asyncio.Queue(maxsize=concurrency * 2)
    if (port := nothing_listens(url)) is not None:  # no connect to a port that may be free
        raise PinlakeError(
            f"the ingestion API at {url} is not reachable (nothing listens on port {port}): "
            f"{_start_hint(settings, url)}"
        )
    async with aiohttp.ClientSession(
        headers=headers,
        connector=aiohttp.TCPConnector(limit=concurrency),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        # a remote API (API Gateway) through the shell's proxy, as the original producers'
        # requests; pinlake's on loopback directly (pinlake.loopback)
        trust_env=not on_loopback(url),
    ) as session:
        try:
            async with session.get(
                f"{url}/healthz", timeout=aiohttp.ClientTimeout(total=HEALTH_TIMEOUT)
            ) as health:
                healthy = health.status
                body = await health.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PinlakeError(
                f"the ingestion API at {url} is not reachable ({type(exc).__name__}: {exc}): "
                f"{_start_hint(settings, url)}"
            ) from exc
        if healthy >= 500:
            raise PinlakeError(f"the ingestion API at {url} is not healthy: {healthy}")
        told: list[str] = []  # a warning that the requests are retried, once said on stderr
        if _kafka_down(body):  # retried all the same (an outage may end): said at once
            told.append(_kafka_down_line(settings, url))
            err_console.print(f"warning: {told[0]}", markup=False, soft_wrap=True)
        # another status: a proxy without pinlake's /healthz (Confluent's REST Proxy answers
        # 404, API Gateway 403), reachable: the requests themselves will tell
        poster = _Poster(settings, session, url, stream)
        result = poster.result
        bar = progress() if show_progress else None
        # Two lines: events drawn of the events asked for (known from the start, so a paced run
        # shows how far it is), and records acknowledged of the records drawn so far (exact
        # once the last event is drawn); the label adds the failed ones and why requests are
        # being retried.
        wanted_events = len(events) if hasattr(events, "__len__") else None
        if limit is not None:
            wanted_events = min(limit, wanted_events) if wanted_events is not None else limit
        drawing = bar.add_task("events drawn", total=wanted_events) if bar else None
        task = bar.add_task("records acknowledged", total=None) if bar else None
        drawn = 0  # records of the events drawn, handed to a request or not yet
        sent = 0  # records of the requests the workers took from the queue
        #: held while one event is counted and its records handed over (and while the last,
        #: unfull batches are): a Ctrl-C's counts wait for the event being drawn to be whole
        drawing_event = threading.Lock()
        shown = "records acknowledged"

        def label(note: str = "") -> None:
            nonlocal shown
            failed = f", {result.failed:,} failed" if result.failed else ""
            wanted = f"records acknowledged{failed}{note}"
            if bar is not None and wanted != shown:
                bar.update(task, description=wanted)
                shown = wanted

        def retrying(why: str) -> None:
            label(f" (retrying: {why[:60]})")
            if not told and not (bar is not None and console.is_terminal):
                # no live bar to show it (a pipe, a log file): said once, at once (helper-113:
                # nothing for 98 s into a pipe while every request was retried)
                told.append(why)
                err_console.print(
                    f"warning: {one_line(why)[:300]}: retrying, each request for up to "
                    f"{RETRY_BUDGET:.0f} s",
                    markup=False,
                    soft_wrap=True,
                )

        poster.on_retry = retrying

        async def worker() -> None:
            nonlocal sent
            while True:
                req = await queue.get()
                if req is None:
                    return
                sent += len(req.records)
                acknowledged = await poster.send(req)
                if bar is not None:
                    bar.update(task, advance=acknowledged)
                    label()

        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
        loop = asyncio.get_running_loop()
        stop = threading.Event()

        def feed() -> None:
            """Draw events on a thread (the source reads and the rate pacing block)."""

            def put(item: _Request | None) -> None:
                if item is not None and bar is not None:
                    loop.call_soon_threadsafe(lambda n=drawn: bar.update(task, total=n))
                fut = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
                while not stop.is_set():
                    try:
                        fut.result(timeout=0.5)
                        return
                    except concurrent.futures.TimeoutError:
                        continue
                fut.cancel()

            nonlocal drawn
            pending: dict[str, list[dict]] = {t: [] for t in TABLES}
            for n, (_ind, rows) in enumerate(events):  # paced by the EventStream's rate
                with drawing_event:
                    if stop.is_set() or poster.given_up or (limit is not None and n >= limit):
                        break
                    result.events += 1
                    if bar is not None:
                        loop.call_soon_threadsafe(lambda n=n: bar.update(drawing, completed=n + 1))
                    for name in TABLES:
                        row = rows.get(name)
                        if row is None:
                            result.missing[name] = result.missing.get(name, 0) + 1
                            continue
                        pending[name].append(row_to_json(row))
                        drawn += 1
                        if len(pending[name]) >= batch_size:
                            put(_Request(name, pending[name]))
                            pending[name] = []
            with drawing_event:
                for name in TABLES:
                    if pending[name]:
                        put(_Request(name, pending[name]))
            for _ in workers:
                put(None)

        start = time.perf_counter()
        try:
            if bar is not None:
                bar.start()
            feeder = asyncio.create_task(asyncio.to_thread(feed))
            await asyncio.gather(feeder, *workers)
        except asyncio.CancelledError:  # Ctrl-C: asyncio's runner cancels this task
            # the workers have ended (gather ends its children before its own cancellation);
            # the feeder's thread, told to stop, ends the event it is drawing at once
            result.interrupted = True
            stop.set()
            await asyncio.to_thread(_when_free, drawing_event)
            result.in_flight = max(0, sent - result.acknowledged - result.failed)
            result.not_sent = max(0, drawn - sent)
        finally:
            stop.set()
            for w in workers:
                w.cancel()
            if bar is not None:
                bar.stop()
        result.elapsed = time.perf_counter() - start
        result.stopped = poster.given_up is not None
        return result


def _when_free(lock: threading.Lock) -> None:
    """Return once ``lock`` is free (taken and given back at once)."""
    with lock:
        pass


#: The latency percentiles of a run's summary and result, by name.
_PERCENTILES = (("p50", 0.50), ("p99", 0.99))


def _milliseconds(seconds: float | None) -> str:
    """``"12.3 ms"``; ``"— (no request acknowledged)"`` for None."""
    return "— (no request acknowledged)" if seconds is None else f"{seconds * 1000:.1f} ms"


def print_summary(result: ApiProduceResult, destination: str) -> None:
    """The run's table: events, acknowledged/failed records, requests, rate, latency."""
    rows = [
        ("events", result.events),
        ("records acknowledged", result.acknowledged),
        ("records failed", result.failed),
        ("requests (incl. retries)", result.requests),
        ("retries", result.retries),
        ("elapsed", f"{result.elapsed:.2f} s"),
        ("records/s", f"{result.rate:,.0f}"),
        *((f"latency {name}", _milliseconds(result.percentile(q))) for name, q in _PERCENTILES),
    ]
    rows += [(f"  {t} (acknowledged)", n) for t, n in result.per_table.items()]
    if result.interrupted:
        rows.append(("records in flight (not counted)", result.in_flight))
        rows.append(("records drawn, not sent", result.not_sent))
    console.print(
        table(
            f"produce → {destination}" + (" (interrupted)" if result.interrupted else ""),
            ("", "value"),
            [(name, f"{value:,}" if isinstance(value, int) else value) for name, value in rows],
        )
    )
    line = missing_rows_line(result.missing, result.events)
    if line:
        console.print(line, markup=False, soft_wrap=True)


def _homes_api(settings: Settings, url: str) -> bool:
    """Whether ``url`` (:func:`_url`'s, no trailing ``/``) is this home's API."""
    return url == settings.api.url.rstrip("/")


def _kafka_down(body: bytes) -> bool:
    """Whether a ``/healthz`` answer is pinlake's API saying its Kafka does not answer
    (``{"status": "ok", "kafka": "down"}``: :func:`pinlake.ingest_api.app.create_app`); False
    for any other body (another API's, or none)."""
    try:
        health = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(health, dict) and health.get("kafka") == "down"


def _kafka_down_line(settings: Settings, url: str) -> str:
    """The warning of a run whose API answers and whose Kafka does not: its requests are
    answered 503 and retried (an outage may end: a broker restarting) until the retries give
    up, :data:`RETRY_BUDGET` seconds, which it says (helper-111: 75 s, 93 retries, and
    nothing named what to run; helper-112: nothing said how long). For
    this home's API it ends with the Kafka line of every command
    (:func:`pinlake.kafka.unreachable`: what starts it)."""
    said = (
        f"the ingestion API at {url} answers but its Kafka does not (/healthz: kafka down): "
        "requests are retried until it is back, each for up to "
        f"{RETRY_BUDGET:.0f} s (then the run stops)"
    )
    if not _homes_api(settings, url):
        return said
    from pinlake.kafka import unreachable

    return f"{said}; {unreachable(settings)}"


def _kafka_still_down(settings: Settings, url: str, unavailable: bool = False) -> str:
    """``"; <the Kafka line>"`` (:func:`pinlake.kafka.unreachable`) for the error of a run to
    this home's API whose records failed while nothing listens on its Kafka's ports
    (:func:`pinlake.kafka.listening`: its broker is down); when something listens there and the
    API answered ``unavailable`` (503: one node of several down, no quorum or no ISR), the
    ``services status`` that says which (helper-114: "Local: Message timed out" and nothing
    more); ``""`` otherwise and for another API."""
    from pinlake.console import PINLAKE
    from pinlake.kafka import listening, unreachable

    if not _homes_api(settings, url):
        return ""
    if not listening(settings):
        return f"; {unreachable(settings)}"
    if unavailable:
        return f"; `{PINLAKE.at(settings.home)} services status` shows which service is down"
    return ""


def _unavailable(errors: list[str]) -> bool:
    """Whether a request of ``errors`` (the run's, :class:`ApiProduceResult`) was answered 503."""
    return any("HTTP 503" in error for error in errors)


def _start_hint(settings: Settings, url: str) -> str:
    """What to do when nothing answers at ``url``: `services up` starts the home's API, at
    ``settings.api.url``; for another URL (``--api-url``) that is said, and the setting that
    moves the home's API there when it is on this machine (helper-82: `services up` was named
    for port 8099, and started the API on 8082)."""
    from pinlake.run_folder import up_hint

    own = settings.api.url.rstrip("/")
    if _homes_api(settings, url):
        return f"start it with `{up_hint(settings.run_dir)}`"
    return (
        f"it is not this home's API ({own}, which `{up_hint(settings.run_dir)}` starts; "
        "PINLAKE_API__PORT moves it): check --api-url"
    )


def _url(settings: Settings, options: ProduceToApi) -> str:
    return (options.api_url or settings.api.url).rstrip("/")


def post_records(
    settings: Settings,
    events_iter: Iterable[tuple[int, dict[str, Any]]],
    options: ProduceToApi,
    *,
    show_progress: bool = True,
) -> ApiProduceResult:
    """Post the events' rows to the ingestion API; returns the detailed result (never raises
    for records that were not acknowledged: they are counted in ``failed``). Raises
    PinlakeError when the API is not reachable or not healthy at the start."""
    key = options.api_key
    if key is None and settings.api.api_key is not None:
        key = settings.api.api_key.get_secret_value() or None
    coro = _produce(settings, events_iter, options, _url(settings, options), key, show_progress)
    try:
        import uvloop  # ships with uvicorn[standard]: less of the client's CPU per request
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)
    return uvloop.run(coro)


def post_events(
    settings: Settings, events_iter: Iterable[tuple[int, dict[str, Any]]], options: ProduceToApi
) -> ProduceResult:
    """``produce --to api``: post, print the summary; raises PinlakeError if any record was not
    acknowledged (the first errors are in the message), KeyboardInterrupt after the summary
    when Ctrl-C stopped the run."""
    url = _url(settings, options)
    result = post_records(settings, events_iter, options)
    kind = "Kinesis streams" if options.stream else "Kafka REST topics"
    print_summary(result, f"{url} ({kind})")
    if result.interrupted:  # what was acknowledged is in the table: now end as Ctrl-C does
        raise KeyboardInterrupt
    if result.failed:
        raise PinlakeError(
            f"{result.failed:,} records were not acknowledged by {url}"
            + (f" (first error: {result.errors[0]})" if result.errors else "")
            + (f"; the run stopped there, after {result.events:,} events" if result.stopped else "")
            + _kafka_still_down(settings, url, unavailable=_unavailable(result.errors))
        )
    return ProduceResult(
        destination="api",
        events=result.events,
        records=dict(result.per_table),
        seconds=result.elapsed,
        failed=result.failed,
        requests=result.requests,
        retries=result.retries,
        latency_ms={
            name: seconds * 1000
            for name, q in _PERCENTILES
            if (seconds := result.percentile(q)) is not None
        },
        errors=list(result.errors),
        missing=dict(result.missing),
    )
