"""The scale-out setup end to end, once (issue 11): three KRaft brokers and the ingestion API, the
topics bucket on S3 (moto's server), the shared metastore (Derby network server), a Spark
standalone cluster (master + two one-core workers) and the Spark Thrift server with the cluster
as its master, all started on one throwaway home with free ports, as ``pinlake services up
--kafka-brokers 3 --s3 --thrift --spark-cluster`` starts them (independent services at once).

One module fixture runs the flow once and records what each step did; the tests only read that
record and the services' state:

1. ready: every partition of pinlake's topics has all three replicas in sync;
2. the AiCore reference events (the golden run's draws: the logged posting sequence, then every
   row once) posted to the Kafka REST proxy, batch topics only, and during production a broker
   that leads a partition killed with SIGKILL (the active controller when it leads one);
   then the node is started again (``services up`` does that) while the next steps run;
3. ``sink --once`` into ``s3://…``; ``land`` in its own process on the cluster, reading s3a://,
   while a thread queries the Thrift server every few seconds (the shared metastore at work);
4. ``dbt build --target thrift --threads 4`` through the Thrift server: every seed and model,
   and one data test of each kind whose SQL is the project's (:func:`thrift_tests`; every data
   test and the unit tests run in the golden run's build on the ``local`` target);
   every reporting mart read back through it equals the published results
   (``expected/<mart>.csv``), which the ``local`` target's marts equal on the same data
   (tests/integration/test_reference_data.py): the two targets build the same marts without a
   second build here;
5. the Airflow batch DAG on the ``thrift`` target with the shared metastore, as a user runs it
   next to this stack, through Airflow's LocalExecutor (four worker processes): the ``run``
   tasks of the three staging models, which do not depend on each other, on the data built in
   4 (incremental models: nothing new to merge, so the marts stay as 4 built them).

About 3 min 50 s alone on 2 cores (5 min in a full run, the other worker busy; it adds about
2 min 36 s to the suite's wall time): land about 50 s, dbt's build through the Thrift server
about 70 s, the DAG run about 35 s, ``services down`` about 4 s; the Thrift server's start-up
overlaps production and sink, and Airflow's (metadata DB, the DAG process and its Execution API
server) overlaps dbt's build. Replaces four modules that each started their own stack (about
15 minutes together).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest
from confluent_kafka.admin import ConfigResource
from pinlake_testing import behind_a_proxy, command_lines, reference_draws

from pinlake import kafka, run_folder
from pinlake.bucket.layout import S3Path, list_files, partition_dir, s3_client
from pinlake.bucket.sink import SinkOptions, SinkResult
from pinlake.config import (
    REPO_ROOT,
    TABLES,
    ApiSettings,
    KafkaSettings,
    S3Settings,
    Settings,
    SparkClusterSettings,
)
from pinlake.console import console
from pinlake.lakehouse.land import LandOptions, LandResult
from pinlake.pipeline.isolated import Stage, run_isolated
from pinlake.pipeline.steps import SourceLoad, run_step
from pinlake.produce import ProduceResult, ProduceToApi
from pinlake.services import (
    api_process,
    kafka_broker,
    manager,
    metastore,
    process,
    s3_server,
    thrift_server,
)
from pinlake.services import spark_cluster as standalone
from pinlake.services.request import UpRequest
from pinlake.spark import derby_classpath, session_env
from pinlake.spark_cds import archive_file

if TYPE_CHECKING:
    from airflow_env import DagTestProcess

pytestmark = [pytest.mark.kafka, pytest.mark.spark, pytest.mark.slow]

PINLAKE = str(Path(sys.executable).parent / "pinlake")
DBT = str(Path(sys.executable).parent / "dbt")
BROKERS = 3
PARTITIONS = 3  # per topic, so that every node leads some partition
#: one core and 1g each: the Thrift server's executor takes one worker, land's the other (one
#: worker of two cores would not do: an executor takes its 1g of the worker's memory)
WORKERS = 2
WORKER_CORES = 1
#: dbt's own generic tests: their SQL is dbt-spark's, the same on every Spark target, and they run
#: in the golden run's build (79 of the project's 105 data tests)
BUILTIN_TESTS = ("not_null", "unique", "accepted_values", "relationships")


def thrift_tests(manifest: dict[str, Any]) -> dict[str, str]:
    """The data tests step 4 builds through the Thrift server: one of each kind whose SQL is the
    project's (each generic test in tests/dbt/generic, and a singular test), the first by
    unique id; as ``{kind: test name}`` (the singular test's kind is ``"singular"``).

    Every instance of every kind, and dbt's built-in generic tests, run in the golden run's
    build on the ``local`` target; a test's SQL is the same on every Spark target, so one of
    each kind shows the kind compiles and runs through the Thrift server (the 26 tests of the
    project's kinds took 44 % of the build's thread time: bench/bench_scale_out.py builds every
    data test through it)."""
    chosen: dict[str, str] = {}
    for unique_id in sorted(manifest["nodes"]):
        node = manifest["nodes"][unique_id]
        kind = (node.get("test_metadata") or {}).get("name") or "singular"
        if node["resource_type"] == "test" and kind not in BUILTIN_TESTS:
            chosen.setdefault(kind, node["name"])
    return chosen


def thrift_build(tests: dict[str, str]) -> list[str]:
    """``dbt build`` through the Thrift server with 4 threads: every seed and model, and
    ``tests`` (:func:`thrift_tests`) alone (``--indirect-selection empty``: no other data test
    and no unit test; the unit tests check the models' SQL on fixtures, whatever the engine,
    and run in the golden run's build)."""
    selected = ["resource_type:seed", "resource_type:model", *tests.values()]
    return [
        "build",
        "--target",
        "thrift",
        "--threads",
        "4",
        "--select",
        *selected,
        "--indirect-selection",
        "empty",
    ]


#: records in the batch topics when the broker is killed (of about 31,000)
KILL_AFTER = 2_500
#: the interval of the Thrift server's queries during land: each is a Delta read of raw.pin on
#: the Thrift server's driver (a snapshot of a table that land changes); land takes about 40 s
POLL_SECONDS = 3.0
#: the raw column of each table that names its source row
KEY = {"pin": "index", "geo": "ind", "user": "ind"}
#: the batch DAG's tasks run side by side in step 5: the staging models' ``run`` tasks
STAGING_RUNS = tuple(f"dbt.stg_pinterest__{m}.run" for m in ("pins", "geolocations", "users"))
#: LocalExecutor worker processes (``AIRFLOW__CORE__PARALLELISM``) in step 5
DAG_PARALLELISM = 4
QUIET = lambda _m: None  # noqa: E731 - a `say` that says nothing


def active_controller(settings: Settings) -> int:
    """The node id of the KRaft quorum's leader (the active controller), from the nodes'
    ``__cluster_metadata-0/quorum-state`` files (the newest leader epoch wins). Clients cannot
    ask for it: in KRaft a Metadata response names a random broker as its controller."""
    states = [
        json.loads(path.read_text())
        for node in kafka_broker.nodes(settings)
        if (path := node.dir / "data" / "__cluster_metadata-0" / "quorum-state").exists()
    ]
    return max(states, key=lambda state: state["leaderEpoch"])["leaderId"]


def victim_node(settings: Settings, topic: str) -> tuple[int, bool]:
    """The node to kill and whether it is the active controller: the controller if it leads a
    partition of ``topic`` (the longest failover: a quorum election, then the fencing), else
    partition 0's leader."""
    meta = kafka.admin(settings).list_topics(timeout=10)
    leaders = {p.leader for p in meta.topics[topic].partitions.values()}
    controller = active_controller(settings)
    if controller in leaders:
        return controller, True
    return meta.topics[topic].partitions[0].leader, False


def query(settings: Settings, sql: str) -> tuple[list[str], list[tuple]]:
    """``(column names, rows)`` of ``sql`` through the Thrift server (PyHive, a session of its
    own, as dbt connects)."""
    from pyhive import hive

    conn = hive.connect(host="127.0.0.1", port=settings.thrift_port, username="pinlake")
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        rows = cursor.fetchall()
        return [d[0].rsplit(".", 1)[-1] for d in cursor.description or []], rows
    finally:
        conn.close()


def as_csv(header: list[str], rows: list[tuple]) -> tuple[list[str], list[tuple[str, ...]]]:
    """``header`` and ``rows`` written as ``pinlake export`` writes a mart (csv of Python
    values, None as empty) and read back as text: the header and the sorted rows of strings."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    head, *body = list(csv.reader(io.StringIO(text.getvalue())))
    return head, sorted(tuple(row) for row in body)


def read_csv(path: Path) -> tuple[list[str], list[tuple[str, ...]]]:
    """The header and the sorted rows of a CSV file."""
    with path.open(newline="", encoding="utf-8") as handle:
        head, *body = list(csv.reader(handle))
    return head, sorted(tuple(row) for row in body)


@dataclass
class ScaleOut:
    """What the one run did, step by step (see the module docstring); ``seconds`` by step."""

    settings: Settings
    seconds: dict[str, float] = field(default_factory=dict)
    replication_at_start: list[str] = field(default_factory=list)
    replicas_at_start: dict[str, tuple[list[int], list[int], int]] = field(default_factory=dict)
    schema_at_start: set[str] = field(default_factory=set)
    victim: int = 0
    victim_was_controller: bool = False
    records_at_kill: int = 0
    producing_at_kill: bool = False
    produced: list[ProduceResult] = field(default_factory=list)
    high_watermarks: dict[str, int] = field(default_factory=dict)
    #: ``services status`` (exit code, text) with the killed node down, before its restart
    status_while_down: tuple[int, str] = (-1, "")
    #: ``services status`` text right after the kill (the node still registered)
    status_at_kill: str = ""
    #: status while the node is down, of this home with MariaDB selected as the source and not
    #: running: a row more whose pid is "-"
    status_source_down: str = ""
    rejoined: str | None = "not tried"  # None: the killed node is back and every ISR full
    #: the API's ``/healthz`` body right after the kill, while the node is down (before its
    #: restart), and once it is back in every ISR
    health_at_kill: dict | None = None
    health_while_down: dict | None = None
    health_after_rejoin: dict | None = None
    sunk: SinkResult | None = None
    landed: LandResult | None = None
    land_app: dict[str, Any] = field(default_factory=dict)
    polls: list[object] = field(default_factory=list)
    dbt: subprocess.CompletedProcess | None = None
    #: the data tests the thrift build selects (:func:`thrift_tests`): kind → test name
    tests: dict[str, str] = field(default_factory=dict)
    #: the nodes the thrift build ran (its run_results.json): unique_id → status
    built: dict[str, str] = field(default_factory=dict)
    #: step 5: the DAG run's outcome (tests/dags/run_dag_test.py), or why there is none
    dag_run: dict[str, Any] | str = "not run"
    #: objects put beside the sink's: one outside any topic folder, one badly named
    not_read: str = ""
    rejected: str = ""


def _settings(home: Path) -> Settings:
    """The home's settings: every service on free loopback ports, the bucket on S3."""
    # one block, so that no two services are given the same port
    base = process.free_port_block(2 * BROKERS + WORKERS + 7)
    kafka_base, worker_ui = base, base + 2 * BROKERS
    api, s3, meta, thrift, thrift_ui, master, master_ui = range(
        worker_ui + WORKERS, base + 2 * BROKERS + WORKERS + 7
    )
    return Settings(
        home=home,
        kafka=KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{kafka_base}",
            controller_port=kafka_base + 1,
            external=False,
            partitions=PARTITIONS,
            brokers=BROKERS,
        ),
        # a generous delivery timeout: the failover takes 5-7 s idle, more on busy cores
        api=ApiSettings(host="127.0.0.1", port=api, api_key=None, delivery_timeout_ms=30_000),
        s3=S3Settings(port=s3),
        bucket=f"s3://pinlake-scale-out-{uuid.uuid4().hex[:8]}/lake",
        metastore_port=meta,
        thrift_port=thrift,
        thrift_ui_port=thrift_ui,
        spark_master=None,  # whatever the environment says: the running cluster decides
        spark_driver_memory="2g",
        # Spark's code generation, adaptive execution and partitions, the defaults (the suite's
        # other sessions run without the first two, on one partition: conftest.py): the Thrift
        # server builds every model with them
        spark_codegen=True,
        spark_adaptive=True,
        spark_partitions=4,
        spark_cluster=SparkClusterSettings(
            workers=WORKERS,
            worker_cores=WORKER_CORES,
            port=master,
            ui_port=master_ui,
            worker_ui_port=worker_ui,
        ),
    )


def _start(run: ScaleOut) -> None:
    """Start S3 (and its bucket), the brokers and the API (``start_all``: ready when every
    partition has all its replicas in sync) and record the replication right after."""
    settings = run.settings
    start = time.perf_counter()
    manager.start_all(settings, UpRequest(stream=False, s3=True), quiet=True)
    run.seconds["s3, 3 brokers, API up"] = time.perf_counter() - start
    meta = kafka.admin(settings).list_topics(timeout=10)
    run.replication_at_start = kafka.replication_problems(meta, kafka.all_topics(settings), BROKERS)
    for topic in kafka.all_topics(settings):
        for number, part in meta.topics[topic].partitions.items():
            run.replicas_at_start[f"{topic}/{number}"] = (
                sorted(part.replicas),
                sorted(part.isrs),
                part.leader,
            )


def _start_engine(run: ScaleOut, errors: list[BaseException]) -> None:
    """Start the metastore (its schema listed right after), the cluster, then the Thrift server
    (its master the cluster): run in a thread beside :func:`_start`; errors go to ``errors``."""
    settings = run.settings
    try:
        start = time.perf_counter()
        manager.start_metastore(settings, QUIET)
        run.schema_at_start = metastore.schema_objects(settings)
        standalone.start(settings)
        manager.start_thrift(settings, QUIET)
        run.seconds["metastore, cluster, Thrift server up"] = time.perf_counter() - start
    except BaseException as exc:  # noqa: BLE001 - re-raised by the fixture
        errors.append(exc)


def _produce_with_a_kill(run: ScaleOut, aicore_dir: Path) -> None:
    """The reference events to the batch topics through the API; a partition leader killed
    (SIGKILL) once ``KILL_AFTER`` records are in the topics."""
    settings = run.settings
    topics = [settings.topic(t) for t in TABLES]
    run.victim, run.victim_was_controller = victim_node(settings, settings.topic("pin"))
    node = next(n for n in kafka_broker.nodes(settings) if n.id == run.victim)
    victim_pid = kafka_broker.node_pid(settings, node)
    assert victim_pid is not None
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            for draws in reference_draws(aicore_dir):
                step = ProduceToApi(**draws, stream=False, batch_size=100)
                run.produced.append(run_step(settings, step))
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    start = time.perf_counter()
    producer = threading.Thread(target=produce, name="produce", daemon=True)
    producer.start()
    while producer.is_alive():
        offsets = kafka.topic_offsets(settings, topics)
        if sum(o.high for o in offsets) >= KILL_AFTER:
            break
        time.sleep(0.1)
    run.producing_at_kill = producer.is_alive()
    run.records_at_kill = sum(o.high for o in kafka.topic_offsets(settings, topics))
    psutil.Process(victim_pid).kill()  # kill -9: no controlled shutdown
    # at once: the controller still counts the node registered until its session times out
    with console.capture() as shown:
        manager.services_status(settings)
    run.status_at_kill = shown.get()
    run.health_at_kill = api_process.health(settings, timeout=5.0)
    producer.join(timeout=600)
    assert not producer.is_alive(), "production did not end within 10 minutes"
    if errors:
        raise errors[0]
    run.seconds["produce (a broker killed)"] = time.perf_counter() - start
    run.high_watermarks = {
        topic: sum(o.high for o in kafka.topic_offsets(settings, [topic])) for topic in topics
    }


def _rejoin(run: ScaleOut) -> None:
    """Start the killed node again, as ``services up`` does, and wait for every ISR."""
    start = time.perf_counter()
    try:
        manager.start_kafka(run.settings, say=QUIET)
        kafka.wait_in_sync(run.settings, timeout=300)
        run.health_after_rejoin = api_process.health(run.settings, timeout=5.0)
        run.rejoined = None
    except Exception as exc:  # noqa: BLE001 - recorded, asserted by a test
        run.rejoined = f"{type(exc).__name__}: {exc}"
    run.seconds["killed node back in every ISR"] = time.perf_counter() - start


def _put_strays(run: ScaleOut) -> None:
    """Beside the sink's objects: one outside any topic folder (land lists it as not read)
    and one with a name that breaks the layout in a batch topic's partition (rejected)."""
    bucket = run.settings.bucket_dir
    assert isinstance(bucket, S3Path)
    client = s3_client()
    readme = bucket / "topics" / "README.txt"
    client.put_object(Bucket=readme.bucket, Key=readme.key, Body=b"hello")
    bad = partition_dir(bucket, run.settings.topic("geo"), 0) / "geo-dump.json"
    client.put_object(Bucket=bad.bucket, Key=bad.key, Body=b'{"ind": 99}\n')
    run.not_read, run.rejected = str(readme), str(bad)


def _land_while_queried(run: ScaleOut) -> None:
    """``land`` in its own process (on the cluster) while a thread asks the Thrift server for
    the raw tables and a count every :data:`POLL_SECONDS` seconds, and once more after land
    has ended (so the last poll sees what land left, however its end fell between two polls)."""
    settings = run.settings
    done = threading.Event()

    def poll() -> None:
        while True:
            last = done.is_set()
            try:
                tables = sorted(r[1] for r in query(settings, "show tables in raw")[1])
                count = query(settings, "select count(*) from raw.pin")[1] if "pin" in tables else 0
                run.polls.append((tables, count))
            except Exception as exc:  # noqa: BLE001 - recorded, asserted by a test
                run.polls.append(exc)
            if last:
                return
            done.wait(POLL_SECONDS)

    query(settings, "create database if not exists raw")  # so the poll has a schema to list
    poller = threading.Thread(target=poll, name="thrift-poll", daemon=True)
    start = time.perf_counter()
    poller.start()
    try:
        [landed] = run_isolated(settings, [Stage("land", LandOptions())])
    finally:
        done.set()
        poller.join(timeout=120)
    run.landed = landed.result
    run.seconds["land (Thrift server queried)"] = time.perf_counter() - start

    run.land_app = standalone.finished_app(settings, "pinlake-land")


def _dag_process(settings: Settings, request: pytest.FixtureRequest) -> DagTestProcess:
    """The process that runs step 5's DAG run (tests/airflow_env.py): the DAGs configured as
    for this stack (``thrift`` target, the shared metastore's URL as ``services up`` prints it;
    no retries) and Airflow's LocalExecutor with :data:`DAG_PARALLELISM` workers."""
    request.getfixturevalue("airflow_db")  # the session's metadata DB and dbt manifest
    from airflow_env import DagTestProcess

    env = {
        **session_env(settings),
        "PINLAKE_DBT_TARGET": "thrift",
        "PINLAKE_METASTORE_URL": run_folder.metastore_url(settings),
        "PINLAKE_AIRFLOW_RETRIES": "0",
    }
    return DagTestProcess(settings.home, env, parallelism=DAG_PARALLELISM)


def _run_dag_in_parallel(run: ScaleOut, dags: DagTestProcess) -> None:
    """Step 5: the staging models' ``run`` tasks alone (their inputs are built), side by side."""
    start = time.perf_counter()
    try:
        run.dag_run = dags.run(
            "staging-in-parallel", task_ids=STAGING_RUNS, downstream=False, upstream=False
        )
    except AssertionError as exc:  # recorded, asserted by a test
        run.dag_run = str(exc)
    run.seconds["batch DAG, staging in parallel"] = time.perf_counter() - start


@pytest.fixture(scope="module")
def scale_out(
    aicore_dir: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[ScaleOut]:
    """The whole stack on a throwaway home, the flow run once (module docstring)."""
    settings = _settings(tmp_path_factory.mktemp("scale-out") / "home")
    run = ScaleOut(settings)
    total = time.perf_counter()
    dags: DagTestProcess | None = None
    with pytest.MonkeyPatch.context() as env:
        # the AWS variables of the S3 server, for this process (sink) and its children (land)
        for key, value in {**s3_server.client_env(settings), **s3_server.LOCAL_CREDENTIALS}.items():
            env.setenv(key, value)
        for key in ("AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            env.delenv(key, raising=False)
        settings.ensure_dirs()
        engine_errors: list[BaseException] = []
        engine = threading.Thread(target=_start_engine, args=(run, engine_errors), daemon=True)
        try:
            engine.start()
            _start(run)
            start = time.perf_counter()
            run_step(settings, SourceLoad(aicore_dir))
            run.seconds["source load"] = time.perf_counter() - start
            _produce_with_a_kill(run, aicore_dir)
            with console.capture() as shown:
                code = manager.services_status(settings)
            run.status_while_down = (code, shown.get())
            run.health_while_down = api_process.health(settings, timeout=5.0)
            with console.capture() as shown:
                manager.services_status(settings.model_copy(update={"source_db": "mariadb"}))
            run.status_source_down = shown.get()
            rejoin = threading.Thread(target=_rejoin, args=(run,), daemon=True)
            rejoin.start()
            start = time.perf_counter()
            run.sunk = run_step(settings, SinkOptions(once=True))
            run.seconds["sink --once to S3"] = time.perf_counter() - start
            _put_strays(run)
            start = time.perf_counter()
            # the session's dbt manifest (parsed once) while the Thrift server starts
            manifest = json.loads(request.getfixturevalue("dbt_manifest").read_text())
            run.tests = thrift_tests(manifest)
            engine.join(timeout=900)
            run.seconds["waiting for the Thrift server"] = time.perf_counter() - start
            if engine_errors:
                raise engine_errors[0]
            assert not engine.is_alive(), "the metastore, cluster or Thrift server did not start"
            _land_while_queried(run)
            start = time.perf_counter()
            with subprocess.Popen(
                [DBT, *thrift_build(run.tests)],
                env=session_env(settings),
                cwd=REPO_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ) as build:
                # Airflow's DB, the manifest and the DAG process start while dbt builds
                try:
                    dags = _dag_process(settings, request)
                except AssertionError as exc:  # recorded, asserted by a test
                    run.dag_run = f"no DAG process: {exc}"
                run.seconds["Airflow set up (during the build)"] = time.perf_counter() - start
                try:
                    out, err = build.communicate(timeout=900)
                except subprocess.TimeoutExpired:
                    build.kill()
                    raise
            run.dbt = subprocess.CompletedProcess(build.args, build.returncode, out, err)
            results = settings.home / "dbt" / "target" / "run_results.json"
            if results.is_file():  # read now: the DAG run of step 5 writes its own
                run.built = {
                    r["unique_id"]: r["status"] for r in json.loads(results.read_text())["results"]
                }
            run.seconds["dbt build --target thrift"] = time.perf_counter() - start
            if dags is not None:
                _run_dag_in_parallel(run, dags)
            rejoin.join(timeout=300)
            run.seconds["total"] = time.perf_counter() - total
            print(
                f"\nkilled node {run.victim} ({'the' if run.victim_was_controller else 'not the'} "
                f"active controller) with {run.records_at_kill} records in the topics; "
                f"timings (s): { {k: round(v, 1) for k, v in run.seconds.items()} }"
            )
            yield run
        finally:
            if dags is not None:
                dags.close()
            engine.join(timeout=900)  # never stop services while they are being started
            start = time.perf_counter()
            manager.stop_all(settings, quiet=True)
            stopped_in = time.perf_counter() - start
        # (reached when the run and its tests are done) ``services down`` left no process of
        # the home: each one's command line names the home (its run, log or data folder)
        left = [
            f"{p.pid}: {' '.join(p.info['cmdline'])[:200]}"
            for p in psutil.process_iter(["cmdline"])
            if str(settings.home) in " ".join(p.info["cmdline"] or [])
        ]
        assert left == [], f"left running after services down ({stopped_in:.1f} s): {left}"
        print(f"\nservices down: {stopped_in:.1f} s")


def test_ready_means_every_replica_in_sync_before_the_kill(scale_out: ScaleOut) -> None:
    assert scale_out.replication_at_start == []
    assert (
        len(scale_out.replicas_at_start) == len(kafka.all_topics(scale_out.settings)) * PARTITIONS
    )
    for name, (replicas, isrs, _leader) in scale_out.replicas_at_start.items():
        assert replicas == isrs == [1, 2, 3], name
    leaders = {leader for _r, _i, leader in scale_out.replicas_at_start.values()}
    assert leaders == {1, 2, 3}  # each node leads some partition: any of them is a leader
    settings = scale_out.settings
    resource = ConfigResource(ConfigResource.Type.TOPIC, settings.topic("pin"))
    client = kafka.admin(settings)  # referenced until the answer: its handle would be destroyed
    configs = client.describe_configs([resource])[resource].result(timeout=10)
    assert configs["min.insync.replicas"].value == "2"


def test_status_shows_the_killed_node_down_and_the_shrunk_isr(scale_out: ScaleOut) -> None:
    """The killed node is down, the others in the ISR. One run (a slow host, the cluster's two
    workers not yet up) read "the KRaft quorum is lost (3 of 3 controller nodes down)": the
    count of down nodes took the workers' rows too; and with node 1 killed, "this home did not
    start Kafka" (node 1's pid stood for the cluster's)."""
    code, shown = scale_out.status_while_down
    assert code == 3, shown  # a node is down
    # the table's row ("│"), not the note under it, which names the node as its row does
    rows = [line for line in shown.splitlines() if "│" in line]
    [row] = [line for line in rows if f"kafka node {scale_out.victim}" in line]
    assert "down" in row
    note = f"note: kafka node {scale_out.victim} ended without `services down`"
    assert note in " ".join(shown.split()), shown
    assert "ISR" in shown and "of replicas [1, 2, 3]" in shown, shown
    assert "quorum is lost" not in shown and "did not start" not in shown, shown
    # a row more that is down, of another service (MariaDB, selected and not running), is no
    # Kafka node: one node is still the only one down
    shown = scale_out.status_source_down
    [row] = [line for line in shown.splitlines() if "mariadb (source)" in line]
    assert "down" in row, shown
    assert "of replicas [1, 2, 3]" in shown and "quorum is lost" not in shown, shown
    # right after the kill -9 too: its process is gone though the controller still has it
    at_kill = scale_out.status_at_kill.splitlines()
    [row] = [line for line in at_kill if f"kafka node {scale_out.victim}" in line and "│" in line]
    assert "down" in row and "healthy" not in row, scale_out.status_at_kill
    assert "did not start" not in scale_out.status_at_kill, scale_out.status_at_kill
    # a partition whose leader was the killed node is not a topic gone (helper-113: "topics
    # missing" for topics the cluster held, after 5 s of waiting for each such partition)
    for shown in (scale_out.status_at_kill, scale_out.status_while_down[1]):
        assert "topics missing" not in shown, shown


def test_healthz_says_degraded_while_a_node_is_down_and_ok_once_it_is_back(
    scale_out: ScaleOut,
) -> None:
    """helper-114: ``/healthz`` said ``kafka: ok`` with a node of the cluster down (there, two
    nodes and the quorum lost). Right after the kill the node is still registered and its
    port refuses; then it is fenced and its partitions are under-replicated; once it is back
    in every ISR the cluster is whole again. The status table's API row says what is lacking."""
    victim, at_kill = scale_out.victim, scale_out.health_at_kill
    assert at_kill is not None and at_kill["kafka"] == "degraded", at_kill
    assert victim in at_kill["brokers_not_answering"] or victim not in at_kill["brokers"], at_kill
    down = scale_out.health_while_down
    assert down is not None and down["kafka"] == "degraded", down
    assert down["brokers_not_answering"] or down["partitions_under_replicated"], down
    rows = [line for line in scale_out.status_while_down[1].splitlines() if "│" in line]
    [row] = [line for line in rows if line.strip("│ ").startswith("api")]
    assert "degraded" in row, scale_out.status_while_down[1]
    back = scale_out.health_after_rejoin
    assert back is not None and back["kafka"] == "ok", (scale_out.rejoined, back)
    assert back["brokers"] == [1, 2, 3] and not back["partitions_under_replicated"], back


def test_the_api_answered_200_through_the_kill(scale_out: ScaleOut) -> None:
    """The producer retries any request not answered 200 with every record acknowledged; no
    retry and no failure means every request was answered 200, every record acknowledged."""
    assert scale_out.producing_at_kill, "production ended before the broker was killed"
    acknowledged = sum(r.total_records for r in scale_out.produced)
    assert scale_out.records_at_kill < acknowledged / 2  # most records came after the kill
    for result in scale_out.produced:
        assert (result.failed, result.retries, result.errors) == (0, 0, []), result
        assert result.requests > 0
    victim = scale_out.victim
    assert victim in {leader for _r, _i, leader in scale_out.replicas_at_start.values()}


def test_every_acknowledged_record_is_in_raw_exactly_once(
    scale_out: ScaleOut, aicore_dir: Path
) -> None:
    settings = scale_out.settings
    acknowledged: Counter = Counter()
    for result in scale_out.produced:
        acknowledged.update(result.records)
    # the topics hold exactly the acknowledged records; sink and land carried every one
    assert scale_out.high_watermarks == {settings.topic(t): acknowledged[t] for t in TABLES}
    assert scale_out.sunk is not None and scale_out.landed is not None
    assert scale_out.sunk.records == sum(acknowledged.values())
    assert scale_out.landed.records == {t: acknowledged[t] for t in TABLES}
    assert scale_out.landed.quarantined == {t: 0 for t in TABLES}
    # by content: each source row as often as the draws sent it (the posting sequence's
    # repeats, then every row once), each Kafka record (partition, offset) landed once
    sequence = Counter(
        int(r["ind"]) for r in csv.DictReader((aicore_dir / "posting_sequence.csv").open())
    )
    for table, key in KEY.items():
        _, rows = query(settings, f"select `{key}`, count(*) from raw.`{table}` group by `{key}`")
        landed = {int(k): n for k, n in rows}
        expected = {k: sequence[k] + 1 for k in landed}
        assert landed == expected, table
        assert sum(landed.values()) == acknowledged[table]
        _, [(count, distinct)] = query(
            settings,
            f"select count(*), count(distinct _partition, _offset) from raw.`{table}`",
        )
        assert count == distinct == acknowledged[table], table
        if table != "pin":  # every source row (the sequential pass); pins are a sample
            assert len(landed) == 11_154, table


def test_land_read_the_s3_objects_the_sink_wrote(scale_out: ScaleOut) -> None:
    settings = scale_out.settings
    bucket = settings.bucket_dir
    assert isinstance(bucket, S3Path)
    files = [f for t in TABLES for f in list_files(bucket, settings.topic(t))]
    objects = {str(f.path) for f in files if f.problem is None}
    landed = scale_out.landed
    assert scale_out.sunk is not None and landed is not None
    assert len(objects) == scale_out.sunk.files == landed.files_landed
    assert all(o.startswith(f"s3://{bucket.bucket}/lake/topics/") for o in objects)
    assert landed.files_found == len(files) == len(objects) + 1
    assert list(landed.files_rejected) == [scale_out.rejected]
    assert "not <topic>+<partition>+<offset>" in landed.files_rejected[scale_out.rejected]
    assert list(landed.files_not_read) == [scale_out.not_read]
    _, rows = query(
        settings, "select file_path, problem from raw._loaded_files where file_path is not null"
    )
    manifest = dict(rows)
    assert manifest.pop(scale_out.rejected) is not None  # recorded with its problem
    assert manifest == dict.fromkeys(objects)  # the sink's objects, landed


def test_the_cluster_ran_land_and_runs_the_thrift_server(
    scale_out: ScaleOut, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = scale_out.land_app
    assert (app["name"], app["state"], app["cores"]) == ("pinlake-land", "FINISHED", 1)
    behind_a_proxy(monkeypatch)  # the master's state is read on loopback directly, all the same
    state = standalone.master_state(scale_out.settings)
    assert state is not None and state["status"] == "ALIVE"
    active = [(a["name"], a["state"], a["cores"]) for a in state["activeapps"]]
    assert active == [("pinlake-thrift", "RUNNING", 1)]
    assert len(standalone.alive_worker_ui_ports(state)) == WORKERS
    # land's executor ran on a worker, with the driver's jars
    settings = scale_out.settings
    [executor] = [
        d
        for n in range(1, WORKERS + 1)
        if (standalone.work_dir(settings, n) / app["id"]).is_dir()
        for d in (standalone.work_dir(settings, n) / app["id"]).iterdir()
    ]
    command = (executor / "stderr").read_text()
    assert "CoarseGrainedExecutorBackend" in command
    assert str(settings.jars_dir / "spark") in command
    # it read the bucket over s3a://: the AWS SDK logged through Spark's log4j2, no SLF4J warning
    assert "SLF4J" not in command
    # the Thrift server's driver, on the shared metastore, maps the class-data archive make
    # setup wrote: the embedded and the server metastore's sessions have one class path
    archive = archive_file(settings, derby_classpath(settings))
    assert archive.is_file()
    server = thrift_server.pid(settings)
    assert server is not None
    commands = command_lines(server)
    assert any(
        f"-XX:SharedArchiveFile={archive}" in c and "HiveThriftServer2" in c for c in commands
    )
    # its driver's scratch (block manager, artifacts) is in the home, not in /tmp, where a
    # server killed with kill -9 left them (helper-109)
    scratch = thrift_server.spark_scratch_dir(settings)
    assert [p.name for p in scratch.glob("blockmgr-*")], sorted(p.name for p in scratch.iterdir())


def test_the_thrift_server_answered_throughout_land(scale_out: ScaleOut) -> None:
    polls = scale_out.polls
    errors = [p for p in polls if isinstance(p, Exception)]
    assert not errors, errors[:3]
    assert len(polls) >= 3  # the Thrift server answered while land ran
    assert any("pin" not in tables for tables, _ in polls)  # some polls came before land's
    # the poll after land's end sees its tables and every pin row it landed
    tables, count = polls[-1]
    assert scale_out.landed is not None
    assert {"pin", "geo", "user", "_loaded_files"} <= set(tables)
    assert count == [(scale_out.landed.records["pin"],)]


def test_dbt_builds_everything_through_the_thrift_server(
    scale_out: ScaleOut, dbt_manifest: Path
) -> None:
    done = scale_out.dbt
    assert done is not None and done.returncode == 0, (done.stdout or "")[-3000:]
    assert "Concurrency: 4 threads (target='thrift')" in done.stdout
    assert "ERROR=0" in done.stdout.replace(" ", "")
    # exactly thrift_build's selection ran: every seed and model, and one data test of each of
    # the project's kinds (its four generic tests and a singular test)
    manifest = json.loads(dbt_manifest.read_text())
    assert set(scale_out.tests) == {
        "accepted_range",
        "delivered_values_parse",
        "expression_is_true",
        "unique_combination",
        "singular",
    }
    wanted = {
        n["unique_id"]
        for n in manifest["nodes"].values()
        if n["resource_type"] in ("seed", "model")
        or (n["resource_type"] == "test" and n["name"] in scale_out.tests.values())
    }
    assert sum(w.startswith("test.") for w in wanted) == len(scale_out.tests)
    assert set(scale_out.built) == wanted
    assert set(scale_out.built.values()) == {"success", "pass"}


def test_the_reporting_marts_are_the_published_ones(scale_out: ScaleOut, aicore_dir: Path) -> None:
    """Each ``rpt_*`` mart of the thrift build, as pinlake export writes it, equals the
    published result (= the ``local`` target's mart on the same data, test_reference_data).
    The Thrift server built them with Spark's code generation and adaptive execution, the golden
    run's ``local`` target without (interpreted, planned once, conftest.py): both equal the
    published results."""
    settings = scale_out.settings
    modes = {}
    for key in (
        "spark.sql.codegen.factoryMode",
        "spark.sql.codegen.wholeStage",
        "spark.sql.adaptive.enabled",
        "spark.sql.shuffle.partitions",
    ):
        modes |= dict(query(settings, f"set {key}")[1])
    assert modes == {
        "spark.sql.codegen.factoryMode": "FALLBACK",
        "spark.sql.codegen.wholeStage": "true",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.shuffle.partitions": "4",
    }
    expected = {p.stem: read_csv(p) for p in sorted((aicore_dir / "expected").glob("rpt_*.csv"))}
    built = sorted(r[1] for r in query(scale_out.settings, "show tables in marts")[1])
    assert expected and set(expected) <= set(built)
    for mart, (header, rows) in expected.items():
        got = as_csv(*query(scale_out.settings, f"select * from marts.`{mart}`"))
        assert rows, mart
        assert got == (header, rows), mart


def test_the_batch_dag_runs_independent_models_in_parallel(scale_out: ScaleOut) -> None:
    """With the ``thrift`` target and the shared metastore, the batch DAG's dbt tasks are not
    in the one-slot pool, and Airflow's LocalExecutor runs the three staging models (none needs
    another) at the same time: each task succeeded, and Airflow's own start and end dates of at
    least two of them overlap."""
    result = scale_out.dag_run
    assert isinstance(result, dict), result
    assert result["state"] == "success", f"{result['tasks']} (log: {result['log']})"
    assert result["tasks"] == dict.fromkeys(STAGING_RUNS, "success")
    assert "dbt:thrift" in result["tags"]  # the DAG rendered for the thrift target
    assert set(result["pools"].values()) == {"default_pool"}  # not SPARK_POOL (pinlake_spark)
    spans = {
        task: tuple(datetime.fromisoformat(at) for at in interval)
        for task, interval in result["intervals"].items()
    }
    assert set(spans) == set(STAGING_RUNS)
    overlapping = [
        (a, b)
        for a, b in itertools.combinations(sorted(spans), 2)
        if max(spans[a][0], spans[b][0]) < min(spans[a][1], spans[b][1])
    ]
    assert overlapping, spans


def test_no_spark_client_changed_the_metastore_schema(scale_out: ScaleOut) -> None:
    before = scale_out.schema_at_start
    assert {"table TBLS", "table DBS", "table VERSION", "table KEY_CONSTRAINTS"} <= before
    assert metastore.schema_objects(scale_out.settings) == before


def test_the_killed_node_rejoined_every_isr(scale_out: ScaleOut) -> None:
    assert scale_out.rejoined is None
    settings = scale_out.settings
    meta = kafka.admin(settings).list_topics(timeout=10)
    assert kafka.replication_problems(meta, kafka.all_topics(settings), BROKERS) == []


def test_services_status_shows_every_service(scale_out: ScaleOut) -> None:
    settings = scale_out.settings
    status = subprocess.run(
        [PINLAKE, "--home", str(settings.home), "services", "status"],
        env={**settings.child_env(), "COLUMNS": "250"},  # rich tables on one line each
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    lines = status.stdout.splitlines()

    def row(name: str) -> str:
        [found] = [line for line in lines if name in line]
        assert "healthy" in found, found
        return found

    for node in kafka_broker.nodes(settings):
        assert node.address in row(f"kafka node {node.id}")
    assert settings.api.url in row("api ")
    assert s3_server.url(settings) in row("s3 (moto")
    assert f"jdbc:derby://127.0.0.1:{settings.metastore_port}/metastore_db" in row("metastore")
    thrift = row("thrift (Spark)")
    assert f"jdbc:hive2://127.0.0.1:{settings.thrift_port}/default" in thrift
    assert f"http://127.0.0.1:{settings.thrift_ui_port}" in thrift
    master = row("spark master")
    assert standalone.master_url(settings) in master and standalone.ui_url(settings) in master
    for n in range(1, WORKERS + 1):
        assert f"http://127.0.0.1:{standalone.worker_ui_port(settings, n)}" in row(
            f"spark worker {n}"
        )
    assert "every partition in sync" in status.stdout
