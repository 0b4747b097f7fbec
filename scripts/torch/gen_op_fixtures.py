#!/usr/bin/python3
"""Generate fixtures/torch-ops.json: forward values and gradients of the tensor ops, from PyTorch.

Run with Debian's python (PyTorch 1.13 is installed there):

    /usr/bin/python3 scripts/torch/gen_op_fixtures.py

Every case records its inputs (float32 values drawn from torch.manual_seed(0) randn, or
hand-chosen extremes), the op and its arguments, the forward output, and for differentiable ops
the gradient of every input that requires grad after `out.backward(upstream)`, where `upstream`
is a fixed random tensor of the output's shape (drawn from a separate generator, seed 1234, so
that adding a case does not change the inputs of later cases more than necessary).

Format (all values flat, row-major; floats are exact float32 values written as shortest-repr
doubles; non-finite values are the strings "inf", "-inf", "nan"):

    {"meta": {...},
     "cases": [{"name", "op", "kwargs": {...},
                "inputs": [{"shape", "dtype", "values", "requires_grad"}],
                "upstream": {"shape", "dtype", "values"} | null,
                "output": {"shape", "dtype", "values"},
                "grads": [{"shape", "dtype", "values"} | null],   # one per input
                "extra": {name: {"shape", "dtype", "values"}}}]}

`op` names the operation as the TS test dispatches it (see test/ops.torch.test.ts). `extra`
holds secondary outputs (max indices, histogram bin edges, retained intermediate gradients).
"""

import json
import math
import os
import platform
import sys

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "torch-ops.json")

torch.manual_seed(0)
UPSTREAM_GEN = torch.Generator().manual_seed(1234)


def R(*shape):
    """Inputs: float32 randn from the torch.manual_seed(0) stream."""
    return torch.randn(*shape)


def T(values, dtype=torch.float32):
    return torch.tensor(values, dtype=dtype)


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
    return {
        "shape": list(t.shape),
        "dtype": str(t.dtype).replace("torch.", ""),
        "values": [enc(v) for v in t.reshape(-1).tolist()],
    }


cases = []
names = set()


def case(name, op, inputs, fn, kwargs=None, extra=None):
    """inputs: list of (tensor, requires_grad). fn(*leaves) -> output tensor, or (output, extras)
    where extras is a dict of tensors or a callable returning one (called after backward)."""
    assert name not in names, name
    names.add(name)
    leaves = []
    for t, rg in inputs:
        leaf = t.detach().clone()
        if rg:
            leaf.requires_grad_(True)
        leaves.append(leaf)
    res = fn(*leaves)
    if isinstance(res, tuple):
        out, ex = res
    else:
        out, ex = res, {}
    upstream = None
    grads = [None] * len(leaves)
    if out.requires_grad:
        upstream = torch.randn(out.shape, generator=UPSTREAM_GEN)
        out.backward(upstream)
        for i, leaf in enumerate(leaves):
            if leaf.requires_grad:
                assert leaf.grad is not None, f"{name}: input {i} got no gradient"
                grads[i] = tj(leaf.grad)
    if callable(ex):
        ex = ex()
    cases.append(
        {
            "name": name,
            "op": op,
            "kwargs": kwargs or {},
            "inputs": [dict(tj(leaf), requires_grad=bool(rg)) for leaf, (_, rg) in zip(leaves, inputs)],
            "upstream": tj(upstream) if upstream is not None else None,
            "output": tj(out),
            "grads": grads,
            "extra": {k: tj(v) for k, v in ex.items()},
        }
    )


# ---------------------------------------------------------------------------------------------
# Elementwise binary arithmetic with broadcasting

TORCH_BIN = {
    "add": torch.add,
    "sub": torch.sub,
    "mul": torch.mul,
    "div": torch.div,
    "pow": torch.pow,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
}

