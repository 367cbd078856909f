"""``python -m stablespike``: the ``stablespike`` command."""

import sys

from .cli import main

sys.exit(main())
