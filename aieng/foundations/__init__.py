"""Months 1-3, software foundations, each module a concept that later chapters and the labs reuse.

- ``concurrency`` (Month 1): threads, processes and asyncio, measured.
- ``database`` (Month 3): a throwaway PostgreSQL 16 with pgvector, or any server via ``AIENG_PG_URL``.
- ``kvcache`` (Month 3): a key-value cache with TTL and LRU eviction (the LLM gateway's cache).
- ``auth``, ``ratelimit``, ``webapp`` (Month 3): hashed API keys and passwords, JWTs, token buckets,
  and a FastAPI service with 4xx-with-a-reason errors, served on loopback.
- ``mail`` (Month 9): SMTP on loopback.
- ``interrupt`` (Month 9): an exception raised in another thread (a tool's or a case's time limit),
  and taken back.

>>> from aieng.foundations.concurrency import measure, run_async
>>> from aieng.foundations.database import postgres
"""