for op in ["add", "sub", "mul", "div"]:
    f = TORCH_BIN[op]
    case(f"{op}/same_3x4", op, [(R(3, 4), True), (R(3, 4), True)], f)
    case(f"{op}/bcast_3x4_4", op, [(R(3, 4), True), (R(4), True)], f)
    case(f"{op}/bcast_3x4_3x1", op, [(R(3, 4), True), (R(3, 1), True)], f)
    case(f"{op}/bcast_2x1x4_3x1", op, [(R(2, 1, 4), True), (R(3, 1), True)], f)
    case(f"{op}/bcast_4_3x4", op, [(R(4), True), (R(3, 4), True)], f)
    case(f"{op}/scalar_tensor_rhs", op, [(R(3, 4), True), (R(()), True)], f)
    case(f"{op}/scalar_tensor_lhs", op, [(R(()), True), (R(3, 4), True)], f)
    case(f"{op}/rhs_no_grad", op, [(R(3, 4), True), (R(3, 4), False)], f)
    for num in [2.5, 0.1, -3.0]:
        case(f"{op}/number_{num}", op, [(R(3, 4), True)], lambda x, num=num, f=f: f(x, num), {"other": num})

case("div/by_small_tensor", "div", [(R(2, 3), True), (T([[1e-3, -1e-5, 1e-7], [2e-4, -3e-6, 5e-8]]), True)], torch.div)
case("div/by_small_number", "div", [(R(2, 3), True)], lambda x: x / 1e-4, {"other": 1e-4})
case("rsub/number_1", "rsub", [(R(3, 4), True)], lambda x: 1 - x, {"other": 1.0})

# pow with a number exponent (torch special-cases 2, 3, 0.5, -1, -2, 0)
for p in [2.0, 3.0, -1.0, -2.0, 0.0]:
    case(f"pow/exp_{p}", "pow", [(R(3, 4), True)], lambda x, p=p: x.pow(p), {"other": p})
for p in [0.5, 1.5, -0.5]:
    case(f"pow/exp_{p}_positive_base", "pow", [(R(3, 4).abs() + 0.1, True)], lambda x, p=p: x.pow(p), {"other": p})
case("pow/exp_-1_small_base", "pow", [(T([1e-3, -1e-4, 1e-6, 2.0]), True)], lambda x: x.pow(-1.0), {"other": -1.0})
case("pow/exp_0.5_near_zero", "pow", [(T([1e-12, 1e-6, 1e-3, 4.0]), True)], lambda x: x.pow(0.5), {"other": 0.5})
case("pow/tensor_exponent", "pow", [(R(3, 4).abs() + 0.1, True), (R(3, 4), True)], torch.pow)
case("pow/tensor_exponent_bcast", "pow", [(R(3, 4).abs() + 0.1, True), (R(4), True)], torch.pow)

# maximum / minimum (ties split the gradient evenly in torch)
for op in ["maximum", "minimum"]:
    f = TORCH_BIN[op]
    case(f"{op}/same_3x4", op, [(R(3, 4), True), (R(3, 4), True)], f)
    case(f"{op}/bcast_3x4_4", op, [(R(3, 4), True), (R(4), True)], f)
    case(
        f"{op}/ties",
        op,
        [(T([[1.0, 2.0, -3.0], [0.0, 5.0, 5.0]]), True), (T([[1.0, 0.0, -3.0], [0.0, 6.0, 5.0]]), True)],
        f,
    )
    case(
        f"{op}/number_0",
        op,
        [(T([[-1.5, 0.0, 2.0], [0.5, -0.0, 3.0]]), True)],
        lambda x, f=f: f(x, torch.tensor(0.0)),
        {"other": 0.0},
    )

# ---------------------------------------------------------------------------------------------
# Comparisons (bool results, no gradient). Values rounded to halves so that equality happens.

CMP = {"gt": torch.gt, "lt": torch.lt, "ge": torch.ge, "le": torch.le, "eq": torch.eq, "ne": torch.ne}
ca = torch.round(R(3, 4) * 2) / 2
cb = torch.round(R(4) * 2) / 2
cb[1] = ca[0, 1]
cb[2] = ca[1, 2]
for op, f in CMP.items():
    case(f"{op}/tensor_bcast", op, [(ca, False), (cb, False)], f)
    case(f"{op}/number", op, [(ca, False)], lambda x, f=f: f(x, 0.5), {"other": 0.5})
case("eq/number_0.1_float32", "eq", [(T([0.1, 0.2, 0.3, 0.1]), False)], lambda x: x == 0.1, {"other": 0.1})

