"""Benchmarks of the s2o engine, model and training: scripts that print markdown tables
(``python benchmarks/bench_*.py [--quick]``; ``python benchmarks/run_all.py`` writes
docs/PERFORMANCE.md)."""
