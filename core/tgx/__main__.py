"""``python -m tgx``: the same as the ``tgx`` console script."""

from tgx.cli import main

raise SystemExit(main())
