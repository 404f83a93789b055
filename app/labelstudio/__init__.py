"""Label Studio inside posecloud: its server, an account per posecloud user, a project per posecloud
project, labels kept in step, and the proxy through which alone users reach it."""
