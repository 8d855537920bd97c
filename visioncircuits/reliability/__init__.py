"""The reliability sweep as code: hostile files, bad flags, SIGKILLs and concurrent runs.

Shared by ``tests/reliability`` (which assert on each case) and ``visioncircuits bench
reliability`` (which counts them), so the published figures and the tests run the same cases.
"""
