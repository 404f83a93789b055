"""The job queue: a Celery app on Redis that carries only ``(job id, attempt)``.

The service imports this module to enqueue jobs; it does not import ``core`` or torch. Job records
(state, progress, errors) live in the database; Redis is only the queue, so a Redis restart loses
messages but never jobs: `broker_run_id` tells which queued jobs were sent to a Redis that has since
restarted, and the reaper sends those again (see ``worker.state.records.reap``).
"""

from __future__ import annotations

import logging

import redis
from celery import Celery

RUN_JOB = "posecloud.run_job"
log = logging.getLogger(__name__)


def make_celery(redis_url: str) -> Celery:
    """A Celery app with at-least-once delivery: acknowledge after the task, one task per slot."""
    app = Celery("posecloud", broker=redis_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker waits for Redis to come back
        # Lost workers are detected by job heartbeats, not by Redis's redelivery timer, which would
        # otherwise hand a long training to a second slot while the first still runs it.
        broker_transport_options={"visibility_timeout": 7 * 24 * 3600},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


class JobQueue:
    """Sends jobs to Redis; never raises when Redis is down (the reaper resends later)."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.celery = make_celery(redis_url)
        self._redis = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)

    def run_id(self) -> str | None:
        """The running Redis server's run id (new after every restart), or None when unreachable."""
        try:
            return str(self._redis.info("server")["run_id"])
        except redis.RedisError:
            return None

    def send(self, job_id: int, attempt: int) -> str | None:
        """Enqueue one delivery of a job; returns the Redis run id it went to, or None if not sent."""
        run_id = self.run_id()
        if run_id is None:
            log.warning(
                "Redis at %s is unreachable; job %d stays queued and is sent later", self.redis_url, job_id
            )
            return None
        try:
            self.celery.send_task(RUN_JOB, args=[job_id, attempt], retry=False)
        except Exception as e:  # kombu raises several connection error types
            log.warning("could not send job %d to Redis (%s); it is sent again later", job_id, e)
            return None
        return run_id

    def close(self) -> None:
        self._redis.close()