# ---------------------------------------------------------------------------------------------
# Elementwise unary

UN = {
    "neg": torch.neg,
    "exp": torch.exp,
    "log": torch.log,
    "tanh": torch.tanh,
    "sqrt": torch.sqrt,
    "abs": torch.abs,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
}
for op, f in UN.items():
    x = R(3, 4)
    if op in ("log", "sqrt"):
        x = x.abs() + 0.05
    case(f"{op}/randn_3x4", op, [(x, True)], f)

case("tanh/saturated_300_20", "tanh", [(T([-300.0, -20.0, 20.0, 300.0]), True)], torch.tanh)
case("tanh/near_saturation", "tanh", [(T([-8.8, -8.0, -5.0, 5.0, 8.0, 8.8]), True)], torch.tanh)
case("exp/extremes", "exp", [(T([-100.0, -20.0, 0.0, 20.0, 88.0]), True)], torch.exp)
case("log/small_positives", "log", [(T([1e-30, 1e-10, 1e-3, 1.0, 1e10]), True)], torch.log)
case("sqrt/near_zero", "sqrt", [(T([0.0, 1e-30, 1e-12, 1e-6, 1.0]), True)], torch.sqrt)
case("abs/with_zero", "abs", [(T([-2.0, -0.0, 0.0, 1.5]), True)], torch.abs)
case("relu/with_zero", "relu", [(T([-2.0, 0.0, 1e-8, 1.5]), True)], torch.relu)
case("sigmoid/extremes", "sigmoid", [(T([-100.0, -30.0, 0.0, 30.0, 100.0]), True)], torch.sigmoid)

# ---------------------------------------------------------------------------------------------
# Reductions

x3 = R(2, 3, 4)
for op in ["sum", "mean"]:
    case(f"{op}/all", op, [(x3, True)], lambda x, op=op: getattr(x, op)(), {"dim": None})
    for dim in [0, 1, 2, -1]:
        for kd in [False, True]:
            case(
                f"{op}/dim{dim}_keepdim{int(kd)}",
                op,
                [(x3, True)],
                lambda x, op=op, dim=dim, kd=kd: getattr(x, op)(dim, keepdim=kd),
                {"dim": dim, "keepdim": kd},
            )
for op in ["var", "std"]:
    for ub in [True, False]:
        case(
            f"{op}/all_unbiased{int(ub)}",
            op,
            [(x3, True)],
            lambda x, op=op, ub=ub: getattr(x, op)(unbiased=ub),
            {"dim": None, "unbiased": ub},
        )
        for dim in [0, 1, 2, -1]:
            for kd in [False, True]:
                case(
                    f"{op}/dim{dim}_keepdim{int(kd)}_unbiased{int(ub)}",
                    op,
                    [(x3, True)],
                    lambda x, op=op, dim=dim, kd=kd, ub=ub: getattr(x, op)(dim, keepdim=kd, unbiased=ub),
                    {"dim": dim, "keepdim": kd, "unbiased": ub},
                )
    # a constant column (exactly representable, and 0.1 which is not) and a constant tensor
    const = R(4, 3)
    const[:, 1] = 2.0
    const[:, 2] = 0.1
    for ub in [True, False]:
        case(
            f"{op}/constant_columns_dim0_unbiased{int(ub)}",
            op,
            [(const, True)],
            lambda x, op=op, ub=ub: getattr(x, op)(0, unbiased=ub),
            {"dim": 0, "keepdim": False, "unbiased": ub},
        )
    case(
        f"{op}/constant_all",
        op,
        [(torch.full((2, 3), 1.5), True)],
        lambda x, op=op: getattr(x, op)(),
        {"dim": None, "unbiased": True},
    )

# max over a dim: values (differentiable, gradient to the returned index) and indices
x35 = R(3, 5)
for dim in [0, 1, -1]:
    for kd in [False, True]:

        def fmax(x, dim=dim, kd=kd):
            v, i = x.max(dim, keepdim=kd)
            return v, {"indices": i}

        case(f"max_dim/3x5_dim{dim}_keepdim{int(kd)}", "max_dim", [(x35, True)], fmax, {"dim": dim, "keepdim": kd})


def fmax1(x):
    v, i = x.max(1)
    return v, {"indices": i}


