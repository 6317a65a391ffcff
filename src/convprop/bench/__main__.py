"""``python -m convprop.bench``: the same as ``convprop bench``."""

import sys

from convprop.bench.suite import main

sys.exit(main())
