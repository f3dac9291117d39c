"""Accuracy on real data at a CPU budget: ASGE and the backprop baseline side by side.

VGG8 at width 0.125, 3 epochs, full MNIST and FashionMNIST training sets (less the 5,000 held-out images that
choose ASGE's best layer), batch 64, otherwise the defaults of `asge_nb.train.fit`. Each variant is a method plus
overrides of `fit`'s arguments: by default ASGE as the paper sets it (alpha = 1), ASGE with alpha = 2 (finer patches,
which a one-epoch sweep found better at this small width), and backprop. Writes bench/results/accuracy_cpu.json.

    ASGE_DATA=../shared/data python bench/accuracy_cpu.py         # the benchmark (~15-20 min on 2 idle cores)
    ASGE_DATA=../shared/data python bench/accuracy_cpu.py --n-train 5000 --epochs 1 --out /tmp/quick.json   # a quick look

The same script runs the full-width GPU settings of the full-training notebooks, e.g.
    python bench/accuracy_cpu.py --datasets cifar10,cifar100 --width 1 --epochs 100 --bs 128 --device cuda \\
        --variants asge bp --out bench/results/accuracy_cifar_gpu.json
"""
import argparse, sys, tempfile
from pathlib import Path
from asge_nb.train import fit
sys.path.insert(0, str(Path(__file__).parent))
from common import write_results

def parse_variant(s:str)->tuple:
    "'asge alpha=2 lr=5e-3' -> ('asge', {'alpha': 2.0, 'lr': 0.005})"
    method, *kv = s.split()
    return method, {k: (int(v) if v.lstrip('-').isdigit() else float(v) if v.replace('.', '', 1).replace('e-', '', 1).isdigit() else v)
                    for k, v in (a.split('=', 1) for a in kv)}

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--datasets', default='mnist,fashion_mnist')
    p.add_argument('--variants', nargs='+', default=['asge', 'asge alpha=2', 'bp'], help="method and fit overrides, e.g. 'asge alpha=2'")
    p.add_argument('--width', type=float, default=0.125)
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--bs', type=int, default=64)
    p.add_argument('--n-train', type=int, default=None)
    p.add_argument('--data', default=None, help='data root (default: $ASGE_DATA)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--out', default=str(Path(__file__).parent / 'results' / 'accuracy_cpu.json'))
    a = p.parse_args(argv)
    results = []
    for ds in a.datasets.split(','):
        for v in a.variants:
            method, over = parse_variant(v)
            run_dir = tempfile.mkdtemp(prefix=f'asge_{ds}_{method}_')
            m = fit(ds, a.data, **dict(dict(arch='vgg8', width=a.width, epochs=a.epochs, bs=a.bs, n_train=a.n_train, method=method,
                                            device=a.device, out=run_dir, progress=sys.stdout.isatty()), **over))
            r = {k: m[k] for k in ('dataset', 'method', 'arch', 'width', 'epochs', 'test_acc', 'best_layer', 'fusion_rules', 'wall_s', 'history')}
            r['variant'] = v
            r['config'] = {k: m['config'][k] for k in ('alpha', 'lr', 'wd', 'warmup', 'bs', 'seed', 'n_train', 'val_frac', 'pool', 'norm', 'fusion')}
            results.append(r)
            print(f"{ds:<14} {v:<14} fusion {r['test_acc']['fusion']}  best {r['test_acc']['best']}  last {r['test_acc']['last']}  ({r['wall_s']:.0f}s)", flush=True)
    write_results(a.out, 'accuracy_cpu' if a.device == 'cpu' else 'accuracy', results, device=a.device)

if __name__ == '__main__': main()
