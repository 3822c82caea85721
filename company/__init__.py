"""The company: a MetaGPT-style multi-agent role framework."""

__version__ = "0.1.0"
