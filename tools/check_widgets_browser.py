#!/usr/bin/env python
"""Run the interactive notebooks in a real browser (JupyterLab 4 + headless Chromium) and time the explorer's controls.

    ASGE_DATA=/path/to/data python tools/check_widgets_browser.py [--out DIR] [--explorer 17_explorer]
        [--live 18_live] [--limit 0.5] [--repeats 3] [--run-timeout 1200]

1. Copies the notebooks (outputs and saved widget state removed) to a temporary folder and starts `jupyter lab` there
   on a free localhost port with a random token, no browser, its own settings, workspaces and runtime folders
   (autosave off: nothing is written back to the repository). The environment, $ASGE_DATA included, passes through.
2. Opens each notebook in headless Chromium (Playwright driving $CHROMIUM or /usr/bin/chromium; `playwright install`
   is not needed), runs all cells (`notebook:run-all-cells`) and waits for the kernel to go idle. It fails if a cell
   shows an error output, a stderr Traceback, "Error displaying widget", or was left unrun.
3. --explorer notebooks: finds each displayed ipywidgets widget holding controls and an image (the goodness explorer),
   changes every control (dropdowns: choosing an option; sliders: typing into the readout + Enter; buttons,
   checkboxes: a click) `--repeats` times, and times, in the page, the input event until the widget's image shows
   the new picture (decoded), or, where the picture is unchanged, until its HTML text changes. Fails if a control's
   median exceeds --limit seconds or a change shows nothing within 10 s.
4. --live notebooks: fails unless some cell's image output changed at least twice while it ran (a live view).
5. Screenshots the whole notebook after the run, DIR/lab_<notebook>.png (a long one continues in _part2.png, ...),
   the explorer, DIR/lab_<notebook>_widget.png, and the live view, DIR/lab_<notebook>_live.png (a failed notebook:
   DIR/lab_<notebook>_failed.png); prints a line per notebook and per control; exit code 0 only if everything
   passed. The server and its kernels are shut down on every exit path (killed, the script takes them down too).
DIR defaults to _docs_check/ (gitignored). Needs `pip install playwright` (its Python package only).
"""
import argparse, atexit, json, os, secrets, shutil, signal, socket, statistics, subprocess, sys, tempfile, time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / 'nbs'
CHROME_ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
               '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage']
QUIET_S, SHOW_TIMEOUT_S = .3, 10.   # settle time between changes; longest wait for a change to show

# ----------------------------------------------------------------------------------------------- the server
def free_port()->int:
    "A localhost port that is free now."
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def prepare_folder(tmp:Path, names:list)->Path:
    "Copy the notebooks (no outputs, no saved widget state) and nbs/images into tmp/nbs; the folder Lab serves."
    nbs = tmp / 'nbs'; nbs.mkdir(parents=True)
    for n in names:
        nb = json.loads((NBS / n).read_text())
        nb.get('metadata', {}).pop('widgets', None)
        for c in nb['cells']:
            if c['cell_type'] == 'code': c['outputs'], c['execution_count'] = [], None
        (nbs / n).write_text(json.dumps(nb, indent=1))
    if (NBS / 'images').is_dir(): shutil.copytree(NBS / 'images', nbs / 'images')
    # user settings: no autosave, every cell kept in the page (no windowing), no news or update checks
    settings = {'@jupyterlab/docmanager-extension/plugin': dict(autosave=False),
                '@jupyterlab/notebook-extension/tracker': dict(windowingMode='none'),
                '@jupyterlab/apputils-extension/notification': dict(fetchNews='false', checkForUpdates=False)}
    for k, v in settings.items():
        f = tmp / 'settings' / f"{k}.jupyterlab-settings"; f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(v))
    return nbs

def _die_with_parent():
    "In the child before exec (Linux): SIGTERM when this script dies, even killed (the server then stops its kernels)."
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError): pass

def lab_python()->str:
    "A Python with JupyterLab: this one, else the repository's .venv."
    try: import jupyterlab  # noqa: F401
    except ImportError:
        venv = ROOT / '.venv' / 'bin' / 'python'
        if venv.exists(): return str(venv)
        sys.exit('check_widgets_browser: jupyterlab is not installed (pip install jupyterlab ipywidgets)')
    return sys.executable

