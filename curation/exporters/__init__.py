"""Pure export formats (no ORM): judgment records in, TRL-shaped rows and hashed files out.

``records`` (what the selector builds) -> ``pipeline.export_rows`` (``trl``: pairwise, ranking and
edit pairs and KTO rows; ``ratings``: rating pairs and labels per prompt; ``raw``; ``split``) ->
``writers`` (JSONL / Parquet with the ``columns`` schemas). ``options`` validates the filter spec and
the export options.
"""
