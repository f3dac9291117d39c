"""Shared by the benchmark scripts: environment facts, the one results writer, the resumable sweep, the alternating
timer, and the trainers and cases of the speed and memory benchmarks.

A results file (bench/results/<name>.json) is `{benchmark, <this machine's facts>, <the run's extras>, results}`, where
`results` is a list of rows (one document for gpu_check). Every script writes it through `save_results`, which
1. reads the file and refuses, in one line naming it, where it is not valid JSON (damaged): nothing is written to it;
2. merges: a row of the file is replaced only by a new row with the same key (a re-measurement of the same thing);
   every other row stays, and a row kept from an earlier run gets that run's facts as its own `run` (a row's run is
   its `run` where it has one, else the file's header);
3. writes through a temporary file and `os.replace`, keeping the file as it was before as `<name>.json.bak`, all under
   a lock on the folder (two scripts appending to one file wait for each other instead of losing a row).

A damaged file is set aside (kept, as `<name>.json.damaged-<time>`) and its backup restored only when asked:

    python -m bench.common --recover bench/results/ablations_cpu.json
"""
import argparse, contextlib, json, os, platform, resource, shlex, statistics, subprocess, sys, tempfile, time
from pathlib import Path
import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / 'results'

# ---- environment facts ----
def git_commit()->str:
    "Short hash of HEAD, with '+dirty' when the tree has uncommitted changes to tracked files."
    try:
        run = lambda *a: subprocess.run(['git', *a], cwd=HERE.parent, capture_output=True, text=True, check=True).stdout
        dirty = run('status', '--porcelain', '-uno').strip()
        return run('rev-parse', '--short', 'HEAD').strip() + ('+dirty' if dirty else '')
    except Exception: return 'unknown'

def cpu_name()->str:
    "The CPU's model name (from /proc/cpuinfo where there is one)."
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()

def cpu_seconds()->float:
    "CPU time (user + system) this process has used so far, over all its threads."
    u = resource.getrusage(resource.RUSAGE_SELF); return u.ru_utime + u.ru_stime

def command_line()->str:
    "The command that started this process, as typed: `python bench/x.py ...` or `python -m bench.x ...`."
    spec = getattr(sys.modules.get('__main__'), '__spec__', None)
    head = ['python', '-m', spec.name] if spec is not None and spec.name else ['python', sys.argv[0]]
    return ' '.join(shlex.quote(a) for a in head + sys.argv[1:])

COMMIT_AT_START = git_commit()   # at import: the commit of the code the benchmark runs, not of the tree at its end

def environment(device:str='cpu')->dict:
    "Hardware and software facts recorded with every result."
    dev = torch.device(('cuda' if torch.cuda.is_available() else 'cpu') if device == 'auto' else device)
    hw = (f"{torch.cuda.get_device_name(dev)} (GPU)" if dev.type == 'cuda'
          else f"{cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads (CPU)")
    return dict(hardware=hw, device_type=dev.type, torch=torch.__version__, python=platform.python_version(),
                cpu_count=os.cpu_count(), threads=torch.get_num_threads(), commit=COMMIT_AT_START,
                date=time.strftime('%Y-%m-%d %H:%M:%S %Z'), command=command_line())

RUN_FACTS = ('command', 'commit', 'date', 'hardware')   # what a row's own `run` records

# ---- results files: the one writer ----
def atomic_write(path, data)->Path:
    "Write `data` (str or bytes) to `path` via a temporary file and os.replace: readers see the old or the new file."
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data.encode() if isinstance(data, str) else data); f.flush(); os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError): os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):   # the rename itself reaches the disk
        dfd = os.open(path.parent, os.O_RDONLY)
        try: os.fsync(dfd)
        finally: os.close(dfd)
    return path

@contextlib.contextmanager
def locked(folder):
    "An exclusive lock on a results folder for one read-merge-write: other processes writing there wait."
    try: import fcntl
    except ImportError: yield; return   # no flock (Windows): single writer assumed
    fd = os.open(folder, os.O_RDONLY)
    try: fcntl.flock(fd, fcntl.LOCK_EX); yield
    finally: os.close(fd)   # closing releases the lock

