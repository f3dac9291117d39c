"""ASGE against its baselines at an equal CPU budget: backprop, local heads, CwC-FF and the original Forward-Forward.

Every method trains 3 epochs at batch 64 on the same images: 10,000 training images of MNIST and of FashionMNIST and
4,000 of CIFAR-10 (each tested on its 10,000 test images), 3 seeds. The conv methods use VGG8 at width 1/8; CwC-FF
uses VGG8 with its class-group readout (`arch='vgg8_cwc'`, channels rounded to multiples of ten) and, as a second
row, its own published network; Forward-Forward its MLP. Each finished run is appended to the results file at once
(an interrupted sweep resumes where it stopped) with its CPU and wall time.

    ASGE_DATA=/path/to/data python bench/baselines.py                      # the whole comparison, resumable
    ASGE_DATA=/path/to/data python bench/baselines.py --methods ff cwc-ff  # some methods only
    python bench/baselines.py --summary                                    # mean ± std of what is there
"""
if not __package__: import _bootstrap  # noqa: F401  (run as a file: see bench/_bootstrap.py)
import argparse, tempfile, time
from bench.common import RESULTS, compact, cpu_seconds, read_results, sweep
from asge_nb.baselines import BASELINES, train_method
from asge_nb.ablations import summarize, measured_recipe

N_TRAIN = dict(mnist=10000, fashion_mnist=10000, cifar10=4000)
OUT = RESULTS / 'baselines_cpu.json'

def key(r:dict)->tuple:
    "What identifies a run (a row, or the spec of one): method, dataset, training images, seed, epochs."
    return (r['variant'], r['dataset'], r['n_train'], r['seed'], r['epochs'])

class EpochCPU:
    "A `fit` callback that writes the process's CPU seconds since the run began into each epoch's record."
    def __init__(self): self.c0 = cpu_seconds()
    def after_epoch(self, info): info['record']['cpu_s'] = round(cpu_seconds() - self.c0, 1)

def n_train(ds:str, a)->int:
    "The training images of a dataset in this sweep: `--n-train` (0: all of them), else the subset in `N_TRAIN`."
    return N_TRAIN[ds] if a.n_train is None else a.n_train or None

def run_one(name, ds, seed, a)->dict:
    "Train one method on one dataset; its row, with CPU and wall time and the per-epoch curves (`run`: by the sweep)."
    c0, t0, n = cpu_seconds(), time.time(), n_train(ds, a)
    m = train_method(name, ds, data=a.data, width=a.width, epochs=a.epochs, bs=a.bs, seed=seed, n_train=n,
                     device=a.device, out=tempfile.mkdtemp(), progress=False, cbs=[EpochCPU()], **measured_recipe(ds))
    return dict(part='baselines', variant=name, dataset=ds, seed=seed, epochs=a.epochs, width=a.width,
                n_train=n, settings=BASELINES[name], arch=m.get('arch', 'mlp'),
                test_acc={k: m['test_acc'][k] for k in ('fusion', 'best', 'last', 'layers', 'classifier')
                          if k in m['test_acc']},
                best_layer=m['best_layer'], wall_s=round(time.time() - t0, 1),
                cpu_s=round(cpu_seconds() - c0, 1),
                history=compact(m['history']) if name != 'ff' else m['history'])

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--methods', nargs='+', choices=list(BASELINES), default=list(BASELINES))
    p.add_argument('--datasets', nargs='+', choices=list(N_TRAIN), default=list(N_TRAIN))
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--epochs', type=int, default=3); p.add_argument('--bs', type=int, default=64)
    p.add_argument('--width', type=float, default=0.125)
    p.add_argument('--n-train', type=int, default=None, help="training images of every dataset (0: all); "
                   "default: N_TRAIN's subset")
    p.add_argument('--data', default=None); p.add_argument('--device', default='cpu')
    p.add_argument('--out', default=str(OUT))
    p.add_argument('--summary', action='store_true', help='print mean ± std of the runs in --out and stop')
    a = p.parse_args(argv)
    specs = [] if a.summary else [dict(variant=name, dataset=ds, seed=seed, epochs=a.epochs, n_train=n_train(ds, a))
                                  for name in a.methods for ds in a.datasets for seed in a.seeds]
    def show(r): print(f"{r['variant']:<12} {r['dataset']:<14} seed {r['seed']}: fusion "
                       f"{r['test_acc']['fusion'] or 0:.2f} last {r['test_acc']['last']:.2f}"
                       f"{' classifier %.2f' % r['test_acc']['classifier'] if 'classifier' in r['test_acc'] else ''}"
                       f" ({r['cpu_s']:.0f} s CPU)",
                       flush=True)
    sweep(specs, a.out, lambda sp: run_one(sp['variant'], sp['dataset'], sp['seed'], a), key, show,
          benchmark='baselines', device=a.device)
    f = lambda v: '-' if v is None else f"{v[0]:.2f} ± {v[1]:.2f}" if v[1] is not None else f"{v[0]:.2f}"
    for r in summarize((read_results(a.out) or {}).get('results', [])):
        print(f"{r['variant']:<12} {r['dataset']:<14} fusion {f(r['fusion'])}  best {f(r['best'])}  "
              f"last {f(r['last'])}  (seeds {r['seeds']}, {r['cpu_s']:.0f} s CPU)")

if __name__ == '__main__': main()
