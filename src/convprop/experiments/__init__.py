"""The seed's claims as experiments and checks (``convprop exam``, ``convprop experiment``).

Each experiment module exposes ``add_arguments(parser)`` and ``run(args) -> int``; the
name-to-module dict :data:`EXPERIMENTS` lists them (name on the command line -> module), and
the command line's choices and help (each module's first docstring line) come from it.
"""

from types import ModuleType

from convprop.experiments import batch_size, momentum, noise

EXPERIMENTS: dict[str, ModuleType] = {
    "noise": noise,  # gradient noise against sigma / sqrt(K_b)
    "batch-size": batch_size,  # accuracy and wall time against K_b
    "momentum": momentum,  # heavy ball on a quadratic and on a network
}
