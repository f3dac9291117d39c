"""The GPU check: one command that shows the CUDA path works and what it costs, written to one results file.

    python bench/gpu_check.py                 # on a CUDA GPU: about 5 minutes on one H200
    python bench/gpu_check.py --dry-run       # the same code on the CPU at tiny sizes (under a minute)
    python bench/gpu_check.py --pack          # write bench/data/cifar10_subset.tar.gz (~13 MB) from $ASGE_DATA

What it checks and measures (`bench/results/gpu_check.json`, or `gpu_check_dry_run.json` with --dry-run):
1. Training on real data: VGG8 at full width on the 4000/1000 CIFAR-10 subset (3600 train, 400 held out, 1000 test),
   under bf16 and fp16 autocast, each with and without `torch.compile`; every run must reach its stated accuracy floor.
2. Resume on CUDA: a run stopped after epoch 1 and resumed ends with exactly the weights of an uninterrupted run.
3. Throughput (images/s) and peak memory (`torch.cuda.max_memory_allocated`) of one training step, ASGE and backprop,
   on VGG8 (32 px, batch 128) and ResNet18-CH×4 (224 px, batch 64, random inputs), with their ratios.
4. The projected time of one CIFAR-10 epoch (50,000 images, VGG8) and one ImageNet epoch (1,281,167 images,
   ResNet18-CH×4) at those throughputs (training steps only: no data loading, no evaluation).

Data: $ASGE_DATA (or --data) holding `CIFAR10-subset/` or `cifar-10-batches-py/`; else bench/data/cifar10_subset.tar.gz
(made by --pack), unpacked into a temporary folder. That archive is what travels to a GPU machine with the repository.
"""
if not __package__: import _bootstrap  # noqa: F401  (run as a file: see bench/_bootstrap.py)
import argparse, contextlib, os, sys, tarfile, tempfile, time
from pathlib import Path
import torch
from bench.common import HERE, RESULTS, Trainer, make_batch, results_file, save_results, sync

PACK = HERE / 'data' / 'cifar10_subset.tar.gz'

# sizes of the real check and of the dry run; floors are test accuracy (%) under the 'fusion' strategy
REAL = dict(width=1.0, epochs=8, bs=128, lr=1e-3, n_train=None, floor=35.0, steps=20, warmup=5,
            cases=[dict(arch='vgg8', img_size=32, bs=128, width=1.0),
                   dict(arch='resnet18_ch4', img_size=224, bs=64, width=1.0)])
DRY = dict(width=1 / 16, epochs=1, bs=64, lr=1e-3, n_train=None, shrink=(256, 200), floor=None, steps=2, warmup=1,
           cases=[dict(arch='vgg8', img_size=32, bs=16, width=1 / 16),
                  dict(arch='resnet18_ch4', img_size=32, bs=8, width=1 / 32)])
EPOCH_IMAGES = dict(cifar10=50_000, imagenet=1_281_167)

def pack(data:Path):
    "Compress the CIFAR-10 subset of a data folder into bench/data/ (what a GPU machine gets with the repository)."
    src = data / 'CIFAR10-subset'
    if not src.is_dir(): raise SystemExit(f"gpu_check: --pack needs {src}")
    PACK.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(PACK, 'w:gz') as t: t.add(src, arcname='CIFAR10-subset')
    print(f"wrote {PACK.relative_to(HERE.parent)} ({PACK.stat().st_size / 2**20:.1f} MiB)")

def has_cifar(root)->bool:
    "Whether folder `root` holds CIFAR-10 (the subset or the full set)."
    return root is not None and any((Path(root) / d).is_dir() for d in ('CIFAR10-subset', 'cifar-10-batches-py'))

def shrink_cifar(root:str, dest:Path, n_train:int, n_test:int)->str:
    "A copy of the CIFAR-10 subset in `root` cut to its first n_train / n_test images, same format (for the dry run)."
    import pickle
    src, out = Path(root) / 'CIFAR10-subset', dest / 'CIFAR10-subset'
    if not src.is_dir(): raise SystemExit(f"gpu_check: the dry run needs {src.name}/ in the data folder")
    out.mkdir(parents=True)
    for pattern, n in (('data_batch*', n_train), ('test_batch*', n_test)):
        f = sorted(src.glob(pattern))[0]
        with open(f, 'rb') as fh: d = pickle.load(fh, encoding='bytes')
        d = {k: (v[:n] if k in (b'data', b'labels', b'filenames') else v) for k, v in d.items()}
        with open(out / f.name, 'wb') as fh: pickle.dump(d, fh)
    return str(dest)

