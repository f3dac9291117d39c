"""`recipe='reference'` beside the authors' own ASGE code: a training run on the same MNIST images, and a step-by-step
check from the same starting point.

The authors' code (KCL-KAI-Lab/ASGE: Main.py, VGG8.py, Layer.py, Load_Dataset.py) trains its 7-conv VGG8 on MNIST
resized to 32 px for 100 epochs and reports the test accuracy of its summed linear heads at the epoch of the best
validation accuracy. Its files are never copied into this repository: they are read unchanged at the commit below and
run outside it.

**The run** (default). Both sides train on a setting that fits one CPU core: a seeded subset of the training images
split 5:1 into training and validation (the authors' 50,000/10,000 ratio), a seeded subset of the test images, two
epochs. Their cosine schedule spans 100 epochs (T_max=100), so over two epochs their rate stays at 2e-4 (less 0.03% in
the second); ours is held there by lr_min = lr. Every other setting is the recipe's. Their side, with the patches
listed in `PATCHES` applied, is run by hand:

    ASGE_REF_DATA=$ASGE_DATA ASGE_REF_N_SUBSET=3000 ASGE_REF_N_TEST=2000 ASGE_REF_SEED=42 ASGE_REF_EPOCHS=2 \\
        ASGE_REF_THREADS=1 OMP_NUM_THREADS=1 MPLBACKEND=Agg taskset -c 1 python Main.py > asge_authors_mnist.log 2>&1

and its log is kept as bench/results/reference_logs/asge_authors_mnist.log. This script reads every figure of their
side from that log, checks that the log's images and rate are the ones it selects, then trains ours on them through
`fit` (~6 min CPU on one core).

**The step check** (`--steps-from DIR`, DIR holding their unchanged VGG8.py and Layer.py). Their VGG8 is built, its
weights, projections and heads are copied into our run, and both train on the same batches with the same dropout
masks (the global generator reseeded before each side's step): if the recipe reads their code right, every update
agrees up to float rounding (~1 min CPU).

**Narrower, longer, several seeds** (`--width`, `--lr`, `--seeds`, `--pair`). At full width a step costs ~10 s of CPU,
so the setting above stops both sides near chance. The same comparison at a channel multiplier (`--width 0.125`: every
conv's channels and the heads' inputs times 1/8; each layer keeps the patch count P their code gives its full-width
channel count, which is also ours, P = min(max(1, floor(C_L / C)), H, W) being width-invariant), on more images, over
several seeds, with patches P8-P12 (`WIDTH_PATCHES`) applied to their code. `--log` names one log per seed (`{seed}`
in the path); each seed's images, rate and widths are checked against its log. The rows of such a pair carry the
per-seed runs, the mean and sample standard deviation (n - 1) per side, and the gap of the means. At their rate 2e-4
the ~260 steps that fit here still leave both sides near chance, so the pairs at width 1/8 take 5e-3 on both sides
(`--lr`, its reason recorded with `--lr-reason`; the probes' logs are kept beside the runs'). Their side, per seed:

    ASGE_REF_DATA=$ASGE_DATA ASGE_REF_N_SUBSET=20000 ASGE_REF_N_TEST=5000 ASGE_REF_SEED=0 ASGE_REF_EPOCHS=2 \\
        ASGE_REF_WIDTH=0.125 ASGE_REF_LR=0.005 ASGE_REF_THREADS=1 OMP_NUM_THREADS=1 MPLBACKEND=Agg taskset -c 0 \\
        python Main.py > asge_authors_mnist_w0.125_lr5e-3_seed0.log 2>&1      # and seeds 1, 2, ...

(ASGE_REF_SEED also seeds their weights, projections and batch order through their torch.manual_seed, 42 by default as
in their code), and ours with the same options (~70 s CPU a seed), e.g.

    ASGE_DATA=/path/to/data taskset -c 0 python bench/reproduce_asge.py --width 0.125 --lr 0.005 --n-subset 20000 \\
        --n-test 5000 --seeds 0 1 2 --ref-core 0 --pair 'asge-reference mnist-subset width 1/8' --lr-reason '...' \\
        --log 'bench/results/reference_logs/asge_authors_mnist_w0.125_lr5e-3_seed{seed}.log'
    ASGE_DATA=/path/to/data taskset -c 0 python bench/reproduce_asge.py --steps-from RUN_DIR --width 0.125 \\
        --lr 0.005 --pair 'asge-reference step check width 1/8' --eps0-control   # RUN_DIR: their files, patched

(`--eps0-control` repeats the step check with our norms' eps at 0, as theirs nearly are: what is left is float
rounding, so the difference the check shows with our eps is the eps's.)

**A whole run from one start** (`--same-start`, with `--steps-from`): the step check carried through the run's
setting, per seed: our run starts from their weights, projections and heads, both sides take the same batches (one
shuffle) with the same dropout masks at a constant rate for `--epochs` epochs, and both are tested on the same images.
The gap left is what float rounding and the norms' eps make of a whole run, against the spread of independent seeds.

Rows are merged into bench/results/reproductions_cpu.json by (pair, side): other pairs' rows stay, and this pair's rows
already there stay unless --replace is given.

    ASGE_DATA=/path/to/data taskset -c 1 python bench/reproduce_asge.py                     # the run
    ASGE_DATA=/path/to/data taskset -c 1 python bench/reproduce_asge.py --steps-from DIR    # the step check
    ASGE_DATA=/path/to/data python bench/reproduce_asge.py --replace     # a rerun replaces this pair's rows
"""
if not __package__: import _bootstrap  # noqa: F401  (run as a file: see bench/_bootstrap.py)
import argparse, importlib, math, os, re, statistics, sys, tempfile, time
from pathlib import Path
import numpy as np
import torch
from bench.common import (RESULTS, COMMIT_AT_START, command_line, cpu_seconds, read_results, save_results,
                          results_file)
