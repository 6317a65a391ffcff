"""Run the benchmark suite: ``python benchmarks/run.py [--quick] [--only conv|ops|train]``.

The same as ``convprop bench`` and ``make bench``; the rows live in ``convprop.bench.rows`` so
the installed command can run them too.
"""

import sys

from convprop.bench import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
