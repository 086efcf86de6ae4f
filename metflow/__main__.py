import sys

from metflow.cli import main

sys.exit(main())