class LabServer:
    "`jupyter lab` in a folder on a free port, with a token; `stop()` shuts it and its kernels down."
    def __init__(self, tmp:Path, root:Path):
        self.tmp, self.root, self.proc, self.token = tmp, root, None, secrets.token_hex(16)

    def start(self, timeout:float=90.):
        "Start the server and wait until its API answers."
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(self.tmp / 'config'), JUPYTER_RUNTIME_DIR=str(self.tmp / 'rt'),
                   JUPYTER_PLATFORM_DIRS='1', PYTHONUNBUFFERED='1')
        for attempt in range(3):   # the port may be taken between choosing and binding it
            self.port = free_port()
            cmd = [lab_python(), '-m', 'jupyterlab', '--no-browser', f'--port={self.port}', '--ip=127.0.0.1',
                   '--ServerApp.port_retries=0', f'--IdentityProvider.token={self.token}',
                   f'--ServerApp.root_dir={self.root}', '--LabApp.expose_app_in_browser=True',
                   f'--LabApp.user_settings_dir={self.tmp / "settings"}',
                   f'--LabApp.workspaces_dir={self.tmp / "workspaces"}', '--LabApp.news_url=None',
                   '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
                   '--LabApp.extension_manager=readonly', '--ServerApp.terminals_enabled=False']
            if hasattr(os, 'geteuid') and os.geteuid() == 0: cmd.append('--allow-root')   # containers, CI
            self.log = open(self.tmp / f'server{attempt}.log', 'wb')
            self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent)
            t = time.time()
            while time.time() - t < timeout and self.proc.poll() is None:
                try:
                    with urllib.request.urlopen(self.url('api/status'), timeout=5) as r:
                        if r.status == 200: return self
                except OSError: time.sleep(.3)
            self.stop()
            if 'already in use' not in self.log_tail(): break   # retry only a port taken meanwhile
        raise RuntimeError(f"jupyter lab did not start; its log ends:\n{self.log_tail()}")

    def url(self, path:str)->str:
        "The URL of a server path, with the token."
        return f"http://127.0.0.1:{self.port}/{path}{'&' if '?' in path else '?'}token={self.token}"

    def log_tail(self, n:int=3000)->str:
        "The end of the server's log."
        try: return Path(self.log.name).read_bytes()[-n:].decode(errors='replace')
        except (OSError, AttributeError): return ''

    def _children(self)->list:
        "Pids whose parent is the server (its kernels)."
        out = []
        for d in Path('/proc').iterdir():
            if d.name.isdigit():
                try: stat = (d / 'stat').read_text()
                except OSError: continue
                if int(stat.rsplit(')', 1)[1].split()[1]) == self.proc.pid: out.append(int(d.name))
        return out

    def stop(self):
        "Shut down: the API's shutdown (kernels first), then SIGTERM, then SIGKILL; leftover kernels by pid."
        p = self.proc
        if p is None or p.poll() is not None: self.proc = None; return
        kids = self._children()
        try:
            req = urllib.request.Request(self.url('api/shutdown'), method='POST')
            urllib.request.urlopen(req, timeout=5).close()
            p.wait(15)
        except (OSError, subprocess.TimeoutExpired):
            p.terminate()
            try: p.wait(10)
            except subprocess.TimeoutExpired: os.killpg(p.pid, signal.SIGKILL); p.wait(5)
        for k in kids:   # kernels run in their own sessions: end any the server left behind, by pid
            try: os.kill(k, signal.SIGKILL)
            except ProcessLookupError: pass
        self.proc = None; self.log.close()

