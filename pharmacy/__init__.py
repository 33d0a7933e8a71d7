"""Pharmacy analytics over the clean tables: drug-interaction alerts judged against the harm
that followed (``alerts``).

Imports flow as for the other analysis stages: ``pharmacy`` reads ``features`` and ``configs``;
the dashboard reads ``pharmacy``.
"""

from __future__ import annotations


class PharmacyError(ValueError):
    """A pharmacy question the records cannot answer: no orders, an empty period."""
