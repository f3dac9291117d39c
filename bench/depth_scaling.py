"""Step time and peak training memory against depth, ASGE and backprop, on VGG-style stacks of one width.

Stacks of 4, 8, 16 and 32 conv layers (3x3, `--width` channels, no downsampling, so every layer costs the same),
each an ASGE block (ReLU, spatial goodness, fixed projection, layer norm between blocks) built by the package's
`make_net`; backprop trains the same stack end to end with `bp_head`. Both step with the engine's `train_step`.
Step time: the median of `--steps` steps after `--warmup` untimed ones, the two methods alternated throughout (ASGE, BP,
BP, ASGE, ...) so that load hits both alike. Memory: the peak of live tensor bytes during two steps beyond what existed
before them (activations saved for backward, gradients, temporaries), counted op by op as `bench/memory.py` counts it
on the CPU (on CUDA, `torch.cuda.max_memory_allocated`). Backprop keeps every layer's activations until its backward,
so its memory grows with depth; ASGE frees each block's before the next one starts, so its memory should stay flat.
Writes bench/results/depth_scaling_<cpu|cuda>.json.

    python bench/depth_scaling.py                    # CPU: width 32, 16 px, batch 64 (a few minutes on 2 idle cores)
    python bench/depth_scaling.py --device cuda --width 256 --img-size 32 --bs 128
    python -m bench.depth_scaling --depths 2 4 --width 8 --steps 2 --warmup 1 --out /tmp/ds.json   # a quick look
"""
if not __package__: import _bootstrap  # noqa: F401  (run as a file: see bench/_bootstrap.py)
import argparse, gc
import torch
import torch.nn as nn
from bench.common import RESULTS, median_ms, mib, results_file, run_facts, save_results, sync, time_alternating
from bench.memory import LiveBytes

def stack(depth:int, width:int, img_size:int, n_classes:int=10)->nn.Module:
    "A VGG-style ASGE network: `depth` 3x3 convs of `width` channels at one resolution, one block each."
    from asge_nb.model import make_net
    plan = [(nn.Conv2d(3 if l == 0 else width, width, 3, padding=1), width, 1, False) for l in range(depth)]
    return make_net(plan, n_classes, 3, img_size)

def trainer(depth:int, method:str, a, dev)->tuple:
    "(stages, optimizers, schedules) of one method on a fresh stack, as the engine builds them."
    from asge_nb.train import make_stages, make_optimizers, bp_head
    torch.manual_seed(0)
    net = stack(depth, a.width, a.img_size).to(dev)
    head = bp_head(net).to(dev) if method == 'bp' else None
    stages = make_stages(net, method, head)
    opts, scheds = make_optimizers(stages, 1e-3, 5e-4, 10**6, 0.)
    return stages, opts, scheds

def step_fn(parts, x, y):
    "One training step of the engine (`train_step`) on the fixed batch, as a function of no arguments."
    from asge_nb.train import train_step
    return lambda: train_step(*parts, x, y)

def peak_bytes(step, dev, parts)->int:
    "Peak live bytes of two steps beyond what was alive before them (gradients set to None first)."
    for o in parts[1]: o.zero_grad(set_to_none=True)
    gc.collect()
    if dev.type == 'cuda':
        torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats(dev); base = torch.cuda.memory_allocated(dev)
        step(); step(); sync(dev)
        return torch.cuda.max_memory_allocated(dev) - base
    with LiveBytes() as lb: step(); step()
    return lb.peak

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--depths', type=int, nargs='+', default=[4, 8, 16, 32])
    p.add_argument('--width', type=int, default=32)
    p.add_argument('--img-size', type=int, default=16)
    p.add_argument('--bs', type=int, default=64)
    p.add_argument('--steps', type=int, default=12)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--device', default='cpu')
    p.add_argument('--out', default=None)
    a = p.parse_args(argv)
    dev = torch.device(a.device)
    out = results_file(a.out or RESULTS / f"depth_scaling_{dev.type}.json")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(a.bs, 3, a.img_size, a.img_size, generator=g).to(dev)
    y = torch.randint(0, 10, (a.bs,), generator=g).to(dev)
    facts, rows = run_facts(), []
    for d in a.depths:
        parts = {m: trainer(d, m, a, dev) for m in ('asge', 'bp')}
        steps = {m: step_fn(pp, x, y) for m, pp in parts.items()}
        ms = {m: median_ms(t) for m, t in time_alternating(steps, a.steps, a.warmup, dev).items()}
        mem = {m: peak_bytes(steps[m], dev, parts[m]) for m in parts}
        r = dict(depth=d, step_ms=ms, peak_mib={m: mib(v) for m, v in mem.items()},
                 time_ratio=round(ms['asge'] / ms['bp'], 4), memory_ratio=round(mem['asge'] / mem['bp'], 4))
        print(f"depth {d:>2}: step ASGE {ms['asge']:8.1f} ms, BP {ms['bp']:8.1f} ms (ratio {r['time_ratio']:.2f}); "
              f"peak ASGE {r['peak_mib']['asge']:7.1f} MiB, BP {r['peak_mib']['bp']:7.1f} MiB "
              f"(ratio {r['memory_ratio']:.2f})", flush=True)
        rows.append(r); del parts, steps; gc.collect()
    save_results(out, rows, 'depth_scaling', key=lambda r: r['depth'], device=a.device, kind=dev.type, **facts,
                  settings=dict(width=a.width, img_size=a.img_size, bs=a.bs, steps=a.steps, warmup=a.warmup,
                                network='VGG-style stack: 3x3 convs of one width, no downsampling, one ASGE block '
                                        'each'))

if __name__ == '__main__': main()
