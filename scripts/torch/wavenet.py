#!/usr/bin/python3
"""Reference numbers for makemore part 5 (the WaveNet), running the notebook's code
(lectures/makemore/makemore_part5_cnn1.ipynb) with Debian's PyTorch 1.13, written to
fixtures/torch-wavenet.json.

    /usr/bin/python3 scripts/torch/wavenet.py                   # prefix (200 steps) + full run
    /usr/bin/python3 scripts/torch/wavenet.py --full-steps 0    # prefix only
    /usr/bin/python3 scripts/torch/wavenet.py --reuse-full      # prefix; keep the fixture's full run
                                                                # (same torch build, same full steps)

The code is the notebook's: its Linear / BatchNorm1d (reducing over dims (0, 1) for 3-D input)
/ Tanh / Embedding / FlattenConsecutive / Sequential classes, torch.manual_seed(42) once, then
Embedding(27, 24), 3 x [FlattenConsecutive(2), Linear(no bias), BatchNorm1d(128), Tanh],
Linear(128, 27) with weight *= 0.1, block size 8; each step ix = torch.randint(0, len(Xtr), (32,))
from the global generator; lr 0.1, then 0.01 from step 150,000; eval mode for split losses; 20
samples continuing the global generator (torch.multinomial(probs, num_samples=1)).

Recorded (kept small):
  init: per parameter its shape, sha256 of the float32 bytes and its first 8 values;
  prefix: the loss of every one of the first --prefix-steps steps (a fresh run), the sha256 of
    every parameter after them, the eval-mode train/val loss and 20 samples after the prefix
    (continuing the generator);
  bug: the first 100 steps with the BatchNorm reducing over dim 0 only for 3-D input (the
    lecture's "bug in batchnorm"), its losses and its running_mean shapes;
  full (when --full-steps > 0): the 20 printed lines every 10,000 steps, the eval-mode split
    losses, the 20 samples, the loss every 1,000 steps.
All floats are exact float32 values as float64.
"""
import argparse
import hashlib
import json
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lecture_mlp as L  # noqa: E402

OUT = os.path.join(L.ROOT, 'fixtures', 'torch-wavenet.json')
BLOCK_SIZE = 8


# ----------------------------------------------------------------------------- the notebook's classes
class Linear:
    def __init__(self, fan_in, fan_out, bias=True):
        self.weight = torch.randn((fan_in, fan_out)) / fan_in**0.5  # note: kaiming init
        self.bias = torch.zeros(fan_out) if bias else None

    def __call__(self, x):
        self.out = x @ self.weight
        if self.bias is not None:
            self.out += self.bias
        return self.out

    def parameters(self):
        return [self.weight] + ([] if self.bias is None else [self.bias])


class BatchNorm1d:
    def __init__(self, dim, eps=1e-5, momentum=0.1, bug=False):
        self.eps = eps
        self.momentum = momentum
        self.training = True
        self.bug = bug  # the lecture's first version: dim = 0 for 3-D input too
        self.gamma = torch.ones(dim)
        self.beta = torch.zeros(dim)
        self.running_mean = torch.zeros(dim)
        self.running_var = torch.ones(dim)

    def __call__(self, x):
        if self.training:
            if x.ndim == 2 or self.bug:
                dim = 0
            elif x.ndim == 3:
                dim = (0, 1)
            xmean = x.mean(dim, keepdim=True)
            xvar = x.var(dim, keepdim=True)
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


class Tanh:
    def __call__(self, x):
        self.out = torch.tanh(x)
        return self.out

    def parameters(self):
        return []


class Embedding:
    def __init__(self, num_embeddings, embedding_dim):
        self.weight = torch.randn((num_embeddings, embedding_dim))

    def __call__(self, IX):
        self.out = self.weight[IX]
        return self.out

    def parameters(self):
        return [self.weight]


