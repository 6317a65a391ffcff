"""The seed's claims as experiments and checks (``convprop exam``, ``convprop experiment``).

Each experiment module exposes ``add_arguments(parser)`` and ``run(args) -> int`` and is listed
in :data:`EXPERIMENTS` (name on the command line -> module).
"""

EXPERIMENTS: dict[str, str] = {
    "noise": "convprop.experiments.noise",
    "batch-size": "convprop.experiments.batch_size",
    "momentum": "convprop.experiments.momentum",
}