def backup_path(path)->Path:
    "Where the writer keeps a results file as it was before its last write: <name>.json.bak."
    return Path(path).with_name(Path(path).name + '.bak')

def _parse(data:bytes)->tuple:
    "(document, None) for a valid results file's bytes, else (None, what is wrong)."
    try: doc = json.loads(data)
    except ValueError as e: return None, f"not valid JSON ({e})"   # UnicodeDecodeError is a ValueError too
    if not isinstance(doc, dict) or 'results' not in doc: return None, "not a results file (no 'results')"
    return doc, None

def _good(path)->dict:
    "The document at `path` where it is a valid results file, else None."
    return _parse(Path(path).read_bytes())[0] if Path(path).is_file() else None

def damaged(path, why:str, done:str='nothing was written to it')->SystemExit:
    "The one-line refusal for a damaged results file, with what restores it."
    bak = _good(backup_path(path))
    fix = (f"its backup {backup_path(path).name} ({len(bak['results'])} results)" if bak is not None
           else 'nothing (it has no good backup)')
    return SystemExit(f"{path}: {why}; {done}. `python -m bench.common --recover {path}` sets it aside (kept) and "
                      f"restores {fix}")

def read_results(path)->dict:
    "The results file at `path` as a dict, None where there is none; a damaged file is refused (SystemExit, one line)."
    path = Path(path)
    if not path.exists(): return None
    doc, why = _parse(path.read_bytes())
    if why: raise damaged(path, why)
    return doc

def results_file(path)->Path:
    "`path`, checked before a benchmark starts: refused at once (one line) where a damaged file is there."
    read_results(path); return Path(path)

def merge_rows(old:dict, rows:list, key=None, keep_existing:bool=False)->list:
    """The rows of results file `old` with `rows` added: an old row with the key of a new one is replaced (or, with
    `keep_existing`, the new one is dropped); rows kept without their own `run` get the old header as theirs."""
    facts = {k: v for k, v in old.items() if k not in ('benchmark', 'results')}
    have = set() if key is None else {key(r) for r in old['results']}
    if keep_existing: rows = [r for r in rows if key is None or key(r) not in have]
    new = set() if key is None or keep_existing else {key(r) for r in rows}
    kept = [r for r in old['results'] if key is None or key(r) not in new]
    return [r if 'run' in r else dict(r, run=facts) for r in kept] + rows

def _free_name(path:Path, tag:str)->Path:
    "`<path>.<tag>-<time>`, numbered where that exists: never the name of a file already there."
    base, n = f"{path.name}.{tag}-{time.strftime('%Y%m%d-%H%M%S')}", 0
    while (p := path.with_name(base + (f'-{n}' if n else ''))).exists(): n += 1
    return p

def save_results(path, rows, benchmark:str, key=None, keep_existing:bool=False, device:str='cpu', quiet:bool=False,
                 **extra)->dict:
    """Merge `rows` into the results file at `path` (see `merge_rows`; `key=None` appends) and write it atomically
    with this run's facts and `extra`; the file as it was is kept as <name>.bak. `rows` that are not a list (one
    document) replace the file's results. Returns what was written."""
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    doc = dict(benchmark=benchmark, **environment(device), **extra, results=rows)
    with locked(path.parent):
        before = path.read_bytes() if path.exists() else None
        old, why = _parse(before) if before is not None else (None, None)
        if why:   # never overwrite a damaged file; this run's results go next to it
            side = atomic_write(_free_name(path, 'unsaved'), json.dumps(doc, indent=1))
            raise damaged(path, why, f"this run's results are in {side.name}")
        if old is not None and isinstance(rows, list) and isinstance(old['results'], list):
            doc['results'] = merge_rows(old, rows, key, keep_existing)
        text = json.dumps(doc, indent=1)   # fails (unserialisable row) before anything is written
        if before is not None: atomic_write(backup_path(path), before)
        atomic_write(path, text)
    if not quiet: print(f"wrote {path}")
    return doc

