"""Worker processes: a scenario's HTTP clients split over N processes on this machine, so that a
run uses more than one core. The coordinator (the process that runs the scenario) keeps
Toxiproxy, the fault timeline, the baseline and the report; each worker runs its part of the
clients through the same proxy and streams their records back, stamped on the one clock all
processes of a machine share (CLOCK_MONOTONIC). The merged history is judged as one.

`wire` is what goes over the pipes, `worker` the worker process (`python -m harness.workers`),
`coordinator` the side that starts, feeds, reads and always stops them."""

MAX_WORKERS = 32  # beyond the cores of any machine this runs on, more processes only contend
