"""The stream stage's micro-batch writer, fed Kafka-shaped batches by hand (real Spark + Delta).

What a micro-batch of the stream topics becomes: the raw stream tables' contract, the quarantine
of every kind of bad ``Data``, and the idempotence that makes a replayed batch (after a crash)
write nothing twice. The query around it (Kafka, checkpoints, SIGKILL) is tested end to end in
tests/integration/test_stream_path.py.
"""

from __future__ import annotations

import base64
import gc
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pinlake.config import Settings
from pinlake.ingest_api.kinesis.codec import put_record_data, put_records_data, sequence_number
from pinlake.lakehouse.stream import BatchWriter, StreamResult
from pinlake.lakehouse.tables import ensure_stream_tables_by_path, stream_table_path
from pinlake.schemas import STREAM_QUARANTINE_DDL, stream_table, stream_table_ddl

# slow: it starts a Spark JVM (tens of seconds), so the fast loop leaves it out
pytestmark = [pytest.mark.spark, pytest.mark.slow]

KAFKA_SCHEMA = (
    "key binary, value binary, topic string, partition int, offset bigint, "
    "timestamp timestamp, timestampType int"
)
ACKED_AT = datetime(2026, 11, 30, 12, 0, 0, tzinfo=timezone.utc)
USER = {"ind": 1, "first_name": "Abigail", "last_name": "Ali", "age": 20, "date_joined": "x"}
GEO = {"ind": 1, "timestamp": "2020-08-28T03:52:47", "latitude": -89.9, "longitude": 10.5}
PIN_GEO_USER = ("pin", "geo", "user")
PIN = {"index": 7528, "unique_id": "u", "title": "t", "downloaded": 0, "category": "art"}


@pytest.fixture
def stream_settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def _batch(spark, settings: Settings, records: list[tuple[str, int, int, bytes | None]]):
    """A DataFrame shaped like the Kafka source's: (table, partition, offset, value)."""
    rows = [
        (b"key-%d" % offset, value, settings.stream(table), partition, offset, ACKED_AT, 0)
        for table, partition, offset, value in records
    ]
    return spark.createDataFrame(rows, KAFKA_SCHEMA)


def _land(
    spark,
    settings: Settings,
    app_id: str,
    result: StreamResult,
    records: list[tuple[str, int, int, bytes | None]],
    batch_id: int,
) -> None:
    """What the three tables' queries do with these records: each table's writer gets the
    records of its topic as a micro-batch (tables without records get none)."""
    for table in PIN_GEO_USER:
        mine = [r for r in records if r[0] == table]
        if mine:
            BatchWriter(settings, table, app_id, result)(_batch(spark, settings, mine), batch_id)


def _read(spark, settings: Settings, name: str) -> list:
    path = str(stream_table_path(settings, name))
    return (
        spark.read.format("delta").load(path).orderBy("_topic", "_partition", "_offset").collect()
    )


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def test_a_batch_lands_fields_and_stream_metadata(spark, stream_settings: Settings) -> None:
    ensure_stream_tables_by_path(spark, stream_settings)
    result = StreamResult()
    records = [("pin", 0, 0, _json(PIN)), ("geo", 2, 41, _json(GEO)), ("user", 0, 7, _json(USER))]

    _land(spark, stream_settings, "app-1", result, records, 3)

    assert result.batches == 3  # a micro-batch per table's query
    assert result.records == {"pin": 1, "geo": 1, "user": 1}
    assert result.total_quarantined == 0
    pin, geo, user = (_read(spark, stream_settings, stream_table(t))[0] for t in PIN_GEO_USER)
    assert (pin["index"], pin["category"], pin["downloaded"], pin["title"]) == (7528, "art", 0, "t")
    assert pin["description"] is None  # a field the record does not carry
    assert (geo["_topic"], geo["_partition"], geo["_offset"]) == (
        stream_settings.stream("geo"),
        2,
        41,
    )
    assert geo["_sequence_number"] == sequence_number(2, 41)  # what the API answered
    assert geo["_kafka_timestamp"].replace(tzinfo=timezone.utc) == ACKED_AT
    assert (geo["latitude"], geo["timestamp"]) == (-89.9, "2020-08-28T03:52:47")
    assert (user["_partition_key"], user["_batch_id"], user["age"]) == ("key-7", 3, 20)
    assert user["_ingested_at"] is not None


