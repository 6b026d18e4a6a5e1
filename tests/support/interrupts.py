"""A Ctrl-C at a chosen moment: SIGINT raised at the n-th Python call that a piece of code makes
(with sys.settrace), to show that wherever a Ctrl-C lands its KeyboardInterrupt reaches the caller
(a library that calls back into Python, as pydantic does, may lose it or turn it into its own error)."""
from __future__ import annotations

import gc
import signal
import sys
from typing import Callable, TypeVar

T = TypeVar("T")


class _CallCounter:
    """A trace function counting the Python calls made, all of them or only those made while the
    first call of `within` runs (that call included), and raising SIGINT at call `interrupt_at`."""

    def __init__(self, within: Callable | None, interrupt_at: int | None):
        self.code = within.__code__ if within is not None else None
        self.interrupt_at = interrupt_at
        self.made = 0
        self.outer = None  # the frame of `within` while it runs
        self.finished = False

    def __call__(self, frame, event, arg):
        if self.code is not None and self.outer is None:
            if self.finished or frame.f_code is not self.code:
                return None
            self.outer = frame
        self.made += 1
        if self.made == self.interrupt_at:
            signal.raise_signal(signal.SIGINT)
        return self._until_return if frame is self.outer else None

    def _until_return(self, frame, event, arg):
        if event == "return":
            self.outer, self.finished = None, True
        return self._until_return


def _run_traced(counter: _CallCounter, call: Callable[[], T]) -> T:
    """`call()` traced by `counter`, with Python's own SIGINT handler (whatever an earlier test of
    the session installed) and the garbage collector paused: a collection runs finalizers at
    moments that differ from run to run, so the n-th call would not be the same call, and an
    exception raised inside a finalizer is dropped by Python itself, not by the code under test."""
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    collecting = gc.isenabled()
    gc.disable()
    sys.settrace(counter)
    try:
        return call()
    finally:
        sys.settrace(None)
        if collecting:
            gc.enable()
        signal.signal(signal.SIGINT, handler)


def calls_made_by(call: Callable[[], object], within: Callable | None = None) -> int:
    """How many Python calls `call()` makes (only those inside the first call of `within`, if given)."""
    counter = _CallCounter(within, None)
    _run_traced(counter, call)
    return counter.made


def run_with_sigint_at_call(call: Callable[[], T], number: int, within: Callable | None = None) -> T:
    """`call()`, with SIGINT arriving at the `number`th Python call it makes (counted as by
    `calls_made_by`), as a Ctrl-C would."""
    return _run_traced(_CallCounter(within, number), call)


def interrupted_at_call(call: Callable[[], object], number: int) -> bool:
    """Whether a SIGINT arriving at the `number`th Python call made by `call` reaches its caller
    as a KeyboardInterrupt (any other exception propagates)."""
    try:
        run_with_sigint_at_call(call, number)
    except KeyboardInterrupt:
        return True
    return False