case("max_dim/2x3x4_dim1", "max_dim", [(R(2, 3, 4), True)], fmax1, {"dim": 1, "keepdim": False})
ties = T([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 5.0], [-1.0, -2.0, -1.0, -3.0]])
case("max_dim/ties_dim1", "max_dim", [(ties, True)], fmax1, {"dim": 1, "keepdim": False})
case("max_all/randn", "max_all", [(R(3, 4), True)], lambda x: x.max())
case("max_all/ties", "max_all", [(ties, True)], lambda x: x.max())
case("min_all/randn", "min_all", [(R(3, 4), True)], lambda x: x.min())
case("min_all/ties", "min_all", [(T([[2.0, -1.0, 0.0], [-1.0, 3.0, 1.0]]), True)], lambda x: x.min())
xa = R(4, 5)
case("argmax/all", "argmax", [(xa, False)], lambda x: x.argmax(), {"dim": None})
for dim in [0, 1, -1]:
    for kd in [False, True]:
        case(
            f"argmax/dim{dim}_keepdim{int(kd)}",
            "argmax",
            [(xa, False)],
            lambda x, dim=dim, kd=kd: x.argmax(dim, keepdim=kd),
            {"dim": dim, "keepdim": kd},
        )
case("argmax/ties_dim1", "argmax", [(ties, False)], lambda x: x.argmax(1), {"dim": 1, "keepdim": False})
case("argmax/ties_all", "argmax", [(ties, False)], lambda x: x.argmax(), {"dim": None})

# ---------------------------------------------------------------------------------------------
# Views and permutations

x34 = R(3, 4)
x234 = R(2, 3, 4)
case("view/3x4_to_2x6", "view", [(x34, True)], lambda x: x.view(2, 6), {"shape": [2, 6]})
case("view/infer_-1", "view", [(x34, True)], lambda x: x.view(-1, 2), {"shape": [-1, 2]})
case("reshape/3x4_to_4x3", "reshape", [(x34, True)], lambda x: x.reshape(4, 3), {"shape": [4, 3]})
case("flatten/all", "flatten", [(x234, True)], lambda x: x.flatten(), {"start_dim": 0})
case("flatten/start1", "flatten", [(x234, True)], lambda x: x.flatten(1), {"start_dim": 1})
case("unsqueeze/0", "unsqueeze", [(x34, True)], lambda x: x.unsqueeze(0), {"dim": 0})
case("unsqueeze/-1", "unsqueeze", [(x34, True)], lambda x: x.unsqueeze(-1), {"dim": -1})
x1314 = R(1, 3, 1, 4)
case("squeeze/all", "squeeze", [(x1314, True)], lambda x: x.squeeze(), {"dim": None})
case("squeeze/dim2", "squeeze", [(x1314, True)], lambda x: x.squeeze(2), {"dim": 2})
case("squeeze/dim1_not_size1", "squeeze", [(x1314, True)], lambda x: x.squeeze(1), {"dim": 1})
case("transpose/0_2", "transpose", [(x234, True)], lambda x: x.transpose(0, 2), {"dim0": 0, "dim1": 2})
case("transpose/-1_-2", "transpose", [(x234, True)], lambda x: x.transpose(-1, -2), {"dim0": -1, "dim1": -2})
case("permute/2_0_1", "permute", [(x234, True)], lambda x: x.permute(2, 0, 1), {"dims": [2, 0, 1]})
case("T/3x5", "T", [(R(3, 5), True)], lambda x: x.T)

# ---------------------------------------------------------------------------------------------
# Indexing

C = R(27, 10)
ix = T([[1, 5, 1], [0, 26, 5], [5, 5, 3], [26, 0, 1]], torch.int64)
case("index/27x10_by_4x3_repeated", "index", [(C, True), (ix, False)], lambda c, i: c[i])
case("index/negative_1d_idx", "index", [(R(6, 3), True), (T([-1, 0, 2, -1, 5], torch.int64), False)], lambda c, i: c[i])
case("index/1d_table_2x3_idx", "index", [(R(7), True), (T([[0, 6, 3], [3, 3, 1]], torch.int64), False)], lambda c, i: c[i])

