"""Shared by tools/make_readme.py and tools/check_docs.py: nbdev's notebook processing without Quarto, plus the few
Quarto cell options (`#| echo`, `#| include`, `#| output`, `#| code-fold`) that Quarto would apply afterwards."""
import contextlib, os, re, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT/'nbs'
REPO_URL = 'https://github.com/asge-nb/asge_nb'
COLAB_BADGE_SVG = 'https://colab.research.google.com/assets/colab-badge.svg'

def colab_url(nb_name:str)->str: return f'https://colab.research.google.com/github/asge-nb/asge_nb/blob/main/nbs/{nb_name}'

@contextlib.contextmanager
def in_dir(path):
    "Run the block with `path` as the working directory (nbdev's config lookup and the notebooks' relative paths need it)."
    old = os.getcwd(); os.chdir(path)
    try: yield
    finally: os.chdir(old)

def _src(cell)->str:
    s = cell.get('source', '')
    return ''.join(s) if isinstance(s, list) else s

def read_raw(path)->dict:
    "The notebook as plain JSON (no processing)."
    import json
    return json.loads(Path(path).read_text(encoding='utf-8'))

def first_code_source(path)->str:
    "Source of the first code cell of the notebook at `path` ('' if none)."
    return next((_src(c) for c in read_raw(path)['cells'] if c['cell_type'] == 'code'), '')

def is_colab_install_cell(src:str)->bool:
    "The project's convention: a `#| hide` cell that pip-installs the package from GitHub when (and only when) in Colab."
    lines = src.strip().splitlines()
    return bool(lines) and lines[0].replace(' ', '') == '#|hide' and "'google.colab' in sys.modules" in src and f'git+{REPO_URL}' in src

def process_nb(path, execute_show_docs:bool=True):
    """`path` processed the way `nbdev_docs` / `nbdev_preview` process it before Quarto sees it (frontmatter from the
    title cell, show_doc cells added and run, hidden/exported cells removed, links added). With `execute_show_docs`
    False nothing is executed (the README only needs saved outputs). Returns an execnb notebook (AttrDict)."""
    from execnb.nbio import read_nb
    from nbdev.processors import FilterDefaults, exec_show_docs, add_show_docs
    class _Procs(FilterDefaults):
        def base_procs(self):
            ps = super().base_procs()
            return ps if execute_show_docs else [p for p in ps if p not in (exec_show_docs, add_show_docs)]
    path = Path(path).resolve()
    with in_dir(path.parent), warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='Found cells containing imports')
        nb = read_nb(path)
        _Procs()(nb)
    return nb

_re_directive = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')

def split_directives(src:str)->tuple:
    "({option: value}, source without the leading `#| ...` lines)"
    lines, opts = src.splitlines(), {}
    while lines and _re_directive.match(lines[0]):
        k, v = _re_directive.match(lines[0]).groups()
        opts[k.lower()] = v.strip().strip('"\'').lower()
        lines.pop(0)
    return opts, '\n'.join(lines)

def apply_cell_options(nb, drop_folded:bool=False):
    """Apply the Quarto cell options nbconvert does not know, in place: `include: false` drops the cell, `echo: false`
    (and, with `drop_folded`, `code-fold`) hides the source, `output: false` drops the outputs; the `#|` lines go.
    Cells whose source is hidden get the tag `remove_input` (see `exporter`)."""
    keep = []
    for c in nb.cells:
        if c.cell_type == 'code':
            opts, body = split_directives(_src(c))
            if opts.get('include') == 'false': continue
            c.source = body
            if opts.get('output') == 'false': c.outputs = []
            if opts.get('echo') == 'false' or (drop_folded and 'code-fold' in opts) or not body.strip():
                c.setdefault('metadata', {}).setdefault('tags', []).append('remove_input')
            if not body.strip() and not c.get('outputs'): continue
        keep.append(c)
    nb.cells = keep
    return nb

def frontmatter_md(nb)->str:
    "Drop the frontmatter cell nbdev made from the title cell and return it as Markdown (`# title` and `> description`)."
    fm = getattr(nb, 'frontmatter_', None) or {}
    if nb.cells and nb.cells[0].cell_type == 'raw' and _src(nb.cells[0]).startswith('---'): nb.cells.pop(0)
    out = f"# {fm['title']}\n" if fm.get('title') else ''
    if fm.get('description'): out += f"\n> {fm['description']}\n"
    return out

def to_nbformat(nb):
    "An execnb notebook as an `nbformat.NotebookNode` that nbconvert accepts."
    import json, nbformat
    from execnb.nbio import nb2dict
    d = nb2dict(nb)
    for c in d['cells']:
        c.setdefault('metadata', {}); c.pop('id', None)
        if c['cell_type'] == 'code': c.setdefault('outputs', []); c.setdefault('execution_count', None)
    d.setdefault('metadata', {}); d['nbformat'], d['nbformat_minor'] = 4, 4
    return nbformat.reads(json.dumps(d), as_version=4)   # joins the line lists nbconvert cannot take

def exporter(kind:str='markdown', **kw):
    "nbconvert's Markdown or HTML exporter, honouring the `remove_input` tag and dropping input prompts."
    from traitlets.config import Config
    from nbconvert import MarkdownExporter, HTMLExporter
    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = ('remove_input',)
    c.TemplateExporter.exclude_input_prompt = True
    c.TemplateExporter.exclude_output_prompt = True
    return (MarkdownExporter if kind == 'markdown' else HTMLExporter)(config=c, **kw)