@contextlib.contextmanager
def cifar_root(data:str=None, shrink:tuple=None):
    "A data folder with CIFAR-10: --data, $ASGE_DATA, or the packed subset unpacked; cut to `shrink` = (train, test)."
    root = data or os.environ.get('ASGE_DATA')
    if has_cifar(root) and shrink:
        with tempfile.TemporaryDirectory() as tmp: yield shrink_cifar(root, Path(tmp), *shrink)
        return
    if has_cifar(root): yield root; return
    if not PACK.is_file():
        raise SystemExit(f"gpu_check: no CIFAR-10 in the data folder ({root or 'unset'}) and no {PACK.name}; "
                         "set ASGE_DATA to a folder with CIFAR10-subset/ or run --pack where one exists")
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(PACK) as t: t.extractall(tmp, filter='data')
        yield tmp if not shrink else shrink_cifar(tmp, Path(tmp) / 'small', *shrink)

class StopAfter:
    "A callback that stops a run after an epoch, as a disconnect would (the epoch's checkpoint is already written)."
    def __init__(self, epoch:int): self.epoch = epoch
    def after_epoch(self, info):
        "Stop (as Ctrl-C would) once epoch `self.epoch` has ended."
        if info['epoch'] == self.epoch: raise KeyboardInterrupt

def train_runs(sz:dict, root:str, device:str, work:Path, amps:list, compiles:list)->list:
    "Full runs of VGG8 on the CIFAR-10 subset under each precision and compile setting."
    from asge_nb.train import fit
    rows = []
    for amp in amps:
        for comp in compiles:
            t0 = time.time()
            m = fit('cifar10', data=root, download=False, width=sz['width'], epochs=sz['epochs'], bs=sz['bs'],
                    lr=sz['lr'], n_train=sz['n_train'], device=device, amp=amp, compile=comp,
                    out=str(work / f'{amp}_{"compiled" if comp else "eager"}'), progress=False)
            acc = m['test_acc']
            ok = None if sz['floor'] is None else acc['fusion'] >= sz['floor']
            rows.append(dict(amp=amp, compile=comp, test_acc={k: acc[k] for k in ('fusion', 'best', 'last', 'layers')},
                             wall_s=round(time.time() - t0, 1), floor=sz['floor'], floor_met=ok))
            print(f"train {amp:>4} {'compiled' if comp else 'eager   '}: fusion {acc['fusion']:.2f} best {acc['best']} "
                  f"last {acc['last']:.2f} in {rows[-1]['wall_s']:.0f}s"
                  + ('' if ok is None else f" (floor {sz['floor']}: {'met' if ok else 'MISSED'})"))
    return rows

def resume_check(sz:dict, root:str, device:str, work:Path, amp:str)->dict:
    "Train 2 epochs straight, and 1 epoch + stop + resume: the final weights must be identical."
    from asge_nb.train import fit, Interrupted
    from asge_nb.checkpoint import load_checkpoint
    kw = dict(data=root, download=False, width=sz['width'], epochs=2, bs=sz['bs'], lr=sz['lr'], n_train=sz['n_train'],
              device=device, amp=amp, progress=False)
    fit('cifar10', out=str(work / 'straight'), **kw)
    try: fit('cifar10', out=str(work / 'stopped'), cbs=[StopAfter(1)], **kw)
    except (KeyboardInterrupt, Interrupted): pass
    fit('cifar10', out=str(work / 'stopped'), resume=True, **kw)
    a, b = (load_checkpoint(work / r / 'last.pt')['model'] for r in ('straight', 'stopped'))
    diff = [k for k in a if not torch.equal(a[k], b[k])]
    print(f"resume on {device} ({amp}): {'bit-identical' if not diff else f'{len(diff)} tensors differ'}")
    return dict(amp=amp, identical=not diff, differing=diff[:10])

