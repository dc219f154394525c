"""Allow ``python -m podpilot``."""

from podpilot.cli import main

raise SystemExit(main())