def test_records_acknowledged_before_a_continuous_run_are_its_backlog_not_its_latency(
    spark, stream_settings: Settings, capsys
) -> None:
    """A continuous ``stream`` that caught up on records put before it started said "latency
    API → raw Delta p50 55.27s" (helper-53's trial): their wait for the run. They are counted
    as its backlog; the latency is of the records acknowledged while it ran."""
    from pinlake.lakehouse.stream import print_stream_summary

    ensure_stream_tables_by_path(spark, stream_settings)
    acked_ms = ACKED_AT.timestamp() * 1000
    before = StreamResult(started_at_ms=acked_ms + 60_000)  # the run started a minute later
    _land(spark, stream_settings, "app-b", before, [("user", 0, 1, _json(USER))], 1)
    during = StreamResult(started_at_ms=acked_ms - 60_000)  # a minute earlier
    _land(spark, stream_settings, "app-d", during, [("pin", 0, 5, _json(PIN))], 1)
    assert (before.backlog, during.backlog) == (1, 0)
    assert before.records["user"] == during.records["pin"] == 1
    writer = BatchWriter(stream_settings, "geo", "app-g", before)
    writer(_batch(spark, stream_settings, [("geo", 0, 9, _json(GEO))]), 1)
    assert before.backlog == 2 and not writer.latencies
    writer = BatchWriter(stream_settings, "geo", "app-h", during)
    writer(_batch(spark, stream_settings, [("geo", 0, 10, _json(GEO))]), 1)
    assert len(writer.latencies) == 1 and writer.latencies[0] > 0
    before.batches, before.stopped = 2, "stopped by a signal"
    capsys.readouterr()
    print_stream_summary(before)
    out = " ".join(capsys.readouterr().out.split())
    assert "; 2 records acknowledged before its queries ran (not in the latency)" in out, out
    assert "latency API → raw Delta p50" not in out  # none of its records was acked during it


def test_the_stream_tables_have_the_declared_schema(spark, stream_settings: Settings) -> None:
    from pyspark.sql.types import StructType

    ensure_stream_tables_by_path(spark, stream_settings)
    for table in PIN_GEO_USER:
        path = str(stream_table_path(stream_settings, stream_table(table)))
        schema = spark.read.format("delta").load(path).schema
        assert schema.simpleString() == StructType.fromDDL(stream_table_ddl(table)).simpleString()
    path = str(stream_table_path(stream_settings, "stream_quarantine"))
    schema = spark.read.format("delta").load(path).schema
    assert schema.simpleString() == StructType.fromDDL(STREAM_QUARANTINE_DDL).simpleString()
    # a commit per micro-batch: Delta checkpoints (inside a commit) every 100, not every 10
    for name in (*(stream_table(t) for t in PIN_GEO_USER), "stream_quarantine"):
        path = stream_table_path(stream_settings, name)
        props = {r.key: r.value for r in spark.sql(f"show tblproperties delta.`{path}`").collect()}
        assert props.get("delta.checkpointInterval") == "100", name


#: Surrogates that no pair holds: high alone, low alone, low before high, high after an escaped
#: backslash pair (``\\`` then ``\ud800``: an escape all the same)
LONE = ("\ud800", "x\udc00", "\udc00\ud800", "\\\ud800")
UNPAIRED = "JSON escape of an unpaired surrogate (\\uD800-\\uDFFF): not Unicode text"


