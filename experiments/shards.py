"""Shards: a deterministic split of a run's images across N processes or machines.

``--shard K/N`` (1 <= K <= N) makes a process work on shard K of N. The
unit of work is a group of images of one records file ``key`` (e.g.
"point/CW-L2"): a run's ordered image list (the protocol's sample
`Experiment.images`, or the certified draw) is cut into groups of ``group``
consecutive images, the images attacked together (one campaign step,
``Profile.images_per_call``), and the groups of ``key`` are dealt round
robin, group g (0-based) to shard ``(g + offset(key)) % N + 1`` with
``offset`` a fixed hash of the key (`key_offset`).

- Whole groups: every attack call of a shard is the same as in a
  one-process run, so the records are the same to the bit (a batched
  attack's per-example arithmetic can change in its last bits with the
  batch it runs in, and a sign-of-gradient step can then change).
- Per key: a campaign of many attacks spreads over N shards even when one
  attack has fewer groups than there are shards (100 images in steps of 25
  are 4 groups per attack).
- Positions only: the split is the same in every process; the N shares of
  a key are disjoint, cover the list and differ by at most one group; and
  since the sample of ``--images n`` is the first n of one draw, growing
  ``--images`` later keeps every image in its shard.

N processes on one results directory split a campaign through the record
store (`models.store.RecordStore`: a per-file lock, atomic writes, a record
is skipped once written), so no record is written twice or torn even if
shares overlap. A shard only attacks (or certifies); the report is built
afterwards from the records by a run without ``--shard``
(``--attacked none``), see `experiments.cli`.
"""
import argparse
import dataclasses
import zlib

import numpy as np


@dataclasses.dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (1 <= index <= count)."""

    index: int
    count: int

    def __post_init__(self):
        if not (isinstance(self.count, int) and self.count >= 1):
            raise ValueError(f"shard count must be an integer >= 1, got {self.count!r}")
        if not (isinstance(self.index, int) and 1 <= self.index <= self.count):
            raise ValueError(f"shard index must be an integer in 1..{self.count}, "
                             f"got {self.index!r}")

    def __str__(self):
        return f"{self.index}/{self.count}"

    def takes(self, positions, group=1, key=""):
        """Bool array: which 0-based ``positions`` (array-like of ints) of the list of
        ``key`` (str) belong to this shard, in groups of ``group`` (int >= 1)."""
        if isinstance(group, bool) or not isinstance(group, (int, np.integer)) or group < 1:
            raise ValueError(f"group must be an integer >= 1, got {group!r}")
        groups = np.asarray(positions, np.int64) // group
        return (groups + key_offset(key)) % self.count == self.index - 1

    def of(self, items, group=1, key=""):
        """The items of the ordered list ``items`` (array-like) of ``key`` that are this
        shard's, in order."""
        items = np.asarray(items)
        return items[self.takes(np.arange(len(items)), group, key)]


def key_offset(key):
    """A fixed int >= 0 for the str ``key`` (CRC-32 of its UTF-8 bytes): the same in every
    process and Python version, unlike `hash`."""
    if not isinstance(key, str):
        raise ValueError(f"key must be a str, got {key!r}")
    return zlib.crc32(key.encode())


def shard_type(text):
    """An argparse type: "K/N" with integers 1 <= K <= N -> `Shard`."""
    index, slash, count = text.partition("/")
    try:
        if not slash:
            raise ValueError
        return Shard(int(index), int(count))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected K/N with integers 1 <= K <= N (e.g. 1/2), got {text!r}") from None
