"""What the golden run delivers besides the original producer's events (tests/conftest.py).

1. **Every client shape** of the original producers (issue 9), through the API on both paths,
   carrying copies of reference rows (so the marts still equal the published results, and each
   shape's rows are identified in raw by their delivery metadata):

   * batch (Kafka REST v2): ``//topics/…``, the stage prefix ``/test/topics/…``, a trailing slash,
     a value that is a one-element array, a value that is an array of two rows, two records;
   * stream (Kinesis proxy): PutRecord at ``//streams/…``, ``/test/streams/…`` and with a trailing
     slash, ``Data`` as a JSON string of base64 of the row (producers that pre-encode), the
     tutorial's PutRecords with ``data`` as the row's JSON text (a string), Kinesis' own PutRecords
     with ``Data`` base64, and ``Data`` that is an array of two rows.

   Both paths deliver the same rows (each once), so raw.<t> and raw.stream_<t> stay equal.

2. **Rows of extreme values** (issue 10): for each kind (huge, negative, very long, empty,
   unicode, null) one pin, geo and user row with new keys, on both paths. By design no mart
   reads them (no follower count, no category, no readable timestamp), so the marts still equal
   the published results while the rows pass land, the stream stage and the whole dbt build.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from pinlake.config import TABLES, Settings
from pinlake.produce.payload import row_to_json
from pinlake.source.reference import read_csv, read_jsonl, reference_files

KAFKA_JSON = "application/vnd.kafka.json.v2+json"
BIG = 9_223_372_036_854_775_807  # the largest bigint
LONG = "長い" * 5_000 + "x"  # 10,001 characters (30 KB: eight of them fit a Kafka message)
UNICODE = "\u00a0Zoë 🤖 Ωmega\u202e \u200b名前\u00a0"
#: the keys of the extreme rows, one per kind (far from the reference keys)
EXTREME_KEYS = {
    "huge": 9_100_000_001,
    "negative": -9_100_000_002,
    "long": 9_100_000_003,
    "empty": 9_100_000_004,
    "unicode": 9_100_000_005,
    "null": 9_100_000_006,
}
BATCH_SHAPES = (
    "double slash",
    "stage prefix",
    "trailing slash",
    "one-element array",
    "array",
    "two records",
)
STREAM_SHAPES = (
    "double slash",
    "stage prefix",
    "trailing slash",
    "base64 string Data",
    "PutRecords data text",
    "PutRecords native base64",
    "array Data",
)


def extreme_rows(kind: str) -> dict[str, dict]:
    """The pin, geo and user row of one kind of extreme value (same key in all three)."""
    key = EXTREME_KEYS[kind]
    text = {"long": LONG, "empty": "", "unicode": UNICODE}.get(kind)
    follower_count, downloaded, latitude, longitude, age, stamp = {
        "huge": ("10000000000000M", BIG, 1e308, -1e308, BIG, "9" * 400),
        "negative": ("-5", -1, -91.0, -181.0, -1, "-2020-01-01T00:00:00"),
        "long": (LONG, 1, 0.0, 0.0, 1, LONG),
        "empty": ("", 0, 0.0, 0.0, 0, ""),
        "unicode": ("１２３k", 1, 1.5, 1.5, 30, "２０２０-01-01 00:00:00"),
        "null": (None, None, None, None, None, None),
    }[kind]
    pin = {
        "index": key,
        "unique_id": text,
        "title": text,
        "description": text,
        "poster_name": text,
        "follower_count": follower_count,
        "tag_list": text,
        "is_image_or_video": text,
        "image_src": text,
        "downloaded": downloaded,
        "save_location": None if text is None else f"Local save in {text}",
        # no category: a category outside the 13 stops a build by design (README, data model)
        "category": "" if kind == "empty" else None,
    }
    geo = {"ind": key, "timestamp": stamp, "latitude": latitude, "longitude": longitude}
    geo["country"] = text
    user = {"ind": key, "first_name": text, "last_name": text, "age": age, "date_joined": stamp}
    return {"pin": pin, "geo": geo, "user": user}


def reference_rows(aicore_dir: Path, count: int) -> dict[str, list[dict]]:
    """The first ``count`` reference rows of each table, as the producer sends them."""
    files = reference_files(aicore_dir)
    out: dict[str, list[dict]] = {}
    for table in TABLES:
        read = read_jsonl if table == "pin" else read_csv
        rows = read(files[table], table)
        out[table] = [row_to_json(next(rows)) for _ in range(count)]
    return out


@dataclass
class ExtraDeliveries:
    """What :func:`deliver` sent: per path, the Kafka records and the raw rows per table; the
    batch values posted (per table, parsed JSON, for the bucket check); the rows each shape
    carried (``{(path, shape): {table: [key, …]}}``); each request's status."""

    kafka_records: dict[str, Counter] = field(default_factory=lambda: {"batch": Counter()})
    rows: dict[str, Counter] = field(
        default_factory=lambda: {"batch": Counter(), "stream": Counter()}
    )
    batch_values: dict[str, list] = field(default_factory=lambda: {t: [] for t in TABLES})
    shapes: dict[tuple[str, str], dict[str, list[int]]] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)


