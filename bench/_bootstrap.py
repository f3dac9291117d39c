"""Lets a script run as a file (`python bench/step_time.py`) import `bench` as `python -m bench.step_time` does.

Run as a file, a script finds its own folder first on `sys.path`, not the repository root, so `import bench` would
fail (and `import common` would load a second copy). Importing this module, which only that folder makes importable,
puts the repository root first and the script's folder last, where it shadows nothing but still finds this module
again in a process that multiprocessing spawns (which reruns the script with the parent's `sys.path`). Each script
starts with
    if not __package__: import _bootstrap  # noqa: F401
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
others = [p for p in sys.path if Path(p or '.').resolve() not in (HERE, HERE.parent)]
sys.path[:] = [str(HERE.parent)] + others + [str(HERE)]
