#!/usr/bin/env python
"""Check the docs site offline, without Quarto: process, render, screenshot, and fail on broken pages.

    python tools/check_docs.py [--out DIR] [--shots index 02_goodness] [--no-shots] [--strict]

1. Every notebook in nbs/ goes through nbdev's own docs processing (what `nbdev_docs` does before Quarto: frontmatter
   from the title cell, show_doc tables added and executed, hidden and exported cells removed, links added); the
   processed notebooks are written to DIR/_proc/.
2. nbconvert's HTML exporter renders them to DIR/html/*.html (images embedded; `#| echo: false` honoured).
3. Headless Chromium screenshots the chosen pages to DIR/<page>.png (default: index and 02_goodness).
4. It fails (exit 1, a line per problem) if: a page is missing, empty or very short; a page shows an error or a
   Python traceback; a notebook lacks its Colab badge, or its first code cell is not the hidden Colab install cell;
   nbs/sidebar.yml names a notebook that does not exist, leaves one out, or is not what tools/make_sidebar.py
   writes; index.ipynb's saved reading-order list lacks a page; README.md is not what nbs/index.ipynb generates
   (tools/make_readme.py --check); a saved output shows an absolute path of the machine that ran it (a home,
   temporary or checkout folder: say paths relative to the data root or the project instead). Warnings (a figure cell with no saved output, stderr output) fail with --strict.
DIR defaults to _docs_check/ (gitignored). Step 3 needs Chromium: $CHROMIUM, /usr/bin/chromium (Debian:
`apt-get install -y chromium`), chromium-browser or google-chrome (GitHub's runners have it).
"""
import argparse, html, io, os, re, shutil, subprocess, sys, tempfile, time, warnings
from contextlib import redirect_stdout, redirect_stderr
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_common import (ROOT, NBS, COLAB_BADGE_SVG, colab_url, read_raw, first_code_source, is_colab_install_cell,
                         process_nb, apply_cell_options, frontmatter_md, to_nbformat, exporter, _src)
import make_sidebar, make_readme

MIN_TEXT = 400          # a page with less visible text than this counts as empty
CHROMIUM = '/usr/bin/chromium'

def notebooks()->list:
    "Notebook names under nbs/ that nbdev would publish (not _-prefixed, no checkpoints)."
    return sorted(p.relative_to(NBS).as_posix() for p in NBS.rglob('*.ipynb')
                  if not any(part.startswith(('_', '.')) for part in p.relative_to(NBS).parts))

def sidebar_entries()->list:
    "Notebook names nbs/sidebar.yml lists, in order."
    import yaml
    def walk(items):
        for it in items or []:
            if isinstance(it, str): yield it
            elif isinstance(it, dict):
                if 'href' in it: yield it['href']
                yield from walk(it.get('contents'))
    d = yaml.safe_load((NBS/'sidebar.yml').read_text())
    return list(walk(d['website']['sidebar']['contents']))

def check_sidebar(problems:list)->list:
    "Sidebar vs notebooks; returns the pages in sidebar order, then any others."
    nbs = notebooks()
    if not (NBS/'sidebar.yml').exists():
        problems.append('nbs/sidebar.yml is missing; run `python tools/make_sidebar.py`'); return nbs
    listed = [e for e in sidebar_entries() if e.endswith(('.ipynb', '.qmd', '.md'))]
    for e in listed:
        if not (NBS/e).exists(): problems.append(f'sidebar: nbs/sidebar.yml names {e}, which does not exist; run `python tools/make_sidebar.py`')
    for nb in nbs:
        if nb not in listed:
            hint = ('run `python tools/make_sidebar.py`' if nb in make_sidebar.planned()
                    else 'add it to SECTIONS in tools/make_sidebar.py, then run `python tools/make_sidebar.py`')
            problems.append(f'sidebar: {nb} is missing from nbs/sidebar.yml; {hint}')
    text, _ = make_sidebar.render()
    if (NBS/'sidebar.yml').read_text() != text and not any(p.startswith('sidebar:') for p in problems):
        problems.append('sidebar: nbs/sidebar.yml differs from what tools/make_sidebar.py writes; run `python tools/make_sidebar.py`')
    if 'index.ipynb' not in nbs: problems.append('index: nbs/index.ipynb is missing')
    return [e for e in listed if e in nbs] + [nb for nb in nbs if nb not in listed]

