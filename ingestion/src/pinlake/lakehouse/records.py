"""The one rule that turns a delivered JSON text into a raw row, or into a rejection reason.

Both paths use it: ``pinlake land`` for every line of a topics-bucket file and ``pinlake stream``
for every Kinesis ``Data`` payload read from a stream topic. The text is parsed with the table's
explicit fields (:data:`pinlake.schemas.SOURCE_COLUMNS`, never inferred), each first read as text,
then typed by :func:`typed`:

* ``int`` (Spark ``bigint``): a JSON integer, or text holding one (``"117"``, `` 117 ``);
* ``float`` (``double``): a JSON number, or text holding one (``"-12.5"``, ``"1e3"``: what
  ``json.dumps(row, default=str)`` makes of a MySQL DECIMAL), finite;
* ``text`` and ``datetime``: any JSON value, as its text (datetimes are typed in dbt staging).

So numeric text is read as the number, as the original notebooks' casts did. A text that is not
a JSON object, lacks the key field, or has a field that does not fit its type (``"abc"`` or
``12.5`` for an int, a number out of the bigint range, NaN or infinity) gets a reason and goes to
quarantine. The reasons are fixed sentences (tests and operators match on them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pinlake.schemas import KEY_COLUMN, SOURCE_COLUMNS, SPARK_TYPE
from pinlake.schemas import Column as SourceColumn

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

NOT_AN_OBJECT = "not a JSON object"


def typed(value: Column, column: SourceColumn) -> Column:
    """``value`` (a delivered field as text) as ``column``'s Spark type; NULL when it does not
    fit (the rules in the module docstring). Never raises, whatever the ANSI setting."""
    from pyspark.sql import functions as F

    spark_type = SPARK_TYPE[column.type]
    if spark_type == "string":
        return value
    number = value.try_cast(spark_type)
    if spark_type == "double":  # finite only: NaN and ±infinity do not fit
        return F.when(~F.isnan(number) & (F.abs(number) < float("inf")), number)
    return number


def with_parsed(frame: DataFrame, table_name: str, text: Column) -> DataFrame:
    """``frame`` plus ``_fields`` (``table_name``'s delivered fields parsed from the JSON
    ``text`` as text: all NULL when it is not a JSON object) and ``p`` (those fields typed by
    :func:`typed`; a field that does not fit its type is NULL, see :func:`rejection_reason`).
    Two projections, so the JSON is parsed once however many fields read it."""
    from pyspark.sql import functions as F

    columns = SOURCE_COLUMNS[table_name]
    ddl = ", ".join(f"`{c.name}` string" for c in columns)
    frame = frame.withColumn("_fields", F.from_json(text, ddl))
    fields = F.col("_fields")
    return frame.withColumn(
        "p", F.struct(*(typed(fields[c.name], c).alias(c.name) for c in columns))
    )


def rejection_reason(table_name: str, record: Column, fields: Column, text: Column) -> Column:
    """Why ``text`` (parsed by :func:`with_parsed` as ``fields``, typed as ``record``) cannot
    be landed; NULL when it can.

    ``from_json`` gives all-null fields for text that is not a JSON object (or is cut short);
    :func:`typed` gives null for a delivered value that does not fit its type; text fields take
    any JSON value. So records that need a closer look are the ones whose key or a numeric field
    came out null (branches are evaluated lazily).
    """
    from pyspark.sql import functions as F

    def does_not_fit(column) -> Column:  # noqa: ANN001 - a pinlake.schemas.Column
        return F.lit(f"field {column.name!r} does not fit type {column.type}")

    key, *_ = (c for c in SOURCE_COLUMNS[table_name] if c.name == KEY_COLUMN[table_name])
    reason = F.when(
        record[key.name].isNull(),
        F.when(F.json_object_keys(text).isNull(), F.lit(NOT_AN_OBJECT))
        .when(fields[key.name].isNotNull(), does_not_fit(key))
        .otherwise(F.lit(f"missing key field {key.name!r}")),
    )
    for column in SOURCE_COLUMNS[table_name]:
        if column.type != "text" and column is not key:
            reason = reason.when(
                record[column.name].isNull() & fields[column.name].isNotNull(),
                does_not_fit(column),
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