def test_bad_data_is_quarantined_with_its_reason(spark, stream_settings: Settings) -> None:
    ensure_stream_tables_by_path(spark, stream_settings)
    result = StreamResult()
    not_utf8 = b"\xff\xfe{"
    # longer than 57 bytes: its base64 is one line still (Spark's base64 breaks lines at 76)
    long_not_utf8 = _json({**USER, "ind": 8, "last_name": "x" * 60})[:-2] + b'\xc3"}'
    valid_fffd = {**USER, "ind": 9, "first_name": "\ufffd"}  # U+FFFD as valid UTF-8: lands
    records = [
        ("user", 0, 0, _json(USER)),
        ("user", 0, 1, b"{not json"),
        ("user", 0, 2, b"[1, 2, 3]"),
        ("user", 0, 3, b""),
        ("user", 0, 4, _json({**USER, "age": "twenty"})),
        ("user", 0, 5, _json({k: v for k, v in USER.items() if k != "ind"})),
        ("user", 0, 6, not_utf8),
        ("user", 0, 7, None),
        ("user", 0, 8, long_not_utf8),
        ("user", 0, 9, json.dumps(valid_fffd, ensure_ascii=False).encode()),
        # JSON escapes of surrogates (json.dumps escapes a Python str's): alone they name no
        # character and landed as "?"; a pair (an emoji) lands as its character; an escaped
        # backslash before "ud800" is text; an array holding one is quarantined once
        *(
            ("user", 0, 10 + i, _json({**USER, "ind": 10 + i, "first_name": name}))
            for i, name in enumerate(LONE)
        ),
        ("user", 0, 14, _json({**USER, "ind": 14, "first_name": "\U0001f600 \\ud800"})),
        ("user", 0, 15, _json([{**USER, "ind": 15}, {**USER, "ind": 16, "last_name": "\udfff"}])),
        ("pin", 0, 0, _json({**PIN, "index": "x"})),
        # a number beyond a double in a text field: the same rule as land's (helper-86: it
        # landed as "Infinity" from a Kinesis Data, which is opaque bytes to the API)
        ("pin", 0, 1, b'{"index": 3, "follower_count": 1e999}'),
        ("geo", 0, 0, _json({**GEO, "latitude": "north"})),
        ("geo", 0, 1, _json(GEO)),
        # json.dumps(default=str) of MySQL DECIMAL columns: numeric text reads as the number
        ("geo", 0, 2, _json({**GEO, "ind": "9", "latitude": "-12.5", "longitude": "33.1"})),
    ]

    _land(spark, stream_settings, "app-2", result, records, 0)

    assert result.records == {"pin": 0, "geo": 2, "user": 3}
    geo = _read(spark, stream_settings, "stream_geo")
    assert sorted((r["ind"], r["latitude"], r["longitude"]) for r in geo) == [
        (1, -89.9, 10.5),
        (9, -12.5, 33.1),
    ]
    assert result.quarantined == {"pin": 2, "geo": 1, "user": 10 + len(LONE) + 1}
    rows = _read(spark, stream_settings, "stream_quarantine")
    reasons = {
        (r["table_name"], r["_offset"], r["_element"]): (r["reason"], r["raw_text"]) for r in rows
    }
    assert len(reasons) == len(rows)
    element = "array element is not a JSON object"
    reasons = {(t, o) if e is None else (t, o, e): why for (t, o, e), why in reasons.items()}
    assert reasons == {
        ("user", 1): ("not a JSON object", "{not json"),
        ("user", 2, 0): (element, "1"),
        ("user", 2, 1): (element, "2"),
        ("user", 2, 2): (element, "3"),
        ("user", 3): ("not a JSON object", ""),
        ("user", 4): (
            "field 'age' does not fit type bigint",
            json.dumps({**USER, "age": "twenty"}),
        ),
        ("user", 5): (
            "missing key field 'ind'",
            json.dumps({k: v for k, v in USER.items() if k != "ind"}),
        ),
        ("user", 6): ("Data is not valid UTF-8", base64.b64encode(not_utf8).decode()),
        ("user", 7): ("no Data", None),
        ("user", 8): ("Data is not valid UTF-8", base64.b64encode(long_not_utf8).decode()),
        **{
            ("user", 10 + i): (UNPAIRED, json.dumps({**USER, "ind": 10 + i, "first_name": name}))
            for i, name in enumerate(LONE)
        },
        ("user", 15): (
            UNPAIRED,
            json.dumps([{**USER, "ind": 15}, {**USER, "ind": 16, "last_name": "\udfff"}]),
        ),
        ("pin", 0): ("field 'index' does not fit type bigint", json.dumps({**PIN, "index": "x"})),
        ("pin", 1): (
            "field 'follower_count' holds a number beyond the range of a double, whose text "
            "cannot be kept",
            '{"index": 3, "follower_count": 1e999}',
        ),
        ("geo", 0): (
            "field 'latitude' does not fit type double",
            json.dumps({**GEO, "latitude": "north"}),
        ),
    }
    assert all(r["_sequence_number"] and r["_batch_id"] == 0 for r in rows)
    users = _read(spark, stream_settings, "stream_user")
    assert [(r["_offset"], r["first_name"]) for r in users] == [
        (0, "Abigail"),
        (9, "\ufffd"),
        (14, "\U0001f600 \\ud800"),
    ]


