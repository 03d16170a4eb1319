"""Stream-path benchmark: end-to-end latency and sustained rate of API → Kafka → stream → Delta.

    .venv/bin/python bench/bench_stream.py [--rates 100,500,2000] [--seconds 20]

Starts its own broker and API on free ports under a temporary PINLAKE_HOME and measures, in one
run and on the same broker:

1. **floor**: a Kafka producer → consumer on a topic of its own (produce time to consume time);
2. **ours**: pinlake's stream query (``python -m pinlake.lakehouse.stream``, the service
   ``pinlake services up`` starts, trigger ``--trigger`` seconds): records put through the
   Kinesis proxy (PutRecords, ``--batch`` per request) at 100, 500 and 2,000 events/s, latency
   from the API's acknowledgement to visibility in ``raw.stream_user``;
3. **plain**: a plain Spark Kafka → Delta query (``readStream.format("kafka")`` → cast → Delta
   sink, same trigger, same jars and session settings) fed the same way, for the ratio ours/plain.

Each pipeline first runs ``--warm-up-seconds`` of unmeasured load at the first rate (a new JVM
compiles its hot code in the first seconds; neither pipeline is measured cold).
Visibility is watched by a separate reader that polls the table's Delta log: a record is visible
from the moment the commit file (``_delta_log/<version>.json``) that adds its data file exists;
the reader then reads the record ids from that file (pyarrow). The sustained rate is the highest
rate of ``--sustain-rates`` at which everything produced is visible within 3 triggers of the
producer stopping and the second half's p99 is at most twice the first half's (no growing lag).
Numbers are measured, not asserted.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from pinlake.config import ApiSettings, KafkaSettings, Settings
from pinlake.services.process import free_ports

EPOCH = 1_000_000_000  # record ids of one measurement start at a multiple of this


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def user(i: int) -> bytes:
    return orjson.dumps(
        {"ind": i, "first_name": "Ada", "last_name": "Lovelace", "age": 36, "date_joined": "x"}
    )


# ---- visibility: a reader of the Delta log ----------------------------------------------------
class DeltaWatcher:
    """Polls a Delta table's log every ``interval`` s; ``seen[id]`` = when the commit adding the
    row with ``ind == id`` appeared (time.time())."""

    def __init__(self, table: Path, id_column: str, interval: float = 0.02) -> None:
        self.log = table / "_delta_log"
        self.id_column = id_column
        self.interval = interval
        self.seen: dict[int, float] = {}
        self.version = -1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> DeltaWatcher:
        while self.log.is_dir() and (self.log / f"{self.version + 1:020d}.json").exists():
            self.version += 1  # what is there already is not this measurement's
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import pyarrow.parquet as pq

        while not self._stop.is_set():
            commit = self.log / f"{self.version + 1:020d}.json"
            if not commit.exists():
                time.sleep(self.interval)
                continue
            now = time.time()
            self.version += 1
            for line in commit.read_text().splitlines():
                action = json.loads(line)
                if "add" in action:
                    path = self.log.parent / action["add"]["path"]
                    ids = pq.read_table(path, columns=[self.id_column]).column(0).to_pylist()
                    for i in ids:
                        self.seen.setdefault(int(i), now)


# ---- load --------------------------------------------------------------------------------------
@dataclass
class Run:
    rate: float
    acked: dict[int, float] = field(default_factory=dict)  # id -> ack time
    seconds: float = 0.0


def put_at_rate(settings: Settings, first_id: int, rate: float, seconds: float, batch: int) -> Run:
    """PutRecords of ``batch`` users at ``rate`` events/s for ``seconds``; ack time per id."""
    stream = settings.stream("user")
    run = Run(rate)
    interval = batch / rate
    start = time.monotonic()
    next_id = first_id
    # the API on loopback: never through the shell's proxy (pinlake.loopback)
    with httpx.Client(base_url=settings.api.url, timeout=30, trust_env=False) as client:
        k = 0
        while time.monotonic() - start < seconds:
            due = start + k * interval
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            ids = list(range(next_id, next_id + batch))
            next_id += batch
            body = {
                "StreamName": stream,
                "Records": [
                    {"Data": base64.b64encode(user(i)).decode(), "PartitionKey": str(i)}
                    for i in ids
                ],
            }
            resp = client.put(f"/streams/{stream}/records", json=body)
            now = time.time()
            if resp.status_code == 200:
                for i, r in zip(ids, resp.json()["Records"], strict=True):
                    if "SequenceNumber" in r:
                        run.acked[i] = now
            k += 1
    run.seconds = time.monotonic() - start
    return run


def measure(
    settings: Settings, table: Path, rate: float, seconds: float, batch: int, trigger: float
) -> dict:
    """One rate: latencies (s) of every acknowledged record, and whether the rate held."""
    first = int(time.time() * 1000) % 1000 * EPOCH
    with DeltaWatcher(table, "ind") as watcher:
        run = put_at_rate(settings, first, rate, seconds, batch)
        stopped = time.time()
        deadline = stopped + max(30.0, 3 * trigger + 10)
        while time.time() < deadline and not set(run.acked) <= set(watcher.seen):
            time.sleep(0.05)
        caught_up = time.time() - stopped
    latencies = [watcher.seen[i] - t for i, t in run.acked.items() if i in watcher.seen]
    half = sorted(run.acked.items(), key=lambda kv: kv[1])
    first_half = [watcher.seen[i] - t for i, t in half[: len(half) // 2] if i in watcher.seen]
    second_half = [watcher.seen[i] - t for i, t in half[len(half) // 2 :] if i in watcher.seen]
    missing = len(run.acked) - len(latencies)
    return {
        "rate": rate,
        "achieved": len(run.acked) / run.seconds if run.seconds else 0.0,
        "records": len(run.acked),
        "missing": missing,
        "p50": pct(latencies, 0.50),
        "p99": pct(latencies, 0.99),
        "caught_up_s": caught_up,
        "held": missing == 0
        and caught_up <= 3 * trigger + 2
        and pct(second_half, 0.99) <= 2 * max(pct(first_half, 0.99), trigger),
    }


# ---- the three pipelines ------------------------------------------------------------------
def floor_latency(settings: Settings, rate: float, seconds: float) -> dict:
    """Kafka producer → consumer on the same broker: the floor of any Kafka-based path."""
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import NewTopic

    from pinlake.kafka import admin

    topic = f"bench-floor-{int(time.time())}"
    client = admin(settings)  # keep the client alive until its future is done
    client.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": topic,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 5,
        }
    )
    consumer.subscribe([topic])
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers, "acks": "all"})
    sent: dict[int, float] = {}
    received: dict[int, float] = {}
    done = threading.Event()

    def consume() -> None:
        while not done.is_set() or len(received) < len(sent):
            msg = consumer.poll(0.05)
            if msg is not None and msg.error() is None:
                received[int(msg.key())] = time.time()
            if done.is_set() and time.time() > stop_at + 10:
                break

    stop_at = time.time() + seconds
    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    time.sleep(3)  # the consumer joins its group
    interval, i, start = 1 / rate, 0, time.monotonic()
    stop_at = time.time() + seconds
    while time.time() < stop_at:
        delay = start + i * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)

        produced_at = time.time()

        def acked(err, _msg, key=i, at=produced_at) -> None:
            if err is None:
                sent[key] = at  # produce time of an acknowledged record

        producer.produce(topic, key=str(i).encode(), value=user(i), on_delivery=acked)
        producer.poll(0)
        i += 1
    producer.flush(30)
    done.set()
    reader.join()
    consumer.close()
    lat = [received[k] - t for k, t in sent.items() if k in received]
    return {"rate": rate, "records": len(sent), "p50": pct(lat, 0.5), "p99": pct(lat, 0.99)}


PLAIN_QUERY = r"""
import sys, time
from pinlake.config import get_settings
from pinlake.spark import get_spark
s = get_settings()
spark = get_spark(s, app_name="bench-plain", metastore=False)
out, checkpoint, trigger = sys.argv[1], sys.argv[2], float(sys.argv[3])
schema = "ind bigint, first_name string, last_name string, age bigint, date_joined string"
q = (spark.readStream.format("kafka")
     .option("kafka.bootstrap.servers", s.kafka.bootstrap_servers)
     .option("subscribe", s.stream("user")).option("startingOffsets", "latest").load()
     .selectExpr(f"from_json(cast(value as string), '{schema}') as r").select("r.*")
     .writeStream.format("delta").option("checkpointLocation", checkpoint)
     .trigger(processingTime=f"{trigger} seconds").start(out))
