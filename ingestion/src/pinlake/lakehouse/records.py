"""The one rule that turns a delivered JSON text into raw rows, or into rejection reasons.

Both paths use it: ``pinlake land`` for every line of a topics-bucket file and ``pinlake stream``
for every Kinesis ``Data`` payload read from a stream topic (:func:`with_records`).

**Records of a text.** A delivered text holds records as Spark's JSON reader (the original
pipeline's ``spark.read.json``) finds them:

* a JSON object: one record, ``_element`` NULL;
* a JSON array: one record per element, ``_element`` its 0-based position (delivery order and
  exactly-once accounting stay exact: a row is identified by topic, partition, offset and
  element). An element that is not an object is quarantined (:data:`ELEMENT_NOT_AN_OBJECT`); an
  empty array is quarantined once (:data:`EMPTY_ARRAY`: counted and reported, never dropped); an
  array that cannot be read (cut short, or an element with a repeated key) once
  (:data:`UNREADABLE_ARRAY`), one with text after it (another array, an object) once
  (:data:`INVALID_JSON`), and one with a number beyond the double's range in an element once
  (:data:`ARRAY_BEYOND_DOUBLE`: the element's text is written from Spark's variant, which
  would make it ``"Infinity"``);
* stream path only (``unwrap_base64``): a JSON string holding base64 of a JSON object or array,
  what producers that pre-encode send through the tutorial's PutRecord template (which stores
  ``Data``'s JSON text, quotes included; aicore-reference §1.6, the PRG producer), is decoded and
  read as above; a JSON string that is not that is quarantined (:data:`NOT_BASE64_RECORD`);
  bare base64 of a JSON object or array (no quotes: a record encoded twice) is not JSON, and is
  quarantined with a reason that says what it holds (:data:`BARE_BASE64`);
* anything else (blank, a number, text cut short, ...): quarantined as :data:`NOT_AN_OBJECT`.

A byte order mark (U+FEFF) before a text is ignored (RFC 8259 §8.1 lets a parser do so): a file
saved by an editor that writes one quarantined its first line as not an object (helper-99).

**JSON that is not JSON.** Spark's JSON reader is lenient: it read ``{"index": 1} trailing``
(text after the value), ``{"index": 1, "index": 2}`` (a repeated key: the last one won),
``{'index': 1}`` (single quotes) and an unescaped control character in a string (a NUL byte:
every field then NULL, so "missing key field") as records, and two of them landed (helper-99). A
record's text must be one JSON value of RFC 8259 (§2: nothing after it; §4: names "SHOULD be
unique", which Spark's variant parser and the array rule here require; §7: control characters
escaped): Spark's strict ``parse_json`` reads it (:func:`one_json_value`, which names the one
gap), or it is quarantined as :data:`INVALID_JSON`. The tokens ``NaN`` and ``Infinity``, which
RFC 8259 does not have either, keep a numeric field's reason ("does not fit"), as before;
anywhere else (a text field, an undeclared one) the record is :data:`INVALID_JSON`, whose
sentence names them (helper-105: it named four other causes only).

**Bytes of a text.** A delivered text is UTF-8 (JSON text is, RFC 8259 §8.1). Bytes that are
not valid UTF-8 (Spark's ``is_valid_utf8``: no overlong forms, surrogates or code points past
U+10FFFF) are never decoded with replacement characters, which would land altered text: the
whole delivered unit (a Kinesis ``Data``, a line of a bucket file) is quarantined once as
:data:`NOT_UTF8`, its ``raw_text`` the bytes in base64 (:func:`undecodable_text`). The stream
path reads bytes and decodes them with :func:`utf8_text`; the batch path reads files as text
and checks the lines where Spark put a replacement character against their bytes
(:mod:`pinlake.lakehouse.land`). A U+FFFD delivered as valid UTF-8 (``EF BF BD``) is text like
any other and lands unchanged. JSON's ``\\uXXXX`` escape of a surrogate that is not one half of
a pair (``"\\ud800"``: valid JSON grammar whose meaning RFC 8259 §8.2 leaves undefined) names no
character: Spark's JSON reader lands it as ``?``, so the unit is quarantined once as
:data:`UNPAIRED_SURROGATE` (:func:`unpaired_surrogate`); an escaped pair (``"\\ud83d\\ude00"``,
what ``json.dumps`` makes of an emoji) is its character and lands.

**Fields of a record.** The record is parsed with the table's explicit fields
(:data:`pinlake.schemas.SOURCE_COLUMNS`, never inferred; names match exactly, as Spark's JSON
reader matches them), each first read as text, then typed by :func:`typed`. A field they do not
name is kept in :data:`pinlake.schemas.RESCUED_DATA` (:func:`rescued_fields`), never dropped:

* ``int`` (Spark ``bigint``): a JSON integer, or text holding one (``"117"``, `` 117 ``);
* ``float`` (``double``): a JSON number, or text holding one (``"-12.5"``, ``"1e3"``: what
  ``json.dumps(row, default=str)`` makes of a MySQL DECIMAL), finite;
* ``text`` and ``datetime``: any JSON value, as its text (datetimes are typed in dbt staging);
  a JSON number as the text of the double Spark's reader makes of it (``1.5e3`` lands as
  ``1500.0``), so a number beyond the double's range (``1e999``), whose text would be
  ``"Infinity"``, is quarantined (:func:`beyond_double`): the API refuses such a number in a
  JSON body (:class:`pinlake.ingest_api.wire.NumberOutOfRange`), and a bucket line or a Kinesis
  ``Data`` (opaque bytes) brings it here.

So numeric text is read as the number, as the original notebooks' casts did. A record that lacks
the key field, or has a field that does not fit its type (``"abc"`` or ``12.5`` for an int, a
number out of the bigint range, NaN or infinity), or a text field holding a number beyond the
double's range, gets a reason and goes to quarantine. The reasons are fixed sentences (tests and
operators match on them); a field's type in them is the raw table's (``field 'ind' does not fit
type bigint``, ``… type double``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pinlake.schemas import KEY_COLUMN, RESCUED_DATA, SOURCE_COLUMNS, SPARK_TYPE
from pinlake.schemas import Column as SourceColumn

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

NOT_AN_OBJECT = "not a JSON object"
#: An object Spark's lenient reader reads but RFC 8259 does not (the module docstring).
INVALID_JSON = (
    "not valid JSON (RFC 8259): text after the value, a repeated key, single quotes, an "
    "unescaped control character or NaN/Infinity"
)
ELEMENT_NOT_AN_OBJECT = "array element is not a JSON object"
EMPTY_ARRAY = "empty JSON array: no record"
UNREADABLE_ARRAY = "JSON array that cannot be read (cut short, or a repeated key in an element)"
NOT_BASE64_RECORD = "JSON string that is not base64 of a JSON object or array"
#: A ``Data`` that is base64 text of a JSON object or array, bare (not a JSON string): the
#: record was encoded once more than the protocol asks (boto3 and the Kinesis API encode
#: ``Data`` themselves), which the tutorial's templates do not undo. Not read as a record
#: (it is not JSON); its reason says what it holds.
BARE_BASE64 = (
    "base64 of a JSON object or array, not JSON: encoded twice? (the Kinesis API and its SDKs "
    "encode Data as base64 themselves)"
)
#: A delivered unit whose bytes are not valid UTF-8 (both paths; the words are the stream
#: path's, where the unit is a Kinesis ``Data``: operators match on them).
NOT_UTF8 = "Data is not valid UTF-8"
#: A delivered unit whose JSON escapes a surrogate outside a pair: no character (both paths).
UNPAIRED_SURROGATE = "JSON escape of an unpaired surrogate (\\uD800-\\uDFFF): not Unicode text"
#: A record whose undeclared field (:func:`rescued_data`) holds a number beyond the double's
#: range: its text would be kept as ``"Infinity"``, changed (the declared text fields' rule).
RESCUED_BEYOND_DOUBLE = (
    "a field the table does not declare holds a number beyond the range of a double, whose text "
    "cannot be kept"
)
#: An array with a number beyond the double's range anywhere in its elements: Spark's variant
#: reads it as an infinite double, and the element's text would hold ``"Infinity"``, changed
#: (:func:`holds_infinity`, the rule of declared and undeclared fields too).
ARRAY_BEYOND_DOUBLE = (
    "JSON array holding a number beyond the range of a double, whose text cannot be kept"
)

#: JSON's insignificant whitespace before a value (RFC 8259).
_LEADING = r"^[\t\n\r ]*"


def utf8_text(value: Column) -> Column:
    """``value`` (binary, or a string holding any bytes) as text when its bytes are valid
    UTF-8, else NULL (then the unit is quarantined as :data:`NOT_UTF8`). The one test of
    valid UTF-8 on both paths."""
    from pyspark.sql import functions as F

    return F.when(F.is_valid_utf8(value), value.cast("string"))


def unpaired_surrogate(text: Column) -> Column:
    """Whether the JSON ``text`` holds a ``\\uXXXX`` escape of a surrogate (D800-DFFF) that is
    not one half of a high-then-low pair (RFC 8259 §7: a character outside the Basic
    Multilingual Plane is escaped as such a pair; §8.2: a lone one is undefined). Linear
    regular expressions, no backtracking: JSON's escaped backslashes (``\\\\``) are removed
    pairwise from the left first (what follows an odd backslash is an escape, what follows an
    even run is text), then every escaped pair; a surrogate escape left is unpaired. Texts
    without ``\\u`` are not searched."""
    from pyspark.sql import functions as F

    escapes = F.regexp_replace(text, r"\\\\", "")
    unpaired = F.regexp_replace(
        escapes, r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}", ""
    )
    return (F.instr(text, "\\u") > 0) & unpaired.rlike(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def undecodable_text(value: Column) -> Column:
    """The ``raw_text`` of a unit quarantined as :data:`NOT_UTF8`: its bytes (``value``,
    binary) as standard base64 on one line, so that nothing of them is altered or lost (Spark's
    ``base64`` breaks its output into lines of 76 characters by ``\\r\\n`` while
    ``spark.sql.chunkBase64String.enabled`` is on, its default: the breaks are removed)."""
    from pyspark.sql import functions as F

    return F.replace(F.base64(value), F.lit("\r\n"), F.lit(""))


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


#: A JSON string of the words Spark's variant writes for an infinite double (``to_json``).
_INFINITY_STRING = '"-?Infinity"'


def gains_infinity(text: Column) -> Column:
    """Whether the JSON ``text`` (a record or array as delivered), read by Spark's variant and
    written again, holds more JSON strings ``"Infinity"`` or ``"-Infinity"`` than ``text``
    itself: a number in it is beyond the double's range (``1e999``), since a string of those
    words is in both texts. One spelled with escapes (``"\\u0049nfinity"``) counts as such a
    number (its record is quarantined, not lost). NULL when ``text`` is not valid JSON."""
    from pyspark.sql import functions as F

    written = F.to_json(F.try_parse_json(text))
    token = F.lit(_INFINITY_STRING)
    return F.regexp_count(written, token) > F.regexp_count(text, token)


def holds_infinity(value: Column, text: Column) -> Column:
    """Whether the variant ``value``, read from the JSON ``text`` (the record or array it is
    part of, as delivered), holds a JSON number beyond the double's range, which Spark's
    parsers read as an infinite double (written ``"Infinity"``): ``value`` is one, or it is an
    object or array that may hold a double (its ``schema_of_variant`` names DOUBLE, or VARIANT:
    an array of mixed types, ``[1e999, "s"]``, helper-104), whose JSON text holds
    ``"Infinity"`` or ``"-Infinity"``, and ``text`` holds such a number
    (:func:`gains_infinity`: the words as strings, ``{"a": ["Infinity", 1e2]}``, are kept).
    When a record holds one, another of its values with the words beside a double is taken
    for it too (the record is quarantined either way; its reason may name that value's
    field). NULL for a NULL ``value``."""
    from pyspark.sql import functions as F

    kind = F.schema_of_variant(value)
    number = F.try_variant_get(value, "$", "double")
    top = (kind == F.lit("DOUBLE")) & (F.abs(number) == F.lit(float("inf")))
    nested = (kind != F.lit("DOUBLE")) & (kind.contains("DOUBLE") | kind.contains("VARIANT"))
    return top | (nested & F.to_json(value).rlike(_INFINITY_STRING) & gains_infinity(text))


def beyond_double(field: Column, record: Column, name: str) -> Column:
    """Whether the text ``field`` that Spark's JSON reader made of the field ``name`` of the
    JSON ``record`` stands for, or holds (an object or array, written again by the reader), a
    JSON number beyond the double's range (``1e999``, ``-1E400``, ``{"a": 1e999}``): it would
    land as ``"Infinity"``, changed (:func:`holds_infinity`: the nested form landed, the kind
    helper-103 found in undeclared fields). The JSON string ``"Infinity"`` reads alike: the
    record's own value is looked up (parsed again) only for the rows whose text holds the
    word."""
    from pyspark.sql import functions as F

    value = F.try_variant_get(F.try_parse_json(record), f"$.{name}", "variant")
    return F.when(
        field.contains("Infinity"), F.coalesce(holds_infinity(value, record), F.lit(False))
    ).otherwise(F.lit(False))


def parsed_fields(table_name: str, text: Column) -> tuple[Column, Column]:
    """``(_fields, p)``: ``table_name``'s delivered fields parsed from the JSON ``text`` as
    text (all NULL when it is not a JSON object), and those fields of the column ``_fields``
    typed by :func:`typed` (a field that does not fit its type is NULL, see
    :func:`rejection_reason`). Two projections, ``_fields`` first, so the JSON is parsed once
    however many fields read it."""
    from pyspark.sql import functions as F

    columns = SOURCE_COLUMNS[table_name]
    ddl = ", ".join(f"`{c.name}` string" for c in columns)
    fields = F.col("_fields")
    return F.from_json(text, ddl), F.struct(
        *(typed(fields[c.name], c).alias(c.name) for c in columns)
    )


def rescued_fields(table_name: str, text: Column, valid: Column) -> Column:
    """The top-level fields of the JSON object ``text`` that ``table_name``'s schema does not
    declare, as ``map<string,variant>`` in their order (:func:`rescued_data` writes it);
    NULL when it has none, or when ``text`` is not one valid JSON object (``valid``, its
    :func:`one_json_value`, false: such a record is quarantined whole,
    :func:`rejection_reason`). Names match exactly (``"Index"`` is not
    ``index``). Each record's keys are listed; only a record with an undeclared one is read
    again."""
    from pyspark.sql import functions as F

    declared = F.array(*(F.lit(c.name) for c in SOURCE_COLUMNS[table_name]))
    undeclared = F.exists(F.json_object_keys(text), lambda k: ~F.array_contains(declared, k))
    # read only when valid: a repeated key would fail the map (spark.sql.mapKeyDedupPolicy)
    fields = F.from_json(text, "map<string,variant>")
    kept = F.map_filter(fields, lambda k, _: ~F.array_contains(declared, k))
    return F.when(F.coalesce(undeclared, F.lit(False)) & valid, kept)


def rescued_data(fields: Column) -> Column:
    """:data:`pinlake.schemas.RESCUED_DATA` of a record: its :func:`rescued_fields` as the text
    of one JSON object, each value as Spark's variant reads it (a string stays a string, a
    nested object or array stays one, its keys sorted; an integer or a decimal of up to 38
    digits keeps its value exactly, ``12.50`` reads ``12.5``, ``1.0`` ``1``, ``-0.0`` ``0``; a
    number in exponent form or of more digits is read as a double, ``1E2`` as ``100.0``, 17
    significant digits, one too small for a double as ``0.0``;
    one beyond the double's range would read ``"Infinity"``, and its record is quarantined:
    :func:`rescued_beyond_double`). NULL when there are none. Databricks Auto Loader's rescued
    data column for the same purpose."""
    from pyspark.sql import functions as F

    return F.to_json(fields)


def rescued_beyond_double(fields: Column, text: Column) -> Column:
    """Whether a value of :func:`rescued_fields` of the JSON ``text`` holds a number beyond the
    double's range (:func:`holds_infinity`). False for NULL."""
    from pyspark.sql import functions as F

    values = F.map_values(fields)
    return F.coalesce(F.exists(values, lambda v: holds_infinity(v, text)), F.lit(False))