def test_data_that_is_not_json_is_quarantined_and_a_byte_order_mark_is_ignored(
    spark, stream_settings: Settings
) -> None:
    """The rule land follows (pinlake.lakehouse.records; helper-99): a Kinesis ``Data`` that
    Spark's lenient reader read as a record but RFC 8259 does not is quarantined, and one that
    starts with a byte order mark lands."""
    ensure_stream_tables_by_path(spark, stream_settings)
    result = StreamResult()
    texts = [
        b"\xef\xbb\xbf" + _json({**USER, "ind": 2}),
        b'{"ind": 3, "first_name": "a"} trailing',
        b'{"ind": 4, "ind": 5}',
        b'{"ind": 6, "first_name": "nul\x00byte"}',
        b"{'ind': 7}",
        b'[{"ind": 8}] [{"ind": 9}]',  # helper-100: the second array was dropped
        # helper-105: NaN/Infinity in a text or an undeclared field (the reason named neither)
        b'{"ind": 10, "first_name": NaN}',
        b'{"ind": 11, "x": Infinity}',
    ]
    records = [("user", 0, offset, text) for offset, text in enumerate(texts)]
    _land(spark, stream_settings, "app-11", result, records, 0)
    assert [r["ind"] for r in _read(spark, stream_settings, "stream_user")] == [2]
    invalid = (
        "not valid JSON (RFC 8259): text after the value, a repeated key, single quotes, an "
        "unescaped control character or NaN/Infinity"
    )
    quarantined = _read(spark, stream_settings, "stream_quarantine")
    assert [(r["_offset"], r["reason"], r["raw_text"]) for r in quarantined] == [
        (offset, invalid, texts[offset].decode()) for offset in range(1, 8)
    ]
    assert (result.records["user"], result.quarantined["user"]) == (1, 7)


def test_a_replayed_batch_writes_nothing_twice(spark, stream_settings: Settings) -> None:
    """After a crash the query replays the batch with the same id and the same offsets: the
    appends that had committed are skipped by Delta (txnAppId + txnVersion), the rest written."""
    ensure_stream_tables_by_path(spark, stream_settings)
    writer = BatchWriter(stream_settings, "user", "app-3", StreamResult())
    first = _batch(spark, stream_settings, [("user", 0, 0, _json(USER)), ("user", 0, 1, b"?")])
    writer(first, 0)
    assert (writer.last_batch_id, writer.last_batch_records) == (0, 2)  # what status shows
    writer(first, 0)  # the replay
    second = _batch(spark, stream_settings, [("user", 0, 2, _json({**USER, "ind": 2}))])
    writer(second, 1)
    writer(first, 0)  # an older batch id is skipped too

    assert [r["_offset"] for r in _read(spark, stream_settings, "stream_user")] == [0, 2]
    assert [r["_offset"] for r in _read(spark, stream_settings, "stream_quarantine")] == [1]

    # a new checkpoint gets a new app id: its batch 0 is new data, not a replay
    BatchWriter(stream_settings, "user", "app-4", StreamResult())(second, 0)
    assert [r["_offset"] for r in _read(spark, stream_settings, "stream_user")] == [0, 2, 2]
    # a topic without records has no micro-batches, so its table gets no commits
    log = stream_table_path(stream_settings, "stream_pin") / "_delta_log"
    assert [p.name for p in log.glob("*.json")] == [f"{0:020d}.json"]


