"""Producing an iterator's items (decoding, resizing) in a background thread, so that the consumer
(a network on the GPU, a training step) never waits for frames."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

Item = TypeVar("Item")


def prefetch(items: Iterator[Item], depth: int = 2) -> Iterator[Item]:
    """``items``, produced up to ``depth`` ahead in a thread; an error there is raised here.

    If the consumer stops early (an error, a cancelled job), the thread is told to stop and the
    source is closed, so no thread or open video is left behind.
    """
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as e:  # re-raised in the consumer
            put(e)
        finally:
            close = getattr(items, "close", None)
            if close:
                close()
        put(done)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while (item := slots.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
