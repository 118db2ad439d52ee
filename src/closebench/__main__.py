"""`python -m closebench`: the same CLI as the `closebench` script."""

from closebench.cli import main

raise SystemExit(main())
