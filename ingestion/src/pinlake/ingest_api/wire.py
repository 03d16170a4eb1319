"""Pure helpers both facades' codecs share: JSON text in and out, topic names, codec errors.

Nothing here knows HTTP, FastAPI or Kafka; every function is a plain function of its arguments.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

#: Kafka's legal topic names: 1-249 of ``[A-Za-z0-9._-]`` (Kafka's ``Topic.validate``); Kinesis'
#: stream names (``[a-zA-Z0-9_.-]{1,128}``, AWS Kinesis API reference, CreateStream) are a subset.
#: The whole name (``\A``/``\Z``: ``$`` also matched before a final newline, and ``a\n`` passed).
TOPIC_RE = re.compile(r"\A[A-Za-z0-9._-]{1,249}\Z")


def is_digits(text: str) -> bool:
    """True for a non-empty run of ASCII digits ``0``-``9`` only. ``str.isdigit`` is also true
    for ``²`` (which ``int`` refuses: a 500 where a number was read) and for other scripts'
    digits (which ``int`` reads: ``٣`` was partition 3); no protocol here has those."""
    return text.isascii() and text.isdigit()


def is_internal_topic(topic: str) -> bool:
    """True for Kafka's own topics (``__consumer_offsets``, ``__transaction_state``,
    ``__share_group_state``...: every name that starts with ``__``, the convention of Kafka's
    internal topics). Neither facade lists them, the Kinesis proxy has no such stream, and the
    REST proxy does not produce to them (the broker refuses: "Cannot append to internal
    topic", Kafka's ``ReplicaManager``)."""
    return topic.startswith("__")


#: Kafka error codes of a failed produce that are the request's fault, not the cluster's (Kafka
#: protocol, "Error Codes"): the record is too large for the topic (MESSAGE_TOO_LARGE 10,
#: RECORD_LIST_TOO_LARGE 18, e.g. a topic whose ``max.message.bytes`` is below the API's record
#: limit), the topic cannot be written (INVALID_TOPIC_EXCEPTION 17) or the broker's validation
#: refused the record (INVALID_RECORD 87, e.g. a record without key on a compacted topic). Each
#: facade answers these 4xx; a retry would fail the same way.
MESSAGE_TOO_LARGE = 10
INVALID_TOPIC = 17
RECORD_LIST_TOO_LARGE = 18
INVALID_RECORD = 87
#: The two of them that say a record (or the batch it was sent in) is over the size limit.
TOO_LARGE = frozenset({MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE})
REQUEST_FAULTS = frozenset(
    {MESSAGE_TOO_LARGE, INVALID_TOPIC, RECORD_LIST_TOO_LARGE, INVALID_RECORD}
)


class CodecError(ValueError):
    """A request the protocol rejects, independent of how the facade renders it.

    ``status`` is the HTTP status, ``code`` the facade's error code (an int such as 42206 for
    Kafka REST, an exception name such as ``"InvalidArgumentException"`` for Kinesis), ``extra``
    more body fields. Each facade's route class turns it into its own error body.
    """

    def __init__(self, status: int, message: str, code: int | str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = extra


def _no_constants(name: str):
    raise ValueError(f"{name} is not valid JSON")


class NumberOutOfRange(ValueError):
    """A JSON number beyond the largest double (:func:`_finite`): valid JSON text that pinlake
    refuses, which a facade names as such rather than as malformed."""


def _finite(text: str) -> float:
    """A JSON number with a fraction or exponent as a double, refused (ValueError) when it is
    beyond the largest double (about 1.8e308): the stdlib parser made ``1e999`` infinity, which
    ``dumps`` then wrote as ``null`` (orjson) or ``Infinity`` (not JSON), and the API
    acknowledged a record it had changed (helper-82). RFC 8259 §6 lets a parser limit the range
    of numbers; orjson refuses the same numbers ("number is infinity when parsed as double")."""
    value = float(text)
    if math.isinf(value):
        shown = text if len(text) <= 40 else f"{text[:37]}..."
        raise NumberOutOfRange(
            f"number {shown} is out of range: beyond the largest IEEE 754 double (about "
            "1.8e308), which a JSON number must fit here"
        )
    return value


#: A run of 19+ digits may be an integer outside [-2**63, 2**64 - 1], which orjson parses as a
#: float (silently losing digits); such bodies go to the stdlib parser, exact for any integer.
#: The run is found by mapping every byte to ``0`` (an ASCII digit) or `` `` (anything else) and
#: searching the result for 19 zeros: the same test as ``re.search(rb"\d{19}", body)``, but two
#: passes in C instead of a regex attempt at every byte (12x faster: 38 us instead of 467 us
#: for a 50 kB body of 100 records, the largest item of the API's profile at 100 records per
#: request; bench/README.md).
_DIGIT_CLASSES = bytes(0x30 if 0x30 <= c <= 0x39 else 0x20 for c in range(256))
_LONG_RUN = b"0" * 19


def has_long_digit_run(body: bytes) -> bool:
    """True if ``body`` holds 19 or more consecutive ASCII digits."""
    return _LONG_RUN in body.translate(_DIGIT_CLASSES)


def loads(body: bytes) -> Any:
    """Parse JSON text (RFC 8259) exactly: every integer stays an exact int, whatever its size.

    orjson parses, except for bodies with a run of 19 or more digits (a possible integer beyond
    64 bits, which orjson would turn into a float) and for anything orjson refuses; those go to
    the stdlib parser. ``NaN``/``Infinity`` are refused (not JSON), and so is a number beyond
    the double's range (``1e999``: it would be stored changed; :class:`NumberOutOfRange`).
    Raises ValueError for anything that is not JSON text, including invalid UTF-8 and nesting
    too deep to parse.

    A repeated key keeps its last value, and a number with a fraction or an exponent is a
    double: what Confluent's REST Proxy makes of a body, whose record values are Jackson
    ``JsonNode`` read by a default ``ObjectMapper`` (kafka-rest ``v2.ProduceRequest``,
    rest-utils ``Application.getJsonMapper``: neither ``FAIL_ON_READING_DUP_TREE_KEY`` nor
    ``USE_BIG_DECIMAL_FOR_FLOATS`` is set).
    """
    try:
        if not has_long_digit_run(body):
            return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body, parse_constant=_no_constants, parse_float=_finite)
    except NumberOutOfRange:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from None


def is_unicode(text: str) -> bool:
    """False when ``text`` holds an unpaired surrogate (U+D800-U+DFFF alone: JSON's
    ``"\\ud800"``, which :func:`loads` lets through, as RFC 8259 §8.2 leaves it undefined),
    which no UTF-8 encodes; True for any other text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def dumps(value: Any) -> bytes:
    """Compact JSON text (UTF-8 bytes) of a parsed JSON value.

    Values orjson refuses (big integers, lone surrogates in strings) fall back to the stdlib's
    ASCII-escaped text, so every value :func:`loads` returns can be written back.
    """
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()