def one_json_value(text: Column, closer: str = "}") -> Column:
    """Whether ``text``, an object (``closer`` ``}``) or an array (``]``), is one JSON value of
    RFC 8259 and nothing more but whitespace: Spark's strict parser (``parse_json``, which
    refuses a repeated key, single quotes and an unescaped control character) reads it as the
    only element of an array (``[<text>]``), and it ends with ``closer``. Spark's parsers stop
    after the first value and ignore what follows (helper-100: ``[{"index":1}] [{"index":2}]``
    landed the first array and dropped the second): in the array, text after the value must
    start with ``,`` (a second element, counted) or ``]``, and ending with ``closer`` leaves
    only a ``]`` right after the value that a later ``closer`` ends (``{"a":1}] [{"b":2}``),
    which is let through. One parse per text (a second form, ``{"v":<text>}``, would close that
    gap for a second parse: about twice the CPU of this rule's step, bench/README.md); a text of
    more than 16 MiB (a variant's limit) is refused."""
    from pyspark.sql import functions as F

    element = F.try_parse_json(F.concat(F.lit("["), text, F.lit("]")))
    one = element.isNotNull() & F.try_variant_get(element, "$[1]", "variant").isNull()
    # JSON's whitespace after the value (RFC 8259 §2): a CRLF file's lines end with "\r"
    trimmed = F.rtrim(text, F.lit(" \t\r\n"))
    return F.coalesce(one & trimmed.endswith(closer), F.lit(False))