xp = R(5, 4)
case(
    "pick/arange_rows",
    "pick",
    [(xp, True), (torch.arange(5), False), (T([3, 0, 1, 3, 2], torch.int64), False)],
    lambda x, r, c: x[r, c],
)
case(
    "pick/repeated_pairs",
    "pick",
    [(xp, True), (T([0, 0, 2, 2, 2, 4], torch.int64), False), (T([1, 1, 3, 3, 0, 2], torch.int64), False)],
    lambda x, r, c: x[r, c],
)

xs = R(5, 3)
case("slice/1_4", "slice", [(xs, True)], lambda x: x[1:4], {"start": 1, "end": 4})
case("slice/-2_end", "slice", [(xs, True)], lambda x: x[-2:], {"start": -2, "end": None})
case("slice/2_100_clamped", "slice", [(xs, True)], lambda x: x[2:100], {"start": 2, "end": 100})
case("slice/0_-1", "slice", [(R(4, 2, 3), True)], lambda x: x[0:-1], {"start": 0, "end": -1})

# ---------------------------------------------------------------------------------------------
# matmul

case("matmul/5x7_7x3", "matmul", [(R(5, 7), True), (R(7, 3), True)], torch.matmul)
case("matmul/4x6_6", "matmul", [(R(4, 6), True), (R(6), True)], torch.matmul)
case("matmul/1x8_8x1", "matmul", [(R(1, 8), True), (R(8, 1), True)], torch.matmul)
case("matmul/only_lhs_grad", "matmul", [(R(3, 4), True), (R(4, 2), False)], torch.matmul)
case("matmul/only_rhs_grad", "matmul", [(R(3, 4), False), (R(4, 2), True)], torch.matmul)
case("matmul/30x200_200x27", "matmul", [(R(6, 30) * 0.5, True), (R(30, 20) * 0.2, True)], torch.matmul)

# ---------------------------------------------------------------------------------------------
# softmax / log_softmax / cross_entropy

xsm = R(3, 5)
for op, f in [("softmax", torch.softmax), ("log_softmax", torch.log_softmax)]:
    for dim in [0, 1, -1]:
        case(f"{op}/3x5_dim{dim}", op, [(xsm, True)], lambda x, f=f, dim=dim: f(x, dim), {"dim": dim})
    case(f"{op}/2x3x4_dim1", op, [(R(2, 3, 4), True)], lambda x, f=f: f(x, 1), {"dim": 1})
    case(
        f"{op}/large_values",
        op,
        [(T([[1000.0, 1001.0, 999.0], [-1000.0, -1001.0, -999.0]]), True)],
        lambda x, f=f: f(x, 1),
        {"dim": 1},
    )
    case(
        f"{op}/neg_inf_entry",
        op,
        [(T([[float("-inf"), 0.0, 1.0], [0.5, float("-inf"), -0.5]]), True)],
        lambda x, f=f: f(x, 1),
        {"dim": 1},
    )

case(
    "cross_entropy/5x27",
    "cross_entropy",
    [(R(5, 27), True), (T([1, 26, 0, 13, 1], torch.int64), False)],
    lambda x, t: F.cross_entropy(x, t),
)
case(
    "cross_entropy/8x4_repeated_targets",
    "cross_entropy",
    [(R(8, 4) * 3, True), (T([0, 0, 3, 3, 3, 1, 2, 0], torch.int64), False)],
    lambda x, t: F.cross_entropy(x, t),
)
case(
    "cross_entropy/logits_1e4",
    "cross_entropy",
    [
        (T([[1e4, -1e4, 0.0, 5e3], [-1e4, 1e4, 1e4, -5e3], [2e4, 0.0, -2e4, 1.0]]), True),
        (T([0, 2, 1], torch.int64), False),
    ],
    lambda x, t: F.cross_entropy(x, t),
)
case(
    "cross_entropy/confident",
    "cross_entropy",
    [(R(4, 27) * 20, True), (T([3, 7, 11, 20], torch.int64), False)],
    lambda x, t: F.cross_entropy(x, t),
)

# ---------------------------------------------------------------------------------------------
# cat, where


def fcat(dim):
    return lambda *ts: torch.cat(ts, dim)


