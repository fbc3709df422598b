"""Data-parallel training on several processes: `vliqa train ... --nproc N` through torchrun, and what a worker needs.

The launcher (`launch`) runs the same command N times under `python -m torch.distributed.run --standalone`. Each
worker opens `worker_group()` (gloo on CPU, NCCL with CUDA) and gets a `Workers`: its rank, the share of every
global batch it computes (`shard`), the model wrapped in DistributedDataParallel (`wrap`), and the outputs of the
whole global batch gathered with their gradients (`gather`), so the loss is the one a single process computes on
the same batch. With identical seeds every worker draws the same batches, and the averaged gradient is then the
single-process gradient of that batch (up to the order of float sums); only rank 0 writes files and shows progress.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from vliqa.errors import InvalidParameterError

#: the environment torchrun gives each worker
_WORLD_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE")
#: the group the gathers and BatchNorm sums run on: their own communicator, so they never interleave with the
#: gradient all-reduces DDP launches on the default group during backward
_SYNC: dict[str, Any] = {"group": None}


def shard_slice(n_rows: int, world_size: int, rank: int) -> slice:
    """Gives the rows of a global batch of `n_rows` that process `rank` of `world_size` computes.

    Contiguous shares that differ by at most one row, the first `n_rows % world_size` ranks one longer (like
    numpy.array_split), so the shards in rank order are the batch in its order.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise InvalidParameterError(f"rank {rank} is not one of {world_size} processes")
    base, extra = divmod(n_rows, world_size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def shard_sizes(n_rows: int, world_size: int) -> list[int]:
    """Gives how many rows of a global batch of `n_rows` each of `world_size` processes computes."""
    return [len(range(n_rows)[shard_slice(n_rows, world_size, r)]) for r in range(world_size)]


def check_nproc(nproc: int, *, device: str = "cpu", batch_size: int | None = None) -> None:
    """Refuses a process count that cannot help: below 1, more than the cores (CPU) or GPUs (CUDA), or than the batch.
    """
    if nproc < 1:
        raise InvalidParameterError(f"--nproc must be at least 1, got {nproc}",
                                    hint="1 trains in this process; N > 1 starts N data-parallel workers")
    if nproc == 1:
        return
    if device.startswith("cuda"):
        gpus = torch.cuda.device_count()
        if nproc > gpus:
            raise InvalidParameterError(f"--nproc {nproc} needs {nproc} GPUs; this machine has {gpus}",
                                        hint=f"use --nproc {max(gpus, 1)} or fewer")
    else:
        cores = os.cpu_count() or 1
        if nproc > cores:
            raise InvalidParameterError(f"--nproc {nproc} is more processes than this machine's {cores} CPU cores",
                                        hint=f"use --nproc {cores} or fewer: more processes only contend for cores")
    if batch_size is not None and nproc > batch_size:
        raise InvalidParameterError(f"--nproc {nproc} is more processes than rows in a batch ({batch_size})",
                                    hint="each process computes a share of every batch: raise batch_size in the "
                                         "config or lower --nproc")


def without_nproc(argv: Sequence[str]) -> list[str]:
    """Gives command-line arguments `argv` with any `--nproc N` / `--nproc=N` removed."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def in_worker() -> bool:
    """True in a process that torchrun started (its rank is in the environment)."""
    return all(name in os.environ for name in _WORLD_ENV)


def launch(argv: Sequence[str], nproc: int, *, module: str) -> int:
    """Runs `python -m module ARGV` (without --nproc) as `nproc` torchrun workers on this machine; gives the exit code.

    `module` is the entry point that runs the command line in each worker (the CLI passes its own).
    """
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", module, *without_nproc(argv)]
    # each trainer sets its own thread count; this only keeps torchrun from warning that it picked one
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    return subprocess.run(command, env=env, check=False).returncode


@dataclass(frozen=True)
class Workers:
    """Where this process stands in a data-parallel run: rank `rank` of `world_size` (1: an ordinary run), on `device`.
    """

    rank: int = 0
    world_size: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """True in the process that writes the checkpoint, the log and the progress (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def shard(self, n_rows: int) -> slice:
        """Gives this process's rows of a global batch of `n_rows` (all of them in an ordinary run)."""
        return shard_slice(n_rows, self.world_size, self.rank)

    def wrap(self, model: nn.Module, *, find_unused_parameters: bool = False) -> nn.Module:
        """Gives `model` in DistributedDataParallel with BatchNorm statistics over the global batch (itself when
        not distributed).

        Keep using `model` itself for everything but the training forward (state dicts, validation, saving).
        """
        if not self.distributed:
            return model
        sync_batch_norm(model)
        device_ids = [torch.device(self.device).index] if self.device.startswith("cuda") else None
        # a depthwise conv's (C, 1, k, k) gradient has an equivalent but other stride than DDP's bucket: harmless
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        # buffers need no broadcast per step: the synced BatchNorm updates the same running statistics everywhere
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids, forward_sync_buffers=False,
                                                   find_unused_parameters=find_unused_parameters)

    def gather(self, outputs: Any, n_rows: int) -> Any:
        """Gives the model outputs of all `n_rows` rows of the global batch from this process's shard of them, with
        gradients flowing back to each process's own rows.

        `outputs` is a tensor, a dict or a dataclass of tensors with the batch first (None values stay None).
        Every process then computes the same loss of the whole batch; see `_GatherRows` for why the averaged DDP
        gradient is then the single-process one.
        """
        if not self.distributed:
            return outputs
        sizes = shard_sizes(n_rows, self.world_size)

        def rows(value: Any) -> Any:
            return _GatherRows.apply(value, sizes, self.rank) if isinstance(value, torch.Tensor) else value

        if isinstance(outputs, torch.Tensor):
            return rows(outputs)
        if isinstance(outputs, dict):
            return {k: rows(v) for k, v in outputs.items()}
        if dataclasses.is_dataclass(outputs) and not isinstance(outputs, type):
            return dataclasses.replace(outputs, **{f.name: rows(getattr(outputs, f.name))
                                                   for f in dataclasses.fields(outputs)})
        raise TypeError(f"cannot gather model outputs of type {type(outputs).__name__}")

    @contextmanager
    def own_rng(self) -> Iterator[None]:
        """Runs the block (a training forward: its dropout) on this process's own torch generator.

        A process's dropout draws as many numbers as its shard has rows, and shards may differ by a row; on the
        shared generator that would put the processes' later draws of the data (order, augmentation, flips) out of
        step. Outside a data-parallel run this does nothing, so ordinary runs repeat as before.
        """
        if not self.distributed:
            yield
            return
        # seeded from the shared generator's state without drawing from it, so a model without dropout leaves every
        # draw as an ordinary run makes it
        state = hashlib.blake2b(torch.get_rng_state().numpy().tobytes(), digest_size=7).digest()
        cuda = [torch.device(self.device).index] if self.device.startswith("cuda") else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(int.from_bytes(state, "little") * self.world_size + self.rank)
            yield

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Gives `values` summed over the processes (no gradient)."""
        if not self.distributed:
            return values
        total = values.detach().clone()
        dist.all_reduce(total, group=_SYNC["group"])
        return total

    def broadcast(self, value: Any) -> Any:
        """Gives rank 0's `value` (a tensor, or any picklable object) in every process."""
        if not self.distributed:
            return value
        if isinstance(value, torch.Tensor):
            value = value.clone()
            dist.broadcast(value, src=0, group=_SYNC["group"])
            return value
        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0, group=_SYNC["group"])
        return box[0]

    def barrier(self) -> None:
        """Waits until every process gets here."""
        if self.distributed:
            dist.barrier()