from asge_nb.data import data_root, load_arrays, seeded_subset, split_train_val, write_idx
from asge_nb.loaders import builtin_data, rms_normalize, _resize
from asge_nb.evaluate import at_best_val
from asge_nb.train import fit, fit_config, make_run
from asge_nb.model import VGG8_PLAN, VGG8_EXTRA, scale

OUT = RESULTS / 'reproductions_cpu.json'
LOG = RESULTS / 'reference_logs' / 'asge_authors_mnist.log'
PAIR, STEP_PAIR = 'asge-reference mnist-subset', 'asge-reference step check'
REPO, COMMIT = 'KCL-KAI-Lab/ASGE', '78d82a41fbf757d8751b083fa1ab5e3470ea221b'   # Layer, VGG8, Main, Load_Dataset
LR, LR_MIN, T_MAX = 2e-4, 1e-5, 100   # their AdamW rate and CosineAnnealingLR(T_max=epochs=100, eta_min), per epoch
REF_COMMAND = ("ASGE_REF_DATA=$ASGE_DATA ASGE_REF_N_SUBSET={n_subset} ASGE_REF_N_TEST={n_test} ASGE_REF_SEED={seed} "
               "ASGE_REF_EPOCHS={epochs} {width_lr}ASGE_REF_THREADS={threads} OMP_NUM_THREADS={threads} "
               "MPLBACKEND=Agg taskset -c {ref_core} python Main.py")
PATCHES = [   # the only changes made to their files to run them here
    "Load_Dataset.load_mnist: MNIST read offline from $ASGE_REF_DATA (torchvision.datasets.MNIST(root=..., "
    "download=False)) instead of root='..' with download=True",
    "Load_Dataset.load_mnist: random_split(full, [50000, 10000]) replaced by a seeded subset of ASGE_REF_N_SUBSET of "
    "the 60,000 training images split 5:1 into train/val, and a seeded subset of ASGE_REF_N_TEST test images (the "
    "draws of asge_nb.data.seeded_subset and split_train_val, seed ASGE_REF_SEED); their torch.manual_seed(42) kept; "
    "the index sums of the three sets printed",
    "Load_Dataset.load_mnist: DataLoader num_workers=4, pin_memory, persistent_workers -> num_workers=0",
    "Main.py: torch.set_num_threads(ASGE_REF_THREADS)",
    "Main.py: the model keeps epochs=100 (its CosineAnnealingLR T_max) while the loop runs ASGE_REF_EPOCHS epochs",
    "Main.py: prints the test accuracy (also written to Test_Accuracy.txt) with the best validation epoch, then the "
    "test accuracy of every epoch's state (evaluated after training), and the process's CPU seconds",
    "Main.py: the plots' x axes are range(len(list)) instead of range(epochs)",
    "device: unchanged (their code picks the CPU where there is no CUDA)",
]
WIDTH_PATCHES = [   # added to PATCHES for a pair at another width, rate or seed (/work/scratch/asge_ref: P8-P12)
    "P8 VGG8.create_layer: in_c (all but the first conv's, which keeps the image's channels) and out_c times "
    "ASGE_REF_WIDTH, rounded and at least 1 (max(1, round(c * w)), as asge_nb.model.scale)",
    "P9 VGG8.__init__: fc_layers = [nn.Linear(block.out_channels, num_classes) for block in blocks[1:]] instead of the "
    "literal Linear(256), Linear(256), Linear(512) x 4 (identical at width 1, asserted to be those times the width)",
    "P10 Layer.Conv_layer: their per-layer patch count is kept: output_size[...] (64->8, 128->4, 256->2, 512->1) and "
    "num_features[...] are looked up by the layer's full-width channel count (the key c with max(1, round(c * w)) == "
    "out_channels), and R1 gets num_features[full] // full * out_channels = C * P^2 rows at the actual width C",
    "P11 VGG8.__init__: self.lr = ASGE_REF_LR (2e-4 by default) for every AdamW; lr_min 1e-5 and T_max 100 kept",
    "P12 Load_Dataset.load_mnist: their torch.manual_seed(42) becomes torch.manual_seed(ASGE_REF_SEED) (42 by "
    "default), so the seed sets their weights, projections and batch order as well as the images",
]