def test_each_micro_batch_reuses_the_record_rule_built_once(
    spark, stream_settings: Settings, monkeypatch
) -> None:
    """The record rule's expressions (:func:`pinlake.lakehouse.records.record_columns`) are
    built once per driver JVM, not for every micro-batch of every table: building them took
    about 5,500 py4j calls, 2 s of each batch (bench/README.md). A batch's frame now takes
    under a quarter of the calls of one that builds them (counted without the garbage
    collector's deletes, which varied with the worker: 1,056 calls in a full run against 328
    alone); a new driver JVM (another py4j gateway) builds them again."""
    from pyspark import SparkContext

    from pinlake.lakehouse import records
    from pinlake.lakehouse.stream import _parsed_batch

    built = records.record_columns("user", "_text", unwrap_base64=True)
    assert records.record_columns("user", "_text", unwrap_base64=True) is built
    assert records.record_columns("user", "line") is not built  # the batch path's form
    batch = _batch(spark, stream_settings, [("user", 0, 0, _json(USER)), ("user", 0, 1, b"?")])
    client = spark.sparkContext._gateway._gateway_client
    send = client.send_command

    def calls_of(build: object) -> int:
        """The py4j calls ``build()`` makes, without the deletes of Python objects that the
        garbage collector sends meanwhile (a full run's worker has many more to collect)."""
        calls: list[str] = []

        def counted(command: str, *args: object, **kwargs: object) -> object:
            calls.append(command)
            return send(command, *args, **kwargs)

        gc.collect()
        monkeypatch.setattr(client, "send_command", counted)
        try:
            build()
        finally:
            monkeypatch.undo()
        return sum(not command.startswith("m\nd\n") for command in calls)

    rows: list[object] = []
    reused = calls_of(lambda: rows.append(_parsed_batch(batch, "user", 5)))
    records._BUILT.clear()  # as every batch did before: the rule built for it
    rebuilt = calls_of(lambda: _parsed_batch(batch, "user", 5))
    assert 0 < reused < rebuilt / 4, (reused, rebuilt)  # 328 against 6,586 alone
    assert [(r["offset"], r["_reason"]) for r in rows[0].orderBy("offset").collect()] == [
        (0, None),
        (1, records.NOT_AN_OBJECT),
    ]
    built = records.record_columns("user", "_text", unwrap_base64=True)

    monkeypatch.setattr(SparkContext, "_gateway", object())  # another driver JVM's gateway
    assert records.record_columns("user", "_text", unwrap_base64=True) is not built


def test_the_warm_up_writes_nothing_it_leaves_behind(spark, stream_settings: Settings) -> None:
    """The continuous query's warm-up runs real micro-batches into a scratch folder and removes
    it: no stream table is created or written, and nothing is left next to the checkpoint."""
    from pinlake.lakehouse.stream import checkpoint_dir, warm_up

    warm_up(spark, stream_settings, rounds=1)

    assert not list(checkpoint_dir(stream_settings).parent.glob("warm-up-*"))
    for name in ("stream_pin", "stream_geo", "stream_user", "stream_quarantine"):
        assert not stream_table_path(stream_settings, name).exists(), name


def test_a_stopped_warm_up_ends_before_its_next_write(spark, stream_settings: Settings) -> None:
    """The warm-up asks ``stopped`` before each write (a stop during the query's start-up ends
    it there): stopped after the first table's write, it writes no other and leaves nothing."""
    from pinlake.lakehouse.stream import checkpoint_dir, warm_up

    asked: list[int] = []

    def stopped() -> bool:
        asked.append(len(asked))
        return len(asked) > 1

    warm_up(spark, stream_settings, rounds=2, stopped=stopped)

    assert len(asked) == 2  # before the first table's write, then before the second's: stop
    assert not list(checkpoint_dir(stream_settings).parent.glob("warm-up-*"))


def test_a_stopped_table_check_creates_no_more_tables(spark, tmp_path: Path) -> None:
    """The stream stage's start-up asks its stop request before each stream table it creates:
    stopped after the first, the others are not created."""
    from pinlake.lakehouse.tables import stream_tables

    settings = Settings(home=tmp_path / "home")
    asked: list[int] = []

    def stopped() -> bool:
        asked.append(len(asked))
        return len(asked) > 1

    ensure_stream_tables_by_path(spark, settings, stopped=stopped)
    created = [
        name
        for name in stream_tables()
        if (stream_table_path(settings, name) / "_delta_log").is_dir()
    ]
    assert len(asked) == 2 and created == [next(iter(stream_tables()))]


def _aicore_pins(aicore_dir: Path, n: int) -> list[dict]:
    """The first ``n`` real pin rows of the AiCore reference sample (read, never copied)."""
    with (aicore_dir / "pinterest_data_sample.jsonl").open(encoding="utf-8") as f:
        return [json.loads(next(f)) for _ in range(n)]


def _b64(value: object) -> str:
    return base64.b64encode(_json(value)).decode()


