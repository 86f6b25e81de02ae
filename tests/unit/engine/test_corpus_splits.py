"""The bench corpus's splits: a voice, recording or piece belongs to exactly one of them.

The engine is tuned on the training split, its operating point is chosen on the validation split
and it is reported on the test split; a source in two splits would let tuning leak into the
figures. Building the corpus needs Debian packages, so this checks the declared table only.
"""

from __future__ import annotations

from collections import Counter

from bench import corpus


def test_every_source_is_in_exactly_one_split():
    names = [n for split in corpus.SPLIT.values() for n in split]
    assert sorted(names) == sorted(corpus.SOURCES)
    assert not [n for n, k in Counter(names).items() if k > 1]
    assert set(corpus.SPLIT) == {"train", "valid", "test"}


def test_no_voice_or_speaker_is_shared_between_splits():
    # a speech source's origin names its voice or speaker; music origins name a package whose
    # pieces are the sources, so two pieces of one package may sit in two splits
    splits_of: dict[str, set[str]] = {}
    for src in corpus.SOURCES.values():
        if src.family == "speech":
            splits_of.setdefault(src.origin, set()).add(src.split)
    assert {o: s for o, s in splits_of.items() if len(s) > 1} == {}


def test_the_validation_and_test_splits_hold_human_speech():
    for split in ("valid", "test"):
        human = [s for s in corpus.SOURCES.values() if s.split == split and "(human" in s.origin]
        assert len(human) >= 2, split
