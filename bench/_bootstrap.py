"""Lets a script run as a file (`python bench/step_time.py`) import `bench` as `python -m bench.step_time` does.

Run as a file, a script finds its own folder first on `sys.path`, not the repository root, so `import bench` would
fail (and `import common` would load a second copy). Importing this module, which only that folder makes importable,
puts the repository root there instead. Each script starts with
    if not __package__: import _bootstrap  # noqa: F401
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or '.').resolve() != HERE]
