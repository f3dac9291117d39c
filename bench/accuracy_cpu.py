"""Accuracy on real data at a CPU budget: ASGE and the backprop baseline side by side.

VGG8 at width 0.125, 3 epochs, full MNIST and FashionMNIST training sets (less the 5,000 held-out images that
choose ASGE's best layer), otherwise the defaults of `asge_nb.train.fit`, as `asge_train` runs it: the batch and the
learning rate the run chooses from its data (`--bs` and a variant's `lr=` fix them). Each variant is a method plus
overrides of `fit`'s arguments: by default ASGE and backprop, each with the default recipe. Writes
bench/results/accuracy_cpu.json.

    ASGE_DATA=/path/to/data python bench/accuracy_cpu.py         # the benchmark (~15-20 min on 2 idle cores)
    ASGE_DATA=/path/to/data python bench/accuracy_cpu.py --n-train 5000 --epochs 1 --out /tmp/quick.json  # quick look

One more row trains through the ImageFolder path: FashionMNIST written once as PNG files (train/<label>/<index>.png
from the training set, val/ from the test set, in --png-cache, outside the repository), read by
`get_data('imagefolder:...')` with everything detected, at the settings of the built-in FashionMNIST 'asge' row
(its augmentation too, 'none'); the row also records that built-in twin's accuracy. To run only this row and its twin:
    ASGE_DATA=/path/to/data python bench/accuracy_cpu.py --png-tree only      # ~2 x 2 min on 2 cores

Every run merges its rows into the results file: a row of the same dataset, variant and settings (width, epochs,
n_train, bs) is replaced, every other row is kept.

The same script runs the full-width GPU settings of the full-training notebooks, e.g.
    python bench/accuracy_cpu.py --datasets cifar10,cifar100 --width 1 --epochs 100 --bs 128 --device cuda \\
        --variants asge bp --out bench/results/accuracy_cifar_gpu.json
"""
if not __package__: import _bootstrap  # noqa: F401  (run as a file: see bench/_bootstrap.py)
import argparse, sys, tempfile
from pathlib import Path
from PIL import Image
from asge_nb.data import DATASETS, load_arrays
from asge_nb.train import fit
from bench.common import RESULTS, results_file, save_results

PNG_TREE = 'fashion_mnist'   # the built-in dataset copied as PNG files for the ImageFolder row
# the settings a row records from its run's configuration
CONFIG_KEYS = ('recipe', 'alpha', 'lr', 'lr_min', 'wd', 'warmup', 'bs', 'seed', 'n_train', 'val_frac', 'pool', 'norm',
               'n_var', 'n_conv', 'dropout', 'init', 'heads', 'input_norm', 'augment', 'img_size', 'fusion',
               'block_norm', 'alpha_width', 'temperature', 'sim_weight', 'sim_on')

def parse_value(v:str):
    "'2' -> 2, '5e-3' -> 0.005, 'max' -> 'max'."
    if v.lstrip('-').isdigit(): return int(v)
    return float(v) if v.replace('.', '', 1).replace('e-', '', 1).isdigit() else v

def parse_variant(s:str)->tuple:
    "'asge alpha=2 lr=5e-3' -> ('asge', {'alpha': 2, 'lr': 0.005})"
    method, *kv = s.split()
    return method, {k: parse_value(v) for k, v in (a.split('=', 1) for a in kv)}

def run_variant(ds:str, v:str, a, label:str=None, **extra)->dict:
    "Train variant `v` on dataset `ds` at the script's settings; the results row (its dataset named `label` if given)."
    method, over = parse_variant(v)
    label = label or ds
    run_dir = tempfile.mkdtemp(prefix=f"asge_{label.replace(':', '_')}_{method}_")
    m = fit(ds, a.data, **dict(dict(arch='vgg8', width=a.width, epochs=a.epochs, bs=a.bs, n_train=a.n_train,
                                    method=method, device=a.device, out=run_dir, progress=sys.stdout.isatty()),
                               **over, **extra))
    r = {k: m[k] for k in ('dataset', 'method', 'arch', 'width', 'epochs', 'test_acc', 'best_layer', 'fusion_rules',
                           'wall_s', 'history')}
    r |= {k: m.get(k) for k in ('fusion_range', 'fusion_weights')}   # the fusions chosen on held-out images
    r['dataset'], r['variant'] = label, v
    r['config'] = {k: m['config'].get(k) for k in CONFIG_KEYS}   # settings a run predating one lacks: None
    r['lr_probe'] = m.get('lr_probe')   # what the run tried and chose, where its rate was left to the probe
    r['batch'] = m.get('batch')   # what the run chose, where its batch was left to it (`run_batch`)
    if 'data' in m: r['data'] = {k: v for k, v in m['data'].items() if k != 'name'}   # as detected (no local path)
    acc = r['test_acc']
    print(f"{label:<14} {v:<14} fusion {acc['fusion']}  best {acc['best']}  last {acc['last']}  ({r['wall_s']:.0f}s)",
          flush=True)
    return r

