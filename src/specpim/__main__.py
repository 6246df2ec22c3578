"""`python -m specpim`: the same as the `specpim` command."""

import sys

from specpim.cli import main

sys.exit(main())