def test_data_is_unwrapped_as_real_producers_send_it(
    spark, stream_settings: Settings, aicore_dir: Path
) -> None:
    """The bytes the tutorial's templates store for what real producers send: a row object
    (AiCore template), a JSON string of base64 of the row (producers that pre-encode, like the
    original project's PRG), arrays of rows, plain or pre-encoded, and pinlake's own PutRecords
    (the row's JSON text as ``data``). Anything else is quarantined with its reason."""
    ensure_stream_tables_by_path(spark, stream_settings)
    result = StreamResult()
    pins = _aicore_pins(aicore_dir, 7)
    not_base64 = "JSON string that is not base64 of a JSON object or array"
    records = [
        ("pin", 0, 0, put_record_data(pins[0])),  # {"Data": {row}}
        ("pin", 0, 1, put_record_data(_b64(pins[1]))),  # {"Data": "<base64 of the row>"}
        ("pin", 0, 2, put_record_data([pins[2], pins[3]])),  # {"Data": [row, row]}
        ("pin", 0, 3, put_record_data(_b64([pins[4], pins[5]]))),  # base64 of an array
        ("pin", 0, 4, put_records_data(json.dumps(pins[6]))),  # pinlake's own PutRecords
        ("pin", 1, 0, put_record_data("this is a test")),  # b'"this is a test"'
        ("pin", 1, 1, put_record_data("hello123")),  # base64 of 6 bytes of garbage
        ("pin", 1, 2, put_record_data(base64.b64encode(b"hello").decode())),  # not JSON
        ("pin", 1, 3, put_record_data(_b64("a string"))),  # base64 of a JSON string
        ("pin", 1, 4, put_record_data(base64.b64encode(b"{bad").decode())),
        ("pin", 1, 5, put_record_data(_b64([pins[0], 7]))),  # an element that is no object
        ("pin", 1, 6, put_record_data(_b64([]))),
        ("pin", 1, 7, put_records_data(pins[0])),  # {index=..., ...}: the template's map text
        ("pin", 1, 8, put_record_data(5)),
    ]
    assert records[5][3] == b'"this is a test"'

    _land(spark, stream_settings, "app-9", result, records, 0)

    landed = _read(spark, stream_settings, "stream_pin")
    got = sorted((r["_partition"], r["_offset"], r["_element"], r["index"]) for r in landed)
    assert got == [
        (0, 0, None, pins[0]["index"]),
        (0, 1, None, pins[1]["index"]),
        (0, 2, 0, pins[2]["index"]),
        (0, 2, 1, pins[3]["index"]),
        (0, 3, 0, pins[4]["index"]),
        (0, 3, 1, pins[5]["index"]),
        (0, 4, None, pins[6]["index"]),
        (1, 5, 0, pins[0]["index"]),
    ]
    by_key = {(r["_offset"], r["_element"]): r.asDict() for r in landed if r["_partition"] == 0}
    for (offset, element), pin in zip(
        [(0, None), (1, None), (2, 0), (2, 1), (3, 0), (3, 1), (4, None)], pins, strict=True
    ):
        assert {k: by_key[(offset, element)][k] for k in pin} == pin  # every field as sent
    assert result.records["pin"] == 8
    assert result.quarantined["pin"] == 9
    quarantined = _read(spark, stream_settings, "stream_quarantine")
    reasons = sorted((r["_offset"], r["_element"] or 0, r["reason"]) for r in quarantined)
    assert reasons == [
        (0, 0, not_base64),
        (1, 0, not_base64),
        (2, 0, not_base64),
        (3, 0, not_base64),
        (4, 0, "not a JSON object"),
        (5, 1, "array element is not a JSON object"),
        (6, 0, "empty JSON array: no record"),
        (7, 0, "not a JSON object"),
        (8, 0, "not a JSON object"),
    ]
    texts = {r["_offset"]: r["raw_text"] for r in quarantined}
    assert texts[0] == '"this is a test"'  # the Data as delivered
    assert texts[4] == "{bad"  # the decoded text that was read
    assert texts[7].startswith(f"{{index={pins[0]['index']}, unique_id=")


