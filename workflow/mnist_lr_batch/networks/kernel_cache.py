"""Numba's on-disk cache of the compiled kernels (sgd_kernel), made safe to damage or lose.

Numba caches each compiled function as an index (.nbi) and data files (.nbc), in the first
writable place of: NUMBA_CACHE_DIR, the module's own __pycache__, the user's cache
(~/.cache/numba, or $XDG_CACHE_HOME/numba). Two faults it does not survive by itself:

- an unreadable cache file (truncated by a full disk or a killed job, or garbage) makes the
  compilation raise a pickle error in every job; `compile_now` then flushes the module's cache
  entries, logs it, and compiles again (the result is the same machine code);
- no writable place at all (the repository installed read-only for a user with no writable
  home) makes Numba raise "no locator available"; `cached_njit` turns that into an error that
  says what to set. It does not fall back to a shared temporary directory on its own: Numba
  loads its cache with pickle, so a directory others can write to must be the user's choice.

A stale cache (another Numba version, another source, another CPU) Numba detects itself and
recompiles. Plumbing only: nothing here can change a result, so it is not a training input.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterable

import numba
from numba.core.dispatcher import Dispatcher
from numba.misc.appdirs import AppDirs

log = logging.getLogger("mnist_lr_batch.kernel_cache")


class KernelCacheUnavailable(RuntimeError):
    """Numba has nowhere to write its cache; the message says what to set."""


def cached_njit(*signature, **options) -> Callable:
    """`numba.njit(*signature, cache=True, **options)`, with a clear error when no cache directory is writable."""

    def decorate(function):
        try:
            return numba.njit(*signature, cache=True, **options)(function)
        except RuntimeError as error:
            if "no locator available" not in str(error):
                raise
            source = Path(function.__code__.co_filename)
            user_cache = AppDirs(appname="numba", appauthor=False).user_cache_dir
            raise KernelCacheUnavailable(
                f"Numba has nowhere to cache the compiled kernels of {source}: its directory is read-only "
                f"for you, so is your user cache ({user_cache}), and NUMBA_CACHE_DIR is not set to a writable "
                f"directory. Set NUMBA_CACHE_DIR to a directory of your own that you can write to, e.g. "
                f"export NUMBA_CACHE_DIR=/scratch/$USER/numba-cache (not one others can write to: Numba loads "
                f"its cache with pickle)"
            ) from None

    return decorate


def dispatchers(namespace: dict) -> list:
    """The compiled functions (Numba dispatchers) defined in a module's namespace."""
    return [value for value in namespace.values() if isinstance(value, Dispatcher)]


def compile_now(dispatcher, signature, related: Iterable) -> None:
    """Compile `dispatcher` for `signature` now (from the cache when it loads), then for no other signature.

    If loading the cache of it or of the functions it calls (`related`) fails, their cache
    entries are flushed and it is compiled again from source; a second failure is a real one.
    """
    try:
        dispatcher.compile(signature)
    except Exception as error:  # a damaged pickle can raise almost anything
        location = dispatcher.stats.cache_path
        log.warning("Numba's cache of %s (or of a function it calls) in %s is unreadable (%s: %s): "
                    "flushing it and compiling again",
                    dispatcher.__name__, location, type(error).__name__, error)
        for function in related:
            flush(function)
        dispatcher.compile(signature)
    dispatcher.disable_compile()


def flush(dispatcher) -> None:
    """Empty a dispatcher's cache index (its data files are then overwritten), or bypass a cache it cannot write."""
    cache = dispatcher._cache  # Numba's per-function Cache; flush() writes an empty index
    try:
        cache.flush()
    except OSError:
        cache.disable()
