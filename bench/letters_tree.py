"""A user's own tree of small grayscale images: letters, 28 px, 26 classes, through `imagefolder:` with defaults.

No letters dataset ships with torchvision's offline copies here, so this script draws one: each of the 26 letters (upper
and lower case in one class, as EMNIST's letters do) rendered white on black from the system's TrueType fonts, at a
random size, rotation, shear, offset and stroke width, blurred and noised, at 28 x 28. The training images and the
held-out images come from different fonts, so the test asks for letters in faces the network never saw. Mirrored
letters are other letters or none ("b"/"d", "p"/"q"), as with digits.

    python bench/letters_tree.py --tree /tmp/letters                  # write the tree (~1 min), then train on it
    python bench/letters_tree.py --tree /tmp/letters --no-train       # only write it

The run is `asge_train imagefolder:<tree>` with every setting left at its default but the width and epochs of the
CPU rows (VGG8 x 1/8, 3 epochs); its metrics go into bench/results/letters_cpu.json with the command and hardware.
"""
if not __package__: import _bootstrap  # noqa: F401  (run as a file: see bench/_bootstrap.py)
import argparse, json, random, string, sys, tempfile, time
from pathlib import Path
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from bench.common import RESULTS, save_results

FONT_DIRS = ('/usr/share/fonts', '/usr/local/share/fonts', '/Library/Fonts', 'C:/Windows/Fonts')

def fonts()->list:
    "Every TrueType font file found, sorted by name (fonts of symbols or maths left out)."
    found = [p for d in FONT_DIRS if Path(d).exists() for p in Path(d).rglob('*.ttf')]
    return sorted(p for p in found if not any(s in p.name for s in ('Math', 'Symbol', 'Emoji')))

def split_fonts(fs:list, n_test:int=8, seed:int=0)->tuple:
    "The fonts, shuffled by `seed`: (training fonts, held-out fonts)."
    fs = fs[:]; random.Random(seed).shuffle(fs)
    return fs[n_test:], fs[:n_test]

def letter(ch:str, font:Path, rng:random.Random, size:int=28)->Image.Image:
    "One letter drawn white on black at `size` px: random scale, stroke, rotation, shear, offset, blur and noise."
    big = 4 * size
    f = ImageFont.truetype(str(font), int(big * rng.uniform(.55, .8)))
    img = Image.new('L', (big, big))
    ImageDraw.Draw(img).text((big / 2, big / 2), ch, fill=255, font=f, anchor='mm', stroke_width=rng.randint(0, 3),
                             stroke_fill=255)
    sh = rng.uniform(-.25, .25)
    img = img.transform((big, big), Image.AFFINE, (1, sh, -sh * big / 2, 0, 1, 0), Image.BILINEAR)
    img = img.rotate(rng.uniform(-15, 15), Image.BILINEAR, translate=(rng.uniform(-8, 8), rng.uniform(-8, 8)))
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 2))).resize((size, size), Image.LANCZOS)
    a = np.asarray(img, np.float32) + np.random.default_rng(rng.randrange(2**32)).normal(0, 8, (size, size))
    return Image.fromarray(a.clip(0, 255).astype(np.uint8))

def write_tree(folder, n_train:int=600, n_test:int=150, seed:int=0)->Path:
    "train/<letter>/ and val/<letter>/ with `n_train` and `n_test` images per letter, from disjoint fonts."
    folder = Path(folder)
    if (folder / '.complete').exists(): return folder
    train_fonts, test_fonts = split_fonts(fonts(), seed=seed)
    if not test_fonts or not train_fonts: raise RuntimeError(f"too few TrueType fonts found in {FONT_DIRS}")
    rng = random.Random(seed)
    for split, fs, n in (('train', train_fonts, n_train), ('val', test_fonts, n_test)):
        for lo in string.ascii_lowercase:
            (folder / split / lo).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                ch = lo if i % 2 else lo.upper()
                letter(ch, rng.choice(fs), rng).save(folder / split / lo / f'{i:04d}.png')
    (folder / '.complete').touch()
    return folder

def train(tree:Path, a)->dict:
    "`asge_train` on the tree with its defaults (but width, epochs, seed); the run's metrics."
    from asge_nb.cli import asge_train
    out = tempfile.mkdtemp(prefix='asge_letters_')
    args = ['--dataset', f'imagefolder:{tree}', '--width', str(a.width), '--epochs', str(a.epochs),
            '--seed', str(a.seed), '--out', out, '--device', 'cpu', '--no-progress']
    if status := asge_train(args): raise SystemExit(f"asge_train exited with status {status}")
    m = json.loads((Path(out) / 'metrics.json').read_text())
    return dict(command='asge_train ' + ' '.join(args[:-5] + args[-3:]), seed=a.seed,
                **{k: m.get(k) for k in ('test_acc', 'best_layer', 'wall_s', 'data', 'config', 'fusion_range',
                                         'fusion_weights', 'lr_probe', 'batch')})

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--tree', default=str(Path(tempfile.gettempdir()) / 'asge_letters'))
    p.add_argument('--width', type=float, default=.125); p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--seed', type=int, default=0); p.add_argument('--no-train', action='store_true')
    p.add_argument('--out', default=str(RESULTS / 'letters_cpu.json'))
    a = p.parse_args(argv)
    t0 = time.time(); tree = write_tree(a.tree); print(f"tree at {tree} ({time.time() - t0:.0f}s)")
    if a.no_train: return
    r = train(tree, a); t = r['test_acc']
    print(f"letters: fusion {t['fusion']}  best {t['best']}  last {t['last']}  ({r['wall_s']:.0f}s)")
    save_results(a.out, [r], 'letters_cpu', key=lambda r: (r['seed'], r['config']['recipe']))

if __name__ == '__main__': main()