def check_reading_order(pages:list, problems:list):
    "index.ipynb's saved reading-order list must name every page of the sidebar (it is generated from sidebar.yml)."
    if not (NBS/'index.ipynb').exists(): return
    outs = ''.join(str(o.get('data', {}).get('text/markdown', '')) for c in read_raw(NBS/'index.ipynb')['cells'] for o in c.get('outputs', []))
    stale = [p for p in pages if p != 'index.ipynb' and f'({p})' not in outs]
    if stale: problems.append(f"index.ipynb: its saved reading-order list lacks {', '.join(stale)}; re-execute it "
                              "(`ASGE_DATA=/path/to/data jupyter nbconvert --to notebook --execute --inplace nbs/index.ipynb`, then "
                              "`nbdev_clean --fname nbs/index.ipynb` and `python tools/make_readme.py`)")

def check_source(nb:str, problems:list):
    "Checks on the notebook as committed: title cell, Colab badge, Colab install as the first code cell."
    cells = read_raw(NBS/nb)['cells']
    if not cells or cells[0]['cell_type'] != 'markdown' or not _src(cells[0]).startswith('# '):
        problems.append(f'{nb}: the first cell should be the title cell (`# Title` and `> description`)')
    md = ''.join(_src(c) for c in cells if c['cell_type'] == 'markdown')
    if COLAB_BADGE_SVG not in md: problems.append(f'{nb}: no "Open In Colab" badge (a markdown cell after the title: [![Open In Colab]({COLAB_BADGE_SVG})]({colab_url(nb)}))')
    elif colab_url(nb) not in md: problems.append(f'{nb}: its Colab badge does not point to itself ({colab_url(nb)})')
    if not is_colab_install_cell(first_code_source(NBS/nb)):
        problems.append(f"{nb}: the first code cell is not the hidden Colab install cell (copy it from nbs/01_partition.ipynb); it is: "
                        f"{first_code_source(NBS/nb).strip().splitlines()[0] if first_code_source(NBS/nb).strip() else '(no code cell)'!r}")

# a home, temporary or checkout folder of the machine that ran a notebook; readers' machines differ
_re_abs_path = re.compile(r'(?<![\w.:/-])(?:/(?:home|root|tmp|var/folders|private/var|Users|work|content|mnt|opt|srv)/'
                          r'|[A-Za-z]:\\(?:Users|Temp)\\)[^\s\'"<>]*')

def output_texts(cell)->list:
    "The text a cell's saved outputs show (streams, plain text, Markdown, HTML, errors)."
    out = []
    for o in cell.get('outputs', []):
        if 'text' in o: out.append(_src({'source': o['text']}))
        for k in ('text/plain', 'text/markdown', 'text/html'):
            if k in o.get('data', {}): out.append(_src({'source': o['data'][k]}))
        if o.get('output_type') == 'error': out.append('\n'.join(o.get('traceback', [])))
    return out

def absolute_paths(text:str)->list:
    "Absolute paths of a home, temporary or checkout folder in `text`."
    return _re_abs_path.findall(text)

def check_output_paths(nb:str, problems:list):
    "Saved outputs must not show where the notebook was run: no absolute home, temporary or checkout paths."
    for i, c in enumerate(read_raw(NBS/nb)['cells']):
        found = [p for t in output_texts(c) for p in absolute_paths(t)]
        if found: problems.append(f"{nb}: cell {i}'s saved output shows an absolute path of the machine that ran it "
                                  f"({found[0]!r}); print it relative to the data root or the project, then re-execute")

def _visible_text(h:str)->str:
    h = re.sub(r'(?is)<(script|style|head)\b.*?</\1>', ' ', h)
    return re.sub(r'\s+', ' ', html.unescape(re.sub(r'(?s)<[^>]+>', ' ', h))).strip()

