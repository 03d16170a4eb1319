"""Where a process's Python time goes: a py-spy speedscope profile summarised by component.

    .venv/bin/python bench/pyspy_summary.py bench/out/api-1-….speedscope.json [--seconds 20]

py-spy (``py-spy record --format speedscope``, idle samples left out, its default) writes one
sampled profile per thread: a stack of frames (root first) per sample. Each sample is counted
once for its **component**, the leaf-most frame whose file belongs to a known component (self
time by package: a call into orjson or librdkafka counts for the Python line that made it, as
py-spy sees no native frames), and once for every component anywhere on its stack (inclusive
time). py-spy leaves out samples of an idle thread (one waiting in a system call: epoll, a
lock, a sleep), and weighs each sample by its interval in seconds, so a thread's weights add up
to the time it was busy; against the wall time recorded that is its busy share.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson

#: (component, substrings of a frame's file path), first match wins; the leaf-most matching
#: frame of a sample names its component.
COMPONENTS: list[tuple[str, tuple[str, ...]]] = [
    ("Kafka produce (produce() calls, delivery futures)", ("ingest_api/backend/producer.py",)),
    ("JSON parse/dump (orjson, wire.py)", ("ingest_api/wire.py", "orjson")),
    ("record validation (codec.py)", ("ingest_api/kafka_rest/codec.py",)),
    ("topic metadata cache", ("ingest_api/backend/metadata.py",)),
    ("produce route (routes.py)", ("ingest_api/kafka_rest/routes.py",)),
    ("body read / media type (request_io.py)", ("ingest_api/request_io.py",)),
    ("no-op route (noop_server.py)", ("noop_server.py",)),
    ("our middleware (paths.py, API key)", ("ingest_api/paths.py", "ingest_api/app.py")),
    ("route class wrapper (errors.py)", ("ingest_api/errors.py",)),
    ("pydantic", ("pydantic",)),
    ("FastAPI (routing, parameters, handler)", ("fastapi/",)),
    ("Starlette (routing, Request, Response, middleware stack)", ("starlette/",)),
    ("uvicorn HTTP protocol (httptools parse, write)", ("uvicorn/protocols/http",)),
    ("uvicorn (other)", ("uvicorn/",)),
    ("event loop (asyncio, uvloop)", ("asyncio/", "uvloop/")),
    ("threading", ("threading.py", "concurrent/futures")),
]
OTHER = "other"


def component(file: str) -> str | None:
    """The component of a frame's ``file`` path, None if it belongs to none."""
    for name, parts in COMPONENTS:
        if any(p in file for p in parts):
            return name
    return None


@dataclass
class ThreadProfile:
    """One thread's samples: ``samples`` (count), ``seconds`` (busy time: the weights' sum),
    ``self``/``inclusive`` per component and ``leaves`` per leaf frame (``function (file:line)``),
    both in seconds."""

    name: str
    samples: int
    seconds: float
    self: Counter
    inclusive: Counter
    leaves: Counter


def load(path: Path) -> list[ThreadProfile]:
    """The thread profiles of a py-spy speedscope file, busiest first; raises ValueError for a
    file that is not a speedscope profile."""
    data = orjson.loads(path.read_bytes())
    try:
        frames = data["shared"]["frames"]
        profiles = data["profiles"]
    except (KeyError, TypeError):
        raise ValueError(f"{path} is not a speedscope profile") from None
    comps = [component(f.get("file") or "") for f in frames]
    labels = [
        f"{f.get('name')} ({Path(f.get('file') or '?').name}:{f.get('line')})" for f in frames
    ]
    out = []
    for prof in profiles:
        self_c: Counter = Counter()
        incl: Counter = Counter()
        leaves: Counter = Counter()
        total = 0.0
        weights = prof.get("weights") or [1] * len(prof["samples"])
        for stack, w in zip(prof["samples"], weights, strict=True):
            total += w
            if not stack:
                continue
            leaves[labels[stack[-1]]] += w
            own = next((comps[i] for i in reversed(stack) if comps[i] is not None), OTHER)
            self_c[own] += w
            for c in {comps[i] for i in stack if comps[i] is not None}:
                incl[c] += w
        name = prof.get("name", "?")
        out.append(ThreadProfile(name, len(prof["samples"]), total, self_c, incl, leaves))
    return sorted(out, key=lambda t: -t.seconds)


def summary(path: Path, seconds: float | None = None, top: int = 12) -> str:
    """A text summary of ``path``: per thread its samples, busy seconds and (with ``seconds``,
    the wall time recorded) busy share; for the busiest thread the components' self and
    inclusive shares of its busy time and its top leaf frames."""
    threads = load(path)
    if not threads:
        return f"{path}: no samples"
    lines = [f"profile {path}"]
    for t in threads:
        busy = f" = {t.seconds / seconds:.0%} of {seconds:.1f} s wall time" if seconds else ""
        lines.append(f"  thread {t.name}: {t.samples:,} samples, busy {t.seconds:.2f} s{busy}")
    main = threads[0]
    if not main.seconds:
        return "\n".join(lines)
    lines.append(f"  {main.name}, by component (self / inclusive share of its busy time):")
    for name, n in main.self.most_common():
        incl = main.inclusive[name] / main.seconds
        lines.append(f"    {n / main.seconds:6.1%} {incl:7.1%}  {name}")
    lines.append(f"  {main.name}, top leaf frames (self):")
    for label, n in main.leaves.most_common(top):
        lines.append(f"    {n / main.seconds:6.1%}  {label}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path, help="py-spy speedscope JSON")
    parser.add_argument("--seconds", type=float, help="wall time recorded (for busy shares)")
    args = parser.parse_args(argv)
    try:
        print(summary(args.profile, args.seconds))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
