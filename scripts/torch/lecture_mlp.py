#!/usr/bin/python3
"""Reference numbers for makemore part 3 (Activations & Gradients, BatchNorm): the
lecture's "loss log" chain of 2-layer MLP presets, each trained 200,000 steps with real
PyTorch, written to fixtures/torch-lecture-mlp.json (keyed by preset).

Run with the Debian interpreter that has torch 1.13:

    /usr/bin/python3 scripts/torch/lecture_mlp.py                     # all presets
    /usr/bin/python3 scripts/torch/lecture_mlp.py --presets kaiming   # one preset

Each finished preset is cached as <partial-dir>/<preset>.json (default /tmp/makemore-torch-mlp);
the fixture is (re)written from the cache whenever all five presets are present, so presets
can be run one at a time / in separate processes.

The code reproduces the lecture exactly, including the order of draws from
torch.Generator().manual_seed(2147483647): C, W1, b1, W2, b2 (b1 is NOT drawn for the
batchnorm preset, see --bn-draw-b1 and scripts/torch/bn_mlp_1000.py), then one
torch.randint(0, len(Xtr), (32,)) per step.

All floats in the JSON are float32 values converted exactly to float64 (Python repr), i.e.
nothing is rounded.
"""
import argparse
import json
import math
import os
import platform
import random
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
NAMES = os.path.join(ROOT, 'data', 'names.txt')
FIXTURE = os.path.join(ROOT, 'fixtures', 'torch-lecture-mlp.json')

SEED = 2147483647
SAMPLE_SEED = SEED + 10
BLOCK_SIZE = 3
N_EMBD = 10
N_HIDDEN = 200
BATCH = 32
PRESETS = ['original', 'fix-softmax', 'fix-tanh', 'kaiming', 'batchnorm']

# init scales per preset: (W1, b1, W2, b2); None for b1 means "not drawn / not used".
# The lecture writes `torch.randn(...) * (5/3)/((n_embd * block_size)**0.5)`, which Python
# evaluates left to right as (randn * (5/3)) / 30**0.5 -- two float32 roundings, which is
# NOT the same as multiplying by the single scalar (5/3)/30**0.5 (differs by up to ~2e-7).
# A tuple ('mul', a, 'div', b) encodes that sequence of tensor ops.
KAIMING = ('mul', 5 / 3, 'div', (N_EMBD * BLOCK_SIZE) ** 0.5)
SCALES = {
    'original': dict(W1=1.0, b1=1.0, W2=1.0, b2=1.0),
    'fix-softmax': dict(W1=1.0, b1=1.0, W2=0.01, b2=0.0),
    'fix-tanh': dict(W1=0.2, b1=0.01, W2=0.01, b2=0.0),
    'kaiming': dict(W1=KAIMING, b1=0.01, W2=0.01, b2=0.0),
    'batchnorm': dict(W1=KAIMING, b1=None, W2=0.01, b2=0.0),
}


# ----------------------------------------------------------------------------- data
def load_data():
    words = open(NAMES, 'r').read().splitlines()
    chars = sorted(list(set(''.join(words))))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi['.'] = 0
    itos = {i: s for s, i in stoi.items()}

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

    random.seed(42)
    random.shuffle(words)
    n1 = int(0.8 * len(words))
    n2 = int(0.9 * len(words))
    Xtr, Ytr = build_dataset(words[:n1])
    Xdev, Ydev = build_dataset(words[n1:n2])
    Xte, Yte = build_dataset(words[n2:])
    return dict(words=words, itos=itos, n1=n1, n2=n2,
                splits={'train': (Xtr, Ytr), 'val': (Xdev, Ydev), 'test': (Xte, Yte)})


# ----------------------------------------------------------------------------- model
def scaled(t, s):
    if isinstance(s, tuple):
        for op, v in zip(s[::2], s[1::2]):
            t = t * v if op == 'mul' else t / v
        return t
    return t * s


def scale_desc(s):
    if isinstance(s, tuple):
        return ' '.join(f'{"*" if op == "mul" else "/"} {v!r}' for op, v in zip(s[::2], s[1::2]))
    return s


