"""Which stream a shard iterator reads (:meth:`Kinesis.iterator_topic`), against a stand-in for
the backend's topic metadata: the stream it was issued for, never one created in its place
(no Kafka involved)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from pinlake_testing import isolated_settings

from pinlake.ingest_api.backend import TopicInfo
from pinlake.ingest_api.kinesis import codec
from pinlake.ingest_api.kinesis.operations import Kinesis
from pinlake.ingest_api.wire import CodecError


class Metadata:
    """Topic metadata as the backend's: ``cached`` answers until forgotten, then ``broker``."""

    def __init__(self, cached: TopicInfo | None, broker: TopicInfo | None) -> None:
        self.cached, self.broker, self.forgotten = cached, broker, 0

    async def topic(self, topic: str) -> TopicInfo | None:
        return self.cached if not self.forgotten else self.broker

    def forget(self, topic: str) -> None:
        self.forgotten += 1


def _topic(topic_id: str | None, shards: int = 2) -> TopicInfo:
    return TopicInfo("s", dict.fromkeys(range(shards), 1), 0.0, topic_id)


def _iterator_topic(tmp_path, metadata: Metadata, it: codec.ShardIterator) -> TopicInfo:
    kinesis = Kinesis(isolated_settings(tmp_path / "home"), SimpleNamespace(metadata=metadata))
    return asyncio.run(kinesis.iterator_topic(it))


def _gone(tmp_path, metadata: Metadata, it: codec.ShardIterator) -> CodecError:
    with pytest.raises(CodecError) as raised:
        _iterator_topic(tmp_path, metadata, it)
    return raised.value


@pytest.mark.parametrize(
    ("now", "partition"),
    [
        (None, 0),  # the stream was deleted
        (_topic("new"), 0),  # ... and created again under its name
        (_topic("new", shards=1), 1),  # ... with fewer shards
        (_topic("old", shards=1), 1),  # the stream has fewer shards than the iterator's
    ],
)
def test_an_iterator_whose_stream_or_shard_is_gone_is_resource_not_found(tmp_path, now, partition):
    """AWS's words for an iterator of a deleted stream and of a shard the stream created again
    lacks (kinesalite's test/getRecords.js, run against production Kinesis); pinlake's for one
    whose stream was created again (see Kinesis.iterator_topic)."""
    error = _gone(tmp_path, Metadata(now, now), codec.ShardIterator("s", partition, 7, "old"))
    assert (error.status, error.code, error.message) == (
        400,
        "ResourceNotFoundException",
        f"Shard '{codec.shard_id(partition)}' in stream 's' under account 123456789012 does not"
        " exist.",
    )


def test_an_iterator_of_the_stream_it_was_issued_for_reads_it(tmp_path):
    it = codec.ShardIterator("s", 1, 7, "old")
    assert _iterator_topic(tmp_path, Metadata(_topic("old"), None), it).topic_id == "old"
    # without a topic ID on either side (a broker without them), by stream and shard only
    assert _iterator_topic(tmp_path, Metadata(_topic(None), None), it).topic_id is None
    no_id = codec.ShardIterator("s", 1, 7)
    assert _iterator_topic(tmp_path, Metadata(_topic("new"), None), no_id).topic_id == "new"


def test_metadata_cached_before_the_stream_was_created_again_is_asked_again(tmp_path):
    """Another API worker created the stream again: its iterator names the new topic while this
    worker's cache still holds the old one; the broker is asked before the iterator is
    refused."""
    metadata = Metadata(_topic("old"), _topic("new"))
    info = _iterator_topic(tmp_path, metadata, codec.ShardIterator("s", 0, 0, "new"))
    assert (info.topic_id, metadata.forgotten) == ("new", 1)
