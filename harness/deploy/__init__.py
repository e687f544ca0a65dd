"""The parts of a deployment the harness starts itself: Redis (the shared replay log)."""