# ----------------------------------------------------------------------------------------------- in the page
JS_HELPERS = r"""
() => {
  const C = window.__chk = {};
  C.panel = () => window.jupyterapp.shell.currentWidget;
  C.status = () => { const k = C.panel()?.sessionContext?.session?.kernel; return k ? k.status : 'none'; };
  // image outputs seen per cell while the notebook runs (a live view shows several)
  C.seen = {};
  const sig = s => s ? s.length + ':' + s.slice(-64) : '';
  C.cellIndex = el => C.panel().content.widgets.findIndex(w => w.node === el);
  const note = img => {
    const cell = img.closest('.jp-Cell'); if (!cell || !img.closest('.jp-OutputArea')) return;
    const i = C.cellIndex(cell); cell.setAttribute('data-chk-cell', i);
    (C.seen[i] = C.seen[i] || new Set()).add(sig(img.getAttribute('src')));
  };
  C.watchImages = () => {
    const nb = C.panel().content.node;
    new MutationObserver(ms => { for (const m of ms) {
      if (m.type === 'attributes' && m.target.tagName === 'IMG') note(m.target);
      for (const n of m.addedNodes || []) if (n.nodeType === 1)
        (n.tagName === 'IMG' ? [n] : n.querySelectorAll('img')).forEach(note);
    }}).observe(nb, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  };
  C.seenCounts = () => Object.fromEntries(Object.entries(C.seen).map(([k, v]) => [k, v.size]));
  C.runAll = () => {
    C.done = null;
    window.jupyterapp.commands.execute('notebook:run-all-cells')
      .then(r => { C.done = {ok: r !== false}; }, e => { C.done = {ok: false, error: String(e)}; });
  };
  C.progress = () => {
    const cells = C.panel().content.widgets.filter(c => c.model.type === 'code');
    const prompts = cells.map(c => c.node.querySelector('.jp-InputPrompt')?.textContent || '');
    return {n: cells.length, running: prompts.filter(p => p.includes('*')).length,
            ran: cells.filter(c => c.model.executionCount != null).length, status: C.status(), done: C.done};
  };
  C.problems = () => {
    const out = [], cells = C.panel().content.widgets;
    cells.forEach((c, i) => {
      if (c.model.type !== 'code') return;
      const src = c.model.sharedModel.getSource();
      if (src.trim() && c.model.executionCount == null) out.push({cell: i, kind: 'not run', text: src.slice(0, 80)});
      for (let j = 0; j < c.model.outputs.length; j++) {
        const o = c.model.outputs.get(j).toJSON();
        if (o.output_type === 'error') out.push({cell: i, kind: 'error', text: `${o.ename}: ${o.evalue}`});
        else if (o.output_type === 'stream' && o.name === 'stderr' && /Traceback/.test([].concat(o.text).join('')))
          out.push({cell: i, kind: 'stderr traceback', text: [].concat(o.text).join('').slice(-300)});
      }
      c.node.querySelectorAll('.jp-OutputArea-output').forEach(el => {
        const t = el.textContent || '';
        if (el.dataset.mimeType === 'application/vnd.jupyter.stderr' && /Traceback/.test(t))
          out.push({cell: i, kind: 'shown error', text: t.slice(-300)});
        if (/Error displaying widget|Failed to (load|create) (model|view)/.test(t))
          out.push({cell: i, kind: 'widget error', text: t.slice(0, 200)});
      });
    });
    return out;
  };
  // the widgets to exercise: a displayed widget with controls and an image
  const CTRL = '.widget-dropdown, .widget-slider, .widget-toggle-buttons, .widget-toggle-button, .widget-checkbox,'
             + ' .widget-radio-box, .widget-inttext, .widget-floattext, .widget-text';
  C.findWidgets = () => {
    const roots = [];
    document.querySelectorAll('.jp-OutputArea-output').forEach(out => {
      const top = out.querySelector('.jupyter-widgets');
      if (top && top.querySelector(CTRL) && top.querySelector('img')) {
        const k = roots.length; top.setAttribute('data-chk-root', k);
        roots.push({root: k, cell: C.cellIndex(out.closest('.jp-Cell'))});
      }
    });
    return roots;
  };
  C.controls = (k) => {
    const root = document.querySelector(`[data-chk-root="${k}"]`), out = [];
    root.querySelectorAll(CTRL).forEach(el => {
      if (el.parentElement.closest(CTRL)) return;   // a part of a control already listed
      const kind = ['dropdown', 'slider', 'toggle-buttons', 'toggle-button', 'checkbox', 'radio-box', 'inttext',
                    'floattext', 'text'].find(c => el.classList.contains('widget-' + c));
      const label = (el.querySelector('.widget-label')?.textContent || '').replace(/\u200b/g, '').trim();
      const n = out.length; el.setAttribute('data-chk-ctrl', `${k}-${n}`);
      const disabled = !!el.querySelector('select:disabled, input:disabled, button:disabled, [disabled]')
                       || el.classList.contains('disabled') || !!el.querySelector('.noUi-target[disabled]');
      out.push({id: `${k}-${n}`, kind, label: label || `${kind} ${n}`, disabled});
    });
    return out;
  };
  // slider state: min, max, step, value (noUiSlider keeps them)
  C.slider = (id) => {
    const el = document.querySelector(`[data-chk-ctrl="${id}"]`), t = el.querySelector('.noUi-target');
    const api = t && t.noUiSlider, r = api ? api.options.range : null;
    const h = el.querySelector('.noUi-handle');
    const min = r ? +r.min : +h.getAttribute('aria-valuemin'), max = r ? +r.max : +h.getAttribute('aria-valuemax');
    const value = api ? +api.get() : +h.getAttribute('aria-valuenow');
    const step = api && api.options.step ? +api.options.step : null;
    return {min, max, step, value, readout: el.querySelector('.widget-readout')?.textContent};
  };
  C.select = (id) => {
    const s = document.querySelector(`[data-chk-ctrl="${id}"] select`);
    return {n: s.options.length, index: s.selectedIndex};
  };
  // arm a measurement: t0 = the input event, then the first image change (src set, decoded) and HTML change
  C.arm = (k, evt) => {
    C.k = k;
    const root = document.querySelector(`[data-chk-root="${k}"]`);
    const m = C.m = {t0: null, img: null, shown: null, html: null};
    const onEvt = e => {
      if (m.t0 === null && root.contains(e.target) && (evt !== 'keydown' || e.key === 'Enter'))
        m.t0 = performance.now();
    };
    document.addEventListener(evt, onEvt, true);
    const obs = new MutationObserver(ms => {
      const now = performance.now();
      if (m.t0 === null) return;
      for (const mu of ms) {
        const imgs = mu.type === 'attributes' ? (mu.target.tagName === 'IMG' ? [mu.target] : [])
                   : Array.from(mu.addedNodes).filter(n => n.tagName === 'IMG');
        if (imgs.length && m.img === null) {
          m.img = now;
          imgs[0].decode().then(() => { if (m.shown === null) m.shown = performance.now(); },
                                () => { if (m.shown === null) m.shown = performance.now(); });
        }
        const t = mu.target.nodeType === 1 ? mu.target : mu.target.parentElement;
        if (!imgs.length && m.html === null && t && t.closest('.widget-html, .widget-htmlmath')) m.html = now;
      }
    });
    obs.observe(root, {subtree: true, childList: true, characterData: true, attributes: true,
                       attributeFilter: ['src']});
    C.disarm = () => { obs.disconnect(); document.removeEventListener(evt, onEvt, true); };
  };
  // wait (in the page, no polling from outside) until the picture shows the change (and the text followed),
  // or only the text changed and `grace` ms passed, or `limit` ms passed; no input event within 5 s: gives up
  C.wait = (grace, limit) => new Promise(resolve => {
    const m = C.m, start = performance.now();
    const tick = () => {
      const now = performance.now();
      const done = m.t0 === null ? now - start > 5000
        : (m.shown !== null && (m.html !== null || now - m.shown > 300))   // the text follows the picture
          || (m.img === null && m.html !== null && now - m.t0 > grace)
          || now - m.t0 > limit;
      if (!done) return setTimeout(tick, 2);
      const text = (document.querySelector(`[data-chk-root="${C.k}"] .widget-html`) || {}).textContent || '';
      const said = /updated in (\d+) ?ms/.exec(text);
      resolve({t0: m.t0, img: m.img, shown: m.shown, html: m.html, kernel_ms: said ? +said[1] : null});
    };
    tick();
  });
  return true;
}
"""

