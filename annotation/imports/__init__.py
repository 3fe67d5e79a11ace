"""Bulk import of prompts, responses and preference data (JSONL, CSV, Parquet).

The modules here are pure (no ORM) except ``tasks`` (the Celery interface) and ``fetch`` (import from
a URL: creates the job, and downloads through ``core.security.outbound`` in the worker):

- ``records``: formats, shapes, row errors and the normalised record every row becomes;
- ``parsers``: stream rows out of each format with their 1-based line/row number, in constant memory;
- ``shapes``: turn one raw row into a ``Record`` or errors naming the line and the field;
- ``pipeline``: parsers + shape detection + validation, the single path both passes of an import use;
- ``examples``: one example row per shape, for the upload page.

The database side (two passes, all or nothing, bulk inserts) is ``annotation.services.imports``.
"""
