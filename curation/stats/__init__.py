"""Quality statistics: agreement, consensus, annotator reliability and bias.

Pure modules (no ORM, no Django): they take plain records built by ``curation.selectors_quality``
and return frozen dataclasses, so every number is checked by table-driven tests without a database.
Library code does the textbook statistics (``krippendorff`` for alpha, ``statsmodels`` for Fleiss'
kappa and Wilson intervals, ``scipy`` for binomial tests and rank correlations); what is written here
is the mapping of our task kinds onto those statistics, and the aggregation models that no
well-kept library offers in a form we can use (Plackett-Luce with tied tiers, Dawid-Skene with a
pooled prior).
"""
