"""CwC-FF reproduced through `fit`, at the official code's settings, next to the official code's own figures.

The official code (andreaspapac/CwComp) trains four conv layers (20, 80, 240, 480 channels, every second one grouped
by class, max pool after the second and fourth, BatchNorm with eps 1e-4), each with its own Adam at lr 0.01, batch
128, no augmentation, on all 60,000 training images, and tests on the 10,000 test images with two predictors: the
last layer's group goodness, and a linear "softmax" head on the last layer's flattened output. Ours is `arch='cwc'`
with `heads=True` (the head of a `CwCNet` reads the last block's whole map and, like the official one, scores with a
softmax and trains with its own SGD at lr 0.01), the blocks with AdamW without weight decay at a constant lr 0.01
(lr_min = lr, no warm-up), no held-out split, the official input normalisation. One epoch per dataset.

The official loop also passes every training batch through the network a second time in training mode (to count
its training accuracy), which updates the BatchNorm running statistics twice per step, the second time with the
weights just updated; the test predictors use those statistics, so `OfficialStatsPass` does the same through `fit`'s
callbacks (`--one-stats-update`: without it).

The official figures of its default seed (2) are read from the shared notes (`--peers`, the table "Peer figures
measured on this project's machine kind"), never typed here. Its other seeds are run by hand, one thread, and their logs
kept as bench/results/reference_logs/cwc_official_<dataset>_seed<S>.log:

    cd src && OMP_NUM_THREADS=1 taskset -c 0 python main_train.py --dataset FMNIST --n_epochs 1 \\
        --data_path <data folder> --seed 1 > cwc_official_fashion_mnist_seed1.log

`--summary` then reads every seed of both sides (the logs and the notes; our rows of each seed) and writes one row per
side with the mean and standard deviation over seeds, and the gap of the means.

Rows go to bench/results/reproductions_cpu.json, merged by (pair, side): a rerun replaces this script's rows and leaves
every other pair's rows in place.

    ASGE_DATA=/path/to/data python bench/reproduce_cwc.py --datasets mnist --threads 1
    ASGE_DATA=/path/to/data python bench/reproduce_cwc.py --datasets fashion_mnist --threads 1
    ASGE_DATA=/path/to/data python bench/reproduce_cwc.py                       # both, 2 threads
    ASGE_DATA=/path/to/data python bench/reproduce_cwc.py --datasets fashion_mnist --threads 1 --seed 1  # spread
    python bench/reproduce_cwc.py --summary              # mean ± std over the seeds of each side, and the gap
"""
if not __package__: import _bootstrap  # noqa: F401  (run as a file: see bench/_bootstrap.py)
import argparse, re, statistics, tempfile, time
from pathlib import Path
import torch
from bench.common import (RESULTS, COMMIT_AT_START, command_line, cpu_seconds, read_results, save_results,
                          results_file)
from asge_nb.train import fit

OUT = RESULTS / 'reproductions_cpu.json'
PEERS = Path('/work/shared/notes/peers.md')
REPO, COMMIT = 'andreaspapac/CwComp', '254960ab17451a25290c9c41b15c8abd587f9090'
COLUMN = dict(mnist='MNIST', fashion_mnist='FashionMNIST')        # our dataset name -> the notes' column
OFFICIAL_NAME = dict(mnist='MNIST', fashion_mnist='FMNIST')       # -> the official code's --dataset
INPUT_NORM = dict(mnist=([0.1307], [0.3081]), fashion_mnist=([0.5], [0.5]))   # the official Datasets.py X_MNIST
PREDICTORS = {'goodness': 'last', 'softmax head': 'heads'}         # official predictor -> our strategy
NOTE_ROWS = {'goodness': 'test accuracy, goodness predictor', 'softmax head': 'test accuracy, softmax-head predictor',
             'seconds_per_epoch': 'seconds per epoch', 'layers': 'per-layer goodness accuracy'}

def key(r:dict)->tuple: return (r['pair'], r['side'])

def notes_table(text:str)->dict:
    "The notes' Markdown table as {row label: {column: cell}}."
    lines = [l for l in text.splitlines() if l.startswith('|')]
    split = lambda l: [c.strip() for c in l.strip().strip('|').split('|')]
    head = split(lines[0])
    return {r[0]: dict(zip(head[1:], r[1:])) for r in map(split, lines[2:])}

def number(cell:str)->float: return float(re.search(r'[-\d.]+', cell.replace(',', '')).group())

