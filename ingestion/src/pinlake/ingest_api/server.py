"""``python -m pinlake.ingest_api.server --settings FILE``: run the API under uvicorn."""

from __future__ import annotations

import argparse
import gc
import logging
from pathlib import Path

import uvicorn

from pinlake.ingest_api.app import create_app
from pinlake.services.api_process import load_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="pinlake.ingest_api.server")
    parser.add_argument("--settings", type=Path, required=True)
    args = parser.parse_args(argv)
    settings = load_settings(args.settings)
    # Fewer, later collections: the request path allocates many short-lived objects and a
    # full collection of a big heap is the main source of tail latency in one process.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=settings.api.host,
        port=settings.api.port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=5,
        server_header=False,
        backlog=2048,
    )


if __name__ == "__main__":
    main()