def key(r:dict)->tuple: return (r['pair'], r['side'])

def their_lr(epoch:int, lr:float=LR)->float:
    "Their rate after `epoch` scheduler steps (what Main.py prints after each epoch), from peak rate `lr`."
    return LR_MIN + (lr - LR_MIN) * (1 + math.cos(math.pi * epoch / T_MAX)) / 2

def conv_widths(width:float)->list:
    "The out-channels of their seven convs (and of ours with n_conv=7) at channel multiplier `width`."
    return [scale(c, width) for c, _ in VGG8_PLAN + [VGG8_EXTRA]]

# ---- their side of the run: every figure from the log ----
_NUM = r'([-\d.e]+)'
def parse_log(text:str)->dict:
    "The figures of the authors' Main.py in a log: images, per-epoch loss and accuracies, the test figures, CPU time."
    imgs = re.search(r'images: train (\d+) \(index sum (\d+)\), val (\d+) \(index sum (\d+)\), '
                     r'test (\d+) \(index sum (\d+)\)', text)
    if imgs is None: raise SystemExit("reference log: no 'images:' line (not a run of the patched code)")
    n_tr, s_tr, n_va, s_va, n_te, s_te = map(int, imgs.groups())
    epochs = []
    for m in re.finditer(rf'Epoch \[(\d+)/(\d+)\]\s+Loss: {_NUM}\s+Train_Accuracy: {_NUM}%\s+Valid_Accuracy: {_NUM}%'
                         rf'\s+Time:{_NUM}s LR:{_NUM}', text):
        e = int(m.group(1))
        block = lambda kind, tag: [round(100 * float(v), 2) for v in re.findall(
            rf'^{tag} \d+ - {_NUM}$', text.split(f'=== Epoch {e} Layer-wise {kind} ===')[1].split('===')[0], re.M)]
        test = re.search(rf'^Epoch {e} Test_Accuracy: {_NUM}%', text, re.M)
        epochs.append(dict(epoch=e, t_max=int(m.group(2)), train_loss=float(m.group(3)),
                           train_acc=float(m.group(4)), val_acc=float(m.group(5)), epoch_s=float(m.group(6)),
                           lr_after=float(m.group(7)), test_acc=float(test.group(1)) if test else None,
                           train_acc_layers=block('Accuracy', 'Layer'), val_acc_layers=block('Valid', 'Block')))
    best = re.search(rf'Test Accuracy \(best valid epoch (\d+)\): {_NUM}%', text)
    if not epochs or best is None: raise SystemExit("reference log: no finished run (no epoch lines or no test line)")
    cpu = re.search(rf'^cpu_s: {_NUM}', text, re.M)
    convs = [int(m.group(1)) for m in re.finditer(r'^torch\.Size\(\[(\d+), \d+, \d+, \d+\]\) True$', text, re.M)]
    return dict(images=dict(train=(n_tr, s_tr), val=(n_va, s_va), test=(n_te, s_te)), epochs=epochs, convs=convs,
                best_epoch=int(best.group(1)), test_at_best_val=float(best.group(2)),
                cpu_s=float(cpu.group(1)) if cpu else None)

# ---- the images: the same selection on both sides ----
def selection(n_subset:int, n_test:int, seed:int)->dict:
    "Indices into MNIST's training and test sets of the images a run sees, by `fit`'s own draws."
    keep = seeded_subset(60000, n_subset, seed)
    tr, va = split_train_val(n_subset, 1 / 6, seed=seed)
    return dict(train=keep[tr], val=keep[va], test=seeded_subset(10000, n_test, seed))

def data_folder(root, test_idx, d:Path)->str:
    "Folder `d` made a data folder whose MNIST has all 60,000 training images (links), only the selected test images."
    raw = d / 'MNIST' / 'raw'; raw.mkdir(parents=True)
    for f in ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'):
        (raw / f).symlink_to((data_root(root) / 'MNIST' / 'raw' / f).resolve())
    x, y = load_arrays('mnist', root, train=False, download=False)
    write_idx(raw / 't10k-images-idx3-ubyte', x[test_idx, 0].numpy())
    write_idx(raw / 't10k-labels-idx1-ubyte', y[test_idx].numpy().astype(np.uint8))
    return str(d)