def launch_browser(pw, exe:str):
    "Headless Chromium from `exe` (a fresh profile: Playwright's own temporary one)."
    return pw.chromium.launch(executable_path=exe, headless=True, args=CHROME_ARGS)

def open_notebook(page, server:LabServer, name:str, timeout:float=120.):
    "Load JupyterLab with `name` open, install the helpers, wait for an idle kernel."
    ws = 'chk-' + ''.join(ch if ch.isalnum() else '-' for ch in Path(name).stem)   # a fresh workspace per notebook
    page.goto(server.url(f'lab/workspaces/{ws}/tree/{name}?reset'), wait_until='domcontentloaded',
              timeout=timeout * 1000)
    page.wait_for_function(
        "n => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.context && window.jupyterapp.shell.currentWidget.context.path == n",
        arg=name, timeout=timeout * 1000, polling=250)
    page.evaluate(JS_HELPERS)
    page.evaluate("async () => { const p = __chk.panel(); await p.context.ready; await p.sessionContext.ready;"
                  " window.jupyterapp.shell.collapseLeft(); }")
    page.wait_for_function("() => __chk.status() === 'idle'", timeout=timeout * 1000, polling=250)

def run_all(page, timeout:float)->dict:
    "Run all cells; wait until the run is over and the kernel idle. Returns the last progress."
    page.evaluate("() => { __chk.watchImages(); __chk.runAll(); }")
    t, last, shown = time.time(), None, time.time()
    while True:
        pr = page.evaluate("() => __chk.progress()")
        if pr['status'] == 'dead': raise RuntimeError('the kernel died')
        if pr['done'] is not None and pr['running'] == 0 and pr['status'] == 'idle': return pr
        if time.time() - t > timeout: raise TimeoutError(f"the run did not finish in {timeout:.0f} s ({pr})")
        if time.time() - shown > 30:
            print(f"    ... {pr['ran']}/{pr['n']} cells run, {time.time() - t:.0f} s", flush=True); shown = time.time()
        time.sleep(.5)

