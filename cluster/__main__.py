"""`python -m cluster` is the `selfplay` command."""

import sys

from cluster.cli import main

sys.exit(main())
