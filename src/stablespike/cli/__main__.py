"""``python -m stablespike.cli`` (as ``torchrun ... -m stablespike.cli train``): the command."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
