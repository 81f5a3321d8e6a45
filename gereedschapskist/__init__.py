"""Gereedschapskist: a certified-safe workbench for data specialists in Dutch government.

This root package holds only the operator CLI; every component lives in its own
sub-package (``catalogue``, ``hub``, ``portal``, ``images``, ``infra``, ``dev``).
"""

__version__ = "0.1.0"
