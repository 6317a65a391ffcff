"""``python -m convprop``: the command line."""

import sys

from convprop.cli import main

sys.exit(main())
