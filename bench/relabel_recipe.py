"""Rows of `bench/results/accuracy_cpu.json` measured before recipe 'asge_nb' took its present defaults, relabelled.

Until then 'asge_nb' was the paper's block and loss at a learning rate set by the dataset's name: what recipe 'paper'
gives now, at that rate. Each such row (its configuration has no `block_norm`: it predates the options) is renamed
to that recipe and rate, in its `config` and its `variant`, and keeps what it was recorded as in `relabelled`. Its
figures and its `run` (the command that made it, at its commit) are unchanged. Run once; a second run changes nothing.

    python bench/relabel_recipe.py
"""
if not __package__: import _bootstrap  # noqa: F401  (run as a file: see bench/_bootstrap.py)
import json
from bench.common import RESULTS, atomic_write, backup_path, locked

def relabel(r:dict)->dict:
    "The row under recipe 'paper' at its own rate, if it was measured under the old 'asge_nb'; else the row."
    c = r.get('config') or {}
    if 'block_norm' in c or c.get('recipe', 'asge_nb') != 'asge_nb' or 'relabelled' in r: return r
    method, *kv = r['variant'].split()
    kv = [a for a in kv if not a.startswith(('recipe=', 'lr='))]
    variant = ' '.join([method, 'recipe=paper', f"lr={c['lr']:g}", *kv])
    return dict(r, variant=variant, config=dict(c, recipe='paper'),
                relabelled=dict(variant=r['variant'], recipe=c.get('recipe'),
                                why="recorded under recipe 'asge_nb' before it took its present defaults"))

def main(path=RESULTS / 'accuracy_cpu.json'):
    with locked(path.parent):
        before = path.read_text(); doc = json.loads(before)
        doc['results'] = [relabel(r) for r in doc['results']]
        atomic_write(backup_path(path), before); atomic_write(path, json.dumps(doc, indent=1))
    print(f"{path}: {sum('relabelled' in r for r in doc['results'])} rows relabelled")

if __name__ == '__main__': main()
