"""Months 1-3, software foundations: concurrency (Month 1); data structures, databases and APIs to come.

>>> from aieng.foundations.concurrency import measure, run_async
"""
