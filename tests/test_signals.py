"""Signals during a backend's native start-up: held back, then raised, never lost."""

from __future__ import annotations

import os
import signal
import time

import pytest

from nuclassify._signals import deferred_interrupts


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_inside_the_block_is_raised_after_it(sig):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    finished = []
    with pytest.raises(KeyboardInterrupt), deferred_interrupts():
        os.kill(os.getpid(), sig)
        time.sleep(0.05)  # the handler runs here and must not raise inside the block
        finished.append(True)
    assert finished == [True]
    assert {s: signal.getsignal(s) for s in before} == before  # the previous handlers are back


def test_no_signal_no_interrupt():
    with deferred_interrupts():
        value = 1
    assert value == 1


def test_an_ignored_signal_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a search's candidate process
    try:
        with deferred_interrupts():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
