"""Training-step time, ASGE against backprop, on the same network, batch, device and dtype.

Both methods run the engine's own `asge_nb.train.train_step` on trainers built as `fit` builds them. The two are
alternated in one run (asge, bp, bp, asge, asge, bp, ...) so that load from other jobs hits both alike; the figure is
the median over many steps after warm-up, and the ratio is median(ASGE) / median(backprop). Each case is timed
`--repeats` times, each build in a fresh process (new trainers, and a heap that nothing ran in before: timed after
another case in one process, a case ran up to a quarter slower), and the median build is reported. Each case is then
profiled with torch.profiler, in a fresh process too (the methods alternated and warmed up as in the timing); the
per-step time of the top ops, and of conv forward, conv backward, optimizer and the rest, go into the results JSON
and a text file next to it (`--profile auto`: only cases that miss their target). The conv FLOP model (forward +
weight gradient, plus input gradient where a conv's input needs one, counted with hooks during a real step) is
recorded next to the measured ratio.

On a busy CPU, thread contention slows many small parallel ops more than a few large ones; the load average is recorded,
and `--threads 1` gives a figure less sensitive to it.

Each step's minor page faults are counted too (`page_faults_mib`: the memory it had to have mapped in anew). glibc's
malloc hands big freed blocks back to the kernel, so a step can spend a good share of its time faulting pages back
in, and how many depends on what ran before it (alternated, each method finds the heap the other left). `--keep-heap`
has glibc keep freed memory mapped (`bench.common.keep_heap`): the steps then fault nothing, which leaves the
methods' work, in a heap laid out differently (not always faster). `--turn K` runs each method K steps in a row and
times all but the first of each turn: every timed step follows one of its own method, with the heap its own last step
left, as in a training run. `--compile` times the engine as `fit(compile=True)` runs it: every stage of both
methods through `torch.compile` (the first steps, untimed, compile them; no reference engine).

On the CPU each case also runs a reference engine: both methods with the adaptive-bin kernels everywhere
(`asge_nb.goodness.adaptive_kernels`: no even-patch kernels for the goodness and the RMS pools, and so no pass shared
by a block's goodness and its pool) and one AdamW per stage instead of one shared by all stages. Its two trainers
alternate on their own, after the engine's two, in the same way (four trainers in one alternation would have each
step find the memory and caches three others left: every step slower, by about a quarter for ResNet18-CH4, than in a
comparison of two). Its figures (`reference` in each row) and profile (`profile_reference`) are the engine before
those changes, measured as the engine itself is; `--no-reference` skips it (on CUDA, where the maps are
channels_last, the two engines are one and it is skipped).

    python bench/step_time.py                # CPU: VGG8 width 0.25, ResNet18-CH4 width 1/16 (~9 min on 2 idle cores)
    python bench/step_time.py --device cuda  # GPU: full widths, bf16 autocast, channels_last
    python -m bench.step_time --cases vgg8 --steps 4 --warmup 1 --profile never --out /tmp/st.json   # a quick look
    taskset -c 1 python bench/step_time.py --threads 1 --out bench/results/step_time_cpu_1thread.json   # one core
    python bench/step_time.py --keep-heap --out bench/results/step_time_cpu_keep_heap.json   # no page faults (glibc)
    python bench/step_time.py --turn 5 --no-reference --out bench/results/step_time_cpu_turns.json   # as in a run
    python bench/step_time.py --compile --cases vgg8 --no-reference --profile never \
        --out bench/results/step_time_cpu_compiled.json   # every stage of both methods through torch.compile
"""
if not __package__: import _bootstrap  # noqa: F401  (run as a file: see bench/_bootstrap.py)
import argparse, math, os, resource, statistics, time
from functools import partial
import torch
from asge_nb.goodness import adaptive_kernels
from asge_nb.train import make_optimizers
from bench.common import (METHODS, TARGETS, Trainer, add_bench_args, alternate, atomic_write, bench_setup, case_config,
                          command_line, keep_heap, make_batch, mib, run_facts, save_results, sync, time_alternating)

def q(v:list, f:float)->float:
    "The `f`-quantile of `v` (nearest rank)."
    s = sorted(v); return s[min(len(s) - 1, max(0, round(f * (len(s) - 1))))]

def summarize(ts:list, bs:int)->dict:
    "Median, mean, 10th and 90th percentile of step times (ms), and images per second at the median."
    med = statistics.median(ts)
    return dict(median_ms=round(1e3 * med, 3), mean_ms=round(1e3 * statistics.fmean(ts), 3),
                p10_ms=round(1e3 * q(ts, .1), 3), p90_ms=round(1e3 * q(ts, .9), 3), n=len(ts),
                images_per_s=round(bs / med, 1))

