"""Research sweeps: run a request set through SOP variants and models, reproducibly, and compare.

Entry point: ``research_command`` in :mod:`company.research.cli` (``python startup.py research``).
"""