print("RUNNING", flush=True)
q.awaitTermination()
"""


def start_plain(settings: Settings, home: Path, trigger: float) -> tuple[subprocess.Popen, Path]:
    table = home / "plain" / "users"
    proc = subprocess.Popen(
        [sys.executable, "-c", PLAIN_QUERY, str(table), str(home / "plain" / "ckpt"), str(trigger)],
        env=settings.child_env(),
        stdout=subprocess.PIPE,
        stderr=(home / "plain.log").open("w"),
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("RUNNING"):
            break
    return proc, table


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def run_set(settings, table, rates, seconds, batch, trigger, label) -> list[dict]:
    rows = []
    for rate in rates:
        row = measure(settings, table, rate, seconds, batch, trigger)
        row["pipeline"] = label
        print(
            f"  {label:5} {rate:>7,.0f}/s: achieved {row['achieved']:,.0f}/s, "
            f"p50 {row['p50']:.2f}s p99 {row['p99']:.2f}s, caught up {row['caught_up_s']:.1f}s"
            f"{'' if row['held'] else '  (lag grew)'}",
            flush=True,
        )
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="100,500,2000", help="events/s for the latency runs")
    parser.add_argument("--sustain-rates", default="5000,10000,20000", help="events/s to try")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per measurement")
    parser.add_argument("--trigger", type=float, default=1.0, help="micro-batch trigger, s")
    parser.add_argument("--batch", type=int, default=50, help="records per PutRecords request")
    parser.add_argument(
        "--warm-up-seconds",
        type=float,
        default=15.0,
        help="unmeasured load at the first rate before each pipeline's measurements (JIT)",
    )
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]
    sustain = [float(r) for r in args.sustain_rates.split(",")]

    from pinlake.lakehouse.tables import stream_table_path
    from pinlake.services import stream_process
    from pinlake.services.manager import start_all, stop_all

    with tempfile.TemporaryDirectory(prefix="pinlake-bench-stream-") as tmp:
        home = Path(tmp)
        kafka_port, controller, api_port = free_ports(3)
        settings = Settings(
            home=home,
            kafka=KafkaSettings(
                bootstrap_servers=f"127.0.0.1:{kafka_port}", controller_port=controller
            ),
            api=ApiSettings(port=api_port),
        )
        os.environ["PINLAKE_HOME"] = str(home)
        print(f"services on {home} …", flush=True)
        start_all(settings, quiet=True)
        results: list[dict] = []
        try:
            print("floor: Kafka producer → consumer", flush=True)
            for rate in rates:
                row = floor_latency(settings, rate, min(args.seconds, 10))
                print(
                    f"  floor {rate:>7,.0f}/s: p50 {row['p50'] * 1000:.1f} ms "
                    f"p99 {row['p99'] * 1000:.1f} ms",
                    flush=True,
                )
                results.append({**row, "pipeline": "floor"})

            print("ours: pinlake stream query", flush=True)
            pid = stream_process.start(settings, trigger_seconds=args.trigger)
            stream_process.wait_running(settings, timeout=240, pid_=pid)
            table = stream_table_path(settings, "stream_user")
            put_at_rate(settings, 1, rates[0], args.warm_up_seconds, args.batch)
            results += run_set(
                settings, table, rates + sustain, args.seconds, args.batch, args.trigger, "ours"
            )
            stream_process.stop(settings)

            print("plain: Spark Kafka → Delta", flush=True)
            proc, plain_table = start_plain(settings, home, args.trigger)
            try:
                put_at_rate(settings, 1, 10, 2, 10)  # the plain query's first commit
                wait_for(lambda: (plain_table / "_delta_log").is_dir(), 120, "the plain table")
                put_at_rate(settings, 1, rates[0], args.warm_up_seconds, args.batch)
                results += run_set(
                    settings,
                    plain_table,
                    rates + sustain,
                    args.seconds,
                    args.batch,
                    args.trigger,
                    "plain",
                )
            finally:
                proc.terminate()
                proc.wait(60)
        finally:
            stop_all(settings, quiet=True)

    report(results, rates, sustain)
    return 0


def report(results: list[dict], rates: list[float], sustain: list[float]) -> None:
    def row(pipeline: str, rate: float) -> dict | None:
        return next((r for r in results if r["pipeline"] == pipeline and r["rate"] == rate), None)

    print(
        "\n| events/s | floor p50 / p99 ms | ours p50 / p99 s | plain p50 / p99 s | "
        "p50 plain/ours |"
    )
    print("|---|---|---|---|---|")
    for rate in rates:
        f, o, p = row("floor", rate), row("ours", rate), row("plain", rate)
        print(
            f"| {rate:,.0f} | {f['p50'] * 1000:.1f} / {f['p99'] * 1000:.1f} | "
            f"{o['p50']:.2f} / {o['p99']:.2f} | {p['p50']:.2f} / {p['p99']:.2f} | "
            f"{p['p50'] / o['p50']:.2f} |"
        )

    def sustained(pipeline: str) -> float:
        held = [r["achieved"] for r in results if r["pipeline"] == pipeline and r["held"]]
        return max(held) if held else 0.0

    ours, plain = sustained("ours"), sustained("plain")
    print(
        f"\nsustained (highest rate held of {', '.join(f'{r:,.0f}' for r in rates + sustain)}): "
        f"ours {ours:,.0f}/s, plain {plain:,.0f}/s, ours/plain "
        f"{ours / plain if plain else float('nan'):.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
