"""`python -m bench [--quick]`: run the suite, print the tables, write bench/results/."""

from __future__ import annotations

import sys

from bench.runner import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