def rejection_reason(
    table_name: str,
    record: Column,
    fields: Column,
    text: Column,
    rescued: Column,
    valid: Column,
) -> Column:
    """Why ``text`` (parsed by :func:`parsed_fields` as ``fields``, typed as ``record``, its
    undeclared fields ``rescued`` by :func:`rescued_fields`, ``valid`` its
    :func:`one_json_value`) cannot be landed; NULL when it can.

    ``from_json`` gives all-null fields for text that is not a JSON object (or is cut short);
    :func:`typed` gives null for a delivered value that does not fit its type; text fields take
    any JSON value but a number beyond a double (:func:`beyond_double`). So records that need a
    closer look are the ones whose key or a numeric field came out null, or whose text field
    reads ``"Infinity"`` (branches are evaluated lazily).
    """
    from pyspark.sql import functions as F

    def does_not_fit(column) -> Column:  # noqa: ANN001 - a pinlake.schemas.Column
        # the raw table's type (bigint, double): "type int" for 3000000000 read as a 32-bit
        # int's limit, which that value passes and lands
        return F.lit(f"field {column.name!r} does not fit type {SPARK_TYPE[column.type]}")

    key, *_ = (c for c in SOURCE_COLUMNS[table_name] if c.name == KEY_COLUMN[table_name])
    invalid = ~valid
    reason = F.when(
        record[key.name].isNull(),
        F.when(F.json_object_keys(text).isNull(), F.lit(NOT_AN_OBJECT))
        .when(fields[key.name].isNotNull(), does_not_fit(key))
        .when(invalid, F.lit(INVALID_JSON))
        .otherwise(F.lit(f"missing key field {key.name!r}")),
    )
    for column in SOURCE_COLUMNS[table_name]:
        if SPARK_TYPE[column.type] == "string":  # any JSON value but a number beyond a double
            reason = reason.when(
                beyond_double(fields[column.name], text, column.name),
                F.lit(
                    f"field {column.name!r} holds a number beyond the range of a double, "
                    "whose text cannot be kept"
                ),
            )
        elif column is not key:
            reason = reason.when(
                record[column.name].isNull() & fields[column.name].isNotNull(),
                does_not_fit(column),
            )
    reason = reason.when(rescued_beyond_double(rescued, text), F.lit(RESCUED_BEYOND_DOUBLE))
    # last: a record that would land (or whose only fault is above) is read strictly too
    return reason.when(invalid, F.lit(INVALID_JSON))


