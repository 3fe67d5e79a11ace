"""Django-free machine-learning package: data loading, training over TRL, generation, scoring.

Runs alone on a GPU box (``python -m ml.cli ...``). It must never import Django or any app of the
web project; import-linter enforces that in ``make test``.
"""

__version__ = "0.1.0"