class MLP:
    """The lecture's 2-layer MLP, either plain (b1 in the forward) or with batchnorm."""

    def __init__(self, preset, draw_b1_for_bn=False):
        s = SCALES[preset]
        self.preset = preset
        self.bn = preset == 'batchnorm'
        vocab_size = 27
        g = torch.Generator().manual_seed(SEED)
        self.g = g
        self.C = torch.randn((vocab_size, N_EMBD), generator=g)
        self.W1 = scaled(torch.randn((N_EMBD * BLOCK_SIZE, N_HIDDEN), generator=g), s['W1'])
        if self.bn:
            # b1 is useless with batchnorm: the lecture does not use it; whether it is
            # still drawn from g changes every later draw (checked against the replay).
            self.b1 = None
            if draw_b1_for_bn:
                torch.randn(N_HIDDEN, generator=g)
        else:
            self.b1 = torch.randn(N_HIDDEN, generator=g) * s['b1']
        self.W2 = torch.randn((N_HIDDEN, vocab_size), generator=g) * s['W2']
        self.b2 = torch.randn(vocab_size, generator=g) * s['b2']
        if self.bn:
            self.bngain = torch.ones((1, N_HIDDEN))
            self.bnbias = torch.zeros((1, N_HIDDEN))
            self.bnmean_running = torch.zeros((1, N_HIDDEN))
            self.bnstd_running = torch.ones((1, N_HIDDEN))
            self.parameters = [self.C, self.W1, self.W2, self.b2, self.bngain, self.bnbias]
            self.names = ['C', 'W1', 'W2', 'b2', 'bngain', 'bnbias']
        else:
            self.parameters = [self.C, self.W1, self.b1, self.W2, self.b2]
            self.names = ['C', 'W1', 'b1', 'W2', 'b2']
        for p in self.parameters:
            p.requires_grad = True
        self.init = {n: p.detach().clone() for n, p in zip(self.names, self.parameters)}

    def nparams(self):
        return sum(p.nelement() for p in self.parameters)

    def train_step(self, Xtr, Ytr, lr):
        """One lecture training step; returns (ix, loss tensor, extras)."""
        g = self.g
        ix = torch.randint(0, Xtr.shape[0], (BATCH,), generator=g)
        Xb, Yb = Xtr[ix], Ytr[ix]
        emb = self.C[Xb]
        embcat = emb.view(emb.shape[0], -1)
        if self.bn:
            hpreact = embcat @ self.W1
            bnmeani = hpreact.mean(0, keepdim=True)
            bnstdi = hpreact.std(0, keepdim=True)
            hpreact = self.bngain * (hpreact - bnmeani) / bnstdi + self.bnbias
            with torch.no_grad():
                self.bnmean_running = 0.999 * self.bnmean_running + 0.001 * bnmeani
                self.bnstd_running = 0.999 * self.bnstd_running + 0.001 * bnstdi
        else:
            hpreact = embcat @ self.W1 + self.b1
        h = torch.tanh(hpreact)
        logits = h @ self.W2 + self.b2
        loss = F.cross_entropy(logits, Yb)
        for p in self.parameters:
            p.grad = None
        loss.backward()
        for p in self.parameters:
            p.data += -lr * p.grad
        return ix, loss

    @torch.no_grad()
    def hidden(self, embcat, bnmean=None, bnstd=None):
        if self.bn:
            hpreact = embcat @ self.W1
            m = self.bnmean_running if bnmean is None else bnmean
            s = self.bnstd_running if bnstd is None else bnstd
            hpreact = self.bngain * (hpreact - m) / s + self.bnbias
        else:
            hpreact = embcat @ self.W1 + self.b1
        return torch.tanh(hpreact)

    @torch.no_grad()
    def split_loss(self, x, y, bnmean=None, bnstd=None):
        emb = self.C[x]
        embcat = emb.view(emb.shape[0], -1)
        h = self.hidden(embcat, bnmean, bnstd)
        logits = h @ self.W2 + self.b2
        return F.cross_entropy(logits, y).item()

    @torch.no_grad()
    def calibrate(self, Xtr):
        """The lecture's post-training BN calibration over the whole training set."""
        emb = self.C[Xtr]
        embcat = emb.view(emb.shape[0], -1)
        hpreact = embcat @ self.W1
        bnmean = hpreact.mean(0, keepdim=True)
        bnstd = hpreact.std(0, keepdim=True)
        return bnmean, bnstd

    @torch.no_grad()
    def sample(self, itos, n=20, seed=SAMPLE_SEED):
        g = torch.Generator().manual_seed(seed)
        names = []
        for _ in range(n):
            out = []
            context = [0] * BLOCK_SIZE
            while True:
                emb = self.C[torch.tensor([context])]
                h = self.hidden(emb.view(1, -1))
                logits = h @ self.W2 + self.b2
                probs = F.softmax(logits, dim=1)
                ix = torch.multinomial(probs, num_samples=1, generator=g).item()
                context = context[1:] + [ix]
                out.append(ix)
                if ix == 0:
                    break
            names.append(''.join(itos[i] for i in out))
        return names


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def meta():
    return {
        'torch_version': torch.__version__,
        'python_version': platform.python_version(),
        'machine': platform.machine(),
        'num_threads': torch.get_num_threads(),
        'aten_cpu_capability': _cpu_capability(),
        'ATEN_CPU_CAPABILITY_env': os.environ.get('ATEN_CPU_CAPABILITY'),
    }


def _cpu_capability():
    import re
    m = re.search(r'CPU capability usage: (\S+)', torch.__config__.show())
    return m.group(1) if m else None


def split_losses(model, splits, **kw):
    return {name: model.split_loss(x, y, **kw) for name, (x, y) in splits.items()}