#: Whether a record's text is one JSON value (:func:`one_json_value`), computed once per record
#: for the three rules that read it; dropped by :func:`with_records`.
_VALID = "_record_valid"
#: The columns :func:`_unit_steps` adds (and :func:`with_records` drops): the delivered text
#: without a byte order mark, whether it is a JSON string, the JSON text such a string holds in
#: base64, the text whose records are read, and its elements when it is a JSON array.
_TEXT, _IS_STRING, _INNER, _BODY, _ELEMENTS = (
    "_unit_text",
    "_unit_is_string",
    "_unit_inner",
    "_unit_body",
    "_unit_elements",
)


def _unit_steps(text: Column, unwrap_base64: bool) -> list[list[Column]]:
    """The projections :func:`_units` reads, in order, each a list of aliased columns that
    read the ones before: the text whose records are read (``_unit_body``) and, parsed once,
    its elements (``_unit_elements``). Each is computed once per row and named, instead of
    being written out again in every branch that reads it (the stream form's expression was
    six times the batch form's, and its analysis half a second of each micro-batch)."""
    from pyspark.sql import functions as F

    # a byte order mark before the text is ignored (RFC 8259 §8.1)
    bare = F.when(text.startswith("\ufeff"), F.substring(text, 2, 2**31 - 1)).otherwise(text)
    steps = [[bare.alias(_TEXT)]]
    body = F.col(_TEXT)
    if unwrap_base64:
        string = F.try_variant_get(F.try_parse_json(body), "$", "string")
        inner = utf8_text(F.try_to_binary(string, F.lit("base64")))
        steps.append(
            [
                body.rlike(_LEADING + '"').alias(_IS_STRING),
                F.when(inner.rlike(_LEADING + r"[\[{]"), inner).alias(_INNER),
            ]
        )
        steps.append([F.when(F.col(_IS_STRING), F.col(_INNER)).otherwise(body).alias(_BODY)])
    else:
        steps.append([body.alias(_BODY)])
    elements = F.try_variant_get(F.try_parse_json(F.col(_BODY)), "$", "array<variant>")
    steps.append([elements.alias(_ELEMENTS)])
    return steps


