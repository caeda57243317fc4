"""Benchmarks for issue #5: latency, burst, engine throughput, scale and sync cost.

Run them all with ``scripts/bench`` (or ``python -m benchmarks``); one with
``python -m benchmarks latency``. They print their figures and are never part of the tests.
"""