case("cat/dim0", "cat", [(R(2, 3), True), (R(4, 3), True), (R(1, 3), True)], fcat(0), {"dim": 0})
case("cat/dim1", "cat", [(R(2, 3), True), (R(2, 1), True), (R(2, 4), True)], fcat(1), {"dim": 1})
case("cat/dim-1_3d", "cat", [(R(2, 3, 2), True), (R(2, 3, 1), True)], fcat(-1), {"dim": -1})
case("cat/dim1_3d", "cat", [(R(2, 1, 2), True), (R(2, 3, 2), True)], fcat(1), {"dim": 1})
case("cat/dim0_one_no_grad", "cat", [(R(2, 3), False), (R(1, 3), True)], fcat(0), {"dim": 0})

wc = R(3, 4)
case(
    "where/same_shape",
    "where",
    [(wc > 0, False), (R(3, 4), True), (R(3, 4), True)],
    torch.where,
)
case(
    "where/bcast_b_4",
    "where",
    [(wc > 0.3, False), (R(3, 4), True), (R(4), True)],
    torch.where,
)

case(
    "where/nonfinite_in_unselected_branch",
    "where",
    [
        (T([True, False, True, False], torch.bool), False),
        (T([1.0, float("inf"), 3.0, float("nan")]), True),
        (T([float("-inf"), 5.0, float("inf"), -2.0]), True),
    ],
    torch.where,
)

# ---------------------------------------------------------------------------------------------
# histogram (torch.histogram, counts and density; float32 input)

hx = R(100)
case("histogram/bins10", "histogram", [(hx, False)], lambda x: (lambda h: (h.hist, {"bin_edges": h.bin_edges}))(torch.histogram(x, bins=10)), {"bins": 10, "density": False})
case(
    "histogram/bins10_density",
    "histogram",
    [(hx, False)],
    lambda x: (lambda h: (h.hist, {"bin_edges": h.bin_edges}))(torch.histogram(x, bins=10, density=True)),
    {"bins": 10, "density": True},
)
case(
    "histogram/bins7_range",
    "histogram",
    [(hx, False)],
    lambda x: (lambda h: (h.hist, {"bin_edges": h.bin_edges}))(torch.histogram(x, bins=7, range=(-1.0, 1.5))),
    {"bins": 7, "density": False, "range": [-1.0, 1.5]},
)
case(
    "histogram/all_equal",
    "histogram",
    [(torch.full((5,), 3.0), False)],
    lambda x: (lambda h: (h.hist, {"bin_edges": h.bin_edges}))(torch.histogram(x, bins=10)),
    {"bins": 10, "density": False},
)
case(
    "histogram/all_equal_density",
    "histogram",
    [(torch.full((5,), -1.25), False)],
    lambda x: (lambda h: (h.hist, {"bin_edges": h.bin_edges}))(torch.histogram(x, bins=4, density=True)),
    {"bins": 4, "density": True},
)
case(
    "histogram/values_on_edges",
    "histogram",
    [(T([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 2.5]), False)],
    lambda x: (lambda h: (h.hist, {"bin_edges": h.bin_edges}))(torch.histogram(x, bins=5)),
    {"bins": 5, "density": False},
)
case(
    "histogram/tanh_activations_bins50",
    "histogram",
    [(torch.tanh(R(200) * 3), False)],
    lambda x: (lambda h: (h.hist, {"bin_edges": h.bin_edges}))(torch.histogram(x, bins=50, density=True)),
    {"bins": 50, "density": True},
)

# ---------------------------------------------------------------------------------------------
# Creation

for args in [[10], [2, 10, 3], [5, 0, -1], [0, 1, 0.1], [-1, 1, 0.25], [1, 2.5, 0.5]]:
    case(f"arange/{'_'.join(str(a) for a in args)}", "arange", [], lambda args=args: torch.arange(*args), {"args": args})
for args in [[-1, 1, 11], [0, 1, 5], [-3, 3, 7], [0, 1, 2], [2, 5, 1], [0.1, 0.7, 9], [-4, 4, 101]]:
    case(
        f"linspace/{'_'.join(str(a) for a in args)}",
        "linspace",
        [],
        lambda args=args: torch.linspace(*args),
        {"args": args},
    )