def _units(unwrap_base64: bool) -> Column:
    """The records of the text of :func:`_unit_steps`' columns (module docstring) as
    ``array<struct<_element int, _record string, _unit_reason string>>``: a record's JSON text
    and position, or a unit to quarantine with its reason. NULL for a NULL text. Only texts
    that are not plain objects are parsed here (the branches are evaluated per row, lazily)."""
    from pyspark.sql import functions as F

    def one(record: Column, reason: str | None) -> Column:
        return F.array(
            F.struct(
                F.lit(None).cast("int").alias("_element"),
                record.alias("_record"),
                F.lit(reason).cast("string").alias("_unit_reason"),
            )
        )

    text, body, elements = F.col(_TEXT), F.col(_BODY), F.col(_ELEMENTS)
    units = F.when(text.isNull(), F.lit(None))
    if unwrap_base64:
        units = units.when(
            F.col(_IS_STRING) & F.col(_INNER).isNull(), one(F.lit(None), NOT_BASE64_RECORD)
        )
        # a JSON number or literal that also reads as base64 (1234, null) decodes to no object
        bare = text.rlike(r"^[A-Za-z0-9+/]+={0,2}[\t\n\r ]*$")
        bare_json = utf8_text(F.try_to_binary(F.rtrim(text, F.lit(" \t\r\n")), F.lit("base64")))
        units = units.when(bare & bare_json.rlike(_LEADING + r"[\[{]"), one(text, BARE_BASE64))
    per_element = F.transform(
        elements,
        lambda e, i: F.struct(
            i.alias("_element"),
            F.to_json(e).alias("_record"),
            F.when(
                ~F.schema_of_variant(e).startswith("OBJECT"), F.lit(ELEMENT_NOT_AN_OBJECT)
            ).alias("_unit_reason"),
        ),
    )
    is_array = body.rlike(_LEADING + r"\[")
    return (
        units.when(unpaired_surrogate(body), one(body, UNPAIRED_SURROGATE))
        .when(is_array & elements.isNull(), one(body, UNREADABLE_ARRAY))
        .when(is_array & ~one_json_value(body, "]"), one(body, INVALID_JSON))
        .when(is_array & (F.size(elements) == 0), one(body, EMPTY_ARRAY))
        .when(
            is_array & F.exists(elements, lambda e: holds_infinity(e, body)),
            one(body, ARRAY_BEYOND_DOUBLE),
        )
        .when(is_array, per_element)
        .otherwise(one(body, None))
    )


