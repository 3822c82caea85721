"""The HTTP shim: validates requests, stores them as Boss messages, streams the run's events.

Importing this package is cheap; fastapi and uvicorn load in ``app`` and ``serve``.
"""