def write_png_tree(name:str, folder, data=None)->Path:
    "Built-in dataset `name` written once as PNG files: folder/train/<label>/<index>.png, folder/val/... (test set)."
    folder = Path(folder)
    if (folder / '.complete').exists(): return folder
    for split, train in (('train', True), ('val', False)):
        x, y = load_arrays(name, data, train=train, download=False)
        for i, (img, label) in enumerate(zip(x.permute(0, 2, 3, 1).squeeze(-1).numpy(), y.tolist())):
            (folder / split / str(label)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / split / str(label) / f'{i:05d}.png')
    (folder / '.complete').touch()
    return folder

def png_tree_row(a, twin:dict=None)->dict:
    "The ImageFolder row, with the accuracy of its built-in twin (the built-in 'asge' row; trained here unless given)."
    twin = twin or run_variant(PNG_TREE, 'asge', a)
    tree = write_png_tree(PNG_TREE, a.png_cache, a.data)
    # the twin's settings exactly: its augmentation, and its learning rate (the 'asge_nb' recipe picks the rate by
    # dataset, and a tree is not FashionMNIST to it)
    r = run_variant(f'imagefolder:{tree}', 'asge', a, label=f'imagefolder:{PNG_TREE}_png',
                    augment=DATASETS[PNG_TREE].augment, lr=twin['config']['lr'])
    r['builtin_twin'] = dict(dataset=PNG_TREE, test_acc=twin['test_acc'], wall_s=twin['wall_s'])
    return r

def key(r:dict)->tuple:
    "What identifies a row: dataset, variant and settings (width, epochs, n_train, bs, and the similarity's input)."
    c = r['config']
    return (r['dataset'], r.get('variant'), r['width'], r['epochs'], c.get('n_train'), c['bs'], c.get('sim_on'))

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--datasets', default='mnist,fashion_mnist')
    p.add_argument('--variants', nargs='+', default=['asge', 'bp'],
                   help="method and fit overrides, e.g. 'asge alpha=2'")
    p.add_argument('--width', type=float, default=0.125)
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--bs', type=int, default=None, help="batch size (default: the run's choice, `run_batch`)")
    p.add_argument('--n-train', type=int, default=None)
    p.add_argument('--data', default=None, help='data root (default: $ASGE_DATA)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--out', default=str(RESULTS / 'accuracy_cpu.json'))
    p.add_argument('--merge', action='store_true', help='accepted for older commands: every run merges its rows into '
                   '--out (replacing rows of the same settings, keeping the others)')
    p.add_argument('--png-tree', choices=('add', 'only', 'skip'), default='add',
                   help="the ImageFolder row: add it to the run; run only it and its built-in twin; or skip it")
    p.add_argument('--png-cache', default=str(Path(tempfile.gettempdir()) / 'asge_nb_png' / PNG_TREE),
                   help='folder the PNG copy is written to (once)')
    a = p.parse_args(argv)
    out = results_file(a.out)
    results = [] if a.png_tree == 'only' else [run_variant(ds, v, a) for ds in a.datasets.split(',')
                                               for v in a.variants]
    if a.png_tree != 'skip':
        twin = next((r for r in results if r['dataset'] == PNG_TREE and r['variant'] == 'asge'), None)
        results.append(png_tree_row(a, twin))
    save_results(out, results, 'accuracy_cpu' if a.device == 'cpu' else 'accuracy', key=key, device=a.device)

if __name__ == '__main__': main()
