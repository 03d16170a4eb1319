"""``python -m pinlake.ingest_api.server``: run the API under uvicorn (one process).

The settings come from the environment (``PINLAKE_*``, as
:meth:`pinlake.config.Settings.child_env` writes them for the child), the API key included.
"""

from __future__ import annotations

import argparse
import gc
import logging

import uvicorn

from pinlake.config import Settings
from pinlake.console import environment_settings
from pinlake.ingest_api.app import create_app


def serve(app, settings: Settings) -> None:
    """Serve ASGI ``app`` on ``settings.api.host``/``port`` until SIGTERM/SIGINT: one process,
    uvicorn with uvloop and httptools, no access log, the collector tuned for the request path.

    The one place the API's server stack is set; the ingestion benchmark's no-op baseline
    (bench/noop_server.py) is served by it too, so the two differ only in the app.
    """
    # Fewer, later collections: the request path allocates many short-lived objects and a
    # full collection of a big heap is the main source of tail latency in one process.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    uvicorn.run(
        app,
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


def main(argv: list[str] | None = None) -> None:
    """Serve :func:`create_app` on ``settings.api.host``/``port`` until SIGTERM/SIGINT."""
    argparse.ArgumentParser(
        prog="pinlake.ingest_api.server",
        description="Run the ingestion API; settings come from the PINLAKE_* environment.",
    ).parse_args(argv)
    settings = environment_settings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