@dataclass(frozen=True)
class RecordColumns:
    """The columns of :func:`with_records` for one table, text column and form, in the order
    of its projections: ``steps`` (:func:`_unit_steps`), ``units`` (:func:`_units`, inlined);
    ``fields`` (:func:`parsed_fields`) and ``valid`` (:func:`one_json_value` of the record);
    ``typed`` (:func:`parsed_fields`) and ``rescued`` (:func:`rescued_fields`); then
    ``rescued_data`` (:func:`rescued_data`) and ``reason`` (the unit's reason, else
    :func:`rejection_reason`)."""

    steps: list[list[Column]]
    units: Column
    fields: Column
    valid: Column
    typed: Column
    rescued: Column
    rescued_data: Column
    reason: Column


#: :func:`record_columns` built, by (table, text column, ``unwrap_base64``), with the py4j
#: gateway they live in: the rule's expressions take about 5,500 py4j calls to build (2 s of a
#: micro-batch of each table, and of each table of a load, before; bench/README.md, "The
#: record rule's expressions, built once"), and they are the same for every batch.
_BUILT: dict[tuple[str, str, bool], tuple[object, RecordColumns]] = {}
_BUILT_LOCK = threading.Lock()


def record_columns(table_name: str, text: str, *, unwrap_base64: bool = False) -> RecordColumns:
    """:class:`RecordColumns` of ``table_name``'s records in the JSON text of the column named
    ``text``, built once per driver JVM (Spark's expressions are immutable and unresolved
    here, so every DataFrame may use them; a new gateway, after a driver JVM was killed and
    another started, builds them again). Safe from several threads (the stream's queries)."""
    from pyspark import SparkContext
    from pyspark.sql import functions as F

    key = (table_name, text, unwrap_base64)
    gateway = SparkContext._gateway  # noqa: SLF001 - the JVM the expressions are objects of
    with _BUILT_LOCK:
        built = _BUILT.get(key)
        if built is not None and built[0] is gateway:
            return built[1]
        fields, typed_fields = parsed_fields(table_name, F.col("_record"))
        record, valid = F.col("_record"), F.col(_VALID)
        rescued = rescued_fields(table_name, record, valid)
        reason = rejection_reason(
            table_name, F.col("p"), F.col("_fields"), record, F.col("_rescued"), valid
        )
        columns = RecordColumns(
            steps=_unit_steps(F.col(text), unwrap_base64),
            units=F.inline_outer(_units(unwrap_base64)),
            fields=fields,
            valid=one_json_value(record),
            typed=typed_fields,
            rescued=rescued,
            rescued_data=rescued_data(F.col("_rescued")),
            reason=F.coalesce(F.col("_unit_reason"), reason),
        )
        _BUILT[key] = (gateway, columns)
        return columns