def test_a_record_encoded_twice_is_quarantined_with_a_reason_that_says_so(
    spark, stream_settings: Settings
) -> None:
    """helper-101: a producer that base64-encodes its record and hands it to an SDK (which
    encodes ``Data`` again) or to PutRecords' ``data`` delivers bare base64 text, which was
    quarantined as "not a JSON object"; the reason now says what it holds. Text that only looks
    like base64 (a number, ``null``, base64 of text that is no object) keeps its reason."""
    from pinlake.lakehouse.records import BARE_BASE64, NOT_AN_OBJECT

    ensure_stream_tables_by_path(spark, stream_settings)
    result = StreamResult()
    texts = [
        _b64({**USER, "ind": 2}).encode(),  # blob_data of base64 text: the SDK's second encoding
        put_records_data(_b64([{**USER, "ind": 3}])) + b"\n",
        b"1234",
        b"null",
        base64.b64encode(b"plain text"),
        _json({**USER, "ind": 4}),
    ]
    records = [("user", 0, offset, text) for offset, text in enumerate(texts)]
    _land(spark, stream_settings, "app-13", result, records, 0)
    assert [r["ind"] for r in _read(spark, stream_settings, "stream_user")] == [4]
    quarantined = _read(spark, stream_settings, "stream_quarantine")
    assert [(r["_offset"], r["reason"], r["raw_text"]) for r in quarantined] == [
        (0, BARE_BASE64, texts[0].decode()),
        (1, BARE_BASE64, texts[1].decode()),
        (2, NOT_AN_OBJECT, "1234"),
        (3, NOT_AN_OBJECT, "null"),
        (4, NOT_AN_OBJECT, texts[4].decode()),
    ]


def test_fields_the_table_does_not_declare_land_in_rescued_data(
    spark, stream_settings: Settings
) -> None:
    """A record's fields that its table does not declare are kept in ``_rescued_data`` (one JSON
    object of them, values as delivered), never dropped; names match exactly; an element of an
    array and a pre-encoded record too. A number beyond a double's range would change, so its
    record is quarantined (an array's, whatever field holds it), as is a repeated key (not valid
    JSON)."""
    from pinlake.lakehouse.records import (
        ARRAY_BEYOND_DOUBLE,
        INVALID_JSON,
        RESCUED_BEYOND_DOUBLE,
    )

    beyond_double = (
        "field {!r} holds a number beyond the range of a double, whose text cannot be kept"
    )
    ensure_stream_tables_by_path(spark, stream_settings)
    result = StreamResult()
    extra = {"device": "ios", "First_Name": "B", "meta": {"a": [1, 2.5, "x"], "b": None}}
    texts = [
        _json({**USER, "ind": 2}),
        _json({**USER, "ind": 3, **extra, "score": 12.5, 'é "q"': "ü"}),
        _json([{**USER, "ind": 4, "x": 1}, {**USER, "ind": 5}]),
        _json(_b64({**USER, "ind": 6, "v2": True})),
        b'{"ind": 7, "first_name": "a", "big": 1e999}',
        b'{"ind": 8, "extra": 1, "extra": 2}',
        b'[{"ind": 9, "first_name": 1e999}, {"ind": 10}]',
        b'[{"ind": 11, "x": -1e999}]',
        # helper-103: a declared field's string "Infinity" hid the undeclared 1e999 (it landed)
        b'{"ind": 12, "first_name": "Infinity", "x": 1e999}',
        b'{"ind": 13, "x": {"y": [-1e999]}}',
        b'{"ind": 14, "x": "Infinity", "y": 1e300}',  # the words, and a double in range: land
        # the kind in a declared text field: 1e999 inside its object landed as "Infinity"
        b'{"ind": 15, "first_name": {"a": [1e999]}}',
        # helper-104: in an array of mixed types (Spark's schema says VARIANT, not DOUBLE)
        b'{"ind": 16, "x": [true, 1e999]}',
        b'{"ind": 17, "first_name": [1e999, null, true]}',
        # the words as strings beside a double, and no number beyond it: land (were quarantined)
        b'{"ind": 18, "first_name": {"name": "Infinity", "n": 1e2}}',
        b'{"ind": 19, "x": ["-Infinity", 2]}',
        b'[{"ind": 20, "y": {"v": "Infinity", "w": [1e2, true]}}]',
    ]
    records = [("user", 0, offset, text) for offset, text in enumerate(texts)]
    _land(spark, stream_settings, "app-12", result, records, 0)
    rows = _read(spark, stream_settings, "stream_user")
    rescued = {r["ind"]: r["_rescued_data"] for r in rows}
    assert rescued == {
        2: None,
        3: rescued[3],
        4: '{"x":1}',
        5: None,
        6: '{"v2":true}',
        14: '{"x":"Infinity","y":1.0E300}',
        18: None,
        19: '{"x":["-Infinity",2]}',
        # an element's text is written from the variant (1e2: 100.0), then read again (a decimal)
        20: '{"y":{"v":"Infinity","w":[100,true]}}',
    }
    kept = json.loads(rescued[3])
    assert list(kept.items()) == [*extra.items(), ("score", 12.5), ('é "q"', "ü")]
    first_names = {r["ind"]: r["first_name"] for r in rows}
    assert first_names[3] == "Abigail"  # not "First_Name"'s
    assert first_names[18] == '{"name":"Infinity","n":100.0}'
    quarantined = _read(spark, stream_settings, "stream_quarantine")
    assert [(r["_offset"], r["reason"], r["raw_text"]) for r in quarantined] == [
        (4, RESCUED_BEYOND_DOUBLE, texts[4].decode()),
        (5, INVALID_JSON, texts[5].decode()),
        (6, ARRAY_BEYOND_DOUBLE, texts[6].decode()),
        (7, ARRAY_BEYOND_DOUBLE, texts[7].decode()),
        (8, RESCUED_BEYOND_DOUBLE, texts[8].decode()),
        (9, RESCUED_BEYOND_DOUBLE, texts[9].decode()),
        (11, beyond_double.format("first_name"), texts[11].decode()),
        (12, RESCUED_BEYOND_DOUBLE, texts[12].decode()),
        (13, beyond_double.format("first_name"), texts[13].decode()),
    ]
    assert (result.records["user"], result.quarantined["user"]) == (9, 9)