def wait_idle(page, timeout:float=30.):
    "Wait until the kernel is idle and the page had QUIET_S to settle."
    page.wait_for_function("() => __chk.status() === 'idle'", timeout=timeout * 1000, polling=50)
    time.sleep(QUIET_S)

# ----------------------------------------------------------------------------------------------- the controls
def _spread(lo:float, hi:float, cur:float, step, is_int:bool)->list:
    "Values to try across [lo, hi]: the middle, the ends, the quarters, each different from `cur`."
    out = []
    for f in (.5, 1., 0., .25, .75, .125, .875):
        v = lo + f * (hi - lo)
        if step: v = lo + round((v - lo) / step) * step
        v = int(round(v)) if is_int else round(v, 6)
        if abs(v - cur) > 1e-9 and v not in out: out.append(v)
    return out

def _fmt(v)->str: return str(v) if isinstance(v, int) else f"{v:g}"

def change(page, ctrl:dict, attempt:int):
    "Make one change to a control through the page's DOM / keyboard; returns (event armed, what was done) or None."
    sel = f'[data-chk-ctrl="{ctrl["id"]}"]'
    k = ctrl['kind']
    if k == 'dropdown':
        s = page.evaluate("id => __chk.select(id)", ctrl['id'])
        idx = _spread(0, s['n'] - 1, s['index'], 1, True)
        if not idx: return None
        i = idx[0]
        return 'change', lambda: page.locator(f'{sel} select').select_option(index=i), f'option {i}'
    if k == 'slider':
        s = page.evaluate("id => __chk.slider(id)", ctrl['id'])
        step = s['step'] or 1
        is_int = step == int(step) and s['min'] == int(s['min']) and '.' not in (s['readout'] or '')
        vals = _spread(s['min'], s['max'], s['value'], s['step'], is_int)
        if not vals: return None
        v = vals[0]
        ro = page.locator(f'{sel} .widget-readout')
        def act():   # typed into the readout, committed by Enter
            ro.click(); page.keyboard.press('Control+A'); page.keyboard.type(_fmt(v)); page.keyboard.press('Enter')
        return 'keydown', act, f"{_fmt(s['value'])} -> {_fmt(v)}"
    if k in ('toggle-buttons', 'radio-box'):
        item = f'{sel} button:not(.mod-active)' if k == 'toggle-buttons' else f'{sel} input[type=radio]:not(:checked)'
        loc = page.locator(item)
        if loc.count() == 0: return None
        n = loc.count()
        return 'click', lambda: loc.nth(attempt % n).click(), f'choice {attempt % n}'
    if k in ('toggle-button', 'checkbox'):
        loc = page.locator(f'{sel} button, {sel} input[type=checkbox]').first
        return 'click', lambda: loc.click(), 'toggled'
    if k in ('inttext', 'floattext', 'text'):
        loc = page.locator(f'{sel} input').first
        cur = loc.input_value()
        try: v = _fmt(type(float(cur))(float(cur) + 1)) if k != 'text' else cur + 'x'
        except ValueError: v = '1'
        if k == 'inttext': v = str(int(float(cur or 0)) + 1)
        def act(): loc.fill(v); loc.press('Enter')
        return 'keydown', act, f'{cur} -> {v}'
    return None

