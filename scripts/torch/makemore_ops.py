#!/usr/bin/python3
"""Generate fixtures/torch-makemore-ops.json: PyTorch 1.13's values for the ops and inits that
makemore.py's models use (src/tensor/nnops.ts, src/nn/torchnn.ts), checked by
test/nnops.test.ts.

    /usr/bin/python3 scripts/torch/makemore_ops.py

Two parts:
  * "init": exact float32 draws of uniform_ (several ranges), nn.Linear's default init (weight,
    bias, and no bias), nn.Embedding's normal_ init, and a torch.rand(3) afterwards that shows
    where the generator stands; all under torch.manual_seed(3407).
  * "cases": forward values and gradients (out.backward(upstream), upstream from a separate
    generator seeded 1234) of each op on randn inputs from torch.manual_seed(0).
Float values are exact float32 values as shortest-repr doubles; "inf"/"-inf"/"nan" as strings.
"""

import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "torch-makemore-ops.json")


def enc(v):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def tj(t):
    t = t.detach()
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "values": [enc(v) for v in t.reshape(-1).tolist()]}


# ---------------------------------------------------------------------------------------------
# init: exact draws

torch.manual_seed(3407)
init = {}
uniform = []
for n, a, b in [(40, -0.125, 0.125), (37, -0.3, 0.7), (20, 0.1, 0.2), (50, -1 / math.sqrt(7), 1 / math.sqrt(7)), (5, -2.5, 1.0)]:
    t = torch.empty(n).uniform_(a, b)
    uniform.append({"from": a, "to": b, "values": tj(t)})
init["uniform"] = uniform
lin = nn.Linear(7, 5)
lin_nb = nn.Linear(3, 4, bias=False)
lin_big = nn.Linear(64, 192)
emb = nn.Embedding(5, 4)
emb_small = nn.Embedding(3, 3)
init["linear"] = {"weight": tj(lin.weight), "bias": tj(lin.bias)}
init["linear_nobias"] = {"weight": tj(lin_nb.weight)}
init["linear_big_sums"] = {"weight_sum": float(lin_big.weight.double().sum()), "bias_sum": float(lin_big.bias.double().sum()),
                           "weight_first": tj(lin_big.weight[0, :8]), "bias_last": tj(lin_big.bias[-4:])}
init["embedding"] = {"weight": tj(emb.weight)}
init["embedding_small"] = {"weight": tj(emb_small.weight)}
init["after"] = tj(torch.rand(3))

# ---------------------------------------------------------------------------------------------
# op cases

torch.manual_seed(0)
UP = torch.Generator().manual_seed(1234)
cases = []


def R(*shape):
    return torch.randn(*shape)


def case(name, inputs, fn, kwargs=None):
    leaves = []
    for t, rg in inputs:
        leaf = t.detach().clone()
        if rg:
            leaf.requires_grad_(True)
        leaves.append(leaf)
    out = fn(*leaves)
    up = torch.randn(out.shape, generator=UP)
    grads = [None] * len(leaves)
    if out.requires_grad:
        out.backward(up)
        grads = [tj(l.grad) if l.requires_grad else None for l in leaves]
    cases.append({"name": name, "kwargs": kwargs or {}, "inputs": [dict(tj(l), requires_grad=bool(rg)) for l, (_, rg) in zip(leaves, inputs)],
                  "upstream": tj(up), "output": tj(out), "grads": grads})


def gelu_tanh(x):  # makemore.py's NewGELU, verbatim
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


case("linearT", [(R(2, 3, 5), True), (R(4, 5), True), (R(4), True)], lambda x, w, b: F.linear(x, w, b))
case("linearT_nobias", [(R(6, 3), True), (R(2, 3), True)], lambda x, w: F.linear(x, w))
case("matmul_4d", [(R(2, 3, 4, 5), True), (R(2, 3, 5, 2), True)], lambda a, b: a @ b)
case("matmul_3d", [(R(3, 4, 4), True), (R(3, 4, 6), True)], lambda a, b: a @ b)
case("matmul_broadcast", [(R(2, 1, 3, 4), True), (R(3, 4, 2), True)], lambda a, b: a @ b)
case("layerNorm", [(R(2, 3, 8), True), (1 + 0.3 * R(8), True), (0.5 * R(8), True)], lambda x, w, b: F.layer_norm(x, (8,), w, b, 1e-5))
case("layerNorm_offset", [(3 + 0.5 * R(4, 16), True), (R(16), True), (R(16), True)], lambda x, w, b: F.layer_norm(x, (16,), w, b, 1e-5))
xg = torch.cat([R(20) * 3, torch.tensor([0.0, -10.0, 10.0, -30.0, 30.0, 1e-4])])
case("gelu", [(xg, True)], gelu_tanh)
causal = torch.tril(torch.ones(4, 4)).view(1, 1, 4, 4)
case("causal_softmax", [(R(2, 2, 4, 4), True)], lambda a: F.softmax(a.masked_fill(causal == 0, float("-inf")), dim=-1))
case("softmax_dim1", [(R(3, 5, 2), True)], lambda a: F.softmax(a, dim=1))
case("bow_average", [(R(2, 4, 3), True)],
     lambda x: F.softmax(torch.zeros(2, 4, 4).masked_fill(torch.tril(torch.ones(4, 4)).view(1, 4, 4) == 0, float("-inf")), dim=-1) @ x)
case("narrow", [(R(2, 5, 3), True)], lambda x: x.narrow(1, 1, 3), {"dim": 1, "start": 1, "length": 3})
case("split_last", [(R(2, 3, 6), True)], lambda x: torch.stack(x.split(2, dim=2), 0), {"size": 2, "dim": 2})
case("select_time", [(R(3, 4, 2), True)], lambda x: x[:, 2, :], {"dim": 1, "index": 2})
case("stack1", [(R(3, 2), True), (R(3, 2), True), (R(3, 2), True)], lambda a, b, c: torch.stack([a, b, c], 1), {"dim": 1})
case("expand", [(R(1, 4), True)], lambda x: x.expand((3, -1)), {"shape": [3, -1]})
tgt = torch.tensor([3, 0, -1, 2, -1, 4], dtype=torch.long)
case("crossEntropy_ignore", [(R(6, 5), True), (tgt, False)], lambda x, t: F.cross_entropy(x, t, ignore_index=-1), {"ignoreIndex": -1})
case("rnn_cell", [(R(3, 2), True), (R(3, 4), True), (R(4, 6), True), (R(4), True)],
     lambda x, h, w, b: torch.tanh(F.linear(torch.cat([x, h], dim=1), w, b)))
case("gru_blend", [(R(3, 4), True), (R(3, 4), True), (R(3, 4), True)], lambda z, h, hb: (1 - torch.sigmoid(z)) * h + torch.sigmoid(z) * hb)

with open(OUT, "w") as f:
    json.dump({"meta": {"torch_version": torch.__version__, "script": "scripts/torch/makemore_ops.py"}, "init": init, "cases": cases}, f)
    f.write("\n")
print(f"wrote {OUT}: {len(cases)} cases")
