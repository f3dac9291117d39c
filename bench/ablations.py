"""The paper's ablations at CPU size: partition, pooling, norm, projection (variance; fixed or learned), statistic.

Each part varies one setting of the recipe they were measured with (`measured_recipe`: recipe 'paper' at lr 1e-2 on
FashionMNIST, 1e-3 on CIFAR-10) and keeps the rest: VGG8 at width 0.125, 3 epochs, batch 64, on
FashionMNIST and 4,000 CIFAR-10 training images (tested on the 10,000 test images), 3 seeds. Every finished run is
appended to the results file at once, so an interrupted sweep resumes where it stopped (runs already in the file are
skipped); the file records each run's CPU and wall time.

    ASGE_DATA=/path/to/data python bench/ablations.py --part alpha            # one part (~25 min on 2 cores)
    ASGE_DATA=/path/to/data python bench/ablations.py --part all              # every part, resumable
    ASGE_DATA=/path/to/data python bench/ablations.py --summary               # mean ± std of what is there
    python bench/ablations.py --part pool --width 1 --epochs 100 --device cuda --out ...   # the full-size version
    ASGE_DATA=/path/to/data python bench/ablations.py --part width                # ASGE and backprop at 3 widths
    python bench/ablations.py --part width --widths 1 --device cuda --out bench/results/width_gpu.json  # full width
    ASGE_DATA=/path/to/data python bench/ablations.py --part convergence          # 15 epochs, open question 2

"""
if not __package__: import _bootstrap  # noqa: F401  (run as a file: see bench/_bootstrap.py)
import argparse, tempfile, time
from pathlib import Path
from bench.common import RESULTS, compact, cpu_seconds, read_results, sweep
from asge_nb.ablations import ABLATIONS, STUDIES, N_TRAIN, BS, summarize, measured_recipe

PARTS = ABLATIONS | STUDIES   # part -> [(variant name, fit settings)], defined and smoke-tested in 21_ablations
# each study's own data, length, seeds and results file; the ablations take the command line's (defaults below)
PLANS = {'width': dict(datasets='cifar10', n_train=10000, epochs=3, seeds=[0], out=RESULTS / 'width_cpu.json'),
         'convergence': dict(datasets='fashion_mnist', epochs=15, seeds=[0],
                        out=RESULTS / 'convergence_cpu.json')}
DEFAULTS = dict(datasets='fashion_mnist,cifar10', seeds=[0, 1, 2], epochs=3, width=0.125, n_train=None,
                out=RESULTS / 'ablations_cpu.json')

def plan(part:str, a)->dict:
    "The settings of one part: the command line's where given, else the part's plan, else the defaults."
    given = lambda k: getattr(a, k) is not None
    return {k: getattr(a, k) if given(k) else PLANS.get(part, {}).get(k, v) for k, v in DEFAULTS.items()}

def key(r:dict)->tuple:
    "What identifies a run (a row, or the spec of one): part, variant, dataset, seed, epochs, width, training images."
    return (r['part'], r['variant'], r['dataset'], r['seed'], r['epochs'], r['width'],
            r.get('n_train', N_TRAIN.get(r['dataset'])))

def rows(path)->list:
    "The rows of a results file ([] where there is none yet)."
    return (read_results(path) or {}).get('results', [])

def settings(over:dict, ds:str, seed:int, pl:dict)->dict:
    "What `fit` is given for one run: the part's plan, then the variant's own settings (which may set width, epochs)."
    return dict(dict(width=pl['width'], epochs=pl['epochs'], seed=seed, n_train=pl['n_train'] or N_TRAIN.get(ds)),
                **over)

def run_one(part, name, over, ds, seed, pl, a)->dict:
    "Train one variant; its row, with CPU and wall time and the per-epoch curves (its `run` is added by the sweep)."
    from asge_nb.train import fit
    c0, t0, s = cpu_seconds(), time.time(), settings(over, ds, seed, pl)
    m = fit(ds, a.data, arch='vgg8', bs=a.bs, device=a.device, out=tempfile.mkdtemp(), progress=False,
            **{**measured_recipe(ds), **s})
    return dict(part=part, variant=name, dataset=ds, seed=seed, epochs=s['epochs'], width=s['width'],
                n_train=s['n_train'], settings=over, method=m['method'],
                test_acc={k: m['test_acc'][k] for k in ('fusion', 'best', 'last', 'layers', 'range', 'weighted')
                          if k in m['test_acc']},
                best_layer=m['best_layer'], fusion_range=m.get('fusion_range'), fusion_weights=m.get('fusion_weights'),
                wall_s=round(time.time() - t0, 1),
                cpu_s=round(cpu_seconds() - c0, 1), history=compact(m['history']))

