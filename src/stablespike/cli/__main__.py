"""``python -m stablespike.cli`` (as ``torchrun ... -m stablespike.cli train``): the command."""

import sys

from . import main

sys.exit(main())
