"""The worker processes: one Celery slot per GPU (``slot``), the supervisor that starts and restarts
them, and the liveness of slots and jobs (heartbeats, the reaper)."""