BASES = {ABLATIONS[p][0][0] for p in ABLATIONS}   # each ablation's first variant: recipe 'asge_nb' unchanged

def shared_base(rows:list, part, name, ds, seed, pl)->dict:
    """An ablation's first variant is the same run as every other ablation's: reuse one already in the file (marked),
    if it records every strategy of the current evaluation (a base run from before 'range' and 'weighted' is not)."""
    if part not in ABLATIONS or name != ABLATIONS[part][0][0]: return None
    s = settings({}, ds, seed, pl)
    for r in rows:
        if (r['variant'] in BASES and 'same_run_as' not in r and 'range' in r['test_acc']
                and key(r)[2:] == (ds, seed, s['epochs'], s['width'], s['n_train'])):
            return dict(r, part=part, variant=name, settings=dict(ABLATIONS[part][0][1]), same_run_as=r['variant'],
                        cpu_s=0.0, wall_s=0.0)   # this part spent no time on it
    return None

def variants(part:str, a)->list:
    "A part's (name, settings): as defined in 12, or for the width study the widths asked for (`--widths`)."
    if part != 'width' or not a.widths: return PARTS[part]
    return [(f'{m} width={w:g}', dict(method=m, width=w)) for w in a.widths for m in ('asge', 'bp')]

def run_part(part:str, a):
    "Run every missing (variant, dataset, seed) of one part, appending each row to the part's results file at once."
    pl = plan(part, a); out = Path(pl['out'])
    specs = [dict(part=part, variant=name, over=over, dataset=ds, seed=seed, epochs=s['epochs'], width=s['width'],
                  n_train=s['n_train'])
             for name, over in variants(part, a) for ds in pl['datasets'].split(',') for seed in pl['seeds']
             for s in [settings(over, ds, seed, pl)]]
    def run(sp): return (shared_base(rows(out), part, sp['variant'], sp['dataset'], sp['seed'], pl)
                         or run_one(part, sp['variant'], sp['over'], sp['dataset'], sp['seed'], pl, a))
    def show(r): print(f"{part:<10} {r['variant']:<16} {r['dataset']:<14} seed {r['seed']}: fusion "
                       f"{r['test_acc']['fusion'] or 0:.2f} last {r['test_acc']['last']:.2f} ({r['cpu_s']:.0f} s CPU)",
                       flush=True)
    sweep(specs, out, run, key, show, benchmark='ablations', device=a.device)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--part', choices=[*PARTS, 'all'], default=None)
    p.add_argument('--datasets', default=None, help="comma-separated (default: the part's plan, else "
                   "'fashion_mnist,cifar10')")
    p.add_argument('--seeds', type=int, nargs='+', default=None, help="default: the part's plan, else 0 1 2")
    p.add_argument('--epochs', type=int, default=None, help="default: the part's plan, else 3")
    p.add_argument('--width', type=float, default=None, help="default 0.125 (a width study sets its own)")
    p.add_argument('--widths', type=float, nargs='+', default=None, help="width study only: the widths to train "
                   "(default 0.125 0.25 0.5; a GPU adds 1)")
    p.add_argument('--bs', type=int, default=BS)
    p.add_argument('--n-train', type=int, default=None, help="cap on training images (default: the part's plan, "
                   "else 4,000 for CIFAR-10)")
    p.add_argument('--data', default=None); p.add_argument('--device', default='cpu')
    p.add_argument('--out', default=None, help="results file (default: the part's own under bench/results)")
    p.add_argument('--summary', action='store_true', help='print mean ± std of the runs in the results files and stop')
    a = p.parse_args(argv)
    parts = [] if a.summary or not a.part else [*PARTS] if a.part == 'all' else [a.part]
    for part in parts: run_part(part, a)
    for out in dict.fromkeys(Path(plan(q, a)['out']) for q in (parts or PARTS)):
        for r in summarize(rows(out)):
            f = lambda v: '-' if v is None else f"{v[0]:.2f} ± {v[1]:.2f}" if v[1] is not None else f"{v[0]:.2f}"
            print(f"{r['part']:<10} {r['variant']:<16} {r['dataset']:<14} fusion {f(r['fusion'])}  best {f(r['best'])}"
                  f"  last {f(r['last'])}  (seeds {r['seeds']}, {r['cpu_s']:.0f} s CPU)")

if __name__ == '__main__': main()