_re_pandoc_attr = re.compile(r'(\]\([^)\s]*\))\{[^}\n]*\}')

def _strip_pandoc_attrs(nb):
    "Quarto reads `[text](url){target=...}`; nbconvert's Markdown does not: drop the `{...}` so the page reads cleanly."
    for c in nb.cells:
        if c.cell_type == 'markdown': c.source = _re_pandoc_attr.sub(r'\1', _src(c))
        for o in c.get('outputs', []):
            md = o.get('data', {}).get('text/markdown')
            if md is not None: o['data']['text/markdown'] = _re_pandoc_attr.sub(r'\1', ''.join(md) if isinstance(md, list) else md)

def render_page(nb:str, out:Path, problems:list, warns:list)->dict:
    "Process `nb` with nbdev, write _proc/ and html/ versions, check them; returns facts for the summary line."
    from execnb.nbio import write_nb
    t0, facts = time.time(), {}
    log = io.StringIO()
    try:
        with redirect_stdout(log), redirect_stderr(log), warnings.catch_warnings():
            warnings.simplefilter('ignore')
            pnb = process_nb(NBS/nb, execute_show_docs=True)
    except Exception as e:
        problems.append(f'{nb}: nbdev processing failed (the docs build would fail too): {type(e).__name__}: {str(e).strip()[:600]}')
        return facts
    (out/'_proc'/nb).parent.mkdir(parents=True, exist_ok=True)
    write_nb(pnb, out/'_proc'/nb)
    for c in pnb.cells:
        for o in c.get('outputs', []):
            if o.get('output_type') == 'error':
                problems.append(f"{nb}: a cell shows an error output: {o.get('ename')}: {str(o.get('evalue'))[:200]}")
            elif o.get('output_type') == 'stream' and o.get('name') == 'stderr':
                txt = ''.join(o.get('text', ''))
                (problems if 'Traceback' in txt else warns).append(f"{nb}: a cell shows stderr output: {txt.strip().splitlines()[0][:160] if txt.strip() else ''}")
    head = frontmatter_md(pnb)
    apply_cell_options(pnb, drop_folded=False)
    _strip_pandoc_attrs(pnb)
    for c in pnb.cells:
        if c.cell_type == 'code' and not c.get('outputs') and re.search(r'\b(plt\.|imshow|display\(|\.show\(\))', _src(c)):
            warns.append(f"{nb}: a plotting cell has no saved output, so the docs show no figure there: {_src(c).strip().splitlines()[0][:80]!r}")
    n_cells = len(pnb.cells)
    nbf = to_nbformat(pnb)
    if head: nbf.cells.insert(0, __import__('nbformat').v4.new_markdown_cell(head))
    body, _ = exporter('html', embed_images=True).from_notebook_node(nbf, resources={'metadata': {'path': str(NBS/Path(nb).parent), 'name': Path(nb).stem}})
    page = out/'html'/Path(nb).with_suffix('.html')
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(body, encoding='utf-8')
    text = _visible_text(body)
    if len(text) < MIN_TEXT: problems.append(f'{nb}: the rendered page is (nearly) empty: {len(text)} characters of text')
    tb = 'Traceback (most recent call last)'   # what Python prints; a test may name the word in its code
    if tb in text: problems.append(f"{nb}: the rendered page shows a Python traceback (…{text[max(0, text.index(tb) - 60):text.index(tb) + 100]}…)")
    if COLAB_BADGE_SVG not in body: problems.append(f'{nb}: the rendered page has no Colab badge')
    facts.update(cells=n_cells, chars=len(text), images=len(re.findall(r'<img\b', body)), tables=len(re.findall(r'<table\b', body)),
                 show_docs=sum('show_doc(' in _src(c) for c in pnb.cells), secs=time.time() - t0, html=page)
    return facts