def reference(ds:str, peers:Path)->dict:
    "The official code's figures for one dataset, read from the notes (their row whose label starts with each name)."
    text = peers.read_text()
    if COMMIT[:8] not in text: raise SystemExit(f"{peers}: no mention of the official commit {COMMIT[:8]}")
    table = notes_table(text)
    cell = lambda name: next(v for k, v in table.items() if k.startswith(NOTE_ROWS[name]))[COLUMN[ds]]
    figures = {p: number(cell(p)) for p in PREDICTORS}
    layers = [float(v) for v in cell('layers').split('/')]
    return dict(figures=figures, layers=layers, seconds_per_epoch=number(cell('seconds_per_epoch')))

LOGS = RESULTS / 'reference_logs'
LOG_LINES = {'goodness': 'Avg Pred - Test Error', 'softmax head': 'Sf Pred -- Test Error'}   # error rates, 0-1

def official_log(path:Path)->dict:
    "The official code's test figures (%) from the log of one run: its last epoch's error lines."
    text = path.read_text()
    err = lambda line: float(re.findall(re.escape(line) + r' = ([\d.eE-]+)', text)[-1])
    try: return {p: round(100 * (1 - err(line)), 2) for p, line in LOG_LINES.items()}
    except IndexError: raise SystemExit(f"{path}: no test error lines; is the run finished?") from None

def official_seeds(ds:str, peers:Path)->dict:
    "Seed -> the official figures: from each seed's kept log; the default seed (2) from the notes if it has none."
    runs = {2: reference(ds, peers)['figures']}
    for f in sorted(LOGS.glob(f'cwc_official_{ds}_seed*.log')):
        runs[int(re.search(r'seed(\d+)', f.name).group(1))] = official_log(f)
    return runs

def mean_std(runs:list, p:str)->tuple:
    v = [r[p] for r in runs]
    return round(statistics.fmean(v), 2), round(statistics.stdev(v), 2) if len(v) > 1 else None

def summary_rows(ds:str, peers:Path, rows:list)->list:
    "One row per side with the mean ± std over its seeds, and the gap of the means."
    ref = official_seeds(ds, peers)
    ours = {r['settings']['seed']: r['figures'] for r in rows
            if r['pair'] == f'cwc-ff {ds}' and r['side'].startswith('ours') and 'settings' in r}
    out = []
    for side, runs in (('reference, seeds', ref), ('ours, seeds', ours)):
        ms = {p: mean_std([runs[s] for s in sorted(runs)], p) for p in PREDICTORS}
        out.append(dict(pair=f'cwc-ff {ds}', side=side, seeds=sorted(runs), runs=[dict(seed=s, figures=runs[s])
                   for s in sorted(runs)], figures={p: m for p, (m, _) in ms.items()},
                        figures_std={p: sd for p, (_, sd) in ms.items()}))
    gap = {p: round(out[1]['figures'][p] - out[0]['figures'][p], 2) for p in PREDICTORS}
    out[1].update(gap=gap, within_1pt={p: abs(g) <= 1. for p, g in gap.items()})
    out[0].update(repo=REPO, commit=COMMIT, command=official_command(ds) + ' --seed <S>  (seed 2: the default)',
                  logs=[f'reference_logs/{f.name}' for f in sorted(LOGS.glob(f'cwc_official_{ds}_seed*.log'))],
                  source='every seed from its kept log (1 thread, as ours); without a log, seed 2 from the shared '
                         'notes peers.md (2 threads)')
    return out

def official_command(ds:str)->str:
    "The official command line of one run: its defaults (configure.py) except the dataset, one epoch and the data."
    return f"cd src && python main_train.py --dataset {OFFICIAL_NAME[ds]} --n_epochs 1 --data_path <data folder>"

OFFICIAL_SETTINGS = dict(
    channels=[20, 80, 240, 480], conv='3x3, padding 1, bias; every second conv grouped by class (10 groups)',
    layer='conv -> ReLU -> max pool 2x2 (after convs 2 and 4) -> BatchNorm2d(eps=1e-4, affine)',
    goodness='mean square of each class group of the BatchNorm output', loss='cross-entropy over the group goodness',
    optimizer='Adam lr 0.01 per layer, constant', head='Linear(480*7*7, 10) on the last layer\'s detached output, '
    'softmax then CrossEntropyLoss, SGD lr 0.01', batch=128, epochs=1, augment='none', train_images=60000,
    test_images=10000, seed=2, defaults='loss_criterion CwC_CE, ILT Acc, CFSE True, sf_pred True',
    bn_statistics='updated twice per step: the training forward, then the train-mode predict() of the training '
    'accuracy', test_accuracy='mean over the test batches of 128 (the last of 16)')

class OfficialStatsPass:
    """A `fit` callback doing to BatchNorm what the official loop's training-accuracy pass does: after every step the
    batch goes once more through the network in training mode, without gradients, so each norm's running statistics
    are updated a second time, with the weights just updated (the test uses those statistics)."""
    def before_fit(self, info):
        self.net, self.x = info['net'], None
        self.hook = self.net.blocks[0].register_forward_pre_hook(self.keep)
    def keep(self, block, args):
        "Keep the batch the first block trains on"
        if block.training: self.x = args[0]
    def after_batch(self, info):
        "The second pass of the step's batch, in training mode"
        with torch.no_grad():
            for _ in self.net.walk(self.x): pass
    def after_fit(self, info): self.hook.remove()