def measure(page, root:int, ctrl:dict, attempt:int)->dict:
    "One timed change of a control: seconds from its input event to the image (or else the text) showing it."
    made = change(page, ctrl, attempt)
    if made is None: return dict(error='no other value to choose')
    evt, act, what = made
    page.evaluate("([k, e]) => __chk.arm(k, e)", [root, evt])
    try:
        act()
        r = page.evaluate("([g, l]) => __chk.wait(g, l)", [1000 * SHOW_TIMEOUT_S / 10, 1000 * SHOW_TIMEOUT_S])
    finally:
        page.evaluate("() => __chk.disarm()")
    if r['t0'] is None: return dict(what=what, error='the input event never reached the widget')
    said = dict(kernel_ms=r['kernel_ms'])
    if r['img'] is not None:
        return dict(what=what, s=((r['shown'] or r['img']) - r['t0']) / 1000, shows='image', **said)
    if r['html'] is not None: return dict(what=what, s=(r['html'] - r['t0']) / 1000, shows='text', **said)
    return dict(what=what, error=f'nothing changed within {SHOW_TIMEOUT_S:.0f} s')

def check_controls(page, root:int, repeats:int, limit:float)->list:
    "Time every enabled control of widget `root`: `repeats` changes each (up to twice as many tries)."
    rows = []
    for ctrl in page.evaluate("k => __chk.controls(k)", root):
        if ctrl['disabled']: rows.append(dict(ctrl, skipped='disabled')); continue
        times, notes = [], []
        for attempt in range(2 * repeats):
            if len(times) == repeats or len(notes) - len(times) >= repeats: break
            wait_idle(page)
            m = measure(page, root, ctrl, attempt)
            if 'error' in m: notes.append(f"{m.get('what', '')}: {m['error']}"); continue
            k_ms = '' if m['kernel_ms'] is None else f", kernel {m['kernel_ms']} ms"
            times.append(m['s']); notes.append(f"{m['what']} {1000 * m['s']:.0f} ms ({m['shows']}{k_ms})")
        med = statistics.median(times) if times else None
        ok = len(times) == repeats and med <= limit
        rows.append(dict(ctrl, times=times, median=med, ok=ok, notes=notes))
    wait_idle(page)
    return rows

# ----------------------------------------------------------------------------------------------- a notebook
def screenshot_notebook(page, stem:str, out:Path, part_h:int=6000)->list:
    "The whole notebook: the viewport grown to its height, shot in parts of at most `part_h` pixels; their paths."
    vp, paths = page.viewport_size, []
    geo = page.evaluate("""() => { const n = __chk.panel().content.node, r = n.getBoundingClientRect();
        const inner = n.querySelector('.jp-WindowedPanel-inner') || n;
        return {content: inner.offsetHeight, top: r.top, below: window.innerHeight - r.bottom}; }""")
    chrome = geo['top'] + geo['below']   # menus, toolbars and status bar around the notebook
    view = int(min(geo['content'] + 40, part_h - chrome))
    page.set_viewport_size(dict(width=vp['width'], height=int(view + chrome)))
    try:
        for i, y in enumerate(range(0, max(int(geo['content']), 1), view)):
            page.evaluate("y => { const o = __chk.panel().content.node.querySelector('.jp-WindowedPanel-outer')"
                          " || __chk.panel().content.node; o.scrollTop = y; }", y)
            time.sleep(.4)
            paths.append(out / (f'lab_{stem}.png' if i == 0 else f'lab_{stem}_part{i + 1}.png'))
            page.screenshot(path=str(paths[-1]))
    finally: page.set_viewport_size(vp)
    return paths

