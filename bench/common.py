"Shared by the benchmark scripts: environment facts and results files."
import json, os, platform, resource, shlex, subprocess, sys, time
from pathlib import Path
import torch

def git_commit()->str:
    "Short hash of HEAD, with '+dirty' when the tree has uncommitted changes to tracked files."
    try:
        root = Path(__file__).resolve().parent.parent
        h = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=root, capture_output=True, text=True).stdout.strip()
        return h + ('+dirty' if dirty else '')
    except Exception: return 'unknown'

def cpu_name()->str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()

def cpu_seconds()->float:
    "CPU time (user + system) this process has used so far, over all its threads."
    u = resource.getrusage(resource.RUSAGE_SELF); return u.ru_utime + u.ru_stime

COMMIT_AT_START = git_commit()   # taken at import: the commit of the code the benchmark runs, not of the tree at its end

def environment(device:str='cpu')->dict:
    "Hardware and software facts recorded with every result."
    dev = torch.device('cuda' if device == 'auto' and torch.cuda.is_available() else ('cpu' if device == 'auto' else device))
    hw = (f"{torch.cuda.get_device_name(dev)} (GPU)" if dev.type == 'cuda'
          else f"{cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads (CPU)")
    return dict(hardware=hw, device_type=dev.type, torch=torch.__version__, python=platform.python_version(),
                cpu_count=os.cpu_count(), threads=torch.get_num_threads(), commit=COMMIT_AT_START,
                date=time.strftime('%Y-%m-%d %H:%M:%S %Z'), command=' '.join(shlex.quote(a) for a in ['python'] + sys.argv))

def write_results(path, benchmark:str, results, device:str='cpu', **extra)->dict:
    "Write a results file: the figures plus the command, hardware, versions and commit that produced them."
    doc = dict(benchmark=benchmark, **environment(device), **extra, results=results)
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp'); tmp.write_text(json.dumps(doc, indent=1)); os.replace(tmp, path)
    print(f"wrote {path}")
    return doc

# ---- speed and memory benchmarks (bench/step_time.py, bench/memory.py) ----
# The runs are built by the engine's own `asge_nb.train.make_run` (what `fit` builds a run with: `make_stages`,
# `bp_head`, `make_optimizers`, `fit`'s defaults, channels_last and bf16 autocast on CUDA) and step with `Run.step`
# (`train_step`), so the benchmarks time the engine users run.

METHODS = ('asge', 'bp')
# Targets of the issues, as ratios ASGE / backprop, per case: VGG8 at batch 128 (step time 0.70, memory 0.50, the first
# performance issue), and both networks at most 0.95 and 0.50 (#13).
TARGETS = {'vgg8': dict(step_time=0.70, memory=0.50), 'resnet18_ch4': dict(step_time=0.95, memory=0.50)}

# Same network, batch and dtype for both methods; the CPU sizes are scaled down so a run fits in minutes on 2 cores.
CASES = {
    'vgg8': dict(arch='vgg8', img_size=32, n_classes=10, in_chans=3,
                 cpu=dict(width=0.25, bs=128), cuda=dict(width=1.0, bs=128)),
    'resnet18_ch4': dict(arch='resnet18_ch4', img_size=64, n_classes=10, in_chans=3,
                         cpu=dict(width=1 / 16, bs=128), cuda=dict(width=1.0, bs=128)),
}

def case_config(name:str, kind:str)->dict:
    "The flat configuration of case `name` on a device of `kind` ('cpu' or 'cuda')."
    c = CASES[name]
    return dict(case=name, arch=c['arch'], img_size=c['img_size'], n_classes=c['n_classes'], in_chans=c['in_chans'],
                target=TARGETS.get(name), **c[kind])

class Trainer:
    "One method's run on one case, built by the engine's `make_run` as `fit` builds it; `step(x, y)` is `Run.step`."
    def __init__(self, cfg:dict, method:str, dev:torch.device, seed:int=0, total_steps:int=10**6):
        from asge_nb.train import fit_config, make_run
        self.cfg, self.method, self.dev = cfg, method, dev
        # the same seed for both methods: identical initial network; otherwise `fit`'s defaults (lr, wd, warm-up, amp)
        run_cfg = fit_config(method=method, arch=cfg['arch'], width=cfg['width'], img_size=cfg['img_size'],
                             in_chans=cfg['in_chans'], bs=cfg['bs'], seed=seed, device=str(dev))
        self.run = make_run(run_cfg, cfg['n_classes'], cfg['in_chans'], cfg['img_size'], total_steps)
        self.net, self.head, self.stages, self.opts = self.run.net, self.run.head, self.run.stages, self.run.opts

    def step(self, x, y): return self.run.step(x, y)

    def zero_grad(self):
        for o in self.opts: o.zero_grad(set_to_none=True)

    def modules(self)->list: return [self.net] + ([self.head] if self.head is not None else [])

    def persistent_bytes(self)->dict:
        "Bytes that live across steps whatever the schedule: parameters, fixed buffers (projections), optimizer state."
        params = sum(p.numel() * p.element_size() for m in self.modules() for p in m.parameters())
        buffers = sum(b.numel() * b.element_size() for m in self.modules() for b in m.buffers())
        opt_state = sum(v.numel() * v.element_size() for o in self.opts for st in o.state.values() for v in st.values() if torch.is_tensor(v))
        n_params = sum(p.numel() for m in self.modules() for p in m.parameters())
        return dict(n_params=n_params, params=params, buffers=buffers, optimizer_state=opt_state, total=params + buffers + opt_state)

def make_batch(cfg:dict, dev:torch.device, seed:int=0)->tuple:
    "A random batch of the case's shape, laid out as `fit`'s loaders lay it out (channels_last on CUDA)."
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(cfg['bs'], cfg['in_chans'], cfg['img_size'], cfg['img_size'], generator=g)
    y = torch.randint(0, cfg['n_classes'], (cfg['bs'],), generator=g)
    return x.to(dev, memory_format=torch.channels_last if dev.type == 'cuda' else torch.contiguous_format), y.to(dev)

def sync(dev:torch.device):
    if dev.type == 'cuda': torch.cuda.synchronize(dev)

def add_bench_args(p, what:str):
    "The command-line flags both speed and memory benchmarks take."
    p.add_argument('--device', default='auto', help="'auto' (CUDA when available), 'cpu', 'cuda', 'cuda:N'")
    p.add_argument('--cases', nargs='+', default=list(CASES), choices=list(CASES), help='cases to run')
    p.add_argument('--out', default=None, help=f"results JSON (default: bench/results/{what}_<device-kind>.json)")
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch default)')
    return p

def bench_setup(args, what:str)->tuple:
    "The device, its kind ('cpu'/'cuda') and the output path from the parsed flags."
    from asge_nb.train import resolve_device
    if args.threads: torch.set_num_threads(args.threads)
    try: dev = resolve_device(args.device)
    except ValueError as e: raise SystemExit(f"{Path(sys.argv[0]).name}: error: {e}")
    kind = 'cuda' if dev.type == 'cuda' else 'cpu'
    out = Path(args.out) if args.out else Path(__file__).resolve().parent / 'results' / f"{what}_{kind}.json"
    return dev, kind, out

def run_facts()->dict:
    "Facts beyond `environment` that matter for timings on a shared machine."
    try: affinity = len(os.sched_getaffinity(0))
    except AttributeError: affinity = os.cpu_count()
    return dict(cpu_affinity=affinity, loadavg_start=[round(v, 2) for v in os.getloadavg()] if hasattr(os, 'getloadavg') else None)

def mib(b)->float: return round(b / 2**20, 3)
