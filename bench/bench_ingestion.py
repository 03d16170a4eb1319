"""Ingestion benchmark: the ingestion API against its two ceilings, the HTTP stack and Kafka.

    .venv/bin/python bench/bench_ingestion.py [--records 50000] [--concurrency 16] [--profile]

Starts its own broker + API on free ports under a temporary PINLAKE_HOME (or, with
``--use-running``, uses the services of the current PINLAKE_* settings), and two no-op servers
(bench/noop_server.py, separate processes like the API), and measures in one run:

1. noop: the no-op endpoint on the API's server stack (same uvicorn settings, FastAPI, the same
   middleware), one record per request: it reads the body and answers a fixed 200. The HTTP
   ceiling for one record per request, the baseline of api-1;
2. noop-bare: the same on a plain ASGI app (no FastAPI, no middleware), for information;
3. raw: a confluent-kafka producer (acks=all, idempotent) writing the records directly: the
   Kafka ceiling, the baseline of api-100;
4. api-1: the API, one record per request (the original producer's pattern);
5. api-100: the API, 100 records per request, over as many connections as api-1 (so that the
   API, not the client's window of requests in flight, is the limit); and, for information, over
   a quarter of them (what earlier versions of this benchmark measured);
6. api-1 paced at half of the measured api-1 maximum rate: latency under moderate load.

1-5 run ``--repeat`` rounds, interleaved (so that a change of load on a shared machine touches
every measurement alike); each keeps its best round. The HTTP load generator is a separate
process with raw keep-alive HTTP/1.1 connections (no client library overhead). For every
measurement the CPU time of the server, the broker and the load generator is taken (psutil),
per request; for the API also per thread (Python main thread, librdkafka's threads, others).

``--profile`` then runs api-1 and noop once more each under py-spy (``bench/out/``, git-ignored:
a speedscope file per server for the speedscope viewer, and a text summary by component from
bench/pyspy_summary.py). Numbers are measured, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import psutil

from pinlake.config import ApiSettings, KafkaSettings, Settings
from pinlake.services import api_process, kafka_broker
from pinlake.services import process as procs
from pinlake.services.process import free_ports

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pyspy_summary  # noqa: E402  (beside this file)

TOPIC_TABLE = "pin"
OUT_DIR = Path(__file__).resolve().parent / "out"
NOOP_SERVER = Path(__file__).resolve().parent / "noop_server.py"
PROFILE_RATE = 200  # py-spy samples/s

GOAL_SINGLE = 0.8  # api-1 / noop
GOAL_BATCHED = 0.8  # api-100 / raw
GOAL_P99_MS = 50.0  # at half the api-1 maximum rate


def sample_row(i: int) -> dict:
    return {
        "index": i,
        "unique_id": f"{i:08x}-0d6c-4d7a-9b4e-5f0d2f3a9c1b",
        "title": "Vintage kitchen ideas you will love",
        "description": "A collection of ideas for a cosy, rustic kitchen with open shelving.",
        "poster_name": "Home Decor Daily",
        "follower_count": "124k",
        "tag_list": "kitchen,vintage,rustic,home decor,shelving",
        "is_image_or_video": "image",
        "image_src": f"https://i.pinimg.com/originals/{i % 97:02x}/ab/cd/{i:08x}.jpg",
        "downloaded": 1,
        "save_location": "Local save in /data/home-decor",
        "category": "home-decor",
    }


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---- CPU accounting ------------------------------------------------------------------------
def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its descendants; 0.0 if it is gone. A
    descendant that ends while it is read is left out, not the whole sum."""
    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in family:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def _thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of ``pid``'s threads grouped: ``main`` (the event loop's thread), ``rdk``
    (librdkafka's threads, named ``rdk:*``), ``other``."""
    out = {"main": 0.0, "rdk": 0.0, "other": 0.0}
    try:
        threads = psutil.Process(pid).threads()
    except psutil.Error:
        return out
    for t in threads:
        try:
            name = Path(f"/proc/{pid}/task/{t.id}/comm").read_text().strip()
        except OSError:
            name = ""
        group = "main" if t.id == pid else "rdk" if name.startswith("rdk:") else "other"
        out[group] += t.user_time + t.system_time
    return out


@dataclass
class Cpu:
    """Processes whose CPU time a measurement takes: ``server`` (None for raw), ``brokers``."""

    server: int | None
    brokers: list[int]

    def snapshot(self) -> dict[str, float]:
        snap = {"broker": sum(_proc_cpu(p) for p in self.brokers)}
        if self.server is not None:
            snap["server"] = _proc_cpu(self.server)
            snap.update({f"server.{k}": v for k, v in _thread_cpu(self.server).items()})
        return snap

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before.get(k, 0.0) for k in after}


