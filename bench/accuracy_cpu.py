"""Accuracy on real data at a CPU budget: ASGE and the backprop baseline side by side.

VGG8 at width 0.125, 3 epochs, full MNIST and FashionMNIST training sets (less the 5,000 held-out images that
choose ASGE's best layer), default optimiser settings of `asge_nb.train.fit`. Writes bench/results/accuracy_cpu.json.

    ASGE_DATA=../shared/data python bench/accuracy_cpu.py              # the full benchmark (~25 min on 2 cores)
    ASGE_DATA=../shared/data python bench/accuracy_cpu.py --n-train 5000 --epochs 1 --out /tmp/quick.json   # a quick look
"""
import argparse, json, os, shlex, sys, tempfile
from pathlib import Path
from asge_nb.train import fit
sys.path.insert(0, str(Path(__file__).parent))
from common import environment, write_results

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--datasets', default='mnist,fashion_mnist')
    p.add_argument('--methods', default='asge,bp')
    p.add_argument('--width', type=float, default=0.125)
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--n-train', type=int, default=None)
    p.add_argument('--data', default=None, help='data root (default: $ASGE_DATA)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--out', default=str(Path(__file__).parent / 'results' / 'accuracy_cpu.json'))
    a = p.parse_args(argv)
    results = []
    for ds in a.datasets.split(','):
        for method in a.methods.split(','):
            run_dir = tempfile.mkdtemp(prefix=f'asge_{ds}_{method}_')
            m = fit(ds, a.data, arch='vgg8', width=a.width, epochs=a.epochs, n_train=a.n_train, method=method,
                    device=a.device, out=run_dir, progress=sys.stdout.isatty())
            r = {k: m[k] for k in ('dataset', 'method', 'arch', 'width', 'epochs', 'test_acc', 'best_layer', 'fusion_rules', 'wall_s', 'history')}
            r['config'] = {k: m['config'][k] for k in ('lr', 'wd', 'warmup', 'bs', 'seed', 'n_train', 'val_frac', 'pool', 'norm', 'alpha')}
            results.append(r)
            print(f"{ds:<14} {method:<5} fusion {r['test_acc']['fusion']}  best {r['test_acc']['best']}  last {r['test_acc']['last']}  ({r['wall_s']:.0f}s)", flush=True)
    write_results(a.out, 'accuracy_cpu', results, device=a.device)

if __name__ == '__main__': main()
