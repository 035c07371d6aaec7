"""`python -m httpcore2 URL [options]`: the command line client; see `--help`."""

from ._cli import main

raise SystemExit(main())