def with_records(
    frame: DataFrame, table_name: str, text: str, *, unwrap_base64: bool = False
) -> DataFrame:
    """``frame`` with each row replaced by one row per record of the JSON text of its column
    ``text`` (the rule in the module docstring; ``unwrap_base64`` for the stream path), each
    with:

    * ``_element`` (int): the record's 0-based position in a delivered array, NULL for an object;
    * ``_record`` (string): the record's JSON text (the object, the array element, or the
      decoded base64), or the text of a unit that is not one (an empty or unreadable array);
      NULL when ``text`` is NULL or is a JSON string that is not base64 of JSON;
    * ``_fields``, ``p``: :func:`parsed_fields` of ``_record``;
    * ``_rescued_data``: :func:`rescued_data` of ``_record``'s :func:`rescued_fields`;
    * ``_reason``: why the row cannot be landed (:func:`rejection_reason`, or the unit's reason),
      NULL when it lands. A row with a NULL ``text`` stays one row, ``_reason``
      :data:`NOT_AN_OBJECT` (callers say why there is no text first).

    Never raises on any input (malformed JSON, any ANSI setting). The expressions are built
    once per driver JVM (:func:`record_columns`).
    """
    columns = record_columns(table_name, text, unwrap_base64=unwrap_base64)
    for step in columns.steps:
        frame = frame.select("*", *step)
    frame = frame.select("*", columns.units)
    frame = frame.select("*", columns.fields.alias("_fields"), columns.valid.alias(_VALID))
    frame = frame.select("*", columns.typed.alias("p"), columns.rescued.alias("_rescued"))
    return frame.select(
        "*",
        columns.rescued_data.alias(RESCUED_DATA),
        columns.reason.alias("_reason"),
    ).drop("_unit_reason", "_rescued", _VALID, _TEXT, _IS_STRING, _INNER, _BODY, _ELEMENTS)