# ---- our side of the run ----
class EpochCPU:
    "A `fit` callback that writes the process's CPU seconds since the run began into each epoch's record."
    def __init__(self): self.c0 = cpu_seconds()
    def after_epoch(self, info): info['record']['cpu_s'] = round(cpu_seconds() - self.c0, 1)

def fit_settings(a, seed:int=None)->dict:
    "Our `fit` arguments: the recipe, on the selected images, with the rate the authors' schedule keeps here."
    extra = dict(width=a.width, lr=a.lr) if (a.width, a.lr) != (1., LR) else {}   # the default pair: the recipe's
    return dict(dataset='mnist', recipe='reference', n_train=a.n_subset, val_frac=1 / 6,
                seed=a.seed if seed is None else seed, epochs=a.epochs, lr_min=a.lr, bs=128, device='cpu', amp='off',
                download=False, **extra)

def ours(a, test_idx, seed:int=None)->dict:
    "Train ours once on the selected images; its figures in the layout of `parse_log`'s."
    c0, t0 = cpu_seconds(), time.time()
    with tempfile.TemporaryDirectory(prefix='asge_ref_') as tmp:
        data = data_folder(a.data, test_idx, Path(tmp) / 'data')
        m = fit(data=data, out=Path(tmp) / 'run', progress=False, cbs=[EpochCPU()], **fit_settings(a, seed))
    cpu_s, wall_s = round(cpu_seconds() - c0, 1), round(time.time() - t0, 1)
    best = at_best_val(m['history'], 'heads')
    epochs = [dict(epoch=h['epoch'], train_loss=h['train_loss'][-1], train_acc=h['train_acc'][-1],
                   val_acc=h['val_strategies']['heads'], test_acc=h['test_acc']['heads'], epoch_s=h['epoch_s'],
                   cpu_s=h.get('cpu_s'), train_acc_layers=h['train_acc'][:-1], val_acc_layers=h['val_acc'],
                   test_acc_layers=h['test_acc']['layers'], lr=h['lr']) for h in m['history']]
    return dict(epochs=epochs, best_epoch=best['epoch'], test_at_best_val=best['test_acc']['heads'], cpu_s=cpu_s,
                wall_s=wall_s)

def their_run(a, seed:int)->tuple:
    "Their figures for `seed` from its log, checked to be this setting's (images, epochs, rate, widths); our images."
    path = Path(str(a.log).format(seed=seed))
    ref = parse_log(path.read_text())
    sel = selection(a.n_subset, a.n_test, seed)
    mine = {k: (len(v), int(v.sum())) for k, v in sel.items()}
    lr_ok = all(math.isclose(e['lr_after'], their_lr(e['epoch'], a.lr), rel_tol=1e-6) for e in ref['epochs'])
    if (mine != ref['images'] or len(ref['epochs']) != a.epochs or not lr_ok
            or ref['convs'] != conv_widths(a.width)):
        raise SystemExit(f"{path}: a run of another setting (images {ref['images']}, {len(ref['epochs'])} epochs, "
                         f"rates {[e['lr_after'] for e in ref['epochs']]}, convs {ref['convs']}; this one: {mine}, "
                         f"{a.epochs} epochs, rate {a.lr}, convs {conv_widths(a.width)})")
    log, root = path.resolve(), RESULTS.parent.parent
    return ref, sel, mine, str(log.relative_to(root)) if log.is_relative_to(root) else str(log)

def ref_command(a, seed)->str:
    "The command that ran their side for `seed`."
    width_lr = f"ASGE_REF_WIDTH={a.width:g} ASGE_REF_LR={a.lr:g} " if (a.width, a.lr) != (1., LR) else ''
    return REF_COMMAND.format(**{**vars(a), 'seed': seed, 'width_lr': width_lr})

