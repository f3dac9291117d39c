"""No accuracy falling with depth: the defaults of `asge_train --dataset cifar10` on 4,000 CIFAR-10 training images.

The paper names it as the failure to look for: per-layer accuracy that falls with depth. This runs the plain defaults
(recipe 'asge_nb') on 4,000 CIFAR-10 training images (3,600 after the held-out split), VGG8 width 0.25, 10 epochs,
and checks that the last layer's test accuracy is within 2 points of the best layer's.
Writes bench/results/depth_cifar10.json. About 20 min on 2 CPU cores (1 torch thread).

    ASGE_DATA=/path/to/data python bench/depth_check.py [--recipe reference] [--out ...]
    ASGE_DATA=/path/to/data python bench/depth_check.py --lr 1e-2   # another rate, added to the file's rows

Every run merges its row into the results file: a row of the same recipe and lr is replaced, the others are kept.
"""
if not __package__: import _bootstrap  # noqa: F401  (run as a file: see bench/_bootstrap.py)
import argparse, sys, tempfile
from bench.common import RESULTS, results_file, save_results

def depth_row(metrics:dict, tolerance:float=2.0)->dict:
    "The per-layer test accuracy of a run and whether its last layer is within `tolerance` points of its best."
    layers = metrics['test_acc']['layers']
    best = max(layers)
    c = metrics['config']
    return dict(recipe=c['recipe'], lr=c['lr'], bs=c['bs'], layers=layers, best_layer_acc=best,
                last=layers[-1], gap=round(best - layers[-1], 2), tolerance=tolerance,
                passed=best - layers[-1] <= tolerance, fusion=metrics['test_acc']['fusion'], wall_s=metrics['wall_s'],
                history=[h['test_acc']['layers'] for h in metrics['history']])

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--recipe', default='asge_nb'); p.add_argument('--data', default=None)
    p.add_argument('--lr', type=float, default=None, help="learning rate (default: the recipe's)")
    p.add_argument('--merge', action='store_true', help='accepted for older commands: every run adds its row to --out '
                   '(replacing one of the same recipe and lr, keeping the others)')
    p.add_argument('--out', default=str(RESULTS / 'depth_cifar10.json'))
    a = p.parse_args(argv)
    out = results_file(a.out)
    from asge_nb.train import fit
    m = fit('cifar10', a.data, recipe=a.recipe, lr=a.lr, n_train=4000, width=0.25, epochs=10, out=tempfile.mkdtemp(),
            progress=False)
    r = depth_row(m)
    print(f"{r['recipe']}: layers {r['layers']}; last {r['last']} vs best {r['best_layer_acc']}: "
          f"{'passed' if r['passed'] else 'FAILED'}")
    save_results(out, [r], 'depth_check', key=lambda x: (x['recipe'], x['lr']))
    return 0 if r['passed'] else 1

if __name__ == '__main__': sys.exit(main())
