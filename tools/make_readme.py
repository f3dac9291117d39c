#!/usr/bin/env python
"""Generate README.md from nbs/index.ipynb (its saved outputs; nothing is executed, no Quarto needed).

    python tools/make_readme.py           # rewrite README.md
    python tools/make_readme.py --check   # exit 1, with a diff, if README.md is not what index.ipynb generates

The index notebook goes through nbdev's docs processing (title cell -> title, hidden cells removed, links added),
then nbconvert's Markdown exporter. Cells marked `#| echo: false` or `#| code-fold` show only their outputs. Every
image output must be byte-identical to a file under nbs/images/ (the notebook saves its figures there and displays
that file), and README.md links to that file: GitHub shows no notebook outputs and README.md holds no base64.
Relative links are rewritten from nbs/ to the repository root. Offline, deterministic, a few seconds.
"""
import argparse, base64, difflib, hashlib, re, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_common import ROOT, NBS, process_nb, apply_cell_options, frontmatter_md, to_nbformat, exporter

INDEX = NBS/'index.ipynb'
README = ROOT/'README.md'
IMAGES = NBS/'images'
_IMG_MIMES = ('image/png', 'image/jpeg', 'image/gif')

class ReadmeError(Exception): pass

def _image_index()->dict:
    "sha256 of each file under nbs/images -> its path relative to nbs/ (posix), as the notebook would link it."
    if not IMAGES.is_dir(): return {}
    return {hashlib.sha256(f.read_bytes()).hexdigest(): f.relative_to(NBS).as_posix()
            for f in sorted(IMAGES.rglob('*')) if f.is_file()}

def _outputs_to_links(nb):
    "Replace each image output by a Markdown image linking the identical file in nbs/images; drop stderr."
    imgs = _image_index()
    for i, c in enumerate(nb.cells):
        if c.cell_type != 'code': continue
        outs = []
        for o in c.get('outputs', []):
            if o.get('output_type') == 'stream' and o.get('name') == 'stderr': continue
            if o.get('output_type') == 'error':
                raise ReadmeError(f'index.ipynb: a cell shows an error ({o.get("ename")}: {o.get("evalue")}); fix it and re-execute the notebook')
            data = o.get('data', {})
            mime = next((m for m in _IMG_MIMES if m in data), None)
            if mime:
                raw = data[mime]; raw = ''.join(raw) if isinstance(raw, list) else raw
                h = hashlib.sha256(base64.b64decode(raw)).hexdigest()
                if h not in imgs:
                    raise ReadmeError('index.ipynb: an image output has no identical file under nbs/images/. Save the figure '
                        'there and display that file (see the figure cell), then re-execute the notebook: '
                        '`ASGE_DATA=/path/to/data jupyter nbconvert --to notebook --execute --inplace nbs/index.ipynb`')
                alt = Path(imgs[h]).stem.replace('_', ' ').replace('-', ' ')
                o = dict(output_type='display_data', metadata={}, data={'text/markdown': f'![{alt}]({imgs[h]})'})
            elif 'image/svg+xml' in data:
                raise ReadmeError('index.ipynb: SVG outputs are not supported in README.md; save a PNG under nbs/images/ instead')
            outs.append(o)
        c.outputs = outs

_re_fence = re.compile(r'^(```|~~~)')
_re_link = re.compile(r'(!?\[[^\]\n]*\]\()([^)\s]+)')
_re_html_src = re.compile(r'((?:src|href)=")([^"]+)')

def _doc_url()->str:
    "The docs site's address, from settings.ini."
    import configparser
    c = configparser.ConfigParser(); c.read(ROOT/'settings.ini')
    return c['DEFAULT']['doc_host'] + c['DEFAULT'].get('doc_baseurl', '')

def _fix_rel(target:str)->str:
    "A link target written relative to nbs/, made relative to the repository root (a docs page: its address)."
    if re.match(r'^([a-z][a-z0-9+.-]*:|#|/)', target, re.I): return target   # absolute URL, anchor, site-absolute
    if re.match(r'^[^/]+\.html(#.*)?$', target): return f"{_doc_url()}/{target}"   # a page that exists on the site only
    return target[3:] if target.startswith('../') else 'nbs/' + target

def _rewrite_links(md:str)->str:
    "Relative links written from nbs/ (notebooks, images) made relative to the repository root; code blocks untouched."
    out, fenced = [], False
    for line in md.split('\n'):
        if _re_fence.match(line.lstrip()): fenced = not fenced
        elif not fenced:
            line = _re_link.sub(lambda m: m.group(1) + _fix_rel(m.group(2)), line)
            line = _re_html_src.sub(lambda m: m.group(1) + _fix_rel(m.group(2)), line)
        out.append(line)
    return '\n'.join(out)

def render()->str:
    "The README.md text that nbs/index.ipynb generates."
    if not INDEX.exists(): raise ReadmeError(f'{INDEX.relative_to(ROOT)} not found')
    nb = process_nb(INDEX, execute_show_docs=False)
    head = frontmatter_md(nb)
    for c in nb.cells:   # nbdev's "do not edit" comment, naming the source and the generator
        if c.cell_type == 'markdown' and c.source.startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'):
            c.source = '<!-- WARNING: THIS FILE WAS AUTOGENERATED from nbs/index.ipynb by tools/make_readme.py! DO NOT EDIT! -->'
    apply_cell_options(nb, drop_folded=True)
    _outputs_to_links(nb)
    body, _ = exporter('markdown').from_notebook_node(to_nbformat(nb))
    if 'base64,' in body or ';base64' in body: raise ReadmeError('README.md would contain a base64 blob; save images under nbs/images/')
    md = _rewrite_links(head + '\n' + body)
    md = '\n'.join(l.rstrip() for l in md.split('\n'))
    md = re.sub(r'\n{3,}', '\n\n', md).strip() + '\n'
    return md

def check()->tuple:
    "(ok, message): is README.md what index.ipynb generates? For CI: `python tools/make_readme.py --check`."
    try: want = render()
    except ReadmeError as e: return False, f'make_readme: {e}'
    have = README.read_text(encoding='utf-8') if README.exists() else ''
    if have == want: return True, 'make_readme: README.md is up to date with nbs/index.ipynb'
    diff = list(difflib.unified_diff(have.splitlines(), want.splitlines(), 'README.md (committed)', 'README.md (from nbs/index.ipynb)', lineterm='', n=1))
    shown = '\n'.join(diff[:60]) + (f'\n... ({len(diff) - 60} more diff lines)' if len(diff) > 60 else '')
    return False, ('make_readme: README.md differs from what nbs/index.ipynb generates. README.md is generated: edit '
                   'nbs/index.ipynb (and re-execute it if outputs changed), then run `python tools/make_readme.py`.\n' + shown)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--check', action='store_true', help='only check; exit 1 if README.md is out of date')
    a = ap.parse_args(argv)
    t0 = time.time()
    if a.check:
        ok, msg = check()
        print(msg, file=sys.stdout if ok else sys.stderr)
        return 0 if ok else 1
    try: md = render()
    except ReadmeError as e: print(f'make_readme: {e}', file=sys.stderr); return 1
    changed = not README.exists() or README.read_text(encoding='utf-8') != md
    README.write_text(md, encoding='utf-8')
    print(f"make_readme: {'wrote' if changed else 'unchanged'} README.md ({len(md)} chars) from nbs/index.ipynb in {time.time() - t0:.1f}s")
    return 0

if __name__ == '__main__': sys.exit(main())