def recover(path)->dict:
    "Set a damaged results file aside (kept as <name>.damaged-<time>) and restore its backup where that is good."
    path = Path(path)
    with locked(path.parent):
        if not path.exists(): raise SystemExit(f"{path}: no such file")
        why = _parse(path.read_bytes())[1]
        if why is None: raise SystemExit(f"{path}: a valid results file; nothing to recover")
        aside = _free_name(path, 'damaged'); os.replace(path, aside)
        bak = _good(backup_path(path))
        if bak is not None: atomic_write(path, backup_path(path).read_bytes())
    print(f"{path}: {why}; set aside as {aside.name}; " + (f"restored {len(bak['results'])} results from "
          f"{backup_path(path).name}" if bak is not None else "no good backup: the next run starts a new file"))
    return bak

# ---- the resumable sweep ----
def sweep(specs:list, path, run, key, show=None, **save)->list:
    """Run each spec (a dict with the fields `key` reads) whose key is not yet in the results file at `path`, and
    append its row (`run(spec)`) the moment it finishes: a stopped sweep resumes where it stopped. The file is read
    afresh before each spec, so sweeps may share it; `save` goes to `save_results`. Returns the rows added."""
    added = []
    for spec in specs:
        doc = read_results(path)
        if doc is not None and key(spec) in {key(r) for r in doc['results']}: continue
        row = run(spec)
        if 'run' not in row:   # each row its own facts: a sweep's rows come from many runs
            env = environment(save.get('device', 'cpu')); row = dict(row, run={k: env[k] for k in RUN_FACTS})
        doc = save_results(path, [row], key=key, keep_existing=True, quiet=True, **save)
        if not any(r is row for r in doc['results']): continue   # another sweep recorded the same run meanwhile
        added.append(row)
        if show: show(row)
    return added

def compact(history:list)->list:
    "Per epoch of a `fit` history: time, training accuracy per layer, test accuracy per strategy and layer."
    keep = ('fusion', 'best', 'last', 'layers')
    return [dict(epoch=h['epoch'], wall_s=h['wall_s'], train_acc=h['train_acc'],
                 test_acc={k: h['test_acc'][k] for k in keep}) | ({'cpu_s': h['cpu_s']} if 'cpu_s' in h else {})
            for h in history]

# ---- the alternating timer ----
def sync(dev:torch.device):
    "Wait for the device's queued work (a no-op on the CPU)."
    if dev.type == 'cuda': torch.cuda.synchronize(dev)

def alternate(names:list, rounds:int):
    "(round, name) pairs in ABBA order: the names in order on even rounds, reversed on odd, so none always runs first."
    for i in range(rounds):
        for n in (list(names) if i % 2 == 0 else list(names)[::-1]): yield i, n

def minor_faults()->int:
    "This process's minor page faults so far: pages the kernel mapped in on first touch (memory the allocator got new)"
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

def time_alternating(steps:dict, rounds:int, warmup:int, dev:torch.device,
                     faults:dict=None,   # if given, filled with each timed call's minor page faults, per name
                     turn:int=1)->dict:  # calls of a name in a row; > 1: a turn's first call is run but not timed
    """Seconds per call of each of `steps` (name -> function of no arguments), the methods alternated ABBA in one
    process so that load from other jobs hits them alike; the first `warmup` rounds are run but not timed. With
    `turn` > 1 each name runs `turn` calls in a row and only those after the first are timed: each timed call
    follows one of its own, as in a training run (a turn's first call finds the memory the other method left)."""
    times = {m: [] for m in steps}
    for i, m in alternate(list(steps), warmup + rounds):
        for k in range(turn):
            sync(dev); f0 = minor_faults(); t0 = time.perf_counter()   # the counter read outside the timed call
            steps[m]()
            sync(dev)
            if i >= warmup and (turn == 1 or k > 0):
                times[m].append(time.perf_counter() - t0)
                if faults is not None: faults.setdefault(m, []).append(minor_faults() - f0)
    return times