case("zeros/2x3", "zeros", [], lambda: torch.zeros(2, 3), {"shape": [2, 3]})
case("ones/3", "ones", [], lambda: torch.ones(3), {"shape": [3]})
case("full/2x2_7.5", "full", [], lambda: torch.full((2, 2), 7.5), {"shape": [2, 2], "value": 7.5})

# ---------------------------------------------------------------------------------------------
# Composite graphs (a tensor used more than once, detach, retain_grad). `expr` is matched by name
# in the TS test, which builds the same graph.

case("composite/x*x+x", "composite", [(R(3, 4), True)], lambda x: x * x + x, {"expr": "x*x+x"})
case("composite/x@x", "composite", [(R(4, 4), True)], lambda x: x.matmul(x), {"expr": "x@x"})
case("composite/x+x.T", "composite", [(R(4, 4), True)], lambda x: x + x.T, {"expr": "x+x.T"})
case("composite/x.detach()*x", "composite", [(R(3, 4), True)], lambda x: x.detach() * x, {"expr": "x.detach()*x"})
case(
    "composite/x*x.sum(0,keepdim)",
    "composite",
    [(R(3, 4), True)],
    lambda x: x * x.sum(0, keepdim=True),
    {"expr": "x*x.sum(0,keepdim)"},
)


def f_retain(x):
    h = x.tanh()
    h.retain_grad()
    return h * h, lambda: {"h_grad": h.grad}


case("composite/retain_grad_tanh_sq", "composite", [(R(3, 4), True)], f_retain, {"expr": "retain_grad_tanh_sq"})
case(
    "composite/batchnorm_std",
    "composite",
    [(R(6, 4) * 2 + 1, True), (R(1, 4), True), (R(1, 4), True)],
    lambda x, g, b: g * (x - x.mean(0, keepdim=True)) / x.std(0, keepdim=True) + b,
    {"expr": "batchnorm_std"},
)
case(
    "composite/batchnorm_var_eps",
    "composite",
    [(R(6, 4) * 2 + 1, True), (R(1, 4), True), (R(1, 4), True)],
    lambda x, g, b: g * (x - x.mean(0, keepdim=True)) / (x.var(0, keepdim=True, unbiased=False) + 1e-5).sqrt() + b,
    {"expr": "batchnorm_var_eps"},
)
case(
    "composite/logsoftmax_pick_mean",
    "composite",
    [(R(5, 6), True), (T([0, 5, 2, 2, 1], torch.int64), False)],
    lambda x, t: -x.log_softmax(1)[torch.arange(5), t].mean(),
    {"expr": "logsoftmax_pick_mean"},
)
case(
    "composite/manual_softmax",
    "composite",
    [(R(3, 5), True)],
    lambda x: x.exp() / x.exp().sum(1, keepdim=True),
    {"expr": "manual_softmax"},
)
case(
    "composite/relu_pow_mean",
    "composite",
    [(R(3, 4), True)],
    lambda x: x.relu().pow(2).mean(),
    {"expr": "relu_pow_mean"},
)
case(
    "composite/mlp_tanh",
    "composite",
    [(R(4, 6), True), (R(6, 5) * 0.5, True), (R(5), True)],
    lambda x, w, b: (x.matmul(w) + b).tanh(),
    {"expr": "mlp_tanh"},
)

# ---------------------------------------------------------------------------------------------

meta = {
    "generated_by": "scripts/torch/gen_op_fixtures.py",
    "torch_version": torch.__version__,
    "python_version": platform.python_version(),
    "machine": platform.machine(),
    "input_seed": "torch.manual_seed(0); inputs drawn with torch.randn in file order",
    "upstream_seed": "torch.Generator().manual_seed(1234); one torch.randn(out.shape) per differentiable case",
    "format": (
        "values are flat row-major lists; float32 values are written as their exact double value; "
        "non-finite floats are the strings 'inf', '-inf', 'nan'. grads[i] is d(sum(output*upstream))/d(inputs[i]) "
        "or null when inputs[i] does not require grad. extra holds secondary outputs."
    ),
    "count": len(cases),
}

with open(OUT, "w") as fh:
    json.dump({"meta": meta, "cases": cases}, fh, separators=(",", ":"))
    fh.write("\n")
print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)", file=sys.stderr)