def check_live(page, stem:str, out:Path)->bool:
    "Pass if some cell's image output showed at least 3 different pictures during the run; screenshot it."
    seen = page.evaluate("() => __chk.seenCounts()")
    live = {int(c): n for c, n in seen.items() if n >= 3}
    print(f"{'PASS' if live else 'FAIL'} {stem} live view: " + (
        ', '.join(f"cell {c} showed {n} different images while it ran" for c, n in live.items()) if live
        else f"no cell's image output changed twice during the run (images per cell: {seen})"))
    if live:
        el = page.locator(f'[data-chk-cell="{max(live, key=live.get)}"] .jp-OutputArea').first
        el.scroll_into_view_if_needed(); el.screenshot(path=str(out / f'lab_{stem}_live.png'))
        print(f"  {stem}: live view screenshot {out / f'lab_{stem}_live.png'}")
    return bool(live)

def check_explorer(page, stem:str, out:Path, args, problems:list)->bool:
    "Time every control of each widget with controls and an image; pass if all are within the limit."
    ok, roots = True, page.evaluate("() => __chk.findWidgets()")
    if not roots: print(f"FAIL {stem}: no displayed widget with controls and an image"); return False
    for r in roots:
        el, where = page.locator(f'[data-chk-root="{r["root"]}"]'), f"{stem} widget {r['root']} (cell {r['cell']})"
        el.scroll_into_view_if_needed()
        rows = check_controls(page, r['root'], args.repeats, args.limit)
        for row in rows:
            if row.get('skipped'): print(f"SKIP {where} {row['kind']} '{row['label']}': {row['skipped']}"); continue
            med = f"{1000 * row['median']:.0f} ms" if row['median'] is not None else 'n/a'
            print(f"{'PASS' if row['ok'] else 'FAIL'} {where} {row['kind']} '{row['label']}': median {med} "
                  f"(limit {1000 * args.limit:.0f} ms) over {len(row['times'])}: " + '; '.join(row['notes']))
            ok &= row['ok']
        if all(x.get('skipped') for x in rows): print(f"FAIL {where}: no enabled control"); ok = False
        shot = out / f"lab_{stem}_widget{r['root'] or ''}.png"
        el.screenshot(path=str(shot)); print(f"  {stem}: widget screenshot {shot}")
    new = [p for p in page.evaluate("() => __chk.problems()") if p not in problems]   # raised by the changes
    for p in new: print(f"FAIL {stem}: after the controls: cell {p['cell']}: {p['kind']}: {p['text']!r}")
    return ok and not new

def check_notebook(browser, server:LabServer, name:str, out:Path, args, explorer:bool, live:bool)->bool:
    "Open, run and check one notebook; print its summary lines; True if it passed."
    stem, t = Path(name).stem, time.time()
    for f in [*out.glob(f'lab_{stem}_part*.png'), out / f'lab_{stem}_failed.png']: f.unlink(missing_ok=True)
    page, page_errors = browser.new_page(viewport=dict(width=1400, height=1000)), []
    page.on('pageerror', lambda e: page_errors.append(str(e)[:300]))
    try:
        open_notebook(page, server, name)
        print(f"  {stem}: kernel idle after {time.time() - t:.0f} s; running all cells", flush=True)
        pr = run_all(page, args.run_timeout)
        problems = page.evaluate("() => __chk.problems()")
        for p in problems: print(f"  {stem}: cell {p['cell']}: {p['kind']}: {p['text']!r}")
        ok = not problems and pr['done'].get('ok', False)
        print(f"{'PASS' if ok else 'FAIL'} {stem}: ran {pr['ran']}/{pr['n']} code cells in {time.time() - t:.0f} s, "
              f"{len(problems)} problem(s)" + ('' if pr['done'].get('ok') else '; the run reported a failure'))
        if live: ok &= check_live(page, stem, out)
        if explorer: ok &= check_explorer(page, stem, out, args, problems)
        for e in page_errors: print(f"  {stem}: page error (not counted): {e}")
        shots = screenshot_notebook(page, stem, out)
        print(f"  {stem}: screenshots {', '.join(str(p) for p in shots)}")
    except Exception as e:   # a timeout, a dead kernel, a page that never loaded: this notebook fails
        print(f"FAIL {stem}: {type(e).__name__}: {str(e)[:1000]}")
        shot = out / f'lab_{stem}_failed.png'
        try: page.screenshot(path=str(shot)); print(f"  {stem}: screenshot {shot}")
        except Exception: pass
        ok = False
    finally:
        try: page.evaluate("() => __chk.panel().sessionContext.shutdown()")   # free the kernel's CPU and memory
        except Exception: pass
        page.close()
    print(f"{'PASS' if ok else 'FAIL'} {stem}: {time.time() - t:.0f} s in all", flush=True)
    return ok