# glibc's malloc hands big freed blocks back to the kernel (munmap, heap trimming), so the next step that needs them
# page-faults them in again; these settings keep freed memory mapped, for a run's steps to reuse
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3   # mallopt's parameter numbers (malloc.h)
KEEP_HEAP = dict(mmap_threshold=1 << 30, trim_threshold=(1 << 31) - 1)   # bytes: larger than any block a step frees

def keep_heap()->str:
    "Have glibc's malloc keep freed memory mapped (`KEEP_HEAP`); returns what was set, or exits naming the problem."
    import ctypes
    try: libc = ctypes.CDLL('libc.so.6')
    except OSError as e: raise SystemExit(f"--keep-heap needs glibc's malloc (libc.so.6): {e}")
    if not (libc.mallopt(M_MMAP_THRESHOLD, KEEP_HEAP['mmap_threshold'])
            and libc.mallopt(M_TRIM_THRESHOLD, KEEP_HEAP['trim_threshold'])):
        raise SystemExit("--keep-heap: glibc's mallopt refused the settings")
    return 'glibc malloc keeping freed memory mapped: mallopt ' + ', '.join(f"{k} {v} B" for k, v in KEEP_HEAP.items())

def median_ms(ts:list)->float:
    "The median of times in seconds, in milliseconds."
    return round(1e3 * statistics.median(ts), 3)

# ---- speed and memory benchmarks (bench/step_time.py, bench/memory.py) ----
# The runs are built by the engine's own `asge_nb.train.make_run` (what `fit` builds a run with: `make_stages`,
# `bp_head`, `make_optimizers`, `fit`'s defaults, channels_last and bf16 autocast on CUDA) and step with `Run.step`
# (`train_step`), so the benchmarks time the engine users run.

METHODS = ('asge', 'bp')
# Target ratios ASGE / backprop per case: VGG8 at batch 128 (step time 0.70, memory 0.50), ResNet18-CH4 (0.95, 0.50).
TARGETS = {'vgg8': dict(step_time=0.70, memory=0.50), 'resnet18_ch4': dict(step_time=0.95, memory=0.50)}

# Same network, batch and dtype for both methods; the CPU sizes are scaled down so a run fits in minutes on 2 cores.
CASES = {
    'vgg8': dict(arch='vgg8', img_size=32, n_classes=10, in_chans=3,
                 cpu=dict(width=0.25, bs=128), cuda=dict(width=1.0, bs=128)),
    'resnet18_ch4': dict(arch='resnet18_ch4', img_size=64, n_classes=10, in_chans=3,
                         cpu=dict(width=1 / 16, bs=128), cuda=dict(width=1.0, bs=128)),
    # VGG8 with one setting of the default recipe changed (`options`: `fit` settings); no target of its own
    'vgg8_sim_means': dict(arch='vgg8', img_size=32, n_classes=10, in_chans=3, options=dict(sim_on='means'),
                           cpu=dict(width=0.25, bs=128), cuda=dict(width=1.0, bs=128)),
    # VGG8 with recipe 'paper' for both methods (the paper's block and loss: no BatchNorm, fixed α, no similarity
    # term): what the default recipe's extras cost each method; no target of its own
    'vgg8_paper_block': dict(arch='vgg8', img_size=32, n_classes=10, in_chans=3, options=dict(recipe='paper'),
                             cpu=dict(width=0.25, bs=128), cuda=dict(width=1.0, bs=128)),
}

def case_config(name:str, kind:str)->dict:
    "The flat configuration of case `name` on a device of `kind` ('cpu' or 'cuda')."
    c = CASES[name]
    return dict(case=name, arch=c['arch'], img_size=c['img_size'], n_classes=c['n_classes'], in_chans=c['in_chans'],
                target=TARGETS.get(name), options=c.get('options', {}), **c[kind])

