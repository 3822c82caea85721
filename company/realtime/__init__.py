"""Realtime voice: a WebSocket session that streams audio in and the company's events out.

Importing this package imports nothing heavy (no torch, whisper, onnxruntime, av or fastapi).
"""