def test_tables_of_an_older_home_gain_the_rescued_data_column(
    spark, stream_settings: Settings, capsys
) -> None:
    """A stream table created before ``_rescued_data`` (and ``_element``) existed gets them, in
    the declared places, NULL for its rows, when the stream stage starts, and one line says so
    (helper-103: such a NULL means "not kept")."""
    from pyspark.sql.types import StructType

    old_ddl = stream_table_ddl("geo").replace(", `_rescued_data` string", "")
    old_ddl = old_ddl.replace(", `_element` int", "")
    path = stream_table_path(stream_settings, stream_table("geo"))
    spark.sql(f"create table delta.`{path}` ({old_ddl}) using delta")
    old = {**GEO, "_topic": "t", "_partition": 0, "_offset": 0}
    spark.createDataFrame([old], old_ddl).write.format("delta").mode("append").save(str(path))

    ensure_stream_tables_by_path(spark, stream_settings)

    schema = spark.read.format("delta").load(str(path)).schema
    assert schema.simpleString() == StructType.fromDDL(stream_table_ddl("geo")).simpleString()
    [row] = _read(spark, stream_settings, "stream_geo")
    assert (row["ind"], row["_rescued_data"], row["_element"]) == (1, None, None)
    said = capsys.readouterr().err.splitlines()
    assert said == [
        "raw.stream_geo: added _rescued_data, _element, new in pinlake since the table was "
        "created; its rows from before read NULL there"
    ]


def test_tables_of_an_older_home_gain_the_element_column(spark, stream_settings: Settings) -> None:
    """A stream table created before ``_element`` existed gets it (after ``_offset``, NULL for
    its rows) when the stream stage starts, and new batches land with their positions."""
    from pyspark.sql.types import StructType

    old_ddl = stream_table_ddl("user").replace(", `_element` int", "")
    assert "_element" not in old_ddl
    path = stream_table_path(stream_settings, stream_table("user"))
    spark.sql(f"create table delta.`{path}` ({old_ddl}) using delta")
    spark.createDataFrame([], old_ddl).write.format("delta").mode("append").save(str(path))

    ensure_stream_tables_by_path(spark, stream_settings)

    schema = spark.read.format("delta").load(str(path)).schema
    assert schema.simpleString() == StructType.fromDDL(stream_table_ddl("user")).simpleString()
    result = StreamResult()
    _land(spark, stream_settings, "app-10", result, [("user", 0, 0, _json([USER, USER]))], 0)
    assert sorted(r["_element"] for r in _read(spark, stream_settings, "stream_user")) == [0, 1]
