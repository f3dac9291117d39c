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

Rows are merged into bench/results/reproductions_cpu.json by (pair, side): other pairs' rows stay, and this pair's rows
already there stay unless --replace is given.

    ASGE_DATA=/path/to/data taskset -c 1 python bench/reproduce_asge.py                     # the run
    ASGE_DATA=/path/to/data taskset -c 1 python bench/reproduce_asge.py --steps-from DIR    # the step check
    ASGE_DATA=/path/to/data python bench/reproduce_asge.py --replace     # a rerun replaces this pair's rows
"""
if not __package__: import _bootstrap  # noqa: F401  (run as a file: see bench/_bootstrap.py)
import argparse, importlib, math, re, sys, tempfile, time
from pathlib import Path
import numpy as np
import torch
from bench.common import (RESULTS, COMMIT_AT_START, command_line, cpu_seconds, read_results, save_results,
                          results_file)
from asge_nb.data import data_root, load_arrays, seeded_subset, split_train_val, write_idx
from asge_nb.loaders import builtin_data
from asge_nb.evaluate import at_best_val
from asge_nb.train import fit, fit_config, make_run

OUT = RESULTS / 'reproductions_cpu.json'
LOG = RESULTS / 'reference_logs' / 'asge_authors_mnist.log'
PAIR, STEP_PAIR = 'asge-reference mnist-subset', 'asge-reference step check'
REPO, COMMIT = 'KCL-KAI-Lab/ASGE', '78d82a41fbf757d8751b083fa1ab5e3470ea221b'   # Layer, VGG8, Main, Load_Dataset
LR, LR_MIN, T_MAX = 2e-4, 1e-5, 100   # their AdamW rate and CosineAnnealingLR(T_max=epochs=100, eta_min), per epoch
REF_COMMAND = ("ASGE_REF_DATA=$ASGE_DATA ASGE_REF_N_SUBSET={n_subset} ASGE_REF_N_TEST={n_test} ASGE_REF_SEED={seed} "
               "ASGE_REF_EPOCHS={epochs} ASGE_REF_THREADS={threads} OMP_NUM_THREADS={threads} MPLBACKEND=Agg "
               "taskset -c 1 python Main.py")
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

def key(r:dict)->tuple: return (r['pair'], r['side'])

def their_lr(epoch:int)->float:
    "Their rate after `epoch` scheduler steps (what Main.py prints after each epoch)."
    return LR_MIN + (LR - LR_MIN) * (1 + math.cos(math.pi * epoch / T_MAX)) / 2

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
    return dict(images=dict(train=(n_tr, s_tr), val=(n_va, s_va), test=(n_te, s_te)), epochs=epochs,
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

def fit_settings(a)->dict:
    "Our `fit` arguments: the recipe, on the selected images, with the rate the authors' schedule keeps here."
    return dict(dataset='mnist', recipe='reference', n_train=a.n_subset, val_frac=1 / 6, seed=a.seed, epochs=a.epochs,
                lr_min=LR, bs=128, device='cpu', amp='off', download=False)

def ours(a, test_idx)->dict:
    "Train ours once on the selected images; its figures in the layout of `parse_log`'s."
    c0, t0 = cpu_seconds(), time.time()
    with tempfile.TemporaryDirectory(prefix='asge_ref_') as tmp:
        data = data_folder(a.data, test_idx, Path(tmp) / 'data')
        m = fit(data=data, out=Path(tmp) / 'run', progress=False, cbs=[EpochCPU()], **fit_settings(a))
    cpu_s, wall_s = round(cpu_seconds() - c0, 1), round(time.time() - t0, 1)
    best = at_best_val(m['history'], 'heads')
    epochs = [dict(epoch=h['epoch'], train_loss=h['train_loss'][-1], train_acc=h['train_acc'][-1],
                   val_acc=h['val_strategies']['heads'], test_acc=h['test_acc']['heads'], epoch_s=h['epoch_s'],
                   cpu_s=h.get('cpu_s'), train_acc_layers=h['train_acc'][:-1], val_acc_layers=h['val_acc'],
                   test_acc_layers=h['test_acc']['layers'], lr=h['lr']) for h in m['history']]
    return dict(epochs=epochs, best_epoch=best['epoch'], test_at_best_val=best['test_acc']['heads'], cpu_s=cpu_s,
                wall_s=wall_s)

def compare(a)->list:
    "The run: their figures from the log (checked to be this setting's), ours trained; the two rows."
    ref = parse_log(a.log.read_text())
    sel = selection(a.n_subset, a.n_test, a.seed)
    mine = {k: (len(v), int(v.sum())) for k, v in sel.items()}
    lr_ok = all(math.isclose(e['lr_after'], their_lr(e['epoch']), rel_tol=1e-6) for e in ref['epochs'])
    if mine != ref['images'] or len(ref['epochs']) != a.epochs or not lr_ok:
        raise SystemExit(f"{a.log}: a run of another setting (images {ref['images']}, {len(ref['epochs'])} epochs; "
                         f"this one: {mine}, {a.epochs} epochs)")
    log, root = a.log.resolve(), RESULTS.parent.parent
    row_ref = dict(pair=PAIR, side='reference', repo=REPO, commit=COMMIT,
                   log=str(log.relative_to(root)) if log.is_relative_to(root) else str(log),
                   command=REF_COMMAND.format(**vars(a)), patches=PATCHES, images=mine, threads=a.threads,
                   figures=dict(test_at_best_val=ref['test_at_best_val'], best_epoch=ref['best_epoch'],
                                epochs=ref['epochs']), cpu_s=ref['cpu_s'])
    o = ours(a, sel['test'])
    diff = round(o['test_at_best_val'] - ref['test_at_best_val'], 2)
    row = dict(pair=PAIR, side='ours', repo='asge_nb', commit=COMMIT_AT_START, command=command_line(),
               fit=fit_settings(a), images=mine, threads=a.threads,
               figures=dict(test_at_best_val=o['test_at_best_val'], best_epoch=o['best_epoch'], epochs=o['epochs']),
               cpu_s=o['cpu_s'], wall_s=o['wall_s'], diff=diff, within_1pt=abs(diff) <= 1.)
    print(f"{PAIR}: theirs {ref['test_at_best_val']:.2f} (epoch {ref['best_epoch']}), ours "
          f"{o['test_at_best_val']:.2f} (epoch {o['best_epoch']}), diff {diff:+.2f}, within 1 point: "
          f"{row['within_1pt']}; ours {o['cpu_s']:.0f} s CPU, {o['wall_s']:.0f} s wall", flush=True)
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

def step_check(a)->list:
    "Both sides from the same start on the same batches: per step the heads' loss and the worst update difference."
    sys.path.insert(0, str(Path(a.steps_from).resolve()))
    VGG8 = importlib.import_module('VGG8').VGG8
    torch.manual_seed(a.seed)
    theirs = VGG8(device=torch.device('cpu'), epochs=T_MAX, input_channel=1); theirs.train()
    run = make_run(fit_config(dataset='mnist', recipe='reference', device='cpu', lr_min=LR, amp='off'), 10, 1, 32, 100)
    same_start(theirs, run)
    d = builtin_data('mnist', a.data, n_train=a.bs * (a.steps + 1), val_frac=0., img_size=32, input_norm='rms',
                     download=False, seed=a.seed)
    x8, y = d.train.x, d.train.y   # uint8 at 32 px: theirs as ToTensor makes it (x / 255), ours as the loader does
    names = [f'conv{i}' for i in range(len(theirs.blocks))] + [f'head{j}' for j in range(len(theirs.fc_layers))]
    pt = [b.conv.weight for b in theirs.blocks] + [f.weight for f in theirs.fc_layers]
    po = [b.body.weight for b in run.net.blocks] + [h.weight for h in run.heads.heads]
    w0 = [(p.detach().clone(), q.detach().clone()) for p, q in zip(pt, po)]
    updates = lambda: [rel(p - s, q - t) for p, q, (s, t) in zip(pt, po, w0)]
    steps = []
    for s in range(a.steps):
        xb, yb = x8[s * a.bs:(s + 1) * a.bs], y[s * a.bs:(s + 1) * a.bs]
        torch.manual_seed(1000 + s); loss_t, _ = theirs(xb.float() / 255, yb)
        torch.manual_seed(1000 + s); res = run.step(d.train.prepare(xb), yb)
        steps.append(dict(step=s, heads_loss_theirs=round(loss_t, 6), heads_loss_ours=round(res[-1][0].item(), 6),
                          worst_update_diff=float(f"{max(updates()):.3g}")))
        print(f"step {s}: {steps[-1]}", flush=True)
    xb, yb = x8[a.steps * a.bs:], y[a.steps * a.bs:]
    theirs.eval(); run.net.eval(); run.heads.eval()
    with torch.no_grad():
        lt, ht = their_walk(theirs, xb.float() / 255, yb)
        outs = list(run.net.walk(d.train.prepare(xb)))
        lo, ho = [o.z for o in outs], run.heads([o.h for o in outs])
    held = dict(images=len(yb), layer_logits_diff=[float(f"{rel(p, q):.3g}") for p, q in zip(lt, lo)],
                heads_logits_diff=float(f"{rel(ht, ho):.3g}"), argmax_agree=(ht.argmax(1) == ho.argmax(1)).float()
                .mean().item())
    common = dict(pair=STEP_PAIR, steps=a.steps, bs=a.bs, seed=a.seed, threads=a.threads)
    return [dict(common, side='reference', repo=REPO, commit=COMMIT, code='VGG8.py and Layer.py, unchanged',
                 heads_loss=[r['heads_loss_theirs'] for r in steps]),
            dict(common, side='ours', repo='asge_nb', commit=COMMIT_AT_START, command=command_line(),
                 heads_loss=[r['heads_loss_ours'] for r in steps], steps_detail=steps,
                 update_diff=dict(zip(names, [float(f"{v:.3g}") for v in updates()])), held_out=held)]

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n-subset', type=int, default=3000, help='training images drawn, split 5:1 into train/val')
    p.add_argument('--n-test', type=int, default=2000, help='test images drawn from the 10,000')
    p.add_argument('--seed', type=int, default=42); p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads (both sides)')
    p.add_argument('--log', type=Path, default=LOG, help="the authors' code's log of the same setting")
    p.add_argument('--steps-from', default=None, help="the step check instead of the run: the folder of their files")
    p.add_argument('--steps', type=int, default=4); p.add_argument('--bs', type=int, default=32)
    p.add_argument('--data', default=None); p.add_argument('--out', default=str(OUT))
    p.add_argument('--replace', action='store_true', help="replace this pair's rows already in --out")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    results_file(a.out)   # a damaged results file is refused before an epoch is spent
    pair = STEP_PAIR if a.steps_from else PAIR
    if not a.replace and (pair, 'ours') in {key(r) for r in (read_results(a.out) or {}).get('results', [])}:
        raise SystemExit(f"{a.out} already has the rows of {pair!r}: pass --replace to rerun and replace them")
    rows = step_check(a) if a.steps_from else compare(a)
    save_results(a.out, rows, 'reproductions', key=key, keep_existing=not a.replace)   # merged by (pair, side)

if __name__ == '__main__': main()
