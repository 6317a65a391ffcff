"""The seed's claims as experiments and checks (``convprop exam``, ``convprop experiment``)."""
