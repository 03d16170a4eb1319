"""The KRaft cluster id handed to ``kafka-storage format``.

One id in 64 drawn naively starts with '-', and the storage tool's argument parser then reads it
as an option ("argument --cluster-id/-t: expected one argument"): `services up` failed at random.
"""

import base64

from pinlake.services.kafka_broker import new_cluster_id


def test_cluster_ids_are_16_random_bytes_never_starting_with_a_dash():
    ids = [new_cluster_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert not [cid for cid in ids if cid.startswith("-")]
    for cid in ids[:100]:
        assert len(cid) == 22
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16
