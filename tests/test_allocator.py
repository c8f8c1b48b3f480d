"""glibc's malloc thresholds that every command sets (:mod:`hyperimage.allocator`), checked by where a
tensor's memory comes from: mapped pages (glibc's default for a block this size) or the heap."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from hyperimage.allocator import ENV, GLIBC_ENV, keep_freed_memory

# Child: prints whether the thresholds were set, then how many bytes of mapped blocks a
# 16 MiB tensor added (glibc's mallinfo2: hblkhd).
CHILD = """
import ctypes
import torch
from hyperimage.allocator import keep_freed_memory

class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
print(keep_freed_memory())
before = libc.mallinfo2().hblkhd
block = torch.ones(4 << 20)
print(libc.mallinfo2().hblkhd - before)
"""


def glibc_with_mallinfo2() -> bool:
    try:
        libc = ctypes.CDLL(None)
        return hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallinfo2")
    except OSError:
        return False


def run_child(**env: str) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if k not in (ENV, *GLIBC_ENV)}
    out = subprocess.run([sys.executable, "-c", CHILD], env={**clean, **env}, capture_output=True, text=True, check=True)
    was_set, mapped = out.stdout.split()
    return was_set, int(mapped)


@pytest.mark.skipif(not glibc_with_mallinfo2(), reason="glibc 2.33+ only (mallopt and mallinfo2)")
def test_a_large_tensor_comes_from_the_heap_once_set():
    assert run_child() == ("True", 0)


@pytest.mark.skipif(not glibc_with_mallinfo2(), reason="glibc 2.33+ only (mallopt and mallinfo2)")
def test_system_leaves_glibc_default_which_maps_the_tensor():
    was_set, mapped = run_child(**{ENV: "system"})
    assert was_set == "False" and mapped >= 16 << 20


@pytest.mark.parametrize("name", [*GLIBC_ENV, ENV])
def test_a_users_own_setting_is_left_alone(monkeypatch, name):
    monkeypatch.setenv(name, "system")
    assert keep_freed_memory() is False
