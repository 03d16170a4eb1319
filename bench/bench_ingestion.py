"""Ingestion benchmark: raw Kafka producer (the ceiling) vs the ingestion API.

    .venv/bin/python bench/bench_ingestion.py [--records 20000] [--concurrency 16]

Starts its own broker + API on free ports under a temporary PINLAKE_HOME (or, with
``--use-running``, uses the services of the current PINLAKE_* settings) and measures, in one run:

1. raw: a confluent-kafka producer (acks=all, idempotent) writing the records directly (best of
   three runs: the ceiling);
2. api-1: the API, one record per request (the original producer's pattern);
3. api-100: the API, 100 records per request;
4. api-1 paced at half of the measured api-1 maximum rate: latency under moderate load.

The HTTP load generator is a separate process with raw keep-alive HTTP/1.1 connections (no client
library overhead), so the numbers are the API's, not the client's. Prints records/s, p50/p99
latency and our/raw ratios. Numbers are measured, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import orjson

from pinlake.config import ApiSettings, KafkaSettings, Settings
from pinlake.services.process import free_ports

TOPIC_TABLE = "pin"


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


# ---- raw Kafka ---------------------------------------------------------------------------
def bench_raw(settings: Settings, topic: str, n: int) -> dict:
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
    return _row("raw Kafka producer", n - failed, n - failed, elapsed, latencies, failed)


def _row(name, records, requests, elapsed, latencies, failed=0) -> dict:
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

    elapsed = asyncio.run(main())
    queue.put((elapsed, latencies, len(errors), errors[:3]))


def bench_api(settings, topic, batch, requests, concurrency, rate=None, name="") -> dict:
    rows = [{"value": sample_row(i)} for i in range(batch)]
    body = orjson.dumps({"records": rows})
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    args = (
        settings.api.host,
        settings.api.port,
        f"/topics/{topic}",
        body,
        requests,
        concurrency,
        rate,
    )
    proc = ctx.Process(target=_load_worker, args=(args, queue))
    proc.start()
    try:
        elapsed, latencies, errors, samples = queue.get(timeout=600)
    finally:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
    if errors:
        print(f"  {name}: {errors} non-200 responses, e.g. {samples}", file=sys.stderr)
    ok = len(latencies) - errors
    return _row(name, ok * batch, ok, elapsed, latencies, errors * batch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000, help="records per measurement")
    parser.add_argument("--concurrency", type=int, default=16, help="HTTP connections")
    parser.add_argument("--use-running", action="store_true", help="use PINLAKE_* services")
    args = parser.parse_args(argv)

    from pinlake.services.manager import start_all, stop_all

    tmp = None
    if args.use_running:
        settings = Settings()
    else:
        tmp = tempfile.TemporaryDirectory(prefix="pinlake-bench-")
        kport, cport, aport = free_ports(3)
        settings = Settings(
            home=Path(tmp.name) / "home",
            kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{kport}", controller_port=cport),
            api=ApiSettings(port=aport, api_key=None),
        )
        print(f"starting Kafka {settings.kafka.bootstrap_servers} + API {settings.api.url} ...")
        start_all(settings, quiet=True)
    topic = settings.topic(TOPIC_TABLE)
    n = args.records
    try:
        bench_api(settings, topic, 1, 500, 4, name="warm-up")
        raws = [bench_raw(settings, topic, n) for _ in range(3)]  # the ceiling: best of 3
        results = [max(raws, key=lambda r: r["records_s"])]
        single = bench_api(settings, topic, 1, n, args.concurrency, name="API, 1 record/request")
        results.append(single)
        results.append(
            bench_api(
                settings,
                topic,
                100,
                max(10, n // 100),
                max(2, args.concurrency // 4),
                name="API, 100 records/request",
            )
        )
        half = single["requests_s"] / 2
        paced = bench_api(
            settings,
            topic,
            1,
            max(1000, int(half * 5)),
            args.concurrency,
            rate=half,
            name=f"API, 1 record/request at {half:,.0f} req/s",
        )
        results.append(paced)
    finally:
        if tmp is not None:
            stop_all(settings, quiet=True)
            tmp.cleanup()
    raw = results[0]["records_s"]
    header = (
        f"{'measurement':44} {'records/s':>11} {'requests/s':>11} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'vs raw':>7} {'failed':>6}"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        ratio = r["records_s"] / raw if raw else 0.0
        print(
            f"{r['name']:44} {r['records_s']:11,.0f} {r['requests_s']:11,.0f} "
            f"{r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {ratio:7.1%} {r['failed']:6}"
        )
    print()
    batched, single = results[2], results[1]
    print(
        f"goals (2 cores): batched >= 50% of raw: {batched['records_s'] / raw:.0%}; "
        f"single-record >= 2,000 req/s: {single['requests_s']:,.0f}; "
        f"p99 < 50 ms at half max rate: {results[3]['p99_ms']:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
