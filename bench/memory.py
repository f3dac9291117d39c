"""Peak training memory, ASGE against backprop, on the same network, batch, device and dtype.

Each method's trainer (built as `fit` builds it, stepping with the engine's `train_step`) first takes warm-up steps so
that the optimizer state exists, then all gradients are set to None and two steps are measured: the second sees the
steady state, with whatever the engine keeps from one step to the next (gradients, if it keeps them).

Figure: the peak of the bytes alive during those steps beyond what existed before them, i.e. activations saved for
backward, gradients (weights and inputs) and temporaries. Parameters, the fixed projections and the AdamW state are
reported separately (`persistent`); the input batch is excluded (the same for both).

* CUDA: `torch.cuda.max_memory_allocated` after `reset_peak_memory_stats`, minus what was allocated before.
* CPU: a `TorchDispatchMode` that sees every op, adds the bytes of each output storage not already known (views and
  in-place results share an input's storage and add nothing) and subtracts them when the storage is freed (a weakref
  finalizer on the storage): a live-bytes count of tensor storages, op by op. Cross-checked with torch.profiler's
  memory timeline (`profile_memory=True`), which also classifies the bytes. Scratch buffers allocated inside a kernel
  that never become tensors are invisible to the dispatch mode.

    python bench/memory.py                  # CPU here (under a minute on 2 idle cores)
    python bench/memory.py --device cuda    # GPU: full widths, bf16 autocast, channels_last
    python -m bench.memory --cases vgg8 --no-crosscheck --out /tmp/mem.json   # a quick look
"""
if not __package__: import _bootstrap  # noqa: F401  (run as a file: see bench/_bootstrap.py)
import argparse, gc, time, weakref
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from bench.common import (METHODS, TARGETS, Trainer, add_bench_args, bench_setup, case_config, make_batch, mib,
                          run_facts, save_results, sync)

METHOD_CPU = ('TorchDispatchMode live-storage accounting: +nbytes of every new output storage of every op (forward, '
              'backward, optimizer), -nbytes when a weakref finalizer sees the storage freed; peak over two steps '
              'after gradients were set to None; cross-checked with the torch.profiler memory timeline')
METHOD_CUDA = ('torch.cuda.max_memory_allocated over two steps after reset_peak_memory_stats, minus memory_allocated '
               'before')
COUNTED = 'activations + gradients (weights, inputs) + temporaries, beyond persistent state and the input batch'

class LiveBytes(TorchDispatchMode):
    """Live bytes of the tensor storages created while active; `trace` holds the live count after every op,
    `at_peak` what was alive at the peak."""
    def __init__(self):
        super().__init__()
        self.live = self.peak = 0
        self.seen, self.trace, self.at_peak = {}, [], []   # seen: storage key -> (creating op, shape, nbytes)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        ins, grew = None, False
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor) or t.device.type == 'meta': continue
            st = t.untyped_storage(); key = st._cdata
            if key in self.seen: continue
            if ins is None:
                ins = {a.untyped_storage()._cdata for a in tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)}
            if key in ins: continue   # a view or an in-place result: an input's storage, not a new allocation
            nb = st.nbytes()
            self.seen[key] = (func.__name__, tuple(t.shape), nb); self.live += nb
            weakref.finalize(st, self._free, key, nb)
            grew = True
        if grew and self.live > self.peak:
            self.peak = self.live
            self.at_peak = [v for v in self.seen.values()] + [(f"(at op {func.__name__})", (), 0)]
        self.trace.append(self.live)
        return out

    def _free(self, key, nb):
        if self.seen.pop(key, None) is not None: self.live -= nb

def alive_at_peak(lb:LiveBytes, min_frac:float=0.02)->dict:
    "What was alive at the peak: bytes by creating op, and the tensors over `min_frac` of the peak."
    by_op = {}
    for op, shape, nb in lb.at_peak: by_op[op] = by_op.get(op, 0) + nb
    big = [dict(op=op, shape=list(shape), mib=mib(nb)) for op, shape, nb in lb.at_peak if nb >= min_frac * lb.peak]
    at = next((op for op, _, nb in lb.at_peak if op.startswith('(at op')), None)
    return dict(at=at, mib_by_creating_op={k: mib(v) for k, v in sorted(by_op.items(), key=lambda kv: -kv[1]) if v},
                large_tensors=big)

