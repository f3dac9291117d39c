#!/usr/bin/env python
"""Train the networks that ship with the package (`asge_nb/zoo/`) with the package's own `fit` and default recipe.

    ASGE_DATA=/path/to/data python tools/train_zoo.py                    # every network, one after another
    ASGE_DATA=/path/to/data python tools/train_zoo.py --only mnist       # one (or a few); the others' entries stay

Each network is `fit(dataset, width=..., epochs=...)`, every other setting the recipe's default, on `--threads` CPU
threads (default 1: on a machine shared with other work, two threads that wait for each other ran 6-10x slower).
What ships is a model-only file `asge_nb/zoo/<name>.pt` (the checkpoint format `load_model` reads: format,
model_config, model, config, data; weights stored as float16, no optimizer state) and its entry in
`asge_nb/zoo/zoo.json`: test accuracy of each strategy as `fit` measured it, the best layer, the command, the commit
(taken when training starts; `dirty` when tracked files differ from it), the date, the hardware, torch's version, the
file's size and sha256. `fit`'s own output (the full checkpoint, metrics.json, history.png) stays in runs/zoo/<name>.
"""
import argparse, hashlib, json, os, platform, shlex, shutil, subprocess, sys, time
from pathlib import Path
import torch
from asge_nb.train import fit
from asge_nb.checkpoint import save_checkpoint, load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # the benchmarks' helpers (bench/ is a package beside asge_nb/)
from bench.common import cpu_name
ZOO_DIR = ROOT / 'asge_nb' / 'zoo'
INDEX = 'zoo.json'
MAX_BYTES = 2 * 1024 * 1024   # every file of the zoo together
RECIPE = 'asge_nb'

# name -> the size settings given to `fit`; everything else is the recipe's default
ZOO = {
    'mnist':         dict(dataset='mnist', width=0.125, epochs=4),
    'fashion_mnist': dict(dataset='fashion_mnist', width=0.125, epochs=5),
    'cifar10':       dict(dataset='cifar10', width=0.125, epochs=8),
}

def git(*args)->str:
    "Output of a git command in the repository ('unknown' without git)."
    try: return subprocess.run(['git', *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError): return 'unknown'

def command_line()->str:
    "The command that started this process, as typed."
    return ' '.join(shlex.quote(a) for a in ['python', 'tools/train_zoo.py', *sys.argv[1:]])

def fit_call(spec:dict)->str:
    "The `fit` call a spec makes, as Python."
    return f"fit({spec['dataset']!r}, " + ', '.join(f'{k}={v!r}' for k, v in spec.items() if k != 'dataset') + ')'

def half(sd:dict)->dict:
    "A state dict with its floating-point tensors stored as float16 (contiguous copies)."
    return {k: v.detach().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous().clone()
            for k, v in sd.items()}

def model_only(ck:dict)->dict:
    "The parts of a training checkpoint a trained network needs: no optimizer, schedule, history or RNG state."
    return dict(model_config=ck['model_config'], model=half(ck['model']), config=ck['config'], data=ck['data'])

def sha256(path:Path)->str:
    "The file's sha256, in hex."
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()

def train_one(name:str)->dict:
    "Train network `name` with `fit`, write `<name>.pt`, return its entry of zoo.json."
    spec, out = ZOO[name], ROOT / 'runs' / 'zoo' / name
    if out.exists(): shutil.rmtree(out)   # a fresh run, never a resumed one
    commit, dirty = git('rev-parse', 'HEAD'), bool(git('status', '--porcelain', '-uno'))   # the code that trains
    t0 = time.time()
    m = fit(**spec, recipe=RECIPE, out=str(out.relative_to(ROOT)))
    train_s = round(time.time() - t0, 1)
    path = ZOO_DIR / f'{name}.pt'
    save_checkpoint(path, model_only(load_checkpoint(out / 'last.pt')))
    acc = m['test_acc']
    return dict(name=name, file=path.name, dataset=m['dataset'], arch=m['arch'], width=m['width'],
                epochs=m['epochs'], recipe=RECIPE, fit=fit_call(spec),
                test_acc=dict(fusion=acc['fusion'], best=acc['best'], last=acc['last']),
                best_layer=m['best_layer'], layers=acc['layers'], fusion_rule=m['config']['fusion'],
                params=sum(v.numel() for v in load_checkpoint(path)['model'].values()),
                train_s=train_s, command=command_line(), commit=commit, dirty=dirty,
                date=time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()),
                hardware=dict(cpu=cpu_name(), cores=os.cpu_count(), threads=torch.get_num_threads()),
                torch=torch.__version__, python=platform.python_version(),
                bytes=path.stat().st_size, sha256=sha256(path), history=m['history'])   # the run's epochs, for the live view

def read_index()->dict:
    "zoo.json's entries by name ({} before the first run)."
    p = ZOO_DIR / INDEX
    return {e['name']: e for e in json.loads(p.read_text())['networks']} if p.exists() else {}

def write_index(entries:dict):
    "Write zoo.json atomically, its entries in the order of `ZOO`."
    nets = [entries[n] for n in ZOO if n in entries]
    tmp = ZOO_DIR / (INDEX + '.tmp')
    tmp.write_text(json.dumps(dict(format='asge_nb.zoo/1', networks=nets), indent=1) + '\n')
    os.replace(tmp, ZOO_DIR / INDEX)

def zoo_bytes()->int:
    "Bytes of every file of the zoo together."
    return sum(p.stat().st_size for p in ZOO_DIR.iterdir() if p.is_file())

def main(argv:list=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--only', nargs='+', choices=list(ZOO), help='train only these networks (default: all)')
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads (default: 1)')
    args = p.parse_args(argv)
    if not os.environ.get('ASGE_DATA'): print("train_zoo: ASGE_DATA is not set; fit reads its default data folder")
    torch.set_num_threads(args.threads)
    os.chdir(ROOT)   # `out` is stored relative to the repository
    ZOO_DIR.mkdir(parents=True, exist_ok=True)
    for name in args.only or list(ZOO):   # one at a time
        print(f"train_zoo: {name}: {fit_call(ZOO[name])}", flush=True)
        entry = train_one(name)
        entries = read_index(); entries[name] = entry; write_index(entries)
        print(f"train_zoo: {name}: test {entry['test_acc']} (best layer {entry['best_layer']}), "
              f"{entry['bytes']} bytes, {entry['train_s']} s", flush=True)
    total = zoo_bytes()
    over = f", over the budget of {MAX_BYTES}" if total > MAX_BYTES else ''
    print(f"train_zoo: the zoo holds {total} bytes{over}")

if __name__ == '__main__': main()