class FlattenConsecutive:
    def __init__(self, n):
        self.n = n

    def __call__(self, x):
        B, T, C = x.shape
        x = x.view(B, T // self.n, C * self.n)
        if x.shape[1] == 1:
            x = x.squeeze(1)
        self.out = x
        return self.out

    def parameters(self):
        return []


class Sequential:
    def __init__(self, layers):
        self.layers = layers

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        self.out = x
        return self.out

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


# ----------------------------------------------------------------------------- data, model
def load_data():
    words = open(L.NAMES, 'r').read().splitlines()
    chars = sorted(list(set(''.join(words))))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi['.'] = 0
    itos = {i: s for s, i in stoi.items()}
    random.seed(42)
    random.shuffle(words)

    def build_dataset(words):
        X, Y = [], []
        for w in words:
            context = [0] * BLOCK_SIZE
            for ch in w + '.':
                ix = stoi[ch]
                X.append(context)
                Y.append(ix)
                context = context[1:] + [ix]
        return torch.tensor(X), torch.tensor(Y)

    n1 = int(0.8 * len(words))
    n2 = int(0.9 * len(words))
    return itos, {'train': build_dataset(words[:n1]), 'val': build_dataset(words[n1:n2]),
                  'test': build_dataset(words[n2:])}


PARAM_NAMES = ['0.weight', '2.weight', '3.gamma', '3.beta', '6.weight', '7.gamma', '7.beta',
               '10.weight', '11.gamma', '11.beta', '13.weight', '13.bias']


def build(bug=False, n_embd=24, n_hidden=128, vocab_size=27):
    torch.manual_seed(42)
    model = Sequential([
        Embedding(vocab_size, n_embd),
        FlattenConsecutive(2), Linear(n_embd * 2, n_hidden, bias=False), BatchNorm1d(n_hidden, bug=bug), Tanh(),
        FlattenConsecutive(2), Linear(n_hidden * 2, n_hidden, bias=False), BatchNorm1d(n_hidden, bug=bug), Tanh(),
        FlattenConsecutive(2), Linear(n_hidden * 2, n_hidden, bias=False), BatchNorm1d(n_hidden, bug=bug), Tanh(),
        Linear(n_hidden, vocab_size),
    ])
    with torch.no_grad():
        model.layers[-1].weight *= 0.1
    parameters = model.parameters()
    for p in parameters:
        p.requires_grad = True
    return model, parameters


def sha(t):
    return hashlib.sha256(t.detach().contiguous().numpy().astype('<f4').tobytes()).hexdigest()


def describe(parameters):
    return {n: {'shape': list(p.shape), 'sha256': sha(p), 'first8': L.flat(p.reshape(-1)[:8])}
            for n, p in zip(PARAM_NAMES, parameters)}


def train(model, parameters, Xtr, Ytr, steps, max_steps=200000, on_step=None):
    for i in range(steps):
        ix = torch.randint(0, Xtr.shape[0], (32,))
        Xb, Yb = Xtr[ix], Ytr[ix]
        logits = model(Xb)
        loss = F.cross_entropy(logits, Yb)
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = 0.1 if i < 150000 else 0.01
        for p in parameters:
            p.data += -lr * p.grad
        if on_step:
            on_step(i, loss)


@torch.no_grad()
def split_losses(model, splits, names=('train', 'val')):
    for layer in model.layers:
        layer.training = False
    out = {n: F.cross_entropy(model(splits[n][0]), splits[n][1]).item() for n in names}
    for layer in model.layers:
        layer.training = True
    return out


@torch.no_grad()
def sample(model, itos, n=20):
    for layer in model.layers:
        layer.training = False
    names = []
    for _ in range(n):
        out = []
        context = [0] * BLOCK_SIZE
        while True:
            logits = model(torch.tensor([context]))
            probs = F.softmax(logits, dim=1)
            ix = torch.multinomial(probs, num_samples=1).item()
            context = context[1:] + [ix]
            out.append(ix)
            if ix == 0:
                break
        names.append(''.join(itos[i] for i in out))
    for layer in model.layers:
        layer.training = True
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--prefix-steps', type=int, default=200)
    ap.add_argument('--bug-steps', type=int, default=100)
    ap.add_argument('--full-steps', type=int, default=200000)
    ap.add_argument('--reuse-full', action='store_true',
                    help="keep the 'full' section of the existing fixture (its run is 200,000 steps)")
    ap.add_argument('--out', default=OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)
    itos, splits = load_data()
    Xtr, Ytr = splits['train']
    res = {
        'description': ("makemore part 5 (WaveNet), the notebook's code under torch.manual_seed(42); "
                        'see scripts/torch/wavenet.py'),
        'generated_by': 'scripts/torch/wavenet.py',
        'meta': L.meta(),
        'n_examples': {k: int(v[0].shape[0]) for k, v in splits.items()},
    }

    # prefix: every step's loss, then eval-mode losses and samples continuing the generator
    model, parameters = build()
    res['param_count'] = sum(p.nelement() for p in parameters)
    res['init'] = describe(parameters)
    losses = []
    step0 = {}

    def on_prefix_step(i, loss):
        losses.append(loss.item())
        if i == 0:
            # the lecture's forward diagnostics of step 0: per Tanh layer out mean, std, % |t| > 0.97
            for k, layer in enumerate(model.layers):
                if isinstance(layer, Tanh):
                    t = layer.out
                    step0[k] = {'shape': list(t.shape), 'mean': t.mean().item(), 'std': t.std().item(),
                                'saturated': ((t.abs() > 0.97).float().mean() * 100).item()}

    train(model, parameters, Xtr, Ytr, args.prefix_steps, on_step=on_prefix_step)
    res['prefix'] = {'steps': args.prefix_steps, 'losses': losses, 'params': describe(parameters),
                     'tanh_step0': step0,
                     'running_mean_first8': [L.flat(l.running_mean.reshape(-1)[:8]) for l in model.layers
                                             if isinstance(l, BatchNorm1d)],
                     'running_var_first8': [L.flat(l.running_var.reshape(-1)[:8]) for l in model.layers
                                            if isinstance(l, BatchNorm1d)],
                     'split_loss': split_losses(model, splits),
                     'samples': sample(model, itos)}
    print(f'prefix: step0 {losses[0]:.4f} last {losses[-1]:.4f} split {res["prefix"]["split_loss"]}',
          file=sys.stderr, flush=True)

    # the lecture's "bug in batchnorm": mean/var over dim 0 only for (B, T, C)
    model, parameters = build(bug=True)
    losses = []
    train(model, parameters, Xtr, Ytr, args.bug_steps, on_step=lambda i, l: losses.append(l.item()))
    res['bug'] = {'steps': args.bug_steps, 'losses': losses,
                  'running_mean_shapes': [list(l.running_mean.shape) for l in model.layers
                                          if isinstance(l, BatchNorm1d)],
                  'split_loss': split_losses(model, splits)}
    if not args.reuse_full:
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=1)
        print(f'wrote {args.out} (prefix)', file=sys.stderr, flush=True)

    if args.reuse_full:
        with open(args.out) as f:
            old = json.load(f)
        assert old['meta'] == res['meta'] and old['full']['steps'] == args.full_steps, 'different torch or run'
        res['full'] = old['full']
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=1)
        print(f'wrote {args.out} (prefix; full run kept)', file=sys.stderr, flush=True)
    elif args.full_steps > 0:
        model, parameters = build()
        printed, every1000 = [], []
        t0 = time.time()

        def on_step(i, loss):
            if i % 1000 == 0:
                every1000.append(loss.item())
            if i % 10000 == 0:
                line = f'{i:7d}/{args.full_steps:7d}: {loss.item():.4f}'
                printed.append({'step': i, 'loss': loss.item(), 'line': line})
                print(f'{line}  ({time.time() - t0:.0f}s)', file=sys.stderr, flush=True)

        train(model, parameters, Xtr, Ytr, args.full_steps, on_step=on_step)
        res['full'] = {'steps': args.full_steps, 'printed': printed, 'loss_every_1000': every1000,
                       'split_loss': split_losses(model, splits), 'samples': sample(model, itos),
                       'params': describe(parameters), 'train_seconds': round(time.time() - t0, 1)}
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=1)
        print(f'wrote {args.out} (full): {res["full"]["split_loss"]} {res["full"]["samples"]}',
              file=sys.stderr, flush=True)


if __name__ == '__main__':
    main()
