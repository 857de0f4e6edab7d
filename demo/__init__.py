"""The main job on embedded synthetic data: ``python -m demo`` (``make demo``)."""
