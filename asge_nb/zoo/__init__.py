"""Trained networks that ship with the package: one model-only checkpoint per network, listed in zoo.json (written by tools/train_zoo.py)."""
