"""``python -m company.api``: the same as ``python startup.py serve``."""

import sys

from company.api.serve import serve_command

if __name__ == "__main__":
    sys.exit(serve_command(sys.argv[1:]))
