"""``python -m prunebench``: the command-line entry point."""

import sys

from prunebench.cli import main

sys.exit(main())
