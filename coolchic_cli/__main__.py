"""`python -m coolchic_cli` is the `coolchic` command."""

import sys

from coolchic_cli import main

sys.exit(main())
