"""Run a coroutine from sync code, inside or outside a running event loop.

Jupyter runs cells inside an event loop, so ``asyncio.run`` fails there. We do
not call ``nest_asyncio.apply()``: with ipykernel 7.1-7.4 it leaves the cells
queued behind it ("Run All") never run (design.md, "Facts learned the hard
way"). Instead, as jupyter_core's ``run_sync``, fsspec and zarr do, a coroutine
started while a loop runs in this thread goes to one persistent background
event-loop thread, and this thread waits on its future. The notebook's stop
button (KeyboardInterrupt in the waiting thread) cancels the coroutine and
waits for it to unwind, so what it acknowledged is kept.

If the user's kernel applied nest_asyncio itself, ``get_running_loop`` still
reports the loop and we still use the thread: nothing here depends on it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout  # not the builtin on 3.10
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    """The one background loop, started on first use (a daemon thread)."""
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="amp_notebook-loop", daemon=True)
            thread.start()
            _loop, _thread = loop, thread
        return _loop


def in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class _Raised:
    """A KeyboardInterrupt or SystemExit the coroutine raised, carried out as a value."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


async def _carry(coro: Coroutine[Any, Any, T]) -> T | _Raised:
    # asyncio re-raises KeyboardInterrupt and SystemExit out of the event loop
    # (Task.__step) instead of only storing them in the task: that would stop
    # the background thread before the done callbacks run, and the waiting
    # thread would never hear back. UploadInterrupted is a KeyboardInterrupt,
    # so carry these out as a value.
    try:
        return await coro
    except (KeyboardInterrupt, SystemExit) as exc:
        return _Raised(exc)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code and return its result.

    KeyboardInterrupt while waiting cancels the coroutine (it sees CancelledError
    at its current await), waits for it to finish unwinding, then raises what
    the coroutine raised (e.g. UploadInterrupted with the partial result), or
    KeyboardInterrupt if it simply stopped.
    """
    if not in_running_loop():
        return _run_here(coro)
    loop = _background_loop()
    done: Future[T] = Future()
    tasks: list[asyncio.Task[T | _Raised]] = []

    def finish(task: asyncio.Task[T | _Raised]) -> None:
        if task.cancelled():
            done.set_exception(KeyboardInterrupt())
        elif (error := task.exception()) is not None:
            done.set_exception(error)
        elif isinstance(result := task.result(), _Raised):
            done.set_exception(result.error)
        else:
            done.set_result(result)

    def start() -> None:
        task = loop.create_task(_carry(coro))
        tasks.append(task)
        task.add_done_callback(finish)

    loop.call_soon_threadsafe(start)
    try:
        return _wait(done)
    except KeyboardInterrupt:
        if done.done():  # the coroutine itself ended with this exception
            raise
        loop.call_soon_threadsafe(lambda: [t.cancel() for t in tasks])
        # Let it unwind (cancel in-flight requests, record what was
        # acknowledged); a second interrupt stops waiting for that.
        return done.result(timeout=30)


def _wait(future: Future[T]) -> T:
    # A short timeout in a loop keeps the wait interruptible on every platform.
    while True:
        try:
            return future.result(timeout=0.2)
        except FutureTimeout:
            continue


def _run_here(coro: Coroutine[Any, Any, T]) -> T:
    """No loop in this thread (a script, a terminal): a fresh loop for this call."""
    loop = asyncio.new_event_loop()
    task = loop.create_task(coro)
    try:
        try:
            return loop.run_until_complete(task)
        except KeyboardInterrupt:
            task.cancel()
            try:
                return loop.run_until_complete(task)
            except asyncio.CancelledError:
                raise KeyboardInterrupt from None
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
