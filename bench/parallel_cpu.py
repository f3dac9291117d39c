"""Throughput of one process against several: data parallel and block-parallel, on real data, CPU and gloo.

Each configuration trains the same network on the same images for two epochs under `torchrun` (one or two processes,
a set number of torch threads each) through the engine's own loop (`train_epoch` / `pipeline_epoch`); the second
epoch is timed (the first warms up). Images per second of that epoch, and the ratio to one process with the same
total number of threads. Also the block groups that 05's conv MACs give and the ones measured per-stage step times
give. Writes bench/results/parallel_cpu.json.

    ASGE_DATA=/path/to/data python bench/parallel_cpu.py          # ~3 min on 2 idle cores

On a machine with several GPUs the same configurations run with `--device cuda --procs 1 2 4 ...`.
"""
if not __package__: import _bootstrap  # noqa: F401  (run as a file: see bench/_bootstrap.py)
import argparse, json, os, subprocess, sys, tempfile, time
import torch
from bench.common import RESULTS, results_file, save_results

def worker(a):
    "Under torchrun: train epoch 1 (warm-up), time epoch 2; rank 0 prints a JSON line."
    from asge_nb.parallel import init_distributed, stage_groups, close_distributed, sync_run
    from asge_nb.train import fit_config, build_run, epoch_stats, stats_totals, train_epoch, pipeline_epoch, stage_steps
    rank, world = init_distributed(a.device)
    cfg = fit_config(dataset=a.dataset, data=a.data, width=a.width, bs=a.bs, n_train=a.n_train, epochs=2, arch=a.arch,
                     device=a.device, placement=a.placement, val_frac=0., out=tempfile.mkdtemp())
    run = build_run(cfg)
    train = pipeline_epoch if run.pipe is not None else train_epoch
    for epoch in (1, 2):
        if world > 1: torch.distributed.barrier()
        t, stats = time.perf_counter(), epoch_stats(run)
        train(run, epoch, stats); sync_run(run)
        dt = time.perf_counter() - t
    images = stats_totals(run, stats)['n']
    out = dict(images=images, epoch_s=round(dt, 3), images_per_s=round(images / dt, 1),
               groups=None if run.own is None else stage_groups(run.net, len(run.stages), world))
    if rank == 0 and world == 1:   # per-stage step time, measured (for a measured split)
        x, y = next(iter(run.data.train)); t, per = time.perf_counter(), []
        for _ in range(3):
            for _ in stage_steps(run.stages, run.opts, run.scheds, x, y):
                per.append(time.perf_counter() - t); t = time.perf_counter()
        n = len(run.stages); out['stage_s'] = [round(sum(per[i::n]) / 3, 5) for i in range(n)]
    if rank == 0: print('RESULT ' + json.dumps(out), flush=True)
    close_distributed()

CONFIGS = [  # (processes, threads per process, placement)
    (1, 1, 'data'), (1, 2, 'data'), (2, 1, 'data'), (2, 1, 'blocks')]

def launch(a, procs, threads, placement)->dict:
    "One configuration under torchrun; its RESULT line."
    cmd = ['torchrun', '--standalone', f'--nproc_per_node={procs}', __file__, '--worker', '--placement', placement,
           '--dataset', a.dataset, '--width', str(a.width), '--bs', str(a.bs), '--n-train', str(a.n_train),
           '--arch', a.arch, '--device', a.device]
    if a.data: cmd += ['--data', a.data]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    line = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
    if p.returncode or not line: sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    r = json.loads(line[0][7:])
    print(f"{procs} process(es) x {threads} thread(s), placement {placement}: {r['images_per_s']} images/s", flush=True)
    return dict(procs=procs, threads=threads, placement=placement, **r)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--placement', default='data', help=argparse.SUPPRESS)
    p.add_argument('--dataset', default='cifar10')
    p.add_argument('--data', default=None, help='data root (default: $ASGE_DATA)')
    p.add_argument('--arch', default='vgg8')
    p.add_argument('--width', type=float, default=0.25)
    p.add_argument('--bs', type=int, default=128)
    p.add_argument('--n-train', type=int, default=2560)
    p.add_argument('--device', default='cpu')
    p.add_argument('--out', default=str(RESULTS / 'parallel_cpu.json'))
    a = p.parse_args(argv)
    if a.worker: return worker(a)
    out = results_file(a.out)
    rows = [launch(a, *c) for c in CONFIGS]
    base = {t: r['images_per_s'] for r in rows if r['procs'] == 1 for t in [r['threads']]}
    for r in rows:
        r['speedup_vs_1_process_same_threads'] = round(r['images_per_s'] / base[r['procs'] * r['threads']], 3)
    one = next(r for r in rows if r['procs'] == 1 and r['threads'] == 1)
    from asge_nb.parallel import split_blocks
    measured = dict(stage_s=one['stage_s'], groups=split_blocks(one['stage_s'], 2))
    save_results(out, rows, 'parallel_cpu', key=lambda r: (r['procs'], r['threads'], r['placement']), device=a.device,
                 measured_split=measured,
                  settings=dict(dataset=a.dataset, arch=a.arch, width=a.width, bs=a.bs, n_train=a.n_train,
                                timed='the second of two epochs, training only (no evaluation)'))

if __name__ == '__main__': main()
