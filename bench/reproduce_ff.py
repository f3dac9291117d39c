"""Forward-Forward beside its reference code, at the reference's settings: loeweX/Forward-Forward (the public
reimplementation that reproduces Hinton's MNIST result), 3 epochs on the complete MNIST training set, each side with
the same seeds (42, the reference's default, and 0 to 3); the pair compares the means.

The reference runs in a scratch folder outside this repository (it needs hydra-core and omegaconf); its log is kept in
bench/results/reference_logs/ and read from there, so every reference figure below comes from that log:

    git clone https://github.com/loeweX/Forward-Forward && cd Forward-Forward && git checkout da516f0
    for s in 42 0 1 2 3; do python main.py device=cpu seed=$s training.epochs=3 training.val_idx=1 \\
        training.final_test=True input.path=/path/to/data > ff_loeweX_mnist_3ep_seed$s.log 2>&1; done

Ours, with the same settings and split (`ff_fit(pipeline='reference')`), and the pair written to
bench/results/reproductions_cpu.json:

    ASGE_DATA=/path/to/data python bench/reproduce_ff.py [--reference-code /path/to/Forward-Forward]

`--reference-code` also trains the reference's model and ours from the same weights on the same batch for three steps
and records the largest weight difference (float rounding: the two steps are the same computation).
"""
if not __package__: import _bootstrap  # noqa: F401  (run as a file: see bench/_bootstrap.py)
import argparse, re, statistics
from pathlib import Path
import torch
from bench.common import RESULTS, read_results, save_results
from asge_nb.baselines import ff_fit

OUT = RESULTS / 'reproductions_cpu.json'
LOGS = RESULTS / 'reference_logs'   # ff_loeweX_mnist_3ep_seed<S>.log
REFERENCE = dict(repo='loeweX/Forward-Forward', commit='da516f094c70a4a92042fbbc7ab33303aa7dbfd9',
                 command='python main.py device=cpu seed=<S> training.epochs=3 training.val_idx=1 '
                         'training.final_test=True input.path=/path/to/data',
                 settings=dict(layers=[1000, 1000, 1000], batch=100, optimizer='SGD momentum 0.9', lr=1e-3, wd=3e-4,
                               lr_classifier=1e-2, wd_classifier=3e-3, peer_normalization=0.03, epochs=3,
                               split='first 50,000 MNIST training images / last 10,000 to validate', pixels='0-1'))

def key(r:dict)->tuple: return (r['pair'], r['side'])

def read_log(text:str)->dict:
    "The reference's figures from its log: validation accuracy after each epoch, then the final validation and test."
    acc = lambda part: [float(a) * 100 for a in re.findall(rf"{part} \t \t.*?classification_accuracy: ([0-9.]+)", text)]
    val = [float(a) * 100 for a in re.findall(r"Epoch \d+ \tval \t \t.*?classification_accuracy: ([0-9.]+)", text)]
    user = re.search(r"User time \(seconds\): ([0-9.]+)", text)
    if not val or not acc('test'): raise SystemExit("no validation or test accuracy in the reference log")
    return dict(val_per_epoch=val, figures={'val classifier': round(acc('val')[-1], 2),
                                           'test classifier': round(acc('test')[-1], 2)},
                cpu_s=float(user.group(1)) if user else None)

def mean_figures(runs:list)->dict:
    "Each figure's mean over the runs (rounded to 0.01)."
    return {k: round(statistics.fmean(r[k] for r in runs), 2) for k in runs[0]}

def std_figures(runs:list)->dict:
    "Each figure's standard deviation over the runs (rounded to 0.01)."
    return {k: round(statistics.stdev(r[k] for r in runs), 2) for k in runs[0]} if len(runs) > 1 else None

def ours(seed:int, data:str)->dict:
    "Our Forward-Forward at the reference's settings and split: its figures, per-epoch validation, CPU seconds."
    m = ff_fit('mnist', data, pipeline='reference', epochs=3, bs=100, seed=seed, device='cpu')
    t, h = m['test_acc'], m['history']
    return dict(seed=seed, config=m['config'], cpu_s=m['cpu_s'], layers=t['layers'],
                val_per_epoch=[round(e['test_acc']['val_classifier'], 2) for e in h],
                figures={'val classifier': round(h[-1]['test_acc']['val_classifier'], 2),
                         'test classifier': round(t['classifier'], 2), 'test goodness (fusion)': round(t['fusion'], 2),
                         'test goodness (best layer)': round(t['best'], 2)})

