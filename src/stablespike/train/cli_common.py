"""What the ``train``, ``resume`` and ``eval`` commands share: error reporting and exit codes.

Exit codes: 0 success, 1 a configuration / data / checkpoint / file-writing problem or a lost
DDP peer, 3 a non-finite loss, 143 / 130 stopped by SIGTERM / SIGINT (128 + the signal; after a
graceful stop ``last.pt`` holds the last step), 130 also for an interrupt outside training
(argparse uses 2 for bad flags).

Example:
    >>> from stablespike.train.errors import ConfigError
    >>> def job():
    ...     raise ConfigError("lr must be > 0, got -1")
    >>> run_reporting_errors("train", job)
    1
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from ..core.errors import NonFiniteError, StopNow, StopRequested, TrainError
from ..data import DatasetError

__all__ = ["run_reporting_errors"]


def run_reporting_errors(command: str, job: Callable[[], object]) -> int:
    """Run ``job``; print known errors as one clear line on stderr and return the exit code."""
    try:
        job()
    except StopRequested as err:
        print(f"stablespike {command}: {err}", file=sys.stderr)
        return err.exit_code
    except StopNow as err:
        print(f"stablespike {command}: {err}", file=sys.stderr)
        return err.exit_code
    except NonFiniteError as err:
        print(f"stablespike {command}: stopped: {err}", file=sys.stderr)
        return 3
    except (TrainError, DatasetError) as err:
        print(f"stablespike {command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"stablespike {command}: interrupted", file=sys.stderr)
        return 130
    return 0