def throughput(case:dict, dev:torch.device, steps:int, warmup:int)->dict:
    "Images/s and peak memory of one training step, ASGE and backprop, on random inputs."
    cfg = dict(case, n_classes=1000 if case['arch'] == 'resnet18_ch4' else 10, in_chans=3, target=False)
    out = {}
    for method in ('asge', 'bp'):
        tr = Trainer(cfg, method, dev)
        x, y = make_batch(cfg, dev)
        for _ in range(warmup): tr.step(x, y)
        if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats(dev)
        sync(dev); t0 = time.perf_counter()
        for _ in range(steps): tr.step(x, y)
        sync(dev); dt = (time.perf_counter() - t0) / steps
        peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == 'cuda' else None
        out[method] = dict(images_per_s=round(cfg['bs'] / dt, 1), step_ms=round(1e3 * dt, 2),
                           peak_mib=None if peak is None else round(peak, 1))
        del tr; torch.cuda.empty_cache() if dev.type == 'cuda' else None
    out['time_ratio'] = round(out['bp']['images_per_s'] / out['asge']['images_per_s'], 4)   # ASGE step time / BP's
    if out['asge']['peak_mib'] is not None:
        out['memory_ratio'] = round(out['asge']['peak_mib'] / out['bp']['peak_mib'], 4)
    print(f"{case['arch']:>13} {case['img_size']}px bs {case['bs']}: ASGE {out['asge']['images_per_s']:.0f} img/s, "
          f"backprop {out['bp']['images_per_s']:.0f} img/s, time ratio {out['time_ratio']:.3f}"
          + (f", memory ratio {out['memory_ratio']:.3f}" if 'memory_ratio' in out else ''))
    return dict(case, **out)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--dry-run', action='store_true', help='the same code on the CPU at tiny sizes')
    p.add_argument('--pack', action='store_true', help=f'write {PACK.name} from $ASGE_DATA and exit')
    p.add_argument('--data', default=None, help='data folder with CIFAR10-subset/ (default: $ASGE_DATA or the pack)')
    p.add_argument('--out', default=None, help='results JSON (default: bench/results/gpu_check[_dry_run].json)')
    a = p.parse_args(argv)
    if a.pack: return pack(Path(a.data or os.environ.get('ASGE_DATA', '.')))
    if not a.dry_run and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA GPU here; run with --dry-run to exercise the same code on the CPU")
    sz, device = (DRY, 'cpu') if a.dry_run else (REAL, 'cuda')
    out = results_file(a.out or RESULTS / f"gpu_check{'_dry_run' if a.dry_run else ''}.json")
    dev = torch.device(device)
    # bf16 and fp16 on every GPU the check runs on; the dry run uses what the CPU's autocast offers
    amps = ['bf16', 'fp16']
    compiles = [False] if a.dry_run else [False, True]   # inductor's CPU build takes minutes on 2 cores
    t0 = time.time()
    with tempfile.TemporaryDirectory() as work, cifar_root(a.data, sz.get('shrink')) as root:
        work = Path(work)
        train = train_runs(sz, root, device, work / 'train', amps, compiles)
        resume = resume_check(sz, root, device, work / 'resume', amps[0])
    speed = [throughput(c, dev, sz['steps'], sz['warmup']) for c in sz['cases']]
    ips = {c['arch']: c['asge']['images_per_s'] for c in speed}
    projected = dict(cifar10_epoch_s=round(EPOCH_IMAGES['cifar10'] / ips['vgg8'], 1),
                     imagenet_epoch_s=round(EPOCH_IMAGES['imagenet'] / ips['resnet18_ch4'], 1))
    print(f"projected ASGE epoch (training steps only): CIFAR-10 {projected['cifar10_epoch_s']:.0f}s, "
          f"ImageNet {projected['imagenet_epoch_s'] / 60:.1f} min")
    ok = all(r['floor_met'] is not False for r in train) and resume['identical']
    save_results(out, dict(train=train, resume=resume, throughput=speed, projected=projected, passed=ok), 'gpu_check',
                 device=device, dry_run=a.dry_run, sizes={k: v for k, v in sz.items() if k != 'cases'},
                 total_s=round(time.time() - t0, 1))
    print(f"gpu_check: {'passed' if ok else 'FAILED'} in {time.time() - t0:.0f}s")
    return 0 if ok else 1

if __name__ == '__main__': sys.exit(main())
