"""The one rule that turns a delivered JSON text into a raw row, or into a rejection reason.

Both paths use it: ``pinlake land`` for every line of a topics-bucket file and ``pinlake stream``
for every Kinesis ``Data`` payload read from a stream topic. The text is parsed with the table's
explicit schema (:func:`pinlake.schemas.payload_schema`, never inferred); a text that is not a JSON
object, lacks the key field or has a field that does not fit its type gets a reason and goes to
quarantine. The reasons are fixed sentences (tests and operators match on them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pinlake.schemas import KEY_COLUMN, SOURCE_COLUMNS, payload_schema

if TYPE_CHECKING:
    from pyspark.sql import Column

NOT_AN_OBJECT = "not a JSON object"


def parsed(table_name: str, text: Column) -> Column:
    """The struct of ``table_name``'s delivered fields parsed from the JSON ``text`` column."""
    from pyspark.sql import functions as F

    return F.from_json(text, payload_schema(table_name))


def rejection_reason(table_name: str, record: Column, text: Column) -> Column:
    """Why ``text`` (parsed as ``record`` by :func:`parsed`) cannot be landed; NULL when it can.

    ``from_json`` gives all-null fields for text that is not a JSON object (or is cut short),
    and null for a value that does not fit its type; text fields take any JSON value. So a
    clean record costs one parse, and records that need a closer look are the ones whose key or
    a numeric field came out null (branches are evaluated lazily).
    """
    from pyspark.sql import functions as F

    def delivered(name: str) -> Column:
        return F.get_json_object(text, f"$.{name}").isNotNull()

    def does_not_fit(column) -> Column:  # noqa: ANN001 - a pinlake.schemas.Column
        return F.lit(f"field {column.name!r} does not fit type {column.type}")

    key, *_ = (c for c in SOURCE_COLUMNS[table_name] if c.name == KEY_COLUMN[table_name])
    reason = F.when(
        record[key.name].isNull(),
        F.when(F.json_object_keys(text).isNull(), F.lit(NOT_AN_OBJECT))
        .when(delivered(key.name), does_not_fit(key))
        .otherwise(F.lit(f"missing key field {key.name!r}")),
    )
    for column in SOURCE_COLUMNS[table_name]:
        if column.type != "text" and column is not key:
            reason = reason.when(
                record[column.name].isNull() & delivered(column.name), does_not_fit(column)
            )
    return reason


def source_fields(table_name: str, record: str = "p") -> list[Column]:
    """The delivered fields of struct column ``record``, in source order, as top-level columns."""
    from pyspark.sql import functions as F

    return [F.col(f"{record}.{c.name}").alias(c.name) for c in SOURCE_COLUMNS[table_name]]


class TableTotals:
    """Totals of a result dataclass with ``records`` and ``quarantined`` per table (the land
    and stream results)."""

    records: dict[str, int]
    quarantined: dict[str, int]

    @property
    def total_records(self) -> int:
        return sum(self.records.values())

    @property
    def total_quarantined(self) -> int:
        return sum(self.quarantined.values())