# ---- raw Kafka ---------------------------------------------------------------------------
def bench_raw(settings: Settings, topic: str, n: int, cpu: Cpu) -> dict:
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 1,
        }
    )
    payloads = [orjson.dumps(sample_row(i)) for i in range(n)]
    latencies: list[float] = []
    failed = 0

    def cb(err, _msg, sent=None):
        nonlocal failed
        if err is not None:
            failed += 1

    before = cpu.snapshot()
    own = time.process_time()
    start = time.perf_counter()
    for payload in payloads:
        sent = time.perf_counter()
        while True:
            try:
                producer.produce(
                    topic,
                    payload,
                    on_delivery=lambda err, msg, s=sent: (
                        latencies.append(time.perf_counter() - s),
                        cb(err, msg),
                    ),
                )
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(60)
    elapsed = time.perf_counter() - start
    used = Cpu.delta(before, cpu.snapshot())
    used["client"] = time.process_time() - own
    return _row("raw Kafka producer", n - failed, n - failed, elapsed, latencies, failed, used)


def _row(name, records, requests, elapsed, latencies, failed=0, cpu=None) -> dict:
    return {
        "name": name,
        "records": records,
        "requests": requests,
        "elapsed": elapsed,
        "records_s": records / elapsed if elapsed else 0.0,
        "requests_s": requests / elapsed if elapsed else 0.0,
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "failed": failed,
        "cpu": cpu or {},
    }


# ---- HTTP load generator (separate process) -----------------------------------------------
async def _connection(
    host, port, request: bytes, count: int, interval: float | None, phase: float, out, errs
):
    reader, writer = await asyncio.open_connection(host, port)
    next_at = time.perf_counter() + phase  # connections are staggered, not in lock-step
    try:
        for _ in range(count):
            if interval is not None:
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_at += interval
            sent = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            out.append(time.perf_counter() - sent)
            if head[9:12] != b"200":
                errs.append(head[9:12])
    finally:
        writer.close()


def _load_worker(args, queue) -> None:
    host, port, path, body, requests, concurrency, rate = args
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/vnd.kafka.json.v2+json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    per_conn = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]
    interval = concurrency / rate if rate else None
    latencies: list[float] = []
    errors: list[bytes] = []

    async def main():
        start = time.perf_counter()
        await asyncio.gather(
            *(
                _connection(
                    host,
                    port,
                    request,
                    c,
                    interval,
                    (interval or 0) * i / concurrency,
                    latencies,
                    errors,
                )
                for i, c in enumerate(per_conn)
                if c
            )
        )
        return time.perf_counter() - start

    own = time.process_time()
    elapsed = asyncio.run(main())
    queue.put((elapsed, latencies, len(errors), errors[:3], time.process_time() - own))


@dataclass
class Target:
    """An HTTP server under load: ``pid`` (None: not measured) at ``host``:``port``."""

    host: str
    port: int
    pid: int | None


def bench_http(target, topic, batch, requests, concurrency, cpu: Cpu, rate=None, name="") -> dict:
    rows = [{"value": sample_row(i)} for i in range(batch)]
    body = orjson.dumps({"records": rows})
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    args = (target.host, target.port, f"/topics/{topic}", body, requests, concurrency, rate)
    proc = ctx.Process(target=_load_worker, args=(args, queue))
    proc.start()
    before = cpu.snapshot()
    try:
        elapsed, latencies, errors, samples, client_cpu = queue.get(timeout=900)
    finally:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
    used = Cpu.delta(before, cpu.snapshot())
    used["client"] = client_cpu
    if errors:
        print(f"  {name}: {errors} non-200 responses, e.g. {samples}", file=sys.stderr)
    ok = len(latencies) - errors
    return _row(name, ok * batch, ok, elapsed, latencies, errors * batch, used)


# ---- the no-op servers ---------------------------------------------------------------------
def start_noop(settings: Settings, run_dir: Path, port: int, bare: bool) -> Target:
    """Start bench/noop_server.py (``--bare``: plain ASGI) on ``port`` with ``settings``
    (stage, API key, limits); waits until it answers a produce request with 200."""
    name = "noop-bare" if bare else "noop"
    noop = settings.model_copy(update={"api": settings.api.model_copy(update={"port": port})})
    env = noop.child_env()
    env.setdefault("PYTHONUNBUFFERED", "1")
    argv = [sys.executable, str(NOOP_SERVER), *(["--bare"] if bare else [])]
    pid = procs.spawn(run_dir, run_dir / f"{name}.log", name, argv, env=env)
    headers = {"content-type": "application/vnd.kafka.json.v2+json"}
    if settings.api.api_key is not None:
        headers["x-api-key"] = settings.api.api_key.get_secret_value()

    def ready() -> bool:
        try:
            return (
                httpx.post(
                    f"http://{settings.api.host}:{port}/topics/x",
                    content=b'{"records":[{"value":1}]}',
                    headers=headers,
                    timeout=1.0,
                    trust_env=False,  # a server on loopback: never the shell's proxy
                ).status_code
                == 200
            )
        except httpx.HTTPError:
            return False

    procs.wait_healthy(
        ready,
        timeout=30,
        interval=0.2,
        pid=pid,
        exited=f"{name} server exited during start-up; see {run_dir / f'{name}.log'}",
        not_healthy=f"{name} server not answering after 30 s",
    )
    return Target(settings.api.host, port, pid)