def compare(a)->list:
    "The run: their figures from the log (checked to be this setting's), ours trained; the two rows."
    pair = a.pair or PAIR
    ref, sel, mine, log = their_run(a, a.seed)
    row_ref = dict(pair=pair, side='reference', repo=REPO, commit=COMMIT, log=log,
                   command=ref_command(a, a.seed), patches=patches(a), images=mine, threads=a.threads,
                   figures=dict(test_at_best_val=ref['test_at_best_val'], best_epoch=ref['best_epoch'],
                                epochs=ref['epochs']), cpu_s=ref['cpu_s'])
    o = ours(a, sel['test'])
    diff = round(o['test_at_best_val'] - ref['test_at_best_val'], 2)
    row = dict(pair=pair, side='ours', repo='asge_nb', commit=COMMIT_AT_START, command=command_line(),
               fit=fit_settings(a), images=mine, threads=a.threads,
               figures=dict(test_at_best_val=o['test_at_best_val'], best_epoch=o['best_epoch'], epochs=o['epochs']),
               cpu_s=o['cpu_s'], wall_s=o['wall_s'], diff=diff, within_1pt=abs(diff) <= 1.)
    print(f"{pair}: theirs {ref['test_at_best_val']:.2f} (epoch {ref['best_epoch']}), ours "
          f"{o['test_at_best_val']:.2f} (epoch {o['best_epoch']}), diff {diff:+.2f}, within 1 point: "
          f"{row['within_1pt']}; ours {o['cpu_s']:.0f} s CPU, {o['wall_s']:.0f} s wall", flush=True)
    return [row_ref, row]

def patches(a)->list:
    "The patches their code ran with at this setting."
    return PATCHES if (a.width, a.lr) == (1., LR) and a.seeds is None else PATCHES + WIDTH_PATCHES

def mean_std(v:list)->dict:
    "Mean and sample standard deviation (n - 1) of per-seed figures, rounded to 0.01."
    return dict(mean=round(statistics.mean(v), 2), std=round(statistics.stdev(v), 2) if len(v) > 1 else None, n=len(v))

def compare_seeds(a)->list:
    "The run over `a.seeds`: their figures per seed from its log, ours trained per seed; the two rows, with the means."
    theirs = [their_run(a, s) for s in a.seeds]   # every log checked before an epoch is spent
    setting = dict(dataset='mnist', n_subset=a.n_subset, val_frac=1 / 6, n_test=a.n_test, epochs=a.epochs,
                   width=a.width, lr=a.lr, bs=128, seeds=a.seeds, lr_reason=a.lr_reason)
    runs_ref, runs_ours = [], []
    for s, (ref, sel, mine, log) in zip(a.seeds, theirs):
        runs_ref.append(dict(seed=s, log=log, command=ref_command(a, s), images=mine,
                             test_at_best_val=ref['test_at_best_val'], best_epoch=ref['best_epoch'],
                             epochs=ref['epochs'], cpu_s=ref['cpu_s']))
        o = ours(a, sel['test'], s)
        runs_ours.append(dict(seed=s, images=mine, fit=fit_settings(a, s), test_at_best_val=o['test_at_best_val'],
                              best_epoch=o['best_epoch'], epochs=o['epochs'], cpu_s=o['cpu_s'], wall_s=o['wall_s'],
                              diff=round(o['test_at_best_val'] - ref['test_at_best_val'], 2)))
        print(f"seed {s}: theirs {ref['test_at_best_val']:.2f} (epoch {ref['best_epoch']}, {ref['cpu_s']} s CPU), "
              f"ours {o['test_at_best_val']:.2f} (epoch {o['best_epoch']}, {o['cpu_s']:.0f} s CPU)", flush=True)
    fig = lambda runs: mean_std([r['test_at_best_val'] for r in runs])
    fr, fo = fig(runs_ref), fig(runs_ours)
    gap = round(fo['mean'] - fr['mean'], 2)
    total = lambda runs: round(sum(r['cpu_s'] or 0 for r in runs), 1)
    row_ref = dict(pair=a.pair, side='reference', repo=REPO, commit=COMMIT, command=ref_command(a, '{seed}'),
                   patches=patches(a), setting=setting, threads=a.threads,
                   figures=dict(test_at_best_val=fr, per_seed=[r['test_at_best_val'] for r in runs_ref]),
                   runs=runs_ref, cpu_s=total(runs_ref))
    row = dict(pair=a.pair, side='ours', repo='asge_nb', commit=COMMIT_AT_START, command=command_line(),
               fit=fit_settings(a, '{seed}'), setting=setting, threads=a.threads,
               figures=dict(test_at_best_val=fo, per_seed=[r['test_at_best_val'] for r in runs_ours]),
               runs=runs_ours, cpu_s=total(runs_ours), diff=gap, within_1pt=abs(gap) <= 1.)
    print(f"{a.pair}: theirs {fr['mean']:.2f} +- {fr['std']}, ours {fo['mean']:.2f} +- {fo['std']} over seeds "
          f"{a.seeds}; gap of the means {gap:+.2f}, within 1 point: {row['within_1pt']}", flush=True)
    return [row_ref, row]

# ---- the step check ----
def same_start(theirs, run):
    "Copy their convs, fixed projections (R1 is W transposed) and heads into our run."
    with torch.no_grad():
        for tb, ob in zip(theirs.blocks, run.net.blocks, strict=True):
            ob.body.weight.copy_(tb.conv.weight); ob.body.bias.copy_(tb.conv.bias)
            ob.proj.weight.copy_(tb.R1.T); ob.proj.bias.copy_(tb.b)
        for tf, of in zip(theirs.fc_layers, run.heads.heads, strict=True):
            of.weight.copy_(tf.weight); of.bias.copy_(tf.bias)

