import sys

from podpilot_dev.cli import main

sys.exit(main())