# ---- py-spy ------------------------------------------------------------------------------
def profiled(target: Target, label: str, run) -> tuple[dict, str]:
    """``run()`` (a measurement against ``target``) with py-spy recording ``target.pid``;
    returns the measurement and the profile's text summary (both files in ``OUT_DIR``)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = OUT_DIR / f"{label}-{stamp}.speedscope.json"
    argv = [
        spy,
        "record",
        "--pid",
        str(target.pid),
        "--rate",
        str(PROFILE_RATE),
        "--nonblocking",
        "--format",
        "speedscope",
        "--output",
        str(out),
    ]
    spy_proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # attached
    started = time.perf_counter()
    row = run()
    seconds = time.perf_counter() - started
    spy_proc.send_signal(signal.SIGINT)
    try:
        _, err = spy_proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        spy_proc.kill()
        _, err = spy_proc.communicate()
    if not out.exists():
        return row, f"py-spy wrote no profile: {err.decode(errors='replace')[-500:]}"
    # the recording also covers ~1 s before and ~0.1 s after the load: busy shares are a bit low
    text = pyspy_summary.summary(out, seconds + 1.0)
    (OUT_DIR / f"{label}-{stamp}.summary.txt").write_text(text + "\n")
    return row, text


# ---- report ------------------------------------------------------------------------------
def _cpu_cols(r: dict) -> str:
    cpu, n = r["cpu"], max(1, r["requests"])

    def ms(key: str) -> str:
        return f"{cpu[key] / n * 1000:6.3f}" if key in cpu else f"{'-':>6}"

    return f"{ms('server')} {ms('broker')} {ms('client')}"


def report(results: dict[str, dict], loadavg: tuple[float, float, float]) -> None:
    noop, raw = results["noop"], results["raw"]
    header = (
        f"{'measurement':40} {'records/s':>10} {'requests/s':>10} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'vs base':>8} {'server':>6} {'broker':>6} {'client':>6}"
    )
    print()
    print(f"load average at start (1/5/15 min): {loadavg[0]:.2f} {loadavg[1]:.2f} {loadavg[2]:.2f}")
    print(f"{'':92}CPU ms per request")
    print(header)
    print("-" * len(header))
    base = {"api-1": noop, "api-100": raw, "api-100-few": raw, "noop-bare": noop}
    for key, r in results.items():
        b = base.get(key)
        ratio = f"{r['records_s'] / b['records_s']:8.2f}" if b and b["records_s"] else f"{'':8}"
        print(
            f"{r['name']:40} {r['records_s']:10,.0f} {r['requests_s']:10,.0f} "
            f"{r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {ratio} {_cpu_cols(r)}"
            + (f"  ({r['failed']} failed)" if r["failed"] else "")
        )
    print(
        "vs base: api-1 and noop-bare against the noop endpoint, api-100 against the raw producer"
        " (records/s); CPU: server process, broker JVM(s), load generator (or raw producer)"
    )
    api1 = results["api-1"]
    if api1["cpu"].get("server"):
        c, n = api1["cpu"], max(1, api1["requests"])
        print(
            f"\napi-1 server CPU per request: {c['server'] / n * 1e3:.3f} ms = main thread "
            f"{c['server.main'] / n * 1e3:.3f} + librdkafka threads {c['server.rdk'] / n * 1e3:.3f}"
            f" + other threads {c['server.other'] / n * 1e3:.3f}; "
            f"noop: {noop['cpu']['server'] / max(1, noop['requests']) * 1e3:.3f} ms"
        )
    single = api1["records_s"] / noop["records_s"] if noop["records_s"] else 0.0
    batched = results["api-100"]["records_s"] / raw["records_s"] if raw["records_s"] else 0.0
    p99 = results["paced"]["p99_ms"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print("\ngoals (ratios against baselines of this run):")
    print(
        f"  api-1 / noop endpoint   {single:6.2f}   goal >= {GOAL_SINGLE:.2f}   "
        f"{verdict(single >= GOAL_SINGLE)}"
    )
    print(
        f"  api-100 / raw producer  {batched:6.2f}   goal >= {GOAL_BATCHED:.2f}   "
        f"{verdict(batched >= GOAL_BATCHED)}"
    )
    print(
        f"  p99 at half max rate    {p99:6.1f}   goal <  {GOAL_P99_MS:.0f} ms  "
        f"{verdict(p99 < GOAL_P99_MS)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000, help="records per measurement")
    parser.add_argument("--concurrency", type=int, default=16, help="HTTP connections")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (best kept)")
    parser.add_argument("--profile", action="store_true", help="py-spy api-1 and noop (bench/out)")
    parser.add_argument("--use-running", action="store_true", help="use PINLAKE_* services")
    args = parser.parse_args(argv)
    if args.records < 1000 or args.repeat < 1 or args.concurrency < 4:
        parser.error("--records >= 1000, --repeat >= 1, --concurrency >= 4")

    from pinlake.services.manager import start_all, stop_all

    loadavg = os.getloadavg()
    print(f"load average at start (1/5/15 min): {loadavg[0]:.2f} {loadavg[1]:.2f} {loadavg[2]:.2f}")
    tmp = tempfile.TemporaryDirectory(prefix="pinlake-bench-")
    noop_run = Path(tmp.name) / "noop-run"
    if args.use_running:
        settings = Settings()
    else:
        kport, cport, aport = free_ports(3)
        settings = Settings(
            home=Path(tmp.name) / "home",
            kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{kport}", controller_port=cport),
            api=ApiSettings(port=aport, api_key=None),
        )
        print(f"starting Kafka {settings.kafka.bootstrap_servers} + API {settings.api.url} ...")
        start_all(settings, quiet=True)
    topic = settings.topic(TOPIC_TABLE)
    n, conc = args.records, args.concurrency
    results: dict[str, dict] = {}
    try:
        nport, bport = free_ports(2)
        noop = start_noop(settings, noop_run, nport, bare=False)
        bare = start_noop(settings, noop_run, bport, bare=True)
        api = Target(settings.api.host, settings.api.port, api_process.pid(settings))
        nodes = kafka_broker.nodes(settings)
        brokers = [p for node in nodes if (p := kafka_broker.node_pid(settings, node))]
        cpu = {k: Cpu(t.pid, brokers) for k, t in (("api", api), ("noop", noop), ("bare", bare))}
        cpu["raw"] = Cpu(None, brokers)
        for t, c in ((api, cpu["api"]), (noop, cpu["noop"]), (bare, cpu["bare"])):
            bench_http(t, topic, 1, 2000, conc, c, name="warm-up")
        runs = {
            "noop": lambda: bench_http(
                noop, topic, 1, n, conc, cpu["noop"], name="noop endpoint, 1 record/request"
            ),
            "noop-bare": lambda: bench_http(
                bare, topic, 1, n, conc, cpu["bare"], name="noop, plain ASGI (no FastAPI)"
            ),
            "raw": lambda: bench_raw(settings, topic, n, cpu["raw"]),
            "api-1": lambda: bench_http(
                api, topic, 1, n, conc, cpu["api"], name="API, 1 record/request"
            ),
            "api-100": lambda: bench_http(
                api, topic, 100, max(10, n // 100), conc, cpu["api"], name="API, 100 records/req"
            ),
            "api-100-few": lambda: bench_http(
                api,
                topic,
                100,
                max(10, n // 100),
                max(2, conc // 4),
                cpu["api"],
                name=f"API, 100 records/request, {max(2, conc // 4)} conns",
            ),
        }
        for i in range(args.repeat):
            for key, run in runs.items():
                r = run()
                print(
                    f"  round {i + 1}/{args.repeat} {key:10} {r['records_s']:10,.0f} records/s "
                    f"p99 {r['p99_ms']:6.1f} ms"
                )
                if key not in results or r["records_s"] > results[key]["records_s"]:
                    results[key] = r
        half = results["api-1"]["requests_s"] / 2
        results["paced"] = bench_http(
            api,
            topic,
            1,
            max(1000, int(half * 10)),
            conc,
            cpu["api"],
            rate=half,
            name=f"API, 1 record/request at {half:,.0f} req/s",
        )
        summaries = []
        if args.profile:
            for label, t, key in (("api-1", api, "api-1"), ("noop", noop, "noop")):
                row, text = profiled(t, label, runs[key])
                rate = f"{row['requests_s']:,.0f} requests/s"
                summaries.append(f"{label} under py-spy: {rate}\n{text}")
    finally:
        for name in ("noop", "noop-bare"):
            procs.stop(noop_run, name, timeout=5)
        if not args.use_running:
            stop_all(settings, quiet=True)
        tmp.cleanup()
    report(results, loadavg)
    for text in summaries:
        print()
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