SINGLE = Workers()


@contextmanager
def worker_group(device: str = "cpu") -> Iterator[Workers]:
    """Gives this process's place in the torchrun job it belongs to (SINGLE outside torchrun), with the process group
    open: gloo on CPU, NCCL when `device` is CUDA. Waits for every process and closes the group on the way out."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if not in_worker() or world_size == 1:
        yield SINGLE
        return
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if cuda else "gloo")
    _SYNC["group"] = dist.new_group(backend="nccl" if cuda else "gloo")
    if rank > 0:  # one process tells the story
        logging.getLogger("vliqa").setLevel(logging.WARNING)
    workers = Workers(rank=rank, world_size=world_size, device=f"cuda:{local_rank}" if cuda else "cpu")
    try:
        yield workers
        workers.barrier()  # rank 0 may still be writing (calibration, the card): the others wait for it
    finally:
        _SYNC["group"] = None
        dist.destroy_process_group()


# ---------------------------------------------------------------- collectives with gradients


class _GatherRows(torch.autograd.Function):
    """All processes' rows, in rank order, from each one's shard (shards may differ by a row: padded for gloo).

    Backward: each process's loss is the same function of the gathered rows, so the gradient reaching a process's
    own rows is the sum over processes of their gradients for those rows, N times the single-process one; DDP's
    average over N processes of the parameter gradients then gives exactly the single-process gradient.
    """

    @staticmethod
    def forward(ctx: Any, local: torch.Tensor, sizes: list[int], rank: int) -> torch.Tensor:
        ctx.sizes, ctx.rank = sizes, rank
        padded = local.new_zeros((max(sizes), *local.shape[1:]))
        padded[:len(local)] = local
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded, group=_SYNC["group"])
        return torch.cat([part[:n] for part, n in zip(parts, sizes, strict=True)])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, group=_SYNC["group"])
        start = sum(ctx.sizes[:ctx.rank])
        return grad[start:start + ctx.sizes[ctx.rank]], None, None


class _SumAcrossRanks(torch.autograd.Function):
    """The sum of a tensor over the processes; its gradient is summed back the same way."""

    @staticmethod
    def forward(ctx: Any, value: torch.Tensor) -> torch.Tensor:
        total = value.clone()
        dist.all_reduce(total, group=_SYNC["group"])
        return total

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, group=_SYNC["group"])
        return grad


class _GlobalBatchNorm:
    """BatchNorm whose training statistics are those of the global batch, summed over the processes.

    torch's SyncBatchNorm runs on GPUs only; this one runs on any backend (gloo too). It is swapped in as the class
    of an existing BatchNorm module, so state-dict keys, the eval path and the checkpoint stay as they were.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and _SYNC["group"] is not None):
            return super().forward(x)  # type: ignore[misc]
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = _SumAcrossRanks.apply(x.new_tensor(float(x.numel() // x.shape[1])))
        mean = _SumAcrossRanks.apply(x.sum(dims)) / count
        # two passes, as torch's own BatchNorm: the variance of the deviations, not E[x^2] - E[x]^2
        var = _SumAcrossRanks.apply(((x - mean.view(shape)) ** 2).sum(dims)) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
                unbiased = var.detach() * (count / (count - 1).clamp_min(1))
                self.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)
        y = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


class GlobalBatchNorm1d(_GlobalBatchNorm, nn.BatchNorm1d):
    pass


class GlobalBatchNorm2d(_GlobalBatchNorm, nn.BatchNorm2d):
    pass


def sync_batch_norm(model: nn.Module) -> int:
    """Makes every BatchNorm1d/2d of `model` normalise with global-batch statistics under DDP; gives how many."""
    swaps = {nn.BatchNorm1d: GlobalBatchNorm1d, nn.BatchNorm2d: GlobalBatchNorm2d}
    n = 0
    for module in model.modules():
        if type(module) in swaps:
            module.__class__ = swaps[type(module)]
            n += 1
    return n
