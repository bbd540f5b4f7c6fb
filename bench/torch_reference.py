#!/usr/bin/env python3
"""PyTorch reference for bench/train_throughput.lua: the same models, batch 128,
random inputs, SGD with momentum, 2 threads. Prints training images/s per model
and the peak resident memory of a process training only vgg11.

    python3 bench/torch_reference.py [seconds] [model ...]
    python3 bench/torch_reference.py --masked [seconds]

--masked trains vgg11 and vgg_small with 90% of every convolution's weights
masked (torch.nn.utils.prune.custom_from_mask, the way PyTorch and open_lth
prune): the speed of pruned training in PyTorch, for bench/sparse_train.lua.

Needs Debian's python3-torch; `make bench` skips it when torch is missing.
"""
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.utils.prune

torch.set_num_threads(2)
torch.manual_seed(1)


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)), (1, 28)


def vgg_small():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(64 * 49, 256), nn.ReLU(), nn.Linear(256, 10)), (1, 28)


def vgg11():
    layers, c = [], 3
    for v in [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1, bias=False), nn.BatchNorm2d(v), nn.ReLU()]
            c = v
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512, 10)), (3, 32)


MODELS = {"lenet5": lenet5, "vgg_small": vgg_small, "vgg11": vgg11}


def masked(model, fraction=0.9):
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            keep = (torch.rand(m.weight.shape, generator=gen) >= fraction).float()
            torch.nn.utils.prune.custom_from_mask(m, "weight", keep)
    return model


def throughput(name, seconds, batch=128, mask=False):
    model, (c, s) = MODELS[name]()
    if mask:
        model = masked(model)
    x = torch.randn(batch, c, s, s)
    y = torch.randint(0, 10, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        n += 1
    return n * batch / (time.perf_counter() - t0)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--masked":
        seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, 90% masked")
        for name in ("vgg11", "vgg_small"):
            print(f"{name}_masked {throughput(name, seconds, mask=True):10.1f} img/s")
        return
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    names = sys.argv[2:] or list(MODELS)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in names:
        print(f"{name:10s} {throughput(name, seconds):10.1f} img/s")
    print(f"peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


if __name__ == "__main__":
    main()
