#!/usr/bin/env python
"""Check the shape of the code: the rules a reader relies on to find a piece and to know what it may import.

    python tools/check_structure.py          # exit 1 and a line per breach
    python tools/check_structure.py --arrows # the import rule only (the index runs it with the tests)

1. Arrows follow the reading order: a module of the package imports only modules exported by notebooks that come
   before its own (lower number), at the top of the file or inside a function alike. No cycle can then exist.
2. Sizes: no module over 500 lines of code (blank lines and nbdev's cell markers not counted; the generated
   `_modidx.py` aside), no function over 60 lines (package and
   bench/), no code cell over 40 lines shown unfolded in the docs (a cell is folded by `#| code-fold: true`, or not
   shown at all by `#| hide` / `#| echo: false`), no line over 120 characters in the package (the generated module docstring and
   `__all__` aside) or in a notebook's code.
3. Every public function, class and public method of the package has a docstring (the docs show it).
"""
import ast, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG, NBS = ROOT/'asge_nb', ROOT/'nbs'
MAX_MODULE, MAX_FUNC, MAX_CELL, MAX_LINE = 500, 60, 40, 120

def cells(nb:Path)->list:
    "The code cells of a notebook, as source strings."
    return [''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']

def lesson_order()->dict:
    "module name -> (position of its notebook in reading order, notebook name)"
    order = {}
    for i, nb in enumerate(sorted(NBS.glob('[0-9]*.ipynb'))):
        for src in cells(nb):
            if m := re.search(r'^#\|\s*default_exp\s+(\S+)', src, re.M): order[m.group(1)] = (i, nb.name)
    return order

def imported_modules(tree:ast.Module)->list:
    "(line, module) for every import of one of the package's modules, anywhere in the file."
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.level == 1: found.append((node.lineno, node.module.split('.')[0]))
            elif node.module.startswith('asge_nb.'): found.append((node.lineno, node.module.split('.')[1]))
            elif node.module == 'asge_nb': found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 1:   # from . import x
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split('.')[1]) for a in node.names if a.name.startswith('asge_nb.')]
    return found

def check_arrows(problems:list):
    "Rule 1."
    order = lesson_order()
    for py in sorted(PKG.glob('*.py')):
        if py.stem.startswith('_'): continue
        if py.stem not in order: problems.append(f"{py.name}: no notebook exports it (#| default_exp {py.stem})"); continue
        me, nb = order[py.stem]
        for line, mod in imported_modules(ast.parse(py.read_text())):
            if mod in order and order[mod][0] >= me and mod != py.stem:
                problems.append(f"{py.name}:{line} imports {mod} ({order[mod][1]}), a lesson that does not come "
                                f"before its own ({nb})")

def check_python(py:Path, problems:list, docs:bool):
    "Rules 2 and 3 for one Python file."
    text = py.read_text(); lines = text.splitlines(); name = py.relative_to(ROOT)
    n = sum(1 for l in lines if l.strip() and not l.startswith('# %% '))   # blank lines and nbdev's cell markers aside
    if py.parent == PKG and n > MAX_MODULE: problems.append(f"{name}: {n} lines of code (> {MAX_MODULE})")
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            if n > MAX_FUNC: problems.append(f"{name}:{node.lineno} {node.name}: {n} lines (> {MAX_FUNC})")
    if not docs: return
    in_all = False
    for i, l in enumerate(lines, 1):   # nbdev generates line 1 (the page's subtitle) and `__all__`
        in_all = l.startswith('__all__') or (in_all and l.startswith(' '))
        if len(l) > MAX_LINE and not in_all and i > 1: problems.append(f"{name}:{i}: line of {len(l)} characters")
    public = lambda n: (not n.startswith('_') or n == '__call__') and n != 'extra_repr'
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and public(node.name):
            if not ast.get_docstring(node): problems.append(f"{name}:{node.lineno} {node.name}: no docstring")
            if isinstance(node, ast.ClassDef):
                for m in node.body:
                    if isinstance(m, ast.FunctionDef) and public(m.name) and not ast.get_docstring(m) \
                       and not any(isinstance(d, ast.Name) and d.id == 'property' for d in m.decorator_list):
                        problems.append(f"{name}:{m.lineno} {node.name}.{m.name}: no docstring")

def shown_unfolded(src:str)->bool:
    "Whether the docs show this cell's code unfolded."
    return not re.search(r'^#\|\s*(hide|echo:\s*false|code-fold:\s*true|include:\s*false)\b', src, re.M)

def check_notebooks(problems:list):
    "Rule 2 for the notebooks' code cells."
    for nb in sorted(NBS.glob('*.ipynb')):
        for k, src in enumerate(cells(nb)):
            n = len(src.splitlines())
            if n > MAX_CELL and shown_unfolded(src):
                problems.append(f"{nb.name}: code cell {k} ({src.splitlines()[0][:50]!r}...) has {n} lines, unfolded")
            for l in src.splitlines() if not re.search(r'^#\|\s*hide\b', src, re.M) else []:
                if len(l) > MAX_LINE:
                    problems.append(f"{nb.name}: code cell {k}: line of {len(l)} characters: {l[:60]!r}...")
                    break

def main()->int:
    problems = []
    check_arrows(problems)
    if '--arrows' not in sys.argv:
        for py in sorted(PKG.glob('*.py')):
            if not py.stem.startswith('_'): check_python(py, problems, docs=True)
        for py in sorted((ROOT/'bench').glob('*.py')): check_python(py, problems, docs=False)
        check_notebooks(problems)
    for p in problems: print(f"check_structure: {p}")
    print(f"check_structure: {'OK' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0

if __name__ == '__main__': sys.exit(main())
