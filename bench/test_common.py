"""Tests of bench/common.py: the results writer never loses a row, the sweep resumes, the timer alternates. No training;
a few seconds.

    python -m bench.test_common
"""
if not __package__: import _bootstrap  # noqa: F401  (run as a file: see bench/_bootstrap.py)
import contextlib, io, json, multiprocessing, os, tempfile
from pathlib import Path
import torch
from bench.common import (RUN_FACTS, alternate, backup_path, merge_rows, read_results, recover, results_file,
                          save_results, sweep, time_alternating)

key = lambda r: r['k']

def refused(f, *args, **kw)->str:
    "The message of the SystemExit that `f` raises (fails if it returns)."
    try: f(*args, **kw)
    except SystemExit as e: return str(e)
    raise AssertionError(f"{f.__name__} did not refuse")

def quiet(f, *args, **kw):
    with contextlib.redirect_stdout(io.StringIO()): return f(*args, **kw)

def test_write_merge_backup(d:Path):
    "A new file has the run's facts; rows merge by key; the file before each write is the .bak; old rows keep theirs."
    f = d / 'r.json'
    doc = quiet(save_results, f, [dict(k=1, v='a'), dict(k=2, v='b')], 'demo', key=key, steps=3)
    assert all(doc[k] for k in ('command', 'hardware', 'commit', 'date')) and doc['steps'] == 3
    assert json.loads(f.read_text()) == doc and not backup_path(f).exists()
    assert 'run' not in doc['results'][0]   # a row without `run` was made by the run of the header
    first = f.read_bytes()
    doc = quiet(save_results, f, [dict(k=2, v='B'), dict(k=3, v='c')], 'demo', key=key, steps=4)
    assert backup_path(f).read_bytes() == first
    assert [(r['k'], r['v']) for r in doc['results']] == [(1, 'a'), (2, 'B'), (3, 'c')]
    kept = doc['results'][0]   # kept from the first run: that run's facts go with it
    assert kept['run']['steps'] == 3 and all(k in kept['run'] for k in RUN_FACTS) and 'results' not in kept['run']
    assert 'run' not in doc['results'][1] and doc['steps'] == 4
    doc = quiet(save_results, f, [dict(k=1, v='x')], 'demo', key=key, keep_existing=True)   # a sweep: first one stays
    assert [r['v'] for r in doc['results']] == ['a', 'B', 'c']
    doc = quiet(save_results, f, [dict(k=1, v='x')], 'demo')   # no key: appended
    assert [r['v'] for r in doc['results']] == ['a', 'B', 'c', 'x']
    assert [p.name for p in d.iterdir() if p.name.endswith('.tmp')] == []

def test_merge_rows():
    "merge_rows alone: replace by key, keep order, stamp kept rows from the old header, leave their own `run`."
    old = dict(benchmark='b', command='c0', results=[dict(k=1), dict(k=2, run=dict(command='c1')), dict(k=3)])
    m = merge_rows(old, [dict(k=3, new=True)], key)
    assert m == [dict(k=1, run=dict(command='c0')), dict(k=2, run=dict(command='c1')), dict(k=3, new=True)]

def test_failed_write_changes_nothing(d:Path):
    "A row that cannot be written (not JSON) raises before the file or its backup are touched."
    f = d / 'r.json'
    quiet(save_results, f, [dict(k=1)], 'demo', key=key)
    quiet(save_results, f, [dict(k=2)], 'demo', key=key)
    before, bak = f.read_bytes(), backup_path(f).read_bytes()
    try: quiet(save_results, f, [dict(k=3, bad=object())], 'demo', key=key); raise AssertionError('no error')
    except TypeError: pass
    assert f.read_bytes() == before and backup_path(f).read_bytes() == bak
    assert [p.name for p in d.iterdir() if p.name.endswith('.tmp')] == []

def test_crash_before_rename(d:Path):
    "Stopped before its rename (a crash, a kill), a write leaves the file as it was: written elsewhere, then renamed."
    import bench.common as common
    f = d / 'r.json'
    quiet(save_results, f, [dict(k=1)], 'demo', key=key)
    before, replace = f.read_bytes(), common.os.replace
    def crash(*a): raise KeyboardInterrupt
    common.os.replace = crash
    try: quiet(save_results, f, [dict(k=2)], 'demo', key=key); raise AssertionError('no crash')
    except KeyboardInterrupt: pass
    finally: common.os.replace = replace
    assert f.read_bytes() == before and [p.name for p in d.iterdir() if p.name.endswith('.tmp')] == []

def test_damaged_refused_then_recovered(d:Path):
    "A truncated file is refused in one line naming it, left as it is, then set aside and restored from its backup."
    f = d / 'r.json'
    quiet(save_results, f, [dict(k=1), dict(k=2)], 'demo', key=key)
    quiet(save_results, f, [dict(k=3)], 'demo', key=key)   # the .bak now holds rows 1, 2
    damaged = f.read_bytes()[:-40]; f.write_bytes(damaged)  # cut mid-write
    for call in (lambda: read_results(f), lambda: results_file(f),
                 lambda: save_results(f, [dict(k=4)], 'demo', key=key)):
        msg = refused(call)
        assert '\n' not in msg and str(f) in msg and 'not valid JSON' in msg and '--recover' in msg, msg
        assert f.read_bytes() == damaged   # never overwritten
    unsaved = [p for p in d.iterdir() if '.unsaved-' in p.name]   # the refused write's rows were kept next to it
    assert len(unsaved) == 1 and json.loads(unsaved[0].read_text())['results'] == [dict(k=4)]
    assert 'backup r.json.bak (2 results)' in msg
    bak = quiet(recover, f)
    assert [r['k'] for r in bak['results']] == [1, 2] and read_results(f) == bak
    aside = [p for p in d.iterdir() if '.damaged-' in p.name]
    assert len(aside) == 1 and aside[0].read_bytes() == damaged and not aside[0].name.endswith('.json')
    assert 'nothing to recover' in refused(recover, f)