def rel(a, b)->float: return ((a - b).norm() / a.norm()).item()

def their_walk(theirs, x, y)->tuple:
    "Their network in eval mode, block by block as their `test` walks it: per-layer logits, the heads' summed logits."
    z, logits, feats = theirs._layer_norm(x), [], []
    for i, b in enumerate(theirs.blocks):
        logits.append(b.channel_spatial_goodness(b.relu(b.conv(z))) @ b.R1 + b.b)
        z = b(z, False, y)
        if i: feats.append(z.mean((2, 3)))
    return logits, sum(f(v) for f, v in zip(theirs.fc_layers, feats))

def their_vgg8(a):
    "Their VGG8 class from `a.steps_from`, refused where its files lack the patches this width or rate needs."
    src = Path(a.steps_from).resolve()
    if (a.width, a.lr) != (1., LR) and 'ASGE_REF_WIDTH' not in (src / 'VGG8.py').read_text():
        raise SystemExit(f"{src}: their files without the width and rate patches (P8-P11); at width {a.width:g}, rate "
                         f"{a.lr:g} the step check needs the patched copy")
    os.environ['ASGE_REF_WIDTH'], os.environ['ASGE_REF_LR'] = repr(a.width), repr(a.lr)   # read by P8-P11 only
    sys.path.insert(0, str(src))
    return importlib.import_module('VGG8').VGG8

def both_sides(a, VGG8, eps0:bool=False)->tuple:
    "Their VGG8 drawn at `a.seed` and our run started from its weights; `eps0`: our norms' eps set to 0 (a control)."
    torch.manual_seed(a.seed)
    theirs = VGG8(device=torch.device('cpu'), epochs=T_MAX, input_channel=1); theirs.train()
    if [b.out_channels for b in theirs.blocks] != conv_widths(a.width) or theirs.lr != a.lr:
        raise SystemExit(f"their VGG8 has convs {[b.out_channels for b in theirs.blocks]} and rate {theirs.lr}; "
                         f"this check is at {conv_widths(a.width)} and {a.lr}")
    extra = dict(width=a.width, lr=a.lr) if (a.width, a.lr) != (1., LR) else {}
    run = make_run(fit_config(dataset='mnist', recipe='reference', device='cpu', lr_min=a.lr, amp='off', **extra),
                   10, 1, 32, 100)
    p_theirs = [b.channel_spatial_goodness(torch.ones(1, b.out_channels, 8, 8)).shape[1] // b.out_channels
                for b in theirs.blocks]   # P^2 per layer, as their goodness pools (8 px: every P of theirs fits)
    if p_theirs != [b.p ** 2 for b in run.net.blocks]:
        raise SystemExit(f"patch counts P^2 per layer differ: theirs {p_theirs}, "
                         f"ours {[b.p ** 2 for b in run.net.blocks]}")
    same_start(theirs, run)
    if eps0:
        for b in run.net.blocks: b.norm.eps = 0.
    return theirs, run

def steps_from_same_start(a, VGG8, eps0:bool=False)->dict:
    "Both sides from the same start on the same batches: per step the heads' loss and the worst update difference."
    theirs, run = both_sides(a, VGG8, eps0)
    d = builtin_data('mnist', a.data, n_train=a.bs * (a.steps + 1), val_frac=0., img_size=32, input_norm='rms',
                     download=False, seed=a.seed)
    x8, y = d.train.x, d.train.y   # uint8 at 32 px: theirs as ToTensor makes it (x / 255), ours as the loader does
    prep = (lambda xb: rms_normalize(xb, eps=0.)) if eps0 else d.train.prepare
    names = [f'conv{i}' for i in range(len(theirs.blocks))] + [f'head{j}' for j in range(len(theirs.fc_layers))]
    pt = [b.conv.weight for b in theirs.blocks] + [f.weight for f in theirs.fc_layers]
    po = [b.body.weight for b in run.net.blocks] + [h.weight for h in run.heads.heads]
    w0 = [(p.detach().clone(), q.detach().clone()) for p, q in zip(pt, po)]
    updates = lambda: [rel(p - s, q - t) for p, q, (s, t) in zip(pt, po, w0)]
    steps = []
    for s in range(a.steps):
        xb, yb = x8[s * a.bs:(s + 1) * a.bs], y[s * a.bs:(s + 1) * a.bs]
        torch.manual_seed(1000 + s); loss_t, _ = theirs(xb.float() / 255, yb)
        torch.manual_seed(1000 + s); res = run.step(prep(xb), yb)
        steps.append(dict(step=s, heads_loss_theirs=round(loss_t, 6), heads_loss_ours=round(res[-1][0].item(), 6),
                          worst_update_diff=float(f"{max(updates()):.3g}")))
        print(f"step {s}{' (our eps 0)' if eps0 else ''}: {steps[-1]}", flush=True)
    xb, yb = x8[a.steps * a.bs:], y[a.steps * a.bs:]
    theirs.eval(); run.net.eval(); run.heads.eval()
    with torch.no_grad():
        lt, ht = their_walk(theirs, xb.float() / 255, yb)
        outs = list(run.net.walk(prep(xb)))
        lo, ho = [o.z for o in outs], run.heads([o.h for o in outs])
    held = dict(images=len(yb), layer_logits_diff=[float(f"{rel(p, q):.3g}") for p, q in zip(lt, lo)],
                heads_logits_diff=float(f"{rel(ht, ho):.3g}"), argmax_agree=(ht.argmax(1) == ho.argmax(1)).float()
                .mean().item())
    return dict(steps=steps, update_diff=dict(zip(names, [float(f"{v:.3g}") for v in updates()])), held_out=held,
                patches=[b.p for b in run.net.blocks])

