"""Training on many GPUs: data parallel with torchrun, and block-parallel training that layer-local learning allows."""
# scratch version: to be moved into nbs/07c_parallel.ipynb
__all__ = ['PLACEMENTS', 'TIMEOUT_S', 'DTYPES', 'check_placement', 'dist_info', 'launched', 'init_distributed', 'close_distributed',
           'rank_device', 'all_sum', 'any_rank', 'broadcast_module', 'wrap_ddp', 'split_blocks', 'stage_groups',
           'Pipe', 'sync_run', 'PeerLost', 'peer_errors']
import datetime, os
from contextlib import contextmanager
import torch
import torch.nn as nn
import torch.distributed as dist
from .predict import block_costs

PLACEMENTS = ('data', 'blocks')
TIMEOUT_S = 300   # seconds a collective waits for a peer before it fails (override: $ASGE_DIST_TIMEOUT)

def check_placement(placement:str)->str:
    "The one check of a placement's name."
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r}; choose one of {list(PLACEMENTS)}")
    return placement

def dist_info()->tuple:
    "(rank, world size) of this process: (0, 1) outside a process group."
    if dist.is_available() and dist.is_initialized(): return dist.get_rank(), dist.get_world_size()
    return 0, 1

def launched()->bool:
    "Whether a launcher (`torchrun`) started this process as one of several: it sets WORLD_SIZE."
    return int(os.environ.get('WORLD_SIZE', '1')) > 1

def init_distributed(device:str='auto',    # the run's device: CUDA processes use NCCL and their LOCAL_RANK's GPU
                     timeout_s:float=None, # collective timeout; None: $ASGE_DIST_TIMEOUT, else `TIMEOUT_S`
                    )->tuple:              # (rank, world size)
    "Join the process group a launcher describes in the environment; nothing to do when alone or already joined."
    if launched() and not dist.is_initialized():
        t = timeout_s or float(os.environ.get('ASGE_DIST_TIMEOUT', TIMEOUT_S))
        cuda = device != 'cpu' and torch.cuda.is_available()
        if cuda: torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
        dist.init_process_group('nccl' if cuda else 'gloo', timeout=datetime.timedelta(seconds=t))
    return dist_info()

def close_distributed():
    "Leave the process group (at the end of `asge_train`), once every process has arrived."
    if dist.is_available() and dist.is_initialized(): dist.barrier(); dist.destroy_process_group()

def rank_device(dev:torch.device)->torch.device:
    "A plain 'cuda' inside a process group means this process's own GPU (the one `init_distributed` chose)."
    if dev.type == 'cuda' and dev.index is None and dist_info()[1] > 1:
        return torch.device('cuda', torch.cuda.current_device())
    return dev

def all_sum(t:torch.Tensor)->torch.Tensor:
    "`t` summed over the processes, in place (alone: `t`)."
    if dist_info()[1] > 1: dist.all_reduce(t)
    return t

def any_rank(flag:bool, device)->bool:
    "Whether `flag` is set in any process; all get the same answer, so all stop at the same step."
    if dist_info()[1] == 1: return flag
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())

def broadcast_module(m:nn.Module, src:int=0):
    "Every parameter and buffer of `m` copied from process `src` to the others."
    for t in [*m.parameters(), *m.buffers()]: dist.broadcast(t.data, src)

def wrap_ddp(stages:list, device:torch.device)->list:
    "Each stage in its own `DistributedDataParallel`: one gradient all-reduce per stage and step."
    ids = [device.index] if device.type == 'cuda' else None
    return [nn.parallel.DistributedDataParallel(s, device_ids=ids, forward_sync_buffers=False) for s in stages]

def split_blocks(costs:list, # each stage's cost (conv MACs, say), in order
                 groups:int, # the number of contiguous groups: one per process
                )->list:     # [(start, stop)] stage ranges, one per group
    "Contiguous groups of stages that make the most expensive group as cheap as possible."
    n = len(costs)
    if not 1 <= groups <= n: raise ValueError(f"cannot split {n} stages into {groups} groups: use at most {n}")
    pre = [0]
    for c in costs: pre.append(pre[-1] + c)
    best = {(0, 0): (0, None)}   # (groups, stages covered) -> (cost of the dearest group, where the last group starts)
    for g in range(1, groups + 1):
        for j in range(g, n - groups + g + 1):
            best[g, j] = min((max(best[g - 1, i][0], pre[j] - pre[i]), i) for i in range(g - 1, j) if (g - 1, i) in best)
    cuts, j = [], n
    for g in range(groups, 0, -1): i = best[g, j][1]; cuts.append((i, j)); j = i
    return cuts[::-1]