REF = '_reference'   # suffix of the reference engine's trainers

class Reference(Trainer):
    """A method's trainer as the engine was before its even-patch kernels and its shared optimizer: the adaptive-bin
    kernels everywhere (`adaptive_kernels`) and one AdamW per stage (`make_optimizers` with a group per stage)."""
    def __init__(self, cfg:dict, method:str, dev:torch.device, **kw):
        super().__init__(cfg, method, dev, **kw)
        r = self.run
        r.opts, r.scheds = make_optimizers(r.stages, r.cfg['lr'], r.cfg['wd'], 10**6, r.cfg['warmup'], r.cfg['lr_min'],
                                           groups=[(i, i + 1) for i in range(len(r.stages))])
        r.scalers = [torch.amp.GradScaler(dev.type, enabled=False) for _ in r.opts]   # the reference: CPU, float32
        self.opts = r.opts

    def step(self, x, y):
        "One training step of the engine without its even-patch kernels."
        with adaptive_kernels(): return super().step(x, y)

def ratios(times:dict, bs:int, a:str='asge', b:str='bp')->dict:
    "Figures of methods `a` and `b` (keyed 'asge' and 'bp') from their alternated step times: medians and ratios."
    res = {m: summarize(times[k], bs) for m, k in zip(METHODS, (a, b))}
    res['ratio'] = round(res['asge']['median_ms'] / res['bp']['median_ms'], 4)
    res['ratio_paired_median'] = round(statistics.median([s / t for s, t in zip(times[a], times[b])]), 4)
    res['ratio_min'] = round(min(times[a]) / min(times[b]), 4)   # least disturbed steps: a check on a busy CPU
    # adjacent asge/bp steps see the same load; if their median ratio disagrees with the ratio of medians, the load
    # changed during the run
    res['consistent'] = abs(res['ratio'] / res['ratio_paired_median'] - 1) <= 0.05
    res['times_ms'] = {m: [round(1e3 * t, 3) for t in times[k]] for m, k in zip(METHODS, (a, b))}
    return res

def pair(cfg:dict, dev, reference:bool=False)->dict:
    "Freshly built trainers of the two methods: the engine's ('asge', 'bp'), or the reference engine's (`REF` added)."
    return {m + (REF if reference else ''): (Reference if reference else Trainer)(cfg, m, dev) for m in METHODS}

def time_pair(trs:dict, batch:tuple, steps:int, warmup:int, dev, turn:int=1)->tuple:
    "Alternate two trainers (keyed 'asge' and 'bp', with one suffix) step by step or by turns; (times, page faults)."
    rounds, warm = (steps, warmup) if turn == 1 else (math.ceil(steps / (turn - 1)), math.ceil(warmup / turn))
    faults = {}
    times = time_alternating({m: partial(tr.step, *batch) for m, tr in trs.items()}, rounds, warm, dev, faults, turn)
    return times, faults

def bench_case(cfg:dict, dev, steps:int, warmup:int, reference:bool=False, turn:int=1)->dict:
    """Alternate the two methods step by step, or by turns of `turn` steps (the first of a turn untimed); then the
    reference engine's two in an alternation of their own (each pair's steps follow only each other's, as the
    pair's would in a comparison of its own). Returns the figures."""
    trs, batch = pair(cfg, dev), make_batch(cfg, dev)
    times, faults = time_pair(trs, batch, steps, warmup, dev, turn)
    res = ratios(times, cfg['bs'])
    # pages mapped in anew per step (median): memory the allocator took back from the kernel and the step touched
    res['page_faults_mib'] = {m: mib(statistics.median(faults[m]) * resource.getpagesize()) for m in METHODS}
    if reference:
        refs = pair(cfg, dev, reference=True)
        res['reference'] = dict(kernels='adaptive', optimizers='one per stage', alternation='its own',
                                **ratios(time_pair(refs, batch, steps, warmup, dev, turn)[0], cfg['bs'],
                                         'asge' + REF, 'bp' + REF))
    # what the conv arithmetic alone predicts (ASGE: forward + weight gradient; backprop adds the input gradients)
    res['conv_gflop'] = {m: conv_flops(trs[m], *batch) for m in METHODS}
    res['conv_flop_ratio'] = round(res['conv_gflop']['asge']['total'] / res['conv_gflop']['bp']['total'], 4)
    return res

def _in_child(threads:int, keep:bool, f, *args):
    "`f(*args)` with `threads` torch threads, the heap kept (`keep_heap`) if `keep`: what a spawned process runs."
    torch.set_num_threads(threads)
    if keep: keep_heap()
    return f(*args)