def test_damaged_without_backup(d:Path):
    "With no good backup, recovery only sets the damaged file aside; a second one never replaces the first."
    f = d / 'r.json'
    for text in ('{"results": [', 'not json'):
        f.write_text(text)
        assert 'no good backup' in refused(read_results, f)
        assert quiet(recover, f) is None and not f.exists()
    assert sorted(p.read_text() for p in d.iterdir() if '.damaged-' in p.name) == ['not json', '{"results": [']
    assert 'no such file' in refused(recover, f)

def test_document(d:Path):
    "A results document that is not a list of rows (gpu_check) replaces the previous one, which stays in the .bak."
    f = d / 'g.json'
    quiet(save_results, f, dict(passed=True), 'gpu_check')
    doc = quiet(save_results, f, dict(passed=False), 'gpu_check')
    assert doc['results'] == dict(passed=False)
    assert json.loads(backup_path(f).read_text())['results'] == dict(passed=True)

def _append(args):
    f, who, n = args
    for i in range(n): quiet(save_results, f, [dict(k=f'{who}{i}')], 'demo', key=key)

def test_concurrent_appends(d:Path):
    "Two processes appending to one file at once: every row arrives (the folder lock orders the read-merge-writes)."
    f = d / 'r.json'
    with multiprocessing.get_context('fork').Pool(2) as pool: pool.map(_append, [(f, 'a', 15), (f, 'b', 15)])
    assert sorted(r['k'] for r in read_results(f)['results']) == sorted(f'{w}{i}' for w in 'ab' for i in range(15))

def test_sweep_resumes(d:Path):
    "The sweep runs what is missing, appends each row as it finishes, and resumes after a stop."
    f, ran = d / 's.json', []
    specs = [dict(k=i) for i in range(4)]
    def run(sp):
        if sp['k'] == 2 and not ran.count('stopped'): ran.append('stopped'); raise KeyboardInterrupt
        ran.append(sp['k']); return dict(k=sp['k'], v=sp['k'] ** 2)
    try: sweep(specs, f, run, key, benchmark='demo'); raise AssertionError('no stop')
    except KeyboardInterrupt: pass
    assert [r['k'] for r in read_results(f)['results']] == [0, 1]   # rows 0 and 1 were written as they finished
    added = sweep(specs, f, run, key, benchmark='demo')
    assert [r['k'] for r in added] == [2, 3] and ran == [0, 1, 'stopped', 2, 3]
    rows = read_results(f)['results']
    assert [r['v'] for r in rows] == [0, 1, 4, 9] and all(set(RUN_FACTS) <= set(r['run']) for r in rows)
    assert sweep(specs, f, run, key, benchmark='demo') == [] and len(ran) == 5   # all recorded: nothing runs
    def run_elsewhere(sp):   # another sweep on the same file records this run first: one row stays, the first
        quiet(save_results, f, [dict(k=sp['k'], v='other')], 'demo', key=key); return dict(k=sp['k'], v='mine')
    assert sweep([dict(k=9)], f, run_elsewhere, key, benchmark='demo') == []
    assert [r['v'] for r in read_results(f)['results'] if r['k'] == 9] == ['other']
    f.write_text('{"results": [{"k": 0}')   # damaged: the sweep refuses before running anything
    assert 'not valid JSON' in refused(sweep, specs, f, run, key, benchmark='demo') and len(ran) == 5

def test_alternating_timer():
    "ABBA order; every method timed `rounds` times after `warmup` untimed rounds."
    assert list(alternate(['a', 'b'], 3)) == [(0, 'a'), (0, 'b'), (1, 'b'), (1, 'a'), (2, 'a'), (2, 'b')]
    calls = []
    ts = time_alternating({'a': lambda: calls.append('a'), 'b': lambda: calls.append('b')}, 3, 2, torch.device('cpu'))
    assert calls == ['a', 'b', 'b', 'a'] * 2 + ['a', 'b'] and {m: len(v) for m, v in ts.items()} == dict(a=3, b=3)
    assert all(t >= 0 for v in ts.values() for t in v)
    faults = {}   # page faults per timed call: touching a fresh 64 MiB buffer maps in its pages
    time_alternating({'a': lambda: torch.ones(1 << 24), 'b': lambda: None}, 2, 0, torch.device('cpu'), faults)
    assert {m: len(v) for m, v in faults.items()} == dict(a=2, b=2) and min(faults['a']) > max(faults['b'])
    calls = []   # turns: three calls in a row per method, the first of each turn untimed
    ts = time_alternating({'a': lambda: calls.append('a'), 'b': lambda: calls.append('b')}, 2, 1, torch.device('cpu'),
                          turn=3)
    assert calls == list('aaabbb' 'bbbaaa' 'aaabbb') and {m: len(v) for m, v in ts.items()} == dict(a=4, b=4)

def main():
    tests = [(n, f) for n, f in globals().items() if n.startswith('test_')]
    for name, f in tests:
        if f.__code__.co_argcount:
            with tempfile.TemporaryDirectory() as d: f(Path(d))
        else: f()
        print(f"ok  {name}")
    print(f"{len(tests)} tests passed")

if __name__ == '__main__': main()
