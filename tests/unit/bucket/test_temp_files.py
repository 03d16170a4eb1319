"""A writer (sink or producer) killed between writing a temp file and renaming it leaves the temp
file behind; the next writer on that bucket removes it, but never the temp file of a writer that
is still writing. Both writers use the one temp-file scheme of pinlake.bucket.layout."""

import os
import subprocess
import sys

from pinlake.bucket.layout import (
    PartitionWriter,
    partition_dir,
    remove_orphaned_temp_files,
    write_atomic,
)


def test_orphaned_temp_files_are_removed_and_live_ones_kept(tmp_path):
    topic = "pinterest.geo"
    folder = partition_dir(tmp_path, topic, 0)
    write_atomic(folder / f"{topic}+0+0000000000.json", [b'{"ind": 1}'])
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    orphan = folder / f".{topic}+0+0000000013.json.{int(dead.stdout)}.tmp"
    live = folder / f".{topic}+0+0000000026.json.{os.getpid()}.tmp"
    other_topic = partition_dir(tmp_path, "pinterest.pin", 0) / f".x.json.{int(dead.stdout)}.tmp"
    for path in (orphan, live, other_topic):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b'{"ind": 2')

    assert remove_orphaned_temp_files(tmp_path, [topic]) == 1
    assert not orphan.exists()
    assert live.exists() and other_topic.exists()
    assert (folder / f"{topic}+0+0000000000.json").read_bytes() == b'{"ind": 1}\n'


def test_a_killed_producers_temp_file_is_removed_by_the_next_writer(tmp_path):
    """The producer's writer uses the same temp names, so its orphans are found too."""
    topic = "pinterest.pin"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    orphan = (
        partition_dir(tmp_path, topic, 0) / f".{topic}+0+0000000000.json.{dead.stdout.strip()}.tmp"
    )
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b'{"index": 1')
    writer = PartitionWriter(tmp_path, topic, 0, flush_size=2)
    assert not orphan.exists()
    for i in range(3):
        writer.append(b'{"index": %d}' % i)
    writer.flush()
    names = sorted(p.name for p in partition_dir(tmp_path, topic, 0).iterdir())
    assert names == [f"{topic}+0+0000000000.json", f"{topic}+0+0000000002.json"]
    assert writer.records == 3