def step_check(code:str, data:str=None, steps:int=3)->dict:
    """Our step against the reference's, from the same weights on the same batch and wrong labels: the largest weight
    difference after `steps` steps (0 up to float rounding means the two train alike). `code`: the reference's checkout
    (needs omegaconf)."""
    import sys; sys.path.insert(0, code)
    from omegaconf import OmegaConf
    from src import ff_model
    import asge_nb.baselines as B
    from asge_nb.data import load_arrays
    opt = OmegaConf.load(Path(code) / 'config.yaml'); opt.device = 'cpu'
    torch.manual_seed(0); ref, ours = ff_model.FF_model(opt), B.FFNet(784, (1000, 1000, 1000), 10)
    with torch.no_grad():
        for a, b in zip(ours.layers, ref.model): a.weight.copy_(b.weight); a.bias.copy_(b.bias)
    x, y = load_arrays('mnist', data, True, False); x, y = x[:100].float() / 255, y[:100]
    wrong = B.wrong_labels(y, 10, torch.Generator().manual_seed(0))
    inp = {}
    for k, lab in (('pos_images', y), ('neg_images', wrong), ('neutral_sample', None)):
        inp[k] = x.clone(); inp[k][:, 0, 0, :10] = 0.1 if lab is None else torch.nn.functional.one_hot(lab, 10)
    t = opt.training
    r_opt = torch.optim.SGD([dict(params=ref.model.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay),
                             dict(params=ref.linear_classifier.parameters(), lr=t.downstream_learning_rate,
                                  weight_decay=t.downstream_weight_decay)], momentum=t.momentum)
    o_opt, keep = B.ff_optimizer(ours), B.wrong_labels
    B.wrong_labels = lambda *a, **k: wrong   # the same wrong labels on both sides
    try:
        for _ in range(steps):
            r_opt.zero_grad(); ref(inp, {'class_labels': y})['Loss'].backward(); r_opt.step()
            B.ff_step(ours, o_opt, x, y)
    finally: B.wrong_labels = keep
    diff = max([float((a.weight - b.weight).abs().max()) for a, b in zip(ours.layers, ref.model)] +
               [float((ours.classifier.weight - ref.linear_classifier[0].weight).abs().max())])
    return dict(steps=steps, max_weight_difference=diff)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--logs', default=str(LOGS), help="the folder of the reference runs' logs")
    p.add_argument('--seeds', type=int, nargs='+', default=[42, 0, 1, 2, 3])
    p.add_argument('--data', default=None); p.add_argument('--threads', type=int, default=2)
    p.add_argument('--out', default=str(OUT))
    p.add_argument('--reference-code', default=None, help="the reference's checkout: also compare one step's updates")
    p.add_argument('--reuse', action='store_true', help="keep our runs of seeds already in the results file (and its "
                   "step check); train only the other seeds")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    refs = [dict(seed=s, **read_log((Path(a.logs) / f'ff_loeweX_mnist_3ep_seed{s}.log').read_text())) for s in a.seeds]
    prior = next((r for r in (read_results(a.out) or dict(results=[]))['results']
                  if key(r) == ('ff mnist', 'ours')), {}) if a.reuse else {}
    kept = {r['seed']: r for r in prior.get('runs', [])}
    runs = [kept.get(s) or ours(s, a.data) for s in a.seeds]
    ref_fig, our_fig = mean_figures([r['figures'] for r in refs]), mean_figures([r['figures'] for r in runs])
    gap = {k: round(our_fig[k] - v, 2) for k, v in ref_fig.items()}
    rows = [dict(pair='ff mnist', side='reference', **REFERENCE, seeds=a.seeds, figures=ref_fig,
                 figures_std=std_figures([r['figures'] for r in refs]), runs=refs,
                 logs=[f'reference_logs/ff_loeweX_mnist_3ep_seed{s}.log' for s in a.seeds]),
            dict(pair='ff mnist', side='ours', method="ff_fit(pipeline='reference')", seeds=a.seeds, figures=our_fig,
                 figures_std=std_figures([r['figures'] for r in runs]), runs=runs, gap=gap,
                 within_1pt=all(abs(g) <= 1 for g in gap.values()))]
    if a.reference_code: rows[1]['step_check'] = step_check(a.reference_code, a.data)
    elif 'step_check' in prior: rows[1]['step_check'] = prior['step_check']
    save_results(a.out, rows, 'reproductions', key=key)
    for k in our_fig: print(f"{k:<28} ours {our_fig[k]:6.2f}" + (f"   reference {ref_fig[k]:6.2f}" if k in gap else ''))
    print('within 1 point:', rows[1]['within_1pt'])

if __name__ == '__main__': main()