# ----------------------------------------------------------------------------- run
def run_preset(preset, data, max_steps=200000, log=sys.stderr, draw_b1_for_bn=False):
    model = MLP(preset, draw_b1_for_bn=draw_b1_for_bn)
    Xtr, Ytr = data['splits']['train']
    lossi = []          # lecture: lossi.append(loss.log10().item())
    loss_every_1000 = []
    printed = []
    t0 = time.time()
    for i in range(max_steps):
        lr = 0.1 if i < 100000 else 0.01
        ix, loss = model.train_step(Xtr, Ytr, lr)
        if i % 1000 == 0:
            loss_every_1000.append(loss.item())
        if i % 10000 == 0:
            line = f'{i:7d}/{max_steps:7d}: {loss.item():.4f}'
            printed.append({'step': i, 'loss': loss.item(), 'line': line})
            print(f'[{preset}] {line}  ({time.time() - t0:.0f}s)', file=log, flush=True)
        lossi.append(loss.log10().item())
        if i == 0:
            step0 = loss.item()
        last = loss.item()
    res = {
        'preset': preset,
        'init_scales': {k: scale_desc(v) for k, v in SCALES[preset].items()},
        'b1_drawn': (preset != 'batchnorm') or draw_b1_for_bn,
        'parameters': model.names,
        'param_count': model.nparams(),
        'steps': max_steps,
        'lr_schedule': '0.1 for i < 100000 else 0.01',
        'step0_loss': step0,
        'final_step_loss': last,
        'printed': printed,
        'loss_every_1000': {'steps': list(range(0, max_steps, 1000)), 'loss': loss_every_1000},
        # lecture plot: torch.tensor(lossi).view(-1, 1000).mean(1) (float32 mean of log10 losses)
        'log10_loss_mean_per_1000': flat(torch.tensor(lossi).view(-1, 1000).mean(1))
        if max_steps % 1000 == 0 else None,
        'split_loss': split_losses(model, data['splits']),
        'samples': model.sample(data['itos']),
        'train_seconds': round(time.time() - t0, 1),
        # cheap checksums of the trained weights (float32 reductions, for debugging drift)
        'final_param_stats': {n: {'sum': p.detach().sum().item(), 'abs_sum': p.detach().abs().sum().item(),
                                  'std': p.detach().std().item(), 'first5': flat(p.reshape(-1)[:5])}
                              for n, p in zip(model.names, model.parameters)},
    }
    if model.bn:
        bnmean, bnstd = model.calibrate(Xtr)
        res['split_loss_note'] = ('split_loss uses bnmean_running/bnstd_running; '
                                  'split_loss_calibrated uses mean/std(unbiased) of W1 preacts over all of Xtr')
        res['split_loss_calibrated'] = split_losses(model, data['splits'], bnmean=bnmean, bnstd=bnstd)
        res['samples_note'] = 'sampling forward uses bnmean_running/bnstd_running'
        res['bn_running_first5'] = {'bnmean_running': flat(model.bnmean_running.reshape(-1)[:5]),
                                    'bnstd_running': flat(model.bnstd_running.reshape(-1)[:5])}
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--presets', default=','.join(PRESETS))
    ap.add_argument('--steps', type=int, default=200000)
    ap.add_argument('--partial-dir', default='/tmp/makemore-torch-mlp')
    ap.add_argument('--out', default=FIXTURE)
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = load_data()
    os.makedirs(args.partial_dir, exist_ok=True)
    for preset in [p for p in args.presets.split(',') if p]:
        assert preset in PRESETS, preset
        res = run_preset(preset, data, max_steps=args.steps)
        with open(os.path.join(args.partial_dir, f'{preset}.json'), 'w') as f:
            json.dump(res, f)
        print(f'[{preset}] params {res["param_count"]} step0 {res["step0_loss"]} '
              f'split {res["split_loss"]}', file=sys.stderr, flush=True)
    have = {p: os.path.join(args.partial_dir, f'{p}.json') for p in PRESETS}
    if all(os.path.exists(f) for f in have.values()):
        out = {
            'description': ("makemore part 3 'loss log' chain: 2-layer MLP (n_embd=10, n_hidden=200, "
                            "block_size=3, batch 32), each preset trained from a fresh "
                            "torch.Generator().manual_seed(2147483647); samples from "
                            "Generator(2147483657). Float values are exact float32 values as float64."),
            'generated_by': 'scripts/torch/lecture_mlp.py',
            'meta': meta(),
            'data': {'n_words': len(data['words']), 'n1': data['n1'], 'n2': data['n2'],
                     'n_examples': {k: int(v[0].shape[0]) for k, v in data['splits'].items()}},
            'presets': {},
        }
        for p, fn in have.items():
            with open(fn) as f:
                out['presets'][p] = json.load(f)
        with open(args.out, 'w') as f:
            json.dump(out, f, indent=1)
        print(f'wrote {args.out}', file=sys.stderr)
    else:
        missing = [p for p, f in have.items() if not os.path.exists(f)]
        print(f'fixture not written yet; missing presets: {missing}', file=sys.stderr)


if __name__ == '__main__':
    main()
