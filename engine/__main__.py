"""`python -m engine ...`: the terminal face of IMP Lab."""

from engine.cli import main

raise SystemExit(main())
