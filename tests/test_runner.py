"""run_sync from a script and from inside a running event loop (the Jupyter case)."""

import asyncio
import os
import signal
import threading
import time

import pytest

from amp_notebook._runner import run_sync


def _interrupt_soon(delay=0.3):
    """A real SIGINT, as Jupyter's stop button sends (interrupt_main would not wake a select)."""
    threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT)).start()


async def _value(x, delay=0.01):
    await asyncio.sleep(delay)
    return x


def test_run_sync_without_a_loop():
    assert run_sync(_value(3)) == 3


def test_run_sync_inside_a_running_loop():
    async def cell():
        # A notebook cell: a loop is running in this thread.
        return run_sync(_value(4)), threading.current_thread().name

    value, _thread_name = asyncio.run(cell())
    assert value == 4


def test_run_sync_reuses_one_background_thread():
    async def cell():
        names = []

        async def where():
            return threading.current_thread().name

        for _ in range(3):
            names.append(run_sync(where()))
        return names

    names = asyncio.run(cell())
    assert len(set(names)) == 1 and names[0] == "amp_notebook-loop"


def test_exceptions_propagate():
    async def boom():
        raise ValueError("nope")

    async def cell():
        return run_sync(boom())

    with pytest.raises(ValueError, match="nope"):
        asyncio.run(cell())
    with pytest.raises(ValueError, match="nope"):
        run_sync(boom())


def test_keyboard_interrupt_cancels_and_lets_the_coroutine_unwind():
    unwound = threading.Event()

    async def long_job():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            unwound.set()
            raise RuntimeError("recorded partial result") from None

    async def cell():
        # Simulate the stop button: interrupt the waiting (main) thread shortly.
        _interrupt_soon()
        return run_sync(long_job())

    t0 = time.monotonic()
    # run_until_complete, as ipykernel does: asyncio.run would install its own
    # SIGINT handler and swallow the interrupt.
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(RuntimeError, match="recorded partial result"):
            loop.run_until_complete(cell())
    finally:
        loop.close()
    assert unwound.is_set()
    assert time.monotonic() - t0 < 5


def test_keyboard_interrupt_without_a_loop():
    unwound = threading.Event()

    async def long_job():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            unwound.set()
            raise

    _interrupt_soon()
    with pytest.raises(KeyboardInterrupt):
        run_sync(long_job())
    assert unwound.is_set()


def test_works_when_the_user_applied_nest_asyncio():
    nest_asyncio = pytest.importorskip("nest_asyncio")

    async def cell():
        loop = asyncio.get_running_loop()
        nest_asyncio.apply(loop)
        return run_sync(_value(5))

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(cell()) == 5
    finally:
        loop.close()