def _key(table: str, row: dict) -> int:
    return row["index" if table == "pin" else "ind"]


def deliver(settings: Settings, aicore_dir: Path) -> ExtraDeliveries:
    """Post every client shape and the extreme rows on both paths (see the module docstring);
    every request must be answered 200 (raises AssertionError otherwise)."""
    out = ExtraDeliveries()
    copies = reference_rows(aicore_dir, 9)
    extremes = [extreme_rows(kind) for kind in EXTREME_KEYS]
    base = f"http://{settings.api.host}:{settings.api.port}"
    with httpx.Client(timeout=60) as client:
        for table in TABLES:
            rows = copies[table]
            topic, stream = settings.topic(table), settings.stream(table)
            batch = {  # shape: (url, values); each value is one Kafka record
                "double slash": (f"{base}//topics/{topic}", [rows[0]]),
                "stage prefix": (f"{base}/test/topics/{topic}", [rows[1]]),
                "trailing slash": (f"{base}/topics/{topic}/", [rows[2]]),
                "one-element array": (f"{base}/topics/{topic}", [[rows[3]]]),
                "array": (f"{base}/topics/{topic}", [[rows[4], rows[5]]]),
                "two records": (f"{base}/topics/{topic}", [rows[6], rows[7]]),
                "extreme rows": (f"{base}/topics/{topic}", [e[table] for e in extremes]),
            }
            for shape, (url, values) in batch.items():
                response = client.post(
                    url,
                    json={"records": [{"value": v} for v in values]},
                    headers={"content-type": KAFKA_JSON},
                )
                _check(out, f"batch {shape} {table}", response)
                flat = [r for v in values for r in (v if isinstance(v, list) else [v])]
                out.kafka_records["batch"][table] += len(values)
                out.rows["batch"][table] += len(flat)
                out.batch_values[table].extend(values)
                if shape in BATCH_SHAPES:
                    keys = [_key(table, r) for r in flat]
                    out.shapes.setdefault(("batch", shape), {})[table] = keys
            record = f"{base}/streams/{stream}/record"
            puts = {  # shape: (url, body, rows)
                "double slash": (f"{base}//streams/{stream}/record", _put(rows[0]), [rows[0]]),
                "stage prefix": (f"{base}/test/streams/{stream}/record", _put(rows[1]), [rows[1]]),
                "trailing slash": (f"{record}/", _put(rows[2]), [rows[2]]),
                "base64 string Data": (record, _put(_b64(rows[3])), [rows[3]]),
                "array Data": (record, _put([rows[4], rows[5]]), [rows[4], rows[5]]),
            }
            for shape, (url, body, carried) in puts.items():
                _check(out, f"stream {shape} {table}", client.put(url, json=body))
                out.rows["stream"][table] += len(carried)
                keys = [_key(table, r) for r in carried]
                out.shapes.setdefault(("stream", shape), {})[table] = keys
            many = f"{base}/streams/{stream}/records"
            text = {"records": [{"data": json.dumps(rows[6]), "partition-key": "shape"}]}
            native = {"Records": [{"Data": _b64(rows[7]), "PartitionKey": "shape"}]}
            native["StreamName"] = stream
            for shape, body, row in (
                ("PutRecords data text", text, rows[6]),
                ("PutRecords native base64", native, rows[7]),
            ):
                response = client.put(many, json=body)
                _check(out, f"stream {shape} {table}", response)
                assert response.json()["FailedRecordCount"] == 0, (shape, response.text)
                out.rows["stream"][table] += 1
                out.shapes.setdefault(("stream", shape), {})[table] = [_key(table, row)]
            for extreme in extremes:
                _check(
                    out, f"stream extreme {table}", client.put(record, json=_put(extreme[table]))
                )
                out.rows["stream"][table] += 1
    return out


def _put(data: object) -> dict:
    return {"Data": data, "PartitionKey": "shape"}


def _b64(row: dict) -> str:
    return base64.b64encode(json.dumps(row).encode()).decode()


def _check(out: ExtraDeliveries, what: str, response: httpx.Response) -> None:
    out.statuses[what] = response.status_code
    assert response.status_code == 200, (what, response.status_code, response.text[:500])
