"""Runnable examples of the company's Python API (the tests run each one)."""