class Trainer:
    "One method's run on one case, built by the engine's `make_run` as `fit` builds it; `step(x, y)` is `Run.step`."
    def __init__(self, cfg:dict, method:str, dev:torch.device, seed:int=0, total_steps:int=10**6):
        from asge_nb.train import fit_config, make_run
        self.cfg, self.method, self.dev = cfg, method, dev
        # the same seed for both methods: identical initial network; otherwise `fit`'s defaults (wd, warm-up, amp);
        # a fixed rate where the recipe would probe the data for one (a step costs the same at any rate)
        run_cfg = fit_config(method=method, arch=cfg['arch'], width=cfg['width'], img_size=cfg['img_size'],
                             in_chans=cfg['in_chans'], bs=cfg['bs'], seed=seed, device=str(dev), lr=1e-3,
                             **cfg.get('options', {}))
        self.run = make_run(run_cfg, cfg['n_classes'], cfg['in_chans'], cfg['img_size'], total_steps)
        self.net, self.head, self.stages, self.opts = self.run.net, self.run.head, self.run.stages, self.run.opts

    def step(self, x, y):
        "One training step of the engine (`Run.step`)."
        return self.run.step(x, y)

    def zero_grad(self):
        "Set every gradient to None."
        for o in dict.fromkeys(self.opts): o.zero_grad(set_to_none=True)

    def modules(self)->list:
        "The network, and the backprop head where there is one."
        return [self.net] + ([self.head] if self.head is not None else [])

    def persistent_bytes(self)->dict:
        "Bytes that live across steps whatever the schedule: parameters, fixed buffers (projections), optimizer state."
        params = sum(p.numel() * p.element_size() for m in self.modules() for p in m.parameters())
        buffers = sum(b.numel() * b.element_size() for m in self.modules() for b in m.buffers())
        opt_state = sum(v.numel() * v.element_size() for o in dict.fromkeys(self.opts) for st in o.state.values()
                        for v in st.values()
                        if torch.is_tensor(v))
        n_params = sum(p.numel() for m in self.modules() for p in m.parameters())
        return dict(n_params=n_params, params=params, buffers=buffers, optimizer_state=opt_state,
                    total=params + buffers + opt_state)

def make_batch(cfg:dict, dev:torch.device, seed:int=0)->tuple:
    "A random batch of the case's shape, laid out as `fit`'s loaders lay it out (channels_last on CUDA)."
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(cfg['bs'], cfg['in_chans'], cfg['img_size'], cfg['img_size'], generator=g)
    y = torch.randint(0, cfg['n_classes'], (cfg['bs'],), generator=g)
    return x.to(dev, memory_format=torch.channels_last if dev.type == 'cuda' else torch.contiguous_format), y.to(dev)

def add_bench_args(p, what:str):
    "The command-line flags both speed and memory benchmarks take."
    p.add_argument('--device', default='auto', help="'auto' (CUDA when available), 'cpu', 'cuda', 'cuda:N'")
    p.add_argument('--cases', nargs='+', default=list(CASES), choices=list(CASES), help='cases to run')
    p.add_argument('--out', default=None, help=f"results JSON (default: bench/results/{what}_<device-kind>.json)")
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch default)')
    return p

def bench_setup(args, what:str)->tuple:
    "The device, its kind ('cpu'/'cuda') and the output path (checked: not damaged) from the parsed flags."
    from asge_nb.config import resolve_device
    if args.threads: torch.set_num_threads(args.threads)
    try: dev = resolve_device(args.device)
    except ValueError as e: raise SystemExit(f"{what}: error: {e}")
    kind = 'cuda' if dev.type == 'cuda' else 'cpu'
    return dev, kind, results_file(args.out or RESULTS / f"{what}_{kind}.json")

def run_facts()->dict:
    "Facts beyond `environment` that matter for timings on a shared machine."
    try: affinity = len(os.sched_getaffinity(0))
    except AttributeError: affinity = os.cpu_count()
    return dict(cpu_affinity=affinity,
                loadavg_start=[round(v, 2) for v in os.getloadavg()] if hasattr(os, 'getloadavg') else None)

def mib(b)->float:
    "Bytes in MiB, to 3 decimals."
    return round(b / 2**20, 3)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--recover', metavar='FILE', required=True,
                   help='set a damaged results file aside (kept) and restore its last good backup')
    recover(p.parse_args(argv).recover)

if __name__ == '__main__': main()
