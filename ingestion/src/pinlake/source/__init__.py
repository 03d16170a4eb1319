"""The source database: the stand-in for the original AiCore RDS MySQL database ``pinterest_data``.

* :func:`pinlake.source.db.init_source` creates the three tables filled with synthetic rows
  (:mod:`pinlake.source.generator`);
* :func:`pinlake.source.reference.load_reference` loads the real reference rows instead;
* :func:`~pinlake.source.db.engine_for`, :func:`~pinlake.source.db.fetch_rows` and
  :func:`~pinlake.source.db.row_count` are what producers read with.
"""

from __future__ import annotations

from pinlake.source.db import engine_for, fetch_rows, init_source, row_count, source_size

__all__ = ["engine_for", "fetch_rows", "init_source", "row_count", "source_size"]
