"""The paper's ablations at CPU size: partition, pooling, norm, projection (variance; fixed or learned), statistic.

Each part varies one setting of recipe 'asge_nb' and keeps the rest: VGG8 at width 0.125, 3 epochs, batch 64, on
FashionMNIST and 4,000 CIFAR-10 training images (tested on the 10,000 test images), 3 seeds. Every finished run is
appended to the results file at once, so an interrupted sweep resumes where it stopped (runs already in the file are
skipped); the file records each run's CPU and wall time.

    ASGE_DATA=/path/to/data python bench/ablations.py --part alpha            # one part (~25 min on 2 cores)
    ASGE_DATA=/path/to/data python bench/ablations.py --part all              # every part, resumable
    ASGE_DATA=/path/to/data python bench/ablations.py --summary               # mean ± std of what is there
    python bench/ablations.py --part pool --width 1 --epochs 100 --device cuda --out ...   # the full-size version

"""
import argparse, json, os, resource, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment
from asge_nb.ablations import ABLATIONS, summarize

PARTS = ABLATIONS   # part -> [(variant name, fit settings)], defined and smoke-tested in nbs/12_ablations.ipynb
N_TRAIN = dict(cifar10=4000)   # the CIFAR-10 subset; the other datasets train on all their images

def key(r:dict)->tuple: return (r['part'], r['variant'], r['dataset'], r['seed'], r['epochs'], r['width'])

def load(path:Path)->dict:
    "The results file, or a new one with this machine's facts."
    if path.exists(): return json.loads(path.read_text())
    env = environment()
    return dict(benchmark='ablations', **{k: env[k] for k in ('hardware', 'torch', 'python', 'threads')}, results=[])

def save(path:Path, doc:dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp'); tmp.write_text(json.dumps(doc, indent=1)); os.replace(tmp, path)

def run_one(part, name, over, dataset, seed, a)->dict:
    "Train one variant; its row, with CPU and wall time."
    from asge_nb.train import fit
    cpu = lambda: (lambda u: u.ru_utime + u.ru_stime)(resource.getrusage(resource.RUSAGE_SELF))
    c0, t0 = cpu(), time.time()
    m = fit(dataset, a.data, recipe='asge_nb', arch='vgg8', width=a.width, epochs=a.epochs, bs=a.bs, seed=seed,
            n_train=a.n_train or N_TRAIN.get(dataset), device=a.device, out=tempfile.mkdtemp(), progress=False, **over)
    env = environment(a.device)
    return dict(part=part, variant=name, dataset=dataset, seed=seed, epochs=a.epochs, width=a.width, settings=over,
                test_acc={k: m['test_acc'][k] for k in ('fusion', 'best', 'last', 'layers')},
                best_layer=m['best_layer'], wall_s=round(time.time() - t0, 1), cpu_s=round(cpu() - c0, 1),
                run={k: env[k] for k in ('command', 'commit', 'date', 'hardware')})

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--part', choices=[*PARTS, 'all'], default=None)
    p.add_argument('--datasets', default='fashion_mnist,cifar10')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--width', type=float, default=0.125)
    p.add_argument('--bs', type=int, default=64)
    p.add_argument('--n-train', type=int, default=None, help='cap on training images (default: 4,000 for CIFAR-10)')
    p.add_argument('--data', default=None); p.add_argument('--device', default='cpu')
    p.add_argument('--out', default=str(Path(__file__).resolve().parent / 'results' / 'ablations_cpu.json'))
    p.add_argument('--summary', action='store_true', help='print mean ± std of the runs in --out and stop')
    a = p.parse_args(argv)
    out = Path(a.out); doc = load(out)
    if a.part:
        done = {key(r) for r in doc['results']}
        for part in PARTS if a.part == 'all' else [a.part]:
            for name, over in PARTS[part]:
                for ds in a.datasets.split(','):
                    for seed in a.seeds:
                        if (part, name, ds, seed, a.epochs, a.width) in done: continue
                        r = run_one(part, name, over, ds, seed, a)
                        doc['results'].append(r); save(out, doc)   # appended at once: a stopped sweep resumes here
                        print(f"{part:<10} {name:<14} {ds:<14} seed {seed}: fusion {r['test_acc']['fusion']:.2f} "
                              f"last {r['test_acc']['last']:.2f} ({r['cpu_s']:.0f} s CPU)", flush=True)
    for r in summarize(doc['results']):
        f = lambda v: '-' if v is None else f"{v[0]:.2f} ± {v[1]:.2f}" if v[1] is not None else f"{v[0]:.2f}"
        print(f"{r['part']:<10} {r['variant']:<14} {r['dataset']:<14} fusion {f(r['fusion'])}  best {f(r['best'])}  "
              f"last {f(r['last'])}  (seeds {r['seeds']}, {r['cpu_s']:.0f} s CPU)")

if __name__ == '__main__': main()
