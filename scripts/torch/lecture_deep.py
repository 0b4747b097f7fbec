#!/usr/bin/python3
"""Reference numbers for the 6-layer nets of makemore part 3 ("PyTorch-ifying the code"):
the lecture's Linear / BatchNorm1d / Tanh classes, trained 1000 steps, with the lecture's
diagnostics (activation / gradient statistics and histograms, grad:data and update:data
ratios). Written to fixtures/torch-lecture-deep.json.

    /usr/bin/python3 scripts/torch/lecture_deep.py

Variants (each from a fresh torch.Generator().manual_seed(2147483647)):
  deep-bn          Linear(bias=False)+BatchNorm1d+Tanh x5, Linear(100,27,bias=False)+BatchNorm1d(27);
                   layers[-1].gamma *= 0.1; every other Linear weight *= 5/3      (47,024 params)
  deep-tanh        Linear+Tanh x5, Linear(100,27); layers[-1].weight *= 0.1;
                   every other Linear weight *= 5/3                              (46,497 params)
  deep-{bn,tanh}-gain-{0.5,1,3}   the same with that gain instead of 5/3.

Conventions (mirroring the lecture notebook):
  * step i: ix = torch.randint(0, len(Xtr), (32,), generator=g); forward; every layer's
    out.retain_grad(); p.grad = None; loss.backward(); p.data += -lr * p.grad (lr = 0.1);
    then under no_grad ud = ((lr*p.grad).std() / p.data.std()).log10().item() per parameter.
  * The diagnostics of a step are taken AFTER that step's update, exactly where the lecture
    takes them (after the loop breaks): activations (layer.out) and gradients (.grad) are from
    that step's forward/backward; the grad:data ratio divides by p.std() of the UPDATED p
    (the pre-update std is stored too, as "data_std_before_update").
  * The lecture's loop ends with `if i >= 1000: break` (i.e. 1001 updates, i = 0..1000);
    here exactly `steps` (default 1000) updates are done, i = 0..steps-1, and the "last"
    diagnostics are those of step steps-1.
  * Split losses: every BatchNorm1d switched to eval mode (running_mean / running_var).

All floats are exact float32 values written as float64 (nothing rounded). Non-finite
values (none expected) would be written as the strings "inf"/"-inf"/"nan".
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lecture_mlp as L  # noqa: E402

OUT = os.path.join(L.ROOT, 'fixtures', 'torch-lecture-deep.json')
N_EMBD = 10
N_HIDDEN = 100
VOCAB = 27
BATCH = 32
LR = 0.1


# ----------------------------------------------------------------------------- lecture classes
class Linear:
    def __init__(self, fan_in, fan_out, g, bias=True):
        self.weight = torch.randn((fan_in, fan_out), generator=g) / fan_in ** 0.5
        self.bias = torch.zeros(fan_out) if bias else None

    def __call__(self, x):
        self.out = x @ self.weight
        if self.bias is not None:
            self.out += self.bias
        return self.out

    def parameters(self):
        return [self.weight] + ([] if self.bias is None else [self.bias])

    def param_names(self):
        return ['weight'] + ([] if self.bias is None else ['bias'])


class BatchNorm1d:
    def __init__(self, dim, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.training = True
        self.gamma = torch.ones(dim)
        self.beta = torch.zeros(dim)
        self.running_mean = torch.zeros(dim)
        self.running_var = torch.ones(dim)

    def __call__(self, x):
        if self.training:
            xmean = x.mean(0, keepdim=True)
            xvar = x.var(0, keepdim=True)
        else:
            xmean = self.running_mean
            xvar = self.running_var
        xhat = (x - xmean) / torch.sqrt(xvar + self.eps)
        self.out = self.gamma * xhat + self.beta
        if self.training:
            with torch.no_grad():
                self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * xmean
                self.running_var = (1 - self.momentum) * self.running_var + self.momentum * xvar
        return self.out

    def parameters(self):
        return [self.gamma, self.beta]

    def param_names(self):
        return ['gamma', 'beta']


class Tanh:
    def __call__(self, x):
        self.out = torch.tanh(x)
        return self.out

    def parameters(self):
        return []

    def param_names(self):
        return []


# ----------------------------------------------------------------------------- build
def build(kind, gain):
    g = torch.Generator().manual_seed(L.SEED)
    C = torch.randn((VOCAB, N_EMBD), generator=g)
    bn = kind == 'bn'
    if bn:
        layers = [Linear(N_EMBD * L.BLOCK_SIZE, N_HIDDEN, g, bias=False), BatchNorm1d(N_HIDDEN), Tanh()]
        for _ in range(4):
            layers += [Linear(N_HIDDEN, N_HIDDEN, g, bias=False), BatchNorm1d(N_HIDDEN), Tanh()]
        layers += [Linear(N_HIDDEN, VOCAB, g, bias=False), BatchNorm1d(VOCAB)]
    elif kind == 'linear':
        # the lecture's linear-only net: the Tanh layers taken out (its diagnostics then plot the
        # Linear layers)
        layers = [Linear(N_EMBD * L.BLOCK_SIZE, N_HIDDEN, g)]
        for _ in range(4):
            layers += [Linear(N_HIDDEN, N_HIDDEN, g)]
        layers += [Linear(N_HIDDEN, VOCAB, g)]
    else:
        layers = [Linear(N_EMBD * L.BLOCK_SIZE, N_HIDDEN, g), Tanh()]
        for _ in range(4):
            layers += [Linear(N_HIDDEN, N_HIDDEN, g), Tanh()]
        layers += [Linear(N_HIDDEN, VOCAB, g)]
    with torch.no_grad():
        # last layer: make less confident
        if bn:
            layers[-1].gamma *= 0.1
        else:
            layers[-1].weight *= 0.1
        # all other layers: apply gain
        for layer in layers[:-1]:
            if isinstance(layer, Linear):
                layer.weight *= gain
    parameters = [C] + [p for layer in layers for p in layer.parameters()]
    names = ['C'] + [f'layers[{i}].{n}' for i, layer in enumerate(layers) for n in layer.param_names()]
    for p in parameters:
        p.requires_grad = True
    return g, C, layers, parameters, names


# ----------------------------------------------------------------------------- helpers
def fnum(x):
    x = float(x)
    if math.isfinite(x):
        return x
    return 'nan' if math.isnan(x) else ('inf' if x > 0 else '-inf')


def flat(t):
    return [fnum(v) for v in t.detach().reshape(-1).tolist()]


def histogram(t):
    hy, hx = torch.histogram(t, density=True)
    return {'hist': flat(hy), 'edges': flat(hx)}


@torch.no_grad()
def diagnostics(step, layers, parameters, names, std_before, with_hist):
    d = {'step': step, 'activations': [], 'activation_grads': [], 'weight_grads': []}
    # the lecture plots the Tanh layers; a net without any, its Linear layers
    shown = Tanh if any(isinstance(layer, Tanh) for layer in layers) else Linear
    for i, layer in enumerate(layers[:-1]):
        if isinstance(layer, shown):
            t = layer.out
            mean, std = t.mean().item(), t.std().item()
            sat = ((t.abs() > 0.97).float().mean() * 100).item() if shown is Tanh else 0.0
            e = {'layer': i, 'type': shown.__name__, 'mean': mean, 'std': std, 'saturated_pct': sat,
                 'line': 'layer %d (%10s): mean %+.2f, std %.2f, saturated: %.2f%%' % (i, shown.__name__, mean, std, sat)}
            if with_hist:
                e.update(histogram(t))
            d['activations'].append(e)
    for i, layer in enumerate(layers[:-1]):
        if isinstance(layer, shown):
            t = layer.out.grad
            mean, std = t.mean().item(), t.std().item()
            e = {'layer': i, 'type': shown.__name__, 'mean': mean, 'std': std,
                 'line': 'layer %d (%10s): mean %+f, std %e' % (i, shown.__name__, mean, std)}
            if with_hist:
                e.update(histogram(t))
            d['activation_grads'].append(e)
    for j, p in enumerate(parameters):
        t = p.grad
        if p.ndim == 2:
            mean, std = t.mean().item(), t.std().item()
            ratio = (t.std() / p.std()).item()
            e = {'param_index': j, 'name': names[j], 'shape': list(p.shape), 'mean': mean, 'std': std,
                 'grad_data_ratio': ratio, 'data_std': p.std().item(),
                 'data_std_before_update': std_before[j],
                 'grad_data_ratio_before_update': (t.std() / std_before[j]).item(),
                 'line': 'weight %10s | mean %+f | std %e | grad:data ratio %e' % (tuple(p.shape), mean, std, ratio)}
            if with_hist:
                e.update(histogram(t))
            d['weight_grads'].append(e)
    return d


@torch.no_grad()
def split_loss(C, layers, x, y):
    emb = C[x]
    h = emb.view(emb.shape[0], -1)
    for layer in layers:
        h = layer(h)
    return F.cross_entropy(h, y).item()


def run(kind, gain, data, steps, with_hist, log=sys.stderr):
    g, C, layers, parameters, names = build(kind, gain)
    Xtr, Ytr = data['splits']['train']
    losses, ud = [], []
    diags = []
    for i in range(steps):
        ix = torch.randint(0, Xtr.shape[0], (BATCH,), generator=g)
        Xb, Yb = Xtr[ix], Ytr[ix]
        emb = C[Xb]
        x = emb.view(emb.shape[0], -1)
        for layer in layers:
            x = layer(x)
        loss = F.cross_entropy(x, Yb)
        for layer in layers:
            layer.out.retain_grad()
        for p in parameters:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            std_before = [p.std().item() for p in parameters]
        lr = LR
        for p in parameters:
            p.data += -lr * p.grad
        with torch.no_grad():
            ud.append([fnum(((lr * p.grad).std() / p.data.std()).log10().item()) for p in parameters])
        losses.append(loss.item())
        if i == 0 or i == steps - 1:
            diags.append(diagnostics(i, layers, parameters, names, std_before, with_hist))
    for layer in layers:
        layer.training = False
    res = {
        'kind': kind,
        'gain': gain,
        'param_count': sum(p.nelement() for p in parameters),
        'layers': [type(l).__name__ + (f'({l.weight.shape[0]}, {l.weight.shape[1]}, bias={l.bias is not None})'
                                       if isinstance(l, Linear) else
                                       f'({l.gamma.shape[0]})' if isinstance(l, BatchNorm1d) else '()')
                   for l in layers],
        'param_names': names,
        'param_shapes': [list(p.shape) for p in parameters],
        'steps': steps,
        'lr': LR,
        'step0_loss': losses[0],
        'loss_per_step': losses,
        'update_data_ratio_log10': ud,
        'diagnostics': {'step0': diags[0], 'last': diags[-1]},
        'split_loss_eval': {name: split_loss(C, layers, x, y) for name, (x, y) in data['splits'].items()},
        'histograms_included': with_hist,
    }
    print(f'[deep-{kind} gain {gain}] params {res["param_count"]} step0 {losses[0]} last {losses[-1]} '
          f'split {res["split_loss_eval"]}', file=log, flush=True)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=1000)
    ap.add_argument('--out', default=OUT)
    ap.add_argument('--hist-for-extra-gains', action='store_true',
                    help='also store histograms for the gain 0.5/1/3 variants')
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = L.load_data()
    variants = {}
    for kind in ('bn', 'tanh'):
        variants[f'deep-{kind}'] = run(kind, 5 / 3, data, args.steps, True)
        for gain in (0.5, 1.0, 3.0):
            key = f'deep-{kind}-gain-{gain:g}'
            variants[key] = run(kind, gain, data, args.steps, args.hist_for_extra_gains)
    # the lecture's linear-only net (no Tanh; gain 1, which keeps a linear stack's activations steady)
    variants['deep-linear'] = run('linear', 1.0, data, args.steps, True)
    out = {
        'description': ("makemore part 3 6-layer nets (lecture's Linear/BatchNorm1d/Tanh classes; n_embd=10, "
                        "n_hidden=100, block_size=3, batch 32, lr 0.1), each from a fresh "
                        "torch.Generator().manual_seed(2147483647); see scripts/torch/lecture_deep.py "
                        "for the exact conventions (diagnostics after the step's update; 1000 updates, "
                        "not the lecture's 1001)."),
        'generated_by': 'scripts/torch/lecture_deep.py',
        'meta': L.meta(),
        'histogram': 'torch.histogram(t, density=True): 100 bins over [t.min(), t.max()]; hist has 100 '
                     'values, edges 101',
        'variants': variants,
    }
    with open(args.out, 'w') as f:
        json.dump(out, f)
    print(f'wrote {args.out} ({os.path.getsize(args.out)} bytes)', file=sys.stderr)


if __name__ == '__main__':
    main()