def stage_groups(net:nn.Module, # the `ASGENet`
                 n_stages:int,  # its training stages: one per block, and one more for trained heads
                 world:int,     # processes
                )->list:        # [(start, stop)] per process
    "Stages per process, balanced by each block's conv MACs (05's `block_costs`); trained heads cost next to nothing."
    costs = [r['macs'] for r in block_costs(net)]
    return split_blocks(costs + [1] * (n_stages - len(costs)), world)

DTYPES = (torch.float32, torch.bfloat16, torch.float16)   # the dtypes a block output may have (autocast)

class Pipe:
    """Messages from one process of a block pipeline to the next: a block input and its labels and, for trained
    heads, every earlier block's output averaged over positions (all that the heads read of it)."""
    def __init__(self,
                 rank:int, world:int, # this process and the number of processes
                 device,              # where messages land
                 chans:list=None,     # every block's output channels, to carry for trained heads; None: no heads
                 start:int=0,         # the first block of this process
                 channels_last:bool=False, # received block inputs in channels-last layout
                ):
        self.rank, self.world, self.dev, self.chans, self.start = rank, world, device, chans, start
        self.cl, self.sending = channels_last, []

    def _send(self, *ts):
        self.flush()   # the previous batch has left
        self.sending = [dist.isend(t, self.rank + 1) for t in ts]

    def flush(self):
        "Wait until everything sent has left (at the end of an epoch, and before each send)."
        for w in self.sending: w.wait()
        self.sending = []

    def send(self, h, y, hs=None):
        "Pass block input `h`, labels `y` and (with heads) the outputs so far `hs` on, without waiting."
        head = torch.tensor([0, len(y), DTYPES.index(h.dtype), *h.shape[1:]], device=self.dev)
        pooled = [torch.cat([p.float().mean((2, 3)) for p in hs], 1)] if self.chans is not None else []
        self._send(head, h.contiguous(), y, *pooled)

    def send_stop(self):
        "Tell the next process that the epoch stops here."
        self._send(torch.tensor([1, 0, 0, 0, 0, 0], device=self.dev)); self.flush()

    def recv(self)->tuple:
        "(block input, labels, earlier outputs averaged or None) from the previous process; None: stop."
        head = torch.empty(6, dtype=torch.int64, device=self.dev); dist.recv(head, self.rank - 1)
        stop, b, dt, c, hh, w = head.tolist()
        if stop: return None
        h = torch.empty(b, c, hh, w, dtype=DTYPES[dt], device=self.dev)
        y = torch.empty(b, dtype=torch.int64, device=self.dev)
        dist.recv(h, self.rank - 1); dist.recv(y, self.rank - 1)
        if self.cl: h = h.contiguous(memory_format=torch.channels_last)
        if self.chans is None: return h, y, None
        pooled = torch.empty(b, sum(self.chans[:self.start]), device=self.dev); dist.recv(pooled, self.rank - 1)
        return h, y, [p[..., None, None] for p in pooled.split(self.chans[:self.start], 1)]

def _cpu(o):
    "Tensors in a nested state dict moved to the CPU (to be pickled between processes)"
    if torch.is_tensor(o): return o.cpu()
    if isinstance(o, dict): return {k: _cpu(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)): return type(o)(_cpu(v) for v in o)
    return o

def sync_run(run):
    """After an epoch (or a stop) of several processes, each holds the whole current network, and rank 0 the whole
    training state, as one process would: data parallel, buffers from rank 0; blocks, each group from its owner."""
    if run.world == 1: return
    if run.own is None: broadcast_module(run.net, 0); return   # the same weights already: this copies the buffers
    for g, (a, b) in enumerate(stage_groups(run.net, len(run.stages), run.world)):
        for i in range(a, b):
            broadcast_module(run.stages[i], g)
            if g == 0: continue   # rank 0 holds its own optimizer states; the others send theirs to it
            parts = (run.opts[i], run.scheds[i], run.scalers[i])
            if run.rank == g: dist.send_object_list([[_cpu(p.state_dict()) for p in parts]], 0)
            if run.rank == 0:
                got = [None]; dist.recv_object_list(got, g)
                for p, s in zip(parts, got[0]):
                    if s: p.load_state_dict(s)

class PeerLost(RuntimeError): "Another process of the run stopped, or stopped answering."

@contextmanager
def peer_errors(world:int, # processes of the run
                ckpt,      # the run's checkpoint, which survives
               ):
    "Turn a failed collective of a run with several processes into `PeerLost`, which says what is left."
    try: yield
    except RuntimeError as e:   # gloo and NCCL raise RuntimeError or its `DistError` kind; not our own subclasses
        if world == 1 or not (type(e) is RuntimeError or isinstance(e, dist.DistError)): raise
        raise PeerLost(f"rank {dist_info()[0]}: a collective operation failed, most likely because another process "
                       f"stopped or timed out ({type(e).__name__}: {str(e).splitlines()[0][:200]}); the last "
                       f"checkpoint {ckpt} is intact: continue with resume=True (--resume)") from None