def landed_fields(table_name: str) -> list[Column]:
    """The columns a landed record brings to its raw table, of either path, from
    :func:`with_records`'s rows: the delivered fields of ``p`` in source order, then
    :data:`pinlake.schemas.RESCUED_DATA`."""
    from pyspark.sql import functions as F

    fields = [F.col(f"p.{c.name}").alias(c.name) for c in SOURCE_COLUMNS[table_name]]
    return [*fields, F.col(RESCUED_DATA)]


class TableTotals:
    """Totals of a result dataclass with ``records`` and ``quarantined`` per table (the land
    and stream results)."""

    records: dict[str, int]
    quarantined: dict[str, int]

    @property
    def total_records(self) -> int:
        """Records of every table (quarantined ones included)."""
        return sum(self.records.values())

    @property
    def total_quarantined(self) -> int:
        """Records of every table that went to quarantine."""
        return sum(self.quarantined.values())

    def summary_rows(self) -> list[tuple[str, str, str]]:
        """``(table, records, quarantined)`` per table, then ``total``, the counts with
        thousands separators (``2,000``, as every count pinlake prints): the rows of the land
        and stream summaries."""
        rows = [(name, self.records[name], self.quarantined[name]) for name in self.records]
        rows.append(("total", self.total_records, self.total_quarantined))
        return [(name, f"{n:,}", f"{q:,}") for name, n, q in rows]
