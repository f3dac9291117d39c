"Shared by the benchmark scripts: environment facts and results files."
import json, os, platform, shlex, subprocess, sys, time
from pathlib import Path
import torch

def git_commit()->str:
    "Short hash of HEAD, with '+dirty' when the tree has uncommitted changes to tracked files."
    try:
        root = Path(__file__).resolve().parent.parent
        h = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=root, capture_output=True, text=True).stdout.strip()
        return h + ('+dirty' if dirty else '')
    except Exception: return 'unknown'

def cpu_name()->str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()

def environment(device:str='cpu')->dict:
    "Hardware and software facts recorded with every result."
    dev = torch.device('cuda' if device == 'auto' and torch.cuda.is_available() else ('cpu' if device == 'auto' else device))
    hw = (f"{torch.cuda.get_device_name(dev)} (GPU)" if dev.type == 'cuda'
          else f"{cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads (CPU)")
    return dict(hardware=hw, device_type=dev.type, torch=torch.__version__, python=platform.python_version(),
                cpu_count=os.cpu_count(), threads=torch.get_num_threads(), commit=git_commit(),
                date=time.strftime('%Y-%m-%d %H:%M:%S %Z'), command=' '.join(shlex.quote(a) for a in ['python'] + sys.argv))

def write_results(path, benchmark:str, results, device:str='cpu', **extra)->dict:
    "Write a results file: the figures plus the command, hardware, versions and commit that produced them."
    doc = dict(benchmark=benchmark, **environment(device), **extra, results=results)
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp'); tmp.write_text(json.dumps(doc, indent=1)); os.replace(tmp, path)
    print(f"wrote {path}")
    return doc
