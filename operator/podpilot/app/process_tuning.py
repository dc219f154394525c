"""Garbage-collector and allocator settings for the operator process, made once at start-up.

CPython collects its youngest generation every 700 net allocations of container objects. A
pod-metrics list of 3,000 pods decodes into some 18,000 dicts and lists that live only until
they are converted, but a collection in the middle of the decode finds them alive and
promotes them. At 10,000 Autoscalers that promotion set off a full collection about every
5 s, each scanning the whole heap for 1.1-1.6 s while holding the interpreter lock and
finding nothing to free: a fifth of the core, and the evaluations' worst lags. With a young
generation of ``GC_YOUNG_THRESHOLD``, such short-lived objects are freed by their reference
counts before a collection sees them (docs/performance.md, "seventh round").

glibc gives each thread that contends for the allocator an arena of its own, up to eight per
core, and returns their free memory to the system poorly. The operator's client pools decode
large JSON bodies in their threads; ``MALLOC_ARENAS`` arenas keep its resident memory about
30 MiB lower at 10,000 Autoscalers. ``MALLOC_ARENA_MAX`` or ``glibc.malloc.arena_max`` in
``GLIBC_TUNABLES`` in the environment wins (glibc reads them itself); other C libraries are
left alone.
"""

from __future__ import annotations

import gc
import os

GC_YOUNG_THRESHOLD = 50_000
MALLOC_ARENAS = 2
M_ARENA_MAX = -8  # glibc's malloc.h


def tune_process() -> None:
    """Apply both settings; call before the operator starts its threads."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
    limit_malloc_arenas(MALLOC_ARENAS)


def glibc() -> bool:
    """Whether this process runs on glibc (whose malloc the arenas setting is for)."""
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (AttributeError, ValueError, OSError):  # no confstr, or a name this libc lacks
        return False


def limit_malloc_arenas(arenas: int) -> bool:
    """Cap glibc's malloc arenas at ``arenas``; False where not applied (not glibc, or the
    environment already chose)."""
    chosen = "glibc.malloc.arena_max" in os.environ.get("GLIBC_TUNABLES", "")
    if "MALLOC_ARENA_MAX" in os.environ or chosen or not glibc():
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (ImportError, OSError, AttributeError):  # no ctypes, or no mallopt to call
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
