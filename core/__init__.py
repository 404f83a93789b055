"""posecloud core: the pose library (labels, models, training, prediction, smoothing).

Knows nothing of the web, the queue or the database; every function is usable from Python
and from the `posecloud` command line without any server running.
"""