def step_check(a)->list:
    "The step check's two rows; with `a.eps0_control`, also the same check with our norms' eps at 0, as theirs."
    VGG8 = their_vgg8(a)
    r = steps_from_same_start(a, VGG8)
    common = dict(pair=a.pair or STEP_PAIR, steps=a.steps, bs=a.bs, seed=a.seed, threads=a.threads)
    code = 'VGG8.py and Layer.py, unchanged'
    if (a.width, a.lr) != (1., LR):
        common.update(width=a.width, lr=a.lr, patches_per_side=r['patches'])
        code = 'VGG8.py and Layer.py with the width and rate patches (P8-P11 of WIDTH_PATCHES)'
    steps = r['steps']
    row = dict(common, side='ours', repo='asge_nb', commit=COMMIT_AT_START, command=command_line(),
               heads_loss=[s['heads_loss_ours'] for s in steps], steps_detail=steps, update_diff=r['update_diff'],
               held_out=r['held_out'])
    if a.eps0_control:   # theirs add exp(-50) to the RMS, ours 1e-6 / 1e-5 to the mean square: with 0, what is left
        c = steps_from_same_start(a, VGG8, eps0=True)   # is float rounding
        row['eps0_control'] = dict(heads_loss=[s['heads_loss_ours'] for s in c['steps']],
                                   update_diff=c['update_diff'], held_out=c['held_out'])
    return [dict(common, side='reference', repo=REPO, commit=COMMIT, code=code,
                 heads_loss=[s['heads_loss_theirs'] for s in steps]), row]

# ---- a whole run from one start ----
def same_start_run(a, VGG8, seed:int)->dict:
    "Both sides from one start (seed `seed`), same batches and dropout masks, constant rate; test accuracy per epoch."
    theirs, run = both_sides(argparse.Namespace(**{**vars(a), 'seed': seed}), VGG8)
    sel = selection(a.n_subset, a.n_test, seed)
    (x, y), (xt, yt) = (load_arrays('mnist', a.data, train=tr, download=False) for tr in (True, False))
    xtr, ytr, xte, yte = _resize(x[sel['train']], 32), y[sel['train']], _resize(xt[sel['test']], 32), yt[sel['test']]
    def test_acc():
        theirs.eval(); run.net.eval(); run.heads.eval(); et = eo = 0
        with torch.no_grad():
            for i in range(0, len(yte), 500):
                xb, yb = xte[i:i + 500], yte[i:i + 500]
                et += theirs.test(xb.float() / 255, yb)
                eo += (run.heads([o.h for o in run.net.walk(rms_normalize(xb))]).argmax(1) != yb).sum().item()
        theirs.train(); run.net.train(); run.heads.train()
        return round(100 * (1 - et / len(yte)), 2), round(100 * (1 - eo / len(yte)), 2)
    g, step, epochs, c0 = torch.Generator().manual_seed(seed), 0, [], cpu_seconds()
    for e in range(1, a.epochs + 1):
        for idx in torch.randperm(len(ytr), generator=g).split(128):
            xb, yb = xtr[idx], ytr[idx]
            torch.manual_seed(1000 + step); lt, _ = theirs(xb.float() / 255, yb)
            torch.manual_seed(1000 + step); lo = run.step(rms_normalize(xb), yb)[-1][0].item(); step += 1
        ta, oa = test_acc()
        epochs.append(dict(epoch=e, steps=step, heads_loss_last=(round(lt, 4), round(lo, 4)), test_acc=(ta, oa)))
        print(f"seed {seed} epoch {e}: test accuracy theirs {ta:.2f}, ours {oa:.2f}", flush=True)
    return dict(seed=seed, images={k: (len(v), int(v.sum())) for k, v in sel.items()}, epochs=epochs,
                test_final=dict(theirs=ta, ours=oa, diff=round(oa - ta, 2)), cpu_s=round(cpu_seconds() - c0, 1))

