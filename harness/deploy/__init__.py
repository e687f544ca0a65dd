"""Deployments: the processes behind a target that process faults act on (kill, pause, restart...),
the harness's own (reference-server instances behind a real load balancer, Redis for their shared
replay log) or a user's (shell commands)."""
