"""Signals during a backend's native start-up: held back, then raised, never lost."""

from __future__ import annotations

import os
import signal
import sys
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


_SEND_AT_FIRST_WRITE = '''
import os, signal
_pwrite, _sent = os.pwrite, []
def pwrite(fd, data, offset):  # called by the file object HDF5 writes through, inside HDF5's C code
    if not _sent:
        _sent.append(True)
        os.kill(os.getpid(), getattr(signal, os.environ["SIGNAL_AT_FIRST_WRITE"]))
    return _pwrite(fd, data, offset)
os.pwrite = pwrite
'''


@pytest.mark.parametrize(("sig", "command"), [("SIGINT", "simulate"), ("SIGTERM", "simulate"), ("SIGTERM", "predict")])
def test_a_signal_while_hdf5_writes_removes_the_file_instead_of_keeping_it_short(tmp_path, sig, command):
    """Raised inside HDF5's write callback, the interrupt used to be swallowed by h5py: simulate said
    'wrote', renamed a file with missing pixels into place, then crashed. Held to the next block, it
    ends the command cleanly (exit 130, one line) with nothing under the output's name. SIGTERM, a
    batch system's notice, ends predict the same way (it used to die by the signal, its temporary
    file left behind)."""
    import subprocess

    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(_SEND_AT_FIRST_WRITE)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(inject), os.environ.get("PYTHONPATH")])),
               SIGNAL_AT_FIRST_WRITE=sig)
    out = tmp_path / "out"
    out.mkdir()
    if command == "simulate":
        argv = ["simulate", "minerva", "-n", "3000", "--seed", "1", "-o", str(out / "sim.h5")]
    else:
        from conftest import make_minerva_file

        data = make_minerva_file(tmp_path / "data.h5", n=64)
        argv = ["predict", "--model", "trackfit", "--data", str(data), "-o", str(out / "pred.h5")]
    result = subprocess.run([sys.executable, "-m", "nuclassify", "-q", *argv], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 130, result.stderr[-2000:]
    assert result.stderr.strip() == "nuclassify: interrupted"
    assert list(out.iterdir()) == []  # neither the file nor its temporary


def _pdeathsig_of_worker(queue) -> None:
    import ctypes

    from nuclassify.simulate._api import _quiet_worker

    _quiet_worker()
    value = ctypes.c_int(-1)
    ctypes.CDLL(None).prctl(2, ctypes.byref(value), 0, 0, 0)  # 2: PR_GET_PDEATHSIG
    queue.put(value.value)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_simulate_workers_end_with_their_parent():
    """After a kill -9 of `simulate --workers N`, its workers ran on into a broken pipe and printed
    the traceback; they now get SIGTERM (their quiet default) when the parent dies."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    worker = context.Process(target=_pdeathsig_of_worker, args=(queue,))
    worker.start()
    try:
        assert queue.get(timeout=120) == signal.SIGTERM
    finally:
        worker.join(timeout=30)
