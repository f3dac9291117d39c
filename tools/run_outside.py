#!/usr/bin/env python
"""Run notebooks the way a reader outside the repository does: from an empty folder, with only the installed package.

    python tools/run_outside.py nbs/19_cifar.ipynb [nbs/20_imagenet.ipynb ...] [--timeout 900] [--keep]

Each notebook is copied alone into a new, empty temporary folder outside the repository and executed there, top to
bottom, with nbclient (what `jupyter nbconvert --execute` uses); the kernel's working folder is that temporary folder,
so a path into the repository (`../bench/...`, `../nbs/...`) does not resolve. Every cell runs, `#| gpu` ones
included: on a machine without CUDA they must skip themselves. `ASGE_DATA` is passed through to the kernel.
The notebook in the repository is not modified. Exit status 0 if every cell ran, 1 (with the failing cell's source and
error) otherwise.
"""
import argparse, os, re, shutil, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def run_outside(nb_path:Path, # the notebook to run
                timeout:int,  # seconds allowed per cell
                keep:bool,    # keep the temporary folder (its path is printed)
                kernel:str='python3', # the Jupyter kernel to run it on (the reader's environment)
               )->bool:       # True if every cell ran
    "Execute a copy of `nb_path` in a new empty folder outside the repository; print what happened."
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    work = Path(tempfile.mkdtemp(prefix='asge_outside_'))
    if work.resolve().is_relative_to(ROOT):
        sys.exit(f"run_outside: the temporary folder {work} is inside the repository; set TMPDIR elsewhere")
    copy = work / nb_path.name
    shutil.copy(nb_path, copy)
    nb = nbformat.read(copy, as_version=4)
    env_note = f"ASGE_DATA={os.environ['ASGE_DATA']}" if os.environ.get('ASGE_DATA') else 'ASGE_DATA unset'
    print(f"run_outside: {nb_path.name} in an empty temporary folder ({env_note}), {timeout}s per cell")
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, resources={'metadata': {'path': str(work)}})
    t0, ok = time.time(), False
    try:
        client.execute(cwd=str(work)); ok = True
    except CellExecutionError as e:
        msg = re.sub(r'\x1b\[[0-9;]*m', '', str(e))   # no terminal colours in CI logs
        print(f"run_outside: FAILED: {nb_path.name}: a cell raised an error when run outside the repository:\n{msg}")
    except CellTimeoutError as e:
        print(f"run_outside: FAILED: {nb_path.name}: a cell ran past {timeout}s:\n{e}")
    except DeadKernelError as e:
        print(f"run_outside: FAILED: {nb_path.name}: the kernel died: {e}")
    finally:
        left = sorted(p.relative_to(work).as_posix() for p in work.iterdir() if p != copy)
        if keep: nbformat.write(nb, copy); print(f"run_outside: kept {work} (executed copy: {copy.name})")
        else: shutil.rmtree(work, ignore_errors=True)
    n = sum(c.cell_type == 'code' for c in nb.cells)
    if ok: print(f"run_outside: ok: {nb_path.name}: {n} code cells ran outside the repository in "
                 f"{time.time() - t0:.0f}s (it wrote: {', '.join(left) or 'nothing'})")
    return ok

def main(argv=None)->int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('notebooks', nargs='+', type=Path, help='notebooks to run')
    p.add_argument('--timeout', type=int, default=900, help='seconds allowed per cell')
    p.add_argument('--keep', action='store_true', help='keep the temporary folder and the executed copy')
    p.add_argument('--kernel', default='python3', help="Jupyter kernel (a second environment's)")
    a = p.parse_args(argv)
    missing = [str(nb) for nb in a.notebooks if not nb.is_file()]
    if missing: sys.exit(f"run_outside: no such notebook: {', '.join(missing)}")
    results = {nb.name: run_outside(nb, a.timeout, a.keep, a.kernel) for nb in a.notebooks}
    failed = [k for k, ok in results.items() if not ok]
    print(f"run_outside: {len(results) - len(failed)} of {len(results)} notebooks ran outside the repository"
          + (f"; FAILED: {', '.join(failed)}" if failed else ''))
    return 0 if not failed else 1

if __name__ == '__main__': sys.exit(main())