def downsample_max(v:list, n:int=400)->list:
    "At most `n` points, each the max of its bin (keeps the peak)."
    if len(v) <= n: return list(v)
    return [max(v[i * len(v) // n:(i + 1) * len(v) // n]) for i in range(n)]

def profiler_peak(tr:Trainer, x, y, steps:int)->dict:
    "Cross-check on CPU: peak of the profiler's memory timeline over the same steps, beyond the bytes at its start."
    from torch.profiler import ProfilerActivity, profile
    from torch.profiler._memory_profiler import MemoryProfileTimeline, _CATEGORY_TO_INDEX
    tr.zero_grad(); gc.collect()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True) as p:
        for _ in range(steps): tr.step(x, y)
    _, sizes = MemoryProfileTimeline(p._memory_profile())._coalesce_timeline('cpu')
    tot = [sum(s) for s in sizes]
    i = max(range(len(tot)), key=tot.__getitem__)
    names = ['?'] + [c.name.lower() if c is not None else 'unknown' for c in _CATEGORY_TO_INDEX]
    at_peak = {n: mib(b - b0) for n, b, b0 in zip(names, sizes[i], sizes[0]) if b - b0}
    return dict(peak_step_bytes=tot[i] - tot[0], at_peak_mib_by_category=at_peak)

def measure(cfg:dict, method:str, dev, warmup:int, steps:int=2, crosscheck:bool=True)->dict:
    "Peak memory of `steps` training steps of one method on one case after `warmup` steps, and its persistent bytes."
    tr = Trainer(cfg, method, dev)
    x, y = make_batch(cfg, dev)
    for _ in range(warmup): tr.step(x, y)
    sync(dev)
    r = dict(persistent=tr.persistent_bytes(), batch_bytes=x.nbytes + y.nbytes)
    tr.zero_grad(); gc.collect()
    if dev.type == 'cuda':
        torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
        for _ in range(steps): tr.step(x, y)
        sync(dev)
        r['peak_step_bytes'] = torch.cuda.max_memory_allocated(dev) - base
    else:
        with LiveBytes() as lb:
            for _ in range(steps): tr.step(x, y)
        gc.collect()
        r['peak_step_bytes'] = lb.peak
        r['trace_mib'] = [mib(b) for b in downsample_max(lb.trace)]   # live bytes, op by op, over the measured steps
        r['n_ops'] = len(lb.trace)
        r['alive_at_peak'] = alive_at_peak(lb)
        if crosscheck: r['profiler_crosscheck'] = profiler_peak(tr, x, y, steps)
    r['peak_step_mib'] = mib(r['peak_step_bytes'])
    r['peak_with_persistent_mib'] = mib(r['peak_step_bytes'] + r['persistent']['total'])
    return r

def activation_floor(cfg:dict)->dict:
    """The live-activation floor of a case, from the model itself (`block_costs`, per image): ASGE needs at most
    the largest block's working set (its input and feature maps) at a time, backprop keeps every block's until its
    backward."""
    from asge_nb.model import build_model
    from asge_nb.predict import block_costs
    with torch.device('meta'):
        net = build_model(cfg['arch'], n_classes=cfg['n_classes'], in_chans=cfg['in_chans'], img_size=cfg['img_size'],
                          width=cfg['width'])
    acts = [r['act'] for r in block_costs(net)]
    return dict(block_act=acts, largest=max(acts), total=sum(acts), ratio=round(max(acts) / sum(acts), 4))

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bench_args(p, 'memory')
    p.add_argument('--warmup', type=int, default=2, help='steps before measuring (creates the optimizer state)')
    p.add_argument('--no-crosscheck', action='store_true', help='skip the torch.profiler cross-check on CPU')
    a = p.parse_args(argv)
    dev, kind, out = bench_setup(a, 'memory')
    facts = run_facts()
    t_start, results = time.time(), []
    for name in a.cases:
        cfg = case_config(name, kind)
        res = {m: measure(cfg, m, dev, a.warmup, crosscheck=not a.no_crosscheck) for m in METHODS}
        A, B = res['asge'], res['bp']
        ratio = A['peak_step_bytes'] / B['peak_step_bytes']
        tgt = (cfg['target'] or {}).get('memory')
        met = (ratio <= tgt) if tgt else None
        with_persistent = lambda r: r['peak_step_bytes'] + r['persistent']['total']
        res.update(ratio=round(ratio, 4), ratio_with_persistent=round(with_persistent(A) / with_persistent(B), 4),
                   target_ratio=tgt, target_met=met)
        if 'profiler_crosscheck' in A:
            res['ratio_profiler_crosscheck'] = round(A['profiler_crosscheck']['peak_step_bytes']
                                                     / B['profiler_crosscheck']['peak_step_bytes'], 4)
        res['floor'] = activation_floor(cfg)
        results.append(dict(cfg, **res))
        print(f"{name:<13} width {cfg['width']:.4g} {cfg['img_size']}px batch {cfg['bs']} on {kind}: peak step memory "
              f"asge {A['peak_step_mib']:.1f} MiB  bp {B['peak_step_mib']:.1f} MiB  ratio {ratio:.3f}"
              + ('' if met is None else f"  target <= {tgt}: {'met' if met else 'MISSED'}")
              + (f"  (profiler cross-check ratio {res['ratio_profiler_crosscheck']:.3f})"
                 if 'ratio_profiler_crosscheck' in res else '')
              + f"; live-activation floor {res['floor']['ratio']:.3f}", flush=True)
        print(f"{'':<13} persistent (params + projections + AdamW state): asge {mib(A['persistent']['total']):.2f} MiB"
              f"  bp {mib(B['persistent']['total']):.2f} MiB; with it the ratio is {res['ratio_with_persistent']:.3f}",
              flush=True)
    save_results(out, results, 'memory', key=lambda r: r['case'], device=str(dev), **facts, kind=kind,
                 method_note=METHOD_CUDA if kind == 'cuda' else METHOD_CPU, counted=COUNTED,
                 measured_steps=2, warmup=a.warmup, targets=TARGETS, elapsed_s=round(time.time() - t_start, 1))

if __name__ == '__main__': main()