def screenshot(page:Path, png:Path, width:int, height:int, problems:list):
    "A headless Chromium screenshot of `page` (fresh profile, no network services)."
    chrome = next((c for c in (os.environ.get('CHROMIUM'), CHROMIUM, shutil.which('chromium'), shutil.which('chromium-browser'),
                               shutil.which('google-chrome')) if c and Path(c).exists()), None)
    if not chrome:
        problems.append('screenshots: chromium not found; install it with `apt-get update && apt-get install -y chromium` (or pass --no-shots)'); return
    with tempfile.TemporaryDirectory(prefix='check_docs_chrome_') as prof:
        cmd = [chrome, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
               '--disable-component-update', '--disable-sync', '--disable-extensions', '--hide-scrollbars', '--mute-audio',
               f'--user-data-dir={prof}', f'--window-size={width},{height}', '--virtual-time-budget=3000',
               f'--screenshot={png}', page.resolve().as_uri()]
        try: r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        except subprocess.TimeoutExpired: problems.append(f'screenshots: chromium timed out on {page.name}'); return
    if r.returncode != 0 or not png.exists():
        problems.append(f'screenshots: chromium failed on {page.name} (exit {r.returncode}): {r.stderr.strip()[-400:]}'); return
    try:
        import matplotlib.image as mpimg
        a = mpimg.imread(png)
        if a.std() < 0.01: problems.append(f'screenshots: {png} is blank'); return
        rows = (a[..., :3] < 0.97).any(axis=(1, 2)).nonzero()[0]       # crop the empty window below the page
        if len(rows) and rows.max() + 40 < a.shape[0]: mpimg.imsave(png, a[:rows.max() + 40])
        elif len(rows): print(f'  note: {png.name} fills the whole window; pass a larger --height to see all of the page')
    except Exception as e: problems.append(f'screenshots: cannot read {png}: {e}')

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=str(ROOT/'_docs_check'), help='output folder (default: _docs_check/)')
    ap.add_argument('--shots', nargs='*', default=['index', '02_goodness'], help='pages to screenshot (notebook stems)')
    ap.add_argument('--no-shots', action='store_true', help='skip the Chromium screenshots')
    ap.add_argument('--strict', action='store_true', help='treat warnings (e.g. a figure cell without saved output) as failures')
    ap.add_argument('--width', type=int, default=1280); ap.add_argument('--height', type=int, default=8000)
    a = ap.parse_args(argv)
    t0, out = time.time(), Path(a.out).resolve()
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    problems, warns = [], []
    pages = check_sidebar(problems)
    for nb in pages: check_source(nb, problems); check_output_paths(nb, problems)
    print(f'check_docs: {len(pages)} pages; processed notebooks in {out/"_proc"}, HTML in {out/"html"}')
    facts = {}
    for nb in pages:
        f = facts[nb] = render_page(nb, out, problems, warns)
        mine = [p for p in problems if p.startswith(nb + ':')]
        status = 'FAIL' if mine else 'ok  '
        if f: print(f"  {status} {nb:24s} {f['cells']:3d} cells, {f['show_docs']:2d} show_doc, {f['tables']:2d} tables, {f['images']:2d} images, {f['chars']:6d} chars of text ({f['secs']:.1f}s)")
        else: print(f'  {status} {nb:24s} not rendered')
    if not a.no_shots:
        for stem in a.shots:
            nb = next((p for p in pages if Path(p).stem == stem), None)
            if nb is None or not facts.get(nb): problems.append(f'screenshots: no rendered page {stem!r} to screenshot'); continue
            png = out/f'{stem}.png'
            screenshot(facts[nb]['html'], png, a.width, a.height, problems)
            if png.exists(): print(f'  shot {png} ({png.stat().st_size // 1024} KiB)')
    check_reading_order(pages, problems)
    ok, msg = make_readme.check()
    if not ok: problems.append(msg)
    else: print(f'  ok   README.md is up to date with nbs/index.ipynb')
    for w in warns: print(f'  warning: {w}')
    if a.strict: problems += [f'(--strict) {w}' for w in warns]
    if problems:
        print(f'check_docs: FAILED, {len(problems)} problem(s) ({time.time() - t0:.0f}s):', file=sys.stderr)
        for p in problems: print(f'  - {p}', file=sys.stderr)
        return 1
    print(f'check_docs: all {len(pages)} pages OK ({time.time() - t0:.0f}s)')
    return 0

if __name__ == '__main__': sys.exit(main())
