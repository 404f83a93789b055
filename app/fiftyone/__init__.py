"""FiftyOne inside posecloud: its MongoDB, a server per user and project, and the proxy."""
