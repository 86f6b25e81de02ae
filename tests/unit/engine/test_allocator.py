"""The allocator setting that keeps block-sized temporaries in the heap."""

from __future__ import annotations

import ctypes
import resource
import sys

import numpy as np
import pytest

from declick.engine import allocator


def _is_glibc() -> bool:
    try:
        ctypes.CDLL(None).gnu_get_libc_version  # noqa: B018
    except (OSError, AttributeError):
        return False
    return True


def _faults_touching(nbytes: int) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.ones(nbytes // 8)
    a[::512] = 2.0
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del a
    return faults


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _is_glibc(), reason="glibc's malloc only")
def test_a_freed_block_sized_array_is_reused_without_page_faults(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    allocator.keep_block_memory.cache_clear()
    assert allocator.keep_block_memory()
    # about a 6 s block's float64 temporary; under numpy's 4 MiB huge-page hint, so a fresh mapping
    # faults once per 4 KiB page (a fresh process without the setting: 755 of 768 on the second one)
    size = 3 << 20
    _faults_touching(size)
    assert _faults_touching(size) < size // 4096 // 8  # served from the heap the first one left


def test_the_users_own_malloc_settings_are_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")
    allocator.keep_block_memory.cache_clear()
    try:
        assert allocator.keep_block_memory() is False
    finally:
        allocator.keep_block_memory.cache_clear()
