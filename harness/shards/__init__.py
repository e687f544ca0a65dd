"""Shards: one run's clients split over machines that share nothing but a wall-clock start and
the target. Each shard runs its share of every scenario's clients through its own Toxiproxy,
on a fault timeline anchored at the common start (harness/shards/slots.py), against its own
clock's measured offset (harness/shards/clock.py); `sse-chaos merge` aligns the shards' records
on one timeline and judges them as one run (harness/shards/merge.py)."""