def whole_run_check(a)->list:
    "The whole-run check over `a.seeds`: per seed, both sides' test figures from one start; their gap's mean."
    VGG8 = their_vgg8(a)
    runs = [same_start_run(a, VGG8, s) for s in a.seeds or [a.seed]]
    diffs = [r['test_final']['diff'] for r in runs]
    setting = dict(dataset='mnist', n_subset=a.n_subset, val_frac=1 / 6, n_test=a.n_test, epochs=a.epochs,
                   width=a.width, lr=a.lr, bs=128, seeds=a.seeds or [a.seed], schedule='constant rate, both sides',
                   batches='the same shuffle (generator seeded with the seed), the same dropout masks per step')
    common = dict(pair=a.pair, setting=setting, threads=a.threads)
    print(f"{a.pair}: final test gaps (ours - theirs) {diffs}", flush=True)
    return [dict(common, side='reference', repo=REPO, commit=COMMIT, code='VGG8.py and Layer.py, patched (P8-P11)',
                 per_seed=[r['test_final']['theirs'] for r in runs]),
            dict(common, side='ours', repo='asge_nb', commit=COMMIT_AT_START, command=command_line(),
                 per_seed=[r['test_final']['ours'] for r in runs], runs=runs, diff=mean_std(diffs),
                 within_1pt=all(abs(d) <= 1. for d in diffs))]

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n-subset', type=int, default=3000, help='training images drawn, split 5:1 into train/val')
    p.add_argument('--n-test', type=int, default=2000, help='test images drawn from the 10,000')
    p.add_argument('--seed', type=int, default=42); p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--seeds', type=int, nargs='+', default=None,
                   help="several seeds (one log each, '{seed}' in --log): rows with per-seed runs, mean and std")
    p.add_argument('--width', type=float, default=1., help='channel multiplier (their side: ASGE_REF_WIDTH)')
    p.add_argument('--lr', type=float, default=LR, help='peak rate of both sides (their side: ASGE_REF_LR)')
    p.add_argument('--lr-reason', default=None, help="why the rate differs from theirs (recorded with the pair)")
    p.add_argument('--pair', default=None, help='the rows\' pair name (default: the full-width pair or step check)')
    p.add_argument('--ref-core', type=int, default=1, help='the core their side ran on (recorded in its command)')
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads (both sides)')
    p.add_argument('--log', type=Path, default=LOG,
                   help="the authors' code's log of the same setting ('{seed}' in it: one per seed)")
    p.add_argument('--steps-from', default=None, help="the step check instead of the run: the folder of their files")
    p.add_argument('--steps', type=int, default=4); p.add_argument('--bs', type=int, default=32)
    p.add_argument('--same-start', action='store_true', help='a whole run of both sides from one start per seed, '
                   'on the same batches and dropout masks (needs --steps-from and --pair)')
    p.add_argument('--eps0-control', action='store_true',
                   help='step check: also run it with our norms\' eps at 0 (theirs add exp(-50) to the RMS)')
    p.add_argument('--data', default=None); p.add_argument('--out', default=str(OUT))
    p.add_argument('--replace', action='store_true', help="replace this pair's rows already in --out")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    results_file(a.out)   # a damaged results file is refused before an epoch is spent
    if (a.width, a.lr) != (1., LR) or a.seeds:
        if not a.pair:
            raise SystemExit("--width, --lr or --seeds: name the pair with --pair (the default pairs are the "
                             "full-width, single-seed ones)")
        if a.log == LOG and not a.steps_from: raise SystemExit("--width, --lr or --seeds: give their logs with --log")
    pair = a.pair or (STEP_PAIR if a.steps_from else PAIR)
    if not a.replace and (pair, 'ours') in {key(r) for r in (read_results(a.out) or {}).get('results', [])}:
        raise SystemExit(f"{a.out} already has the rows of {pair!r}: pass --replace to rerun and replace them")
    if a.same_start and not (a.steps_from and a.pair): raise SystemExit("--same-start needs --steps-from and --pair")
    rows = (whole_run_check(a) if a.same_start else step_check(a) if a.steps_from else compare_seeds(a) if a.seeds
            else compare(a))
    save_results(a.out, rows, 'reproductions', key=key, keep_existing=not a.replace)   # merged by (pair, side)

if __name__ == '__main__': main()
