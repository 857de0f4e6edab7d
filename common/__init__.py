"""Shared by every system, and nothing else: audio I/O, dataset and stem loaders, BSS evaluation.

``common`` never imports a system package.
"""