# ----------------------------------------------------------------------------------------------- main
def chromium_path(given:str=None)->str:
    "The Chromium to drive: --chromium, $CHROMIUM, /usr/bin/chromium, chromium-browser or google-chrome."
    for c in (given, os.environ.get('CHROMIUM'), '/usr/bin/chromium', shutil.which('chromium-browser') or '',
              shutil.which('google-chrome') or ''):
        if c and Path(c).exists(): return c
    sys.exit('check_widgets_browser: no Chromium found (apt-get install chromium, or set $CHROMIUM)')

def nb_name(n:str)->str:
    "'17_explorer', '17_explorer.ipynb' or 'nbs/17_explorer.ipynb' -> '17_explorer.ipynb' (checked to exist)."
    n = Path(n).name; n = n if n.endswith('.ipynb') else n + '.ipynb'
    if not (NBS / n).exists(): sys.exit(f'check_widgets_browser: no notebook nbs/{n}')
    return n

def main(argv=None)->int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=str(ROOT / '_docs_check'), help='screenshot folder (default: _docs_check/)')
    ap.add_argument('--explorer', nargs='*', default=['17_explorer'], help='notebooks whose widget controls are timed')
    ap.add_argument('--live', nargs='*', default=['18_live'], help='notebooks that must show a live-updating image')
    ap.add_argument('--limit', type=float, default=.5, help='largest median update time per control, seconds')
    ap.add_argument('--repeats', type=int, default=3, help='changes timed per control')
    ap.add_argument('--run-timeout', type=float, default=1200., help='seconds allowed to run one notebook')
    ap.add_argument('--chromium', help='Chromium executable (default: $CHROMIUM, /usr/bin/chromium, ...)')
    args = ap.parse_args(argv)
    try: from playwright.sync_api import sync_playwright
    except ImportError: sys.exit('check_widgets_browser: needs Playwright: pip install playwright '
                                 '(the Python package only; no `playwright install`: it drives the system Chromium)')
    explorer, live = [nb_name(n) for n in args.explorer], [nb_name(n) for n in args.live]
    names = list(dict.fromkeys(explorer + live))
    if not names: sys.exit('check_widgets_browser: no notebook to check')
    exe, out = chromium_path(args.chromium), Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not os.environ.get('ASGE_DATA'): print('note: $ASGE_DATA is not set: the notebooks use their fallbacks')

    tmp = Path(tempfile.mkdtemp(prefix='asge_widgets_'))
    server = LabServer(tmp, prepare_folder(tmp, names))
    def cleanup():
        server.stop(); shutil.rmtree(tmp, ignore_errors=True)
    atexit.register(cleanup)
    def on_signal(sig, frame): raise SystemExit(128 + sig)
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    ok, t = True, time.time()
    try:
        server.start()
        print(f"jupyter lab on 127.0.0.1:{server.port} serving {tmp / 'nbs'}; Chromium {exe}", flush=True)
        with sync_playwright() as pw:
            browser = launch_browser(pw, exe)
            try:
                for n in names: ok &= check_notebook(browser, server, n, out, args, n in explorer, n in live)
            finally: browser.close()
    except (KeyboardInterrupt, SystemExit):
        print('FAIL: interrupted; shutting the server down', flush=True); raise
    except Exception as e:
        print(f"FAIL: {type(e).__name__}: {e}"); ok = False
        if server.proc is not None and server.proc.poll() is not None: print(server.log_tail())
    finally:
        cleanup()
        for s, h in old.items(): signal.signal(s, h)
    print(f"{'PASS' if ok else 'FAIL'}: {len(names)} notebook(s) in {time.time() - t:.0f} s; screenshots in {out}")
    return 0 if ok else 1

if __name__ == '__main__':
    sys.exit(main())
