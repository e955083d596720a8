"""Benchmarks: ``make bench`` (``python -m benchmarks``) runs every module's ``main()``.

Each benchmark writes machine-readable results under ``build/bench/`` and prints a table;
the figures recorded in ``docs/`` come from here, with the machine and tool versions.
"""