def fit_settings(ds:str, seed:int)->dict:
    "Our `fit` arguments for the official settings."
    mean, std = INPUT_NORM[ds]
    return dict(arch='cwc', width=1.0, pool='max', norm='batch', init='default', lr=0.01, lr_min=0.01, wd=0.,
                warmup=0., bs=128, epochs=1, augment='none', input_norm='dataset', mean=mean, std=std, val_frac=0.,
                heads=True, seed=seed, device='cpu', amp='off')

def ours(ds:str, ref:dict, a)->dict:
    "Train ours once on one dataset; its row."
    kw = fit_settings(ds, a.seed)
    c0, t0 = cpu_seconds(), time.time()
    cbs = [] if a.one_stats_update else [OfficialStatsPass()]
    m = fit(ds, data=a.data, n_train=a.n_train, out=tempfile.mkdtemp(), progress=False, cbs=cbs, **kw)
    cpu_s, wall_s = round(cpu_seconds() - c0, 1), round(time.time() - t0, 1)
    acc = m['test_acc']
    figures = {p: acc[s] for p, s in PREDICTORS.items()}
    side = 'ours' if a.seed == 0 else f'ours seed {a.seed}'   # other seeds: rows of their own, next to seed 0's
    return dict(pair=f'cwc-ff {ds}', side=side, repo='asge_nb', commit=COMMIT_AT_START, command=command_line(),
                figures=figures, layers=acc['layers'], cpu_s=cpu_s, wall_s=wall_s, threads=torch.get_num_threads(),
                settings=dict(kw, n_train=a.n_train, head='LinearHeads of a CwCNet: Linear on the last map, '
                              'softmax scores, cross-entropy on them, its own SGD lr 0.01',
                              bn_statistics='one update per step (fit\'s)' if a.one_stats_update else
                              'two updates per step, as the official loop (OfficialStatsPass)'),
                within_1pt={p: abs(figures[p] - ref['figures'][p]) <= 1. for p in PREDICTORS},
                diff={p: round(figures[p] - ref['figures'][p], 2) for p in PREDICTORS})

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--datasets', nargs='+', choices=list(COLUMN), default=list(COLUMN))
    p.add_argument('--threads', type=int, default=2, help='torch CPU threads (the official figures: 2)')
    p.add_argument('--seed', type=int, default=0, help="seed of weights and batch order; a seed other than 0 is "
                   "recorded as side 'ours seed N'")
    p.add_argument('--n-train', type=int, default=None, help='training images (default: all; fewer only to try '
                   'the script, and then write elsewhere with --out)')
    p.add_argument('--one-stats-update', action='store_true', help="fit's own BatchNorm statistics (one update per "
                   "step) instead of the official loop's two")
    p.add_argument('--peers', type=Path, default=PEERS, help='the shared notes with the official figures')
    p.add_argument('--summary', action='store_true', help='write the mean ± std over seeds of each side (no training)')
    p.add_argument('--data', default=None); p.add_argument('--out', default=str(OUT))
    a = p.parse_args(argv)
    if a.summary:
        rows = read_results(a.out)['results']
        new = [r for ds in a.datasets for r in summary_rows(ds, a.peers, rows)]
        save_results(a.out, new, 'reproductions', key=key)
        for r in new: print(r['pair'], r['side'], r['seeds'], r['figures'], r['figures_std'], r.get('gap', ''))
        return
    torch.set_num_threads(a.threads)
    if not a.peers.is_file(): raise SystemExit(f"{a.peers}: no such file; pass the notes with --peers")
    results_file(a.out)   # a damaged results file is refused before an epoch is spent
    for ds in a.datasets:
        ref = reference(ds, a.peers)
        row_ref = dict(pair=f'cwc-ff {ds}', side='reference', repo=REPO, commit=COMMIT, command=official_command(ds),
                       source='shared notes peers.md (measured on this machine kind)', figures=ref['figures'],
                       layers=ref['layers'], seconds_per_epoch=ref['seconds_per_epoch'], threads=2,
                       settings=OFFICIAL_SETTINGS)
        row = ours(ds, ref, a)
        save_results(a.out, [row_ref, row], 'reproductions', key=key)
        print(f"cwc-ff {ds}: " + '  '.join(f"{p} {row['figures'][p]:.2f} (official {ref['figures'][p]:.2f})"
                                           for p in PREDICTORS) + f"  {row['cpu_s']:.0f} s CPU", flush=True)

if __name__ == '__main__': main()
