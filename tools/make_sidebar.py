#!/usr/bin/env python
"""Write nbs/sidebar.yml, the docs site's sidebar, in reading order.

    python tools/make_sidebar.py           # rewrite nbs/sidebar.yml
    python tools/make_sidebar.py --check   # exit 1 if nbs/sidebar.yml differs from what this script writes

To add a notebook to the site, add its file name to SECTIONS below and rerun. Notebooks listed here that do
not exist yet are left out (and named on stderr), so the list can run ahead of the work.
`tools/check_docs.py` fails when a notebook in nbs/ is in no section, or the sidebar names a missing one.
"""
import argparse, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT/'nbs'
SIDEBAR = NBS/'sidebar.yml'

# (section title, notebooks in reading order); index.ipynb always comes first, outside any section
SECTIONS = [
    ('Start here', ['00_asge_in_one_page.ipynb', 'glossary.ipynb']),
    ('Mechanisms', ['01_partition.ipynb', '02_goodness.ipynb', '03_projection.ipynb', '04_pooling.ipynb',
                    '05_model.ipynb', '06_prediction.ipynb']),
    ('Data', ['07_data.ipynb', '07b_loaders.ipynb', '08_images.ipynb']),
    ('Training', ['09_config.ipynb', '10_evaluate.ipynb', '11_checkpoint.ipynb', '12_parallel.ipynb',
                  '13_train.ipynb', '14_cli.ipynb', '15_your_data.ipynb', '16_many_gpus.ipynb']),
    ('Explore', ['17_explorer.ipynb', '18_live.ipynb']),
    ('Full training', ['19_cifar.ipynb', '20_imagenet.ipynb']),
    ('Studies', ['21_ablations.ipynb', '22_baselines.ipynb']),
    ('Benchmarks', ['30_performance.ipynb']),
]

def planned()->list:
    "Every notebook SECTIONS names, index first."
    return ['index.ipynb'] + [nb for _, nbs in SECTIONS for nb in nbs]

def render(nbs_path:Path=NBS)->tuple:
    "(sidebar.yml text, [planned notebooks that do not exist yet])"
    lines = ['website:', '  sidebar:', '    contents:', '      - index.ipynb']
    missing = [nb for nb in planned() if not (nbs_path/nb).exists()]
    for title, nbs in SECTIONS:
        present = [nb for nb in nbs if nb not in missing]
        if not present: continue
        lines += [f'      - section: {title}', '        contents:'] + [f'          - {nb}' for nb in present]
    return '\n'.join(lines) + '\n', missing

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--check', action='store_true', help='only check that nbs/sidebar.yml is up to date')
    a = ap.parse_args(argv)
    text, missing = render()
    if missing: print(f"make_sidebar: not written yet, left out: {', '.join(missing)}", file=sys.stderr)
    if a.check:
        if not SIDEBAR.exists() or SIDEBAR.read_text() != text:
            print('make_sidebar: nbs/sidebar.yml is out of date; run `python tools/make_sidebar.py`', file=sys.stderr)
            return 1
        print('make_sidebar: nbs/sidebar.yml is up to date'); return 0
    SIDEBAR.write_text(text)
    print(f'make_sidebar: wrote {SIDEBAR.relative_to(ROOT)}')
    return 0

if __name__ == '__main__': sys.exit(main())
