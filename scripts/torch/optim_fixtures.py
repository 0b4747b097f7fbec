#!/usr/bin/python3
"""Generate fixtures/torch-optim.json: torch.optim.AdamW and torch.optim.SGD over 100 steps
(PyTorch 1.13), checked by test/optim.test.ts.

    /usr/bin/python3 scripts/torch/optim_fixtures.py

"exact" cases: two parameters (randn, torch.manual_seed(0)) whose gradient each step is set by
hand to p * c (one float32 multiply, which TS reproduces exactly), so the gradient follows the
trajectory; the parameters after steps 1, 10 and 100 are recorded. "model" case: a tanh layer
y = tanh(x @ W + b), loss = mean((y - t)^2), 100 AdamW steps with makemore.py's settings, the loss
at each step and the final parameters.
"""

import json
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "torch-optim.json")
torch.manual_seed(0)
P0 = [torch.randn(6, 5), torch.randn(7)]
C = [torch.randn(6, 5), torch.randn(7)]


def vals(t):
    return t.detach().reshape(-1).tolist()


configs = [
    ("adamw_makemore", lambda ps: torch.optim.AdamW(ps, lr=5e-4, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.01), {"lr": 5e-4, "betas": [0.9, 0.99], "eps": 1e-8, "weightDecay": 0.01}),
    ("adamw_big_lr", lambda ps: torch.optim.AdamW(ps, lr=0.05, betas=(0.8, 0.9), eps=1e-3, weight_decay=0.1), {"lr": 0.05, "betas": [0.8, 0.9], "eps": 1e-3, "weightDecay": 0.1}),
    ("sgd_momentum", lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9), {"lr": 0.01, "momentum": 0.9}),
    ("sgd_nesterov_wd", lambda ps: torch.optim.SGD(ps, lr=0.02, momentum=0.8, nesterov=True, weight_decay=0.05), {"lr": 0.02, "momentum": 0.8, "nesterov": True, "weightDecay": 0.05}),
    ("sgd_dampening", lambda ps: torch.optim.SGD(ps, lr=0.03, momentum=0.5, dampening=0.3), {"lr": 0.03, "momentum": 0.5, "dampening": 0.3}),
]
exact = []
for name, make, opts in configs:
    ps = [p.clone().requires_grad_() for p in P0]
    opt = make(ps)
    snaps = {}
    for step in range(1, 101):
        for p, c in zip(ps, C):
            p.grad = p.detach() * c
        opt.step()
        if step in (1, 10, 100):
            snaps[str(step)] = [vals(p) for p in ps]
    exact.append({"name": name, "kind": name.split("_")[0], "opts": opts, "after": snaps})

g = torch.Generator().manual_seed(5)
X = torch.randn(16, 5, generator=g)
Tt = torch.randn(16, 3, generator=g)
W = (torch.randn(5, 3, generator=g) * 0.5).requires_grad_()
b = torch.zeros(3).requires_grad_()
W0, b0 = vals(W), vals(b)
opt = torch.optim.AdamW([W, b], lr=5e-4, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.01)
losses = []
for step in range(100):
    loss = ((torch.tanh(X @ W + b) - Tt) ** 2).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    losses.append(loss.item())
model = {"X": vals(X), "T": vals(Tt), "W0": W0, "b0": b0, "losses": losses, "W": vals(W), "b": vals(b)}

with open(OUT, "w") as f:
    json.dump({"meta": {"torch_version": torch.__version__}, "p0": [vals(p) for p in P0], "c": [vals(c) for c in C], "exact": exact, "model": model}, f)
    f.write("\n")
print("wrote", OUT)
