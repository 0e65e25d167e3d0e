"""`python -m perf_orchestration.cli`: the `perfflow` command, for a process that has the
interpreter but not the script on its PATH (the group demo starts its plants this way)."""

import sys

from perf_orchestration.cli import main

sys.exit(main())
