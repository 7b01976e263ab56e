"""One data-parallel training step under torchrun (for test_training): each process takes its half of a
fixed batch and its own transform seed; rank 0 saves the gradients the update used, after averaging.
(Gradients, not the updated weights: Adam's first step is lr * sign(gradient), which turns rounding noise
in near-zero gradients into full steps.)

    python -m torch.distributed.run --nproc_per_node 2 tests/ddp_step.py BATCH.pt OUT.pt
"""

import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import TINY_CONFIG  # noqa: E402
from core.tools.train import _average  # noqa: E402
from models.config import config_from_dict  # noqa: E402
from models.training import Trainer, train_config_from_dict  # noqa: E402

TRAIN = {"train_params": {"scales": [1, 0.5], "batch_size": 2, "lr_generator": 1e-3, "lr_kp_detector": 1e-3}}


def main() -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    batch = torch.load(sys.argv[1])
    torch.manual_seed(0)
    trainer = Trainer(config_from_dict(TINY_CONFIG, "tiny"), train_config_from_dict(TRAIN))
    half = slice(rank, rank + 1)
    used = {}

    def average(parameters):
        _average(parameters)
        used.update({id(p): p.grad.clone() for p in parameters if p.grad is not None})

    trainer.step(batch["source"][half], batch["driving"][half], torch.Generator().manual_seed(100 + rank),
                 average=average)
    if rank == 0:
        torch.save({name: used[id(p)] for name, p in trainer.named_parameters() if id(p) in used}, sys.argv[2])
    dist.destroy_process_group()


if __name__ == "__main__" and "RANK" in os.environ:
    main()
