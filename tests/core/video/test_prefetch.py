"""The background thread that decodes frames ahead of the network."""

import threading

import numpy as np

from core.video.prefetch import prefetch


def test_prefetch_thread_stops_when_the_consumer_stops_early():
    closed = []

    def source():
        try:
            for i in range(100):
                yield np.full((1,), i)
        finally:
            closed.append(True)

    before = threading.active_count()
    stream = prefetch(source())
    assert next(stream)[0] == 0
    stream.close()  # what an exception in the consumer's loop does
    assert closed == [True]
    assert threading.active_count() == before
