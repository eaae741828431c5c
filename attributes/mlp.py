"""A one-hidden-layer softmax classifier trained with torch on CPU: what the attribute models
use when TrainConfig.hidden > 0.

Why a hidden layer: which part of a photo carries an attribute depends on what the product is
(a shirt's colour is in the upper cells, a pair of jeans' in the lower ones; see
attributes/colour_regions.py), an interaction a linear model cannot learn. On the fashion
catalog it raised colour group and article type accuracy by 2-4 points over the linear model
(README, Attributes from photos). The trained arrays are handed back as numpy: applying the
model never needs torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MlpConfig:
    hidden: int = 256
    epochs: int = 80
    min_steps: int = 400  # a small catalog still gets this many updates (more epochs)
    batch: int = 256
    learning_rate: float = 2e-3
    weight_decay: float = 1e-3
    input_dropout: float = 0.1
    dropout: float = 0.3
    seed: int = 0


def fit_mlp(
    z: np.ndarray, labels: np.ndarray, k: int, config: MlpConfig = MlpConfig()
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """hidden_weight (d, h), hidden_bias (h,), weight (h, k), bias (k,) of a ReLU network
    classifying `labels` (0..k-1) from the projected features `z`: AdamW on the cross-entropy
    with a one-cycle learning rate, dropout on the input and the hidden layer, the same
    result on every run for the same rows."""
    import torch  # here: searches apply models and never need torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread is as fast, and never spins
    try:  # against other busy threads (two of them slowed training 8x on a shared machine)
        first, last = _train(z, labels, k, config)
    finally:
        torch.set_num_threads(threads)
    return (
        first.weight.detach().numpy().T.copy(),
        first.bias.detach().numpy().copy(),
        last.weight.detach().numpy().T.copy(),
        last.bias.detach().numpy().copy(),
    )


def _train(z: np.ndarray, labels: np.ndarray, k: int, config: MlpConfig) -> tuple[Any, Any]:
    """The trained first and last layers (torch.nn.Linear)."""
    import torch

    generator = torch.Generator().manual_seed(config.seed)
    x = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    first = torch.nn.Linear(x.shape[1], config.hidden)
    last = torch.nn.Linear(config.hidden, k)
    with torch.no_grad():  # seeded initialisation, independent of torch's global state
        for layer in (first, last):
            bound = 1.0 / np.sqrt(layer.in_features)
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)
    net = torch.nn.Sequential(
        torch.nn.Dropout(config.input_dropout),
        first,
        torch.nn.ReLU(),
        torch.nn.Dropout(config.dropout),
        last,
    )
    optimiser = torch.optim.AdamW(
        net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps = max(1, -(-len(x) // config.batch))
    epochs = max(config.epochs, -(-config.min_steps // steps))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.learning_rate, total_steps=epochs * steps
    )
    torch.manual_seed(config.seed)  # dropout masks
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for batch in order.split(config.batch):
            loss = torch.nn.functional.cross_entropy(net(x[batch]), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    return first, last