def in_fresh_process(f, *args, keep:bool=False):
    """`f(*args)` in a freshly spawned process, on this process's torch threads (and with the heap kept if `keep`):
    new buffers, and a heap that nothing ran in before (see the module's docstring)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(1, mp_context=mp.get_context('spawn')) as pool:
        return pool.submit(_in_child, torch.get_num_threads(), keep, f, *args).result()

def repeated_case(cfg:dict, dev, steps:int, warmup:int, reference:bool, repeats:int, turn:int=1,
                  keep:bool=False, # have each build's process keep its freed memory mapped (`keep_heap`)
                 )->dict:
    """`bench_case` `repeats` times, each build in a fresh process (`in_fresh_process`), one after the other. The
    figures returned are the build's whose ratio is the median, with every build's ratio and page faults beside them
    (how much a build's steps fault depends on its process's heap, and moves its ratio)."""
    runs = [in_fresh_process(bench_case, cfg, dev, steps, warmup, reference, turn, keep=keep) for _ in range(repeats)]
    res = sorted(runs, key=lambda r: r['ratio'])[(len(runs) - 1) // 2]
    return dict(res, repeat_ratios=[r['ratio'] for r in runs],
                repeat_page_faults_mib=[r['page_faults_mib'] for r in runs])

def conv_flops(tr:Trainer, x, y)->dict:
    "GFLOP of the convolutions in one training step: forward, weight gradient, and input gradient where one is needed."
    recs, hooks = [], []
    def hook(m, inp, out):
        macs = out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        recs.append((macs, inp[0].requires_grad))
    for m in tr.net.modules():
        if isinstance(m, torch.nn.Conv2d): hooks.append(m.register_forward_hook(hook))
    try:
        with torch.compiler.set_stance('force_eager'): tr.step(x, y)   # compiled stages run eagerly: the hooks fire
    finally:
        for h in hooks: h.remove()
    fwd = sum(2 * macs for macs, _ in recs)
    dgrad = sum(2 * macs for macs, g in recs if g)
    return dict(forward=round(fwd / 1e9, 4), weight_grad=round(fwd / 1e9, 4), input_grad=round(dgrad / 1e9, 4),
                total=round((2 * fwd + dgrad) / 1e9, 4), convs_without_input_grad=sum(not g for _, g in recs),
                convs=len(recs))

# ---- profiling ----
def _self_time(e, cuda:bool)->float: return e.self_device_time_total if cuda else e.self_cpu_time_total   # us
def _total_time(e, cuda:bool)->float: return e.device_time_total if cuda else e.cpu_time_total

# ops whose inclusive time gives a category (the rest of the step is elementwise work, losses, pooling, norms, autograd)
ANCHORS = {'conv_forward': 'aten::convolution', 'conv_backward': 'aten::convolution_backward',
           'optimizer': 'Optimizer.step#AdamW.step'}

def profile_case(trs:dict, batch:tuple, n:int=5, warmup:int=4)->dict:
    """torch.profiler over `n` steps of each of two trainers, alternated as in the timing after `warmup` unprofiled
    rounds: per trainer, op -> [self us, inclusive us, calls] summed over its profiled steps."""
    from torch.profiler import ProfilerActivity, profile
    x, y = batch
    cuda = x.device.type == 'cuda'
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    acc = {m: {} for m in trs}
    for i, m in alternate(list(trs), warmup + n):
        tr = trs[m]; sync(tr.dev)
        if i < warmup: tr.step(x, y); continue
        with profile(activities=acts) as p:
            tr.step(x, y); sync(tr.dev)
        for e in p.key_averages():
            r = acc[m].setdefault(e.key, [0., 0., 0])
            r[0] += _self_time(e, cuda); r[1] += _total_time(e, cuda); r[2] += e.count
    return acc

def profile_summary(acc:dict, unit:str, n:int=5, top:int=15)->tuple:
    "Per method of `acc` ('asge', 'bp'; see `profile_case`): per-step times of the top ops and of conv/optimizer/other."
    summary, lines = {}, []
    for m, ops in acc.items():
        total = sum(r[0] for r in ops.values()) / n / 1e3
        cats = {c: ops.get(k, [0, 0, 0])[1] / n / 1e3 for c, k in ANCHORS.items()}
        cats['other'] = total - sum(cats.values())
        ranked = sorted(ops.items(), key=lambda kv: -kv[1][0])
        summary[m] = dict(self_ms_per_step=round(total, 2), by_category_ms={k: round(v, 2) for k, v in cats.items()},
                          top_ops=[dict(op=k, self_ms=round(r[0] / n / 1e3, 2), calls=round(r[2] / n, 1))
                                   for k, r in ranked[:top]])
        lines += [f"== {m}: self {unit} time per step, mean of {n} steps (total {total:.1f} ms; "
                  + ', '.join(f"{k} {v:.1f}" for k, v in cats.items()) + ' ms)',
                  f"{'op':<48}{'self ms':>10}{'incl. ms':>10}{'calls':>8}"]
        lines += [f"{k[:47]:<48}{r[0] / n / 1e3:>10.2f}{r[1] / n / 1e3:>10.2f}{r[2] / n:>8.1f}"
                  for k, r in ranked[:top]] + ['']
    # where the two differ most, per step (self time of each op)
    ops = set(acc['asge']) | set(acc['bp'])
    d = [[o, round((acc['asge'].get(o, [0])[0] - acc['bp'].get(o, [0])[0]) / n / 1e3, 2)] for o in ops]
    summary['diff_asge_minus_bp_ms'] = sorted((t for t in d if t[1]), key=lambda t: -abs(t[1]))[:top]
    lines += ['== largest differences, asge - bp, self ms per step']
    lines += [f"{o[:47]:<48}{v:>+10.2f}" for o, v in summary['diff_asge_minus_bp_ms']]
    return summary, '\n'.join(lines)

def report(name:str, cfg:dict, kind:str, res:dict, tgt, met):
    "Print one case's figures (and the reference engine's), with a warning where the load changed during the run."
    if not res['consistent']:
        print(f"  WARNING: ratio of medians {res['ratio']:.3f} and paired median {res['ratio_paired_median']:.3f} "
              "disagree: the load changed during the run; rerun on a quieter machine")
    print(f"{name:<13} width {cfg['width']:.4g} {cfg['img_size']}px batch {cfg['bs']} on {kind}: "
          f"asge {res['asge']['median_ms']:.1f} ms  bp {res['bp']['median_ms']:.1f} ms  ratio {res['ratio']:.3f} "
          f"(paired {res['ratio_paired_median']:.3f}; conv FLOP model {res['conv_flop_ratio']:.3f})"
          + (f"; repeats {res['repeat_ratios']}" if len(res.get('repeat_ratios', ())) > 1 else '')
          + (f"; pages faulted in per step: asge {pf['asge']:.0f} MiB, bp {pf['bp']:.0f} MiB"
             if (pf := res.get('page_faults_mib')) else '')
          + ('' if met is None else f"  target <= {tgt}: {'met' if met else 'MISSED'}"), flush=True)
    if ref := res.get('reference'):
        print(f"{'':<13} reference (adaptive kernels, optimizer per stage): asge {ref['asge']['median_ms']:.1f} ms  "
              f"bp {ref['bp']['median_ms']:.1f} ms  ratio {ref['ratio']:.3f} (paired {ref['ratio_paired_median']:.3f})",
              flush=True)

def profile_and_report(cfg:dict, dev, reference:bool, res:dict, warmup:int=4)->tuple:
    """Profile one case (`profile_case`) on freshly built trainers, the engine's pair and then the reference engine's,
    compare the profiled steps with the timed ones (`res`), print the summary; returns the profiles of the engine and
    of the reference engine (None without one) and the text tables."""
    batch, unit = make_batch(cfg, dev), 'CUDA' if dev.type == 'cuda' else 'CPU'
    acc = {}   # each pair profiled on its own, as each is timed
    for ref in ((False, True) if reference else (False,)):
        acc |= profile_case(pair(cfg, dev, ref), batch, warmup=warmup)
    out, tables = [], []
    for suffix, timed, what in (('', res, 'engine'), (REF, res.get('reference'), 'reference engine')):
        if timed is None: out.append(None); continue
        pr, table = profile_summary({m: acc[m + suffix] for m in METHODS}, unit)
        for m in METHODS:   # profiled steps much slower than the timed ones: other load got in the way
            pr[m]['profiled_over_timed'] = round(pr[m]['self_ms_per_step'] / timed[m]['median_ms'], 3)
        pr['disturbed'] = any(pr[m]['profiled_over_timed'] > 1.5 for m in METHODS)
        if pr['disturbed']:
            print(f"  WARNING: the {what}'s profiled steps ran much slower than the timed ones (machine busy?); "
                  "rerun for a clean profile")
        print(f"  {what} profile (ms/step): " + '  '.join(f"{m}: " + ', '.join(
            f"{k} {v:.1f}" for k, v in pr[m]['by_category_ms'].items()) for m in METHODS))
        print("  largest differences asge - bp (ms/step): "
              + ', '.join(f"{o} {d:+.1f}" for o, d in pr['diff_asge_minus_bp_ms'][:6]))
        out.append(pr); tables.append(f"### {what}\n{table}")
    return out[0], out[1], '\n'.join(tables)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bench_args(p, 'step_time')
    p.add_argument('--steps', type=int, default=None, help='timed steps per method (default: 40 on CPU, 100 on CUDA)')
    p.add_argument('--warmup', type=int, default=None,
                   help='untimed steps per method first (default: 4 on CPU, 10 on CUDA)')
    p.add_argument('--profile', choices=['auto', 'always', 'never'], default='always',
                   help='profile every case (always), only those that miss their target (auto), or none')
    p.add_argument('--repeats', type=int, default=3,
                   help='times each case is timed on freshly built trainers; the median repeat is reported')
    p.add_argument('--no-reference', action='store_true',
                   help='skip the reference engine (the adaptive-bin kernels everywhere; CPU only)')
    p.add_argument('--keep-heap', action='store_true',
                   help="glibc: keep freed memory mapped, so that steps stop page-faulting it back in (`keep_heap`)")
    p.add_argument('--turn', type=int, default=1,
                   help='steps of a method in a row (default 1: alternated step by step); > 1: each timed step '
                        'follows one of its own method, as in a training run, the first of each turn untimed')
    p.add_argument('--compile', action='store_true',
                   help='torch.compile every stage of both methods, as fit(compile=True) does (no reference engine)')
    a = p.parse_args(argv)
    if a.turn < 1: p.error(f"--turn must be >= 1, got {a.turn}")
    allocator = keep_heap() if a.keep_heap else 'default'
    dev, kind, out = bench_setup(a, 'step_time')
    facts = run_facts()   # load average before this run adds its own
    steps = a.steps or (100 if kind == 'cuda' else 40)
    warmup = a.warmup if a.warmup is not None else (10 if kind == 'cuda' else 4)
    t_start, results, profiles, ref_profiles, tables = time.time(), [], {}, {}, []
    reference = kind == 'cpu' and not (a.no_reference or a.compile)   # on CUDA (channels_last) the engines are one
    ptxt = out.with_name(out.stem + '_profile.txt')
    for name in a.cases:
        cfg = case_config(name, kind)
        if a.compile: cfg = dict(cfg, options=dict(cfg['options'], compile=True))   # a `fit` setting, as options are
        res = repeated_case(cfg, dev, steps, warmup, reference, a.repeats, a.turn, a.keep_heap)
        tgt = (cfg['target'] or {}).get('step_time')
        met = (res['ratio'] <= tgt) if tgt else None
        report(name, cfg, kind, res, tgt, met)
        results.append(dict(cfg, **res, target_ratio=tgt, target_met=met))
        if a.profile == 'always' or (a.profile == 'auto' and met is False):
            profiles[name], ref_profiles[name], table = in_fresh_process(profile_and_report, cfg, dev, reference, res,
                                                                         warmup, keep=a.keep_heap)
            tables.append(f"##### {name} ({kind}, width {cfg['width']:.4g}, {cfg['img_size']}px, batch {cfg['bs']})"
                          f"\n{table}\n")
    if tables:
        atomic_write(ptxt, f"# {command_line()}\n" + '\n'.join(tables))
        print(f"wrote profile tables to {ptxt}")
    # a row per case: a rerun replaces its cases' rows and keeps the others
    save_results(out, results, 'step_time', key=lambda r: r['case'], device=str(dev), **facts, kind=kind,
                 method_note='median wall time of the engine train_step per method, the two alternated ABBA in one '
                 'process (by turns of `turn` steps, the first of each untimed, where turn > 1); the reference '
                 "engine's two alternated likewise, on their own; "
                 'ratio = median(asge) / median(bp); timed `repeats` times, each on freshly built trainers in a '
                 'fresh process, the median repeat reported (repeat_ratios: each); CPU runs float32, '
                 'CUDA runs bf16 autocast + channels_last as fit does',
                 loadavg_end=[round(v, 2) for v in os.getloadavg()], steps=steps, warmup=warmup, repeats=a.repeats,
                 turn=a.turn, compile=a.compile,
                 targets=TARGETS, allocator=allocator,
                 profile=profiles or None, profile_reference={k: v for k, v in ref_profiles.items() if v} or None,
                 profile_tables=ptxt.name if tables else None,
                 elapsed_s=round(time.time() - t_start, 1))

if __name__ == '__main__': main()
