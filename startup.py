#!/usr/bin/env python3
"""The company's command line: run a request, resume a run, serve HTTP, research sweeps.

Run ``python startup.py --help`` for the options."""

import sys

from company.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
