#!/usr/bin/python3
"""The PyTorch side of `npm run bench` (src/bench/bench.ts): the lecture's code for the three
benchmark models, timed on one thread. The Node bench starts this script once as a worker and
sends it one JSON command per line on stdin; it answers one JSON line per command on stdout, so
the two sides run interleaved in the same session. Run alone for a quick look:

    /usr/bin/python3 scripts/torch/bench_torch.py --once

Models (each from torch.Generator().manual_seed(2147483647), drawn in the notebook's order):
  batchnorm  the lecture's BatchNorm MLP written with raw tensors (12,097 params)
  deep-bn    the 6-layer net of Linear/BatchNorm1d/Tanh classes (47,024 params)
  deep-tanh  the same without BatchNorm (46,497 params)

Workloads, exactly as the notebook writes them:
  train    ix = randint(0, len(Xtr), (32,), generator=g); forward; F.cross_entropy;
           for p: p.grad = None; loss.backward(); for p: p.data += -lr * p.grad; loss.item()
           (the debugging extras -- out.retain_grad(), the update:data ratios -- are left out,
           as our trainer leaves them out unless diagnostics ask for them)
  eval     split_loss('train'): the whole training split (182,625 rows) in one forward pass in
           eval mode under torch.no_grad(), as the lecture's split_loss does
  sample   the lecture's sampling loop (context of boundary tokens, softmax, torch.multinomial),
           under torch.no_grad() (the notebook's loop builds a graph it never uses; no_grad is
           the faster, fairer comparison)

Commands: {"cmd": "info"} | {"cmd": "train", "model": m, "steps": n} |
          {"cmd": "eval", "model": m} | {"cmd": "sample", "model": m, "count": n} | {"cmd": "quit"}
Each answer carries "seconds" (wall time of the workload, time.perf_counter), "cpu_seconds"
(time.process_time) and a checksum (the last loss, the split loss, the characters sampled).
"""
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lecture_mlp as L  # noqa: E402  (the lecture's data pipeline: names.txt, seed-42 split)
from bench_worker import blas_library, matmul_gflops, serve  # noqa: E402

torch.set_num_threads(1)

SEED = 2147483647
BATCH = 32
LR = 0.1


# ----------------------------------------------------------------------------- the lecture's classes
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


class Tanh:
    def __call__(self, x):
        self.out = torch.tanh(x)
        return self.out

    def parameters(self):
        return []


# ----------------------------------------------------------------------------- models
class BnMlp:
    """The lecture's BatchNorm MLP, raw tensors (no b1; BN with the unbiased std, no eps)."""

    def __init__(self):
        g = torch.Generator().manual_seed(SEED)
        self.g = g
        self.C = torch.randn((27, 10), generator=g)
        self.W1 = torch.randn((30, 200), generator=g) * (5 / 3) / (30 ** 0.5)
        self.W2 = torch.randn((200, 27), generator=g) * 0.01
        self.b2 = torch.randn(27, generator=g) * 0
        self.bngain = torch.ones((1, 200))
        self.bnbias = torch.zeros((1, 200))
        self.bnmean_running = torch.zeros((1, 200))
        self.bnstd_running = torch.ones((1, 200))
        self.parameters = [self.C, self.W1, self.W2, self.b2, self.bngain, self.bnbias]
        for p in self.parameters:
            p.requires_grad = True

    def train_step(self, Xtr, Ytr):
        ix = torch.randint(0, Xtr.shape[0], (BATCH,), generator=self.g)
        Xb, Yb = Xtr[ix], Ytr[ix]
        emb = self.C[Xb]
        embcat = emb.view(emb.shape[0], -1)
        hpreact = embcat @ self.W1
        bnmeani = hpreact.mean(0, keepdim=True)
        bnstdi = hpreact.std(0, keepdim=True)
        hpreact = self.bngain * (hpreact - bnmeani) / bnstdi + self.bnbias
        with torch.no_grad():
            self.bnmean_running = 0.999 * self.bnmean_running + 0.001 * bnmeani
            self.bnstd_running = 0.999 * self.bnstd_running + 0.001 * bnstdi
        h = torch.tanh(hpreact)
        logits = h @ self.W2 + self.b2
        loss = F.cross_entropy(logits, Yb)
        for p in self.parameters:
            p.grad = None
        loss.backward()
        for p in self.parameters:
            p.data += -LR * p.grad
        return loss.item()

    @torch.no_grad()
    def logits(self, X):
        emb = self.C[X]
        embcat = emb.view(emb.shape[0], -1)
        hpreact = embcat @ self.W1
        hpreact = self.bngain * (hpreact - self.bnmean_running) / self.bnstd_running + self.bnbias
        h = torch.tanh(hpreact)
        return h @ self.W2 + self.b2


class Deep:
    """The lecture's 6-layer net (Linear, [BatchNorm1d,] Tanh) x 5, then Linear [+ BatchNorm1d]."""

    def __init__(self, bn):
        g = torch.Generator().manual_seed(SEED)
        self.g = g
        self.C = torch.randn((27, 10), generator=g)
        if bn:
            layers = [Linear(30, 100, g, bias=False), BatchNorm1d(100), Tanh()]
            for _ in range(4):
                layers += [Linear(100, 100, g, bias=False), BatchNorm1d(100), Tanh()]
            layers += [Linear(100, 27, g, bias=False), BatchNorm1d(27)]
        else:
            layers = [Linear(30, 100, g), Tanh()]
            for _ in range(4):
                layers += [Linear(100, 100, g), Tanh()]
            layers += [Linear(100, 27, g)]
        with torch.no_grad():
            if bn:
                layers[-1].gamma *= 0.1
            else:
                layers[-1].weight *= 0.1
            for layer in layers[:-1]:
                if isinstance(layer, Linear):
                    layer.weight *= 5 / 3
        self.layers = layers
        self.parameters = [self.C] + [p for layer in layers for p in layer.parameters()]
        for p in self.parameters:
            p.requires_grad = True

    def train_step(self, Xtr, Ytr):
        ix = torch.randint(0, Xtr.shape[0], (BATCH,), generator=self.g)
        Xb, Yb = Xtr[ix], Ytr[ix]
        emb = self.C[Xb]
        x = emb.view(emb.shape[0], -1)
        for layer in self.layers:
            x = layer(x)
        loss = F.cross_entropy(x, Yb)
        for p in self.parameters:
            p.grad = None
        loss.backward()
        for p in self.parameters:
            p.data += -LR * p.grad
        return loss.item()

    @torch.no_grad()
    def logits(self, X):
        for layer in self.layers:
            layer.training = False
        try:
            emb = self.C[X]
            x = emb.view(emb.shape[0], -1)
            for layer in self.layers:
                x = layer(x)
            return x
        finally:
            for layer in self.layers:
                layer.training = True


BUILD = {'batchnorm': BnMlp, 'deep-bn': lambda: Deep(True), 'deep-tanh': lambda: Deep(False)}


# ----------------------------------------------------------------------------- workloads
def split_loss(model, X, Y):
    with torch.no_grad():
        return F.cross_entropy(model.logits(X), Y).item()


def sample(model, count, g):
    chars = 0
    with torch.no_grad():
        for _ in range(count):
            out = []
            context = [0] * 3
            while True:
                logits = model.logits(torch.tensor([context]))
                probs = F.softmax(logits, dim=1)
                ix = torch.multinomial(probs, num_samples=1, generator=g).item()
                context = context[1:] + [ix]
                out.append(ix)
                if ix == 0:
                    break
            chars += len(out)
    return chars


def main():
    data = L.load_data()
    Xtr, Ytr = data['splits']['train']
    models = {}
    sample_gen = {}

    def model_of(name):
        if name not in models:
            models[name] = BUILD[name]()
            sample_gen[name] = torch.Generator().manual_seed(SEED + 10)
        return models[name]

    def handle(cmd):
        c = cmd['cmd']
        if c == 'info':
            return {
                'torch': torch.__version__,
                'threads': torch.get_num_threads(),
                'blas': blas_library(),
                'matmul_gflops': matmul_gflops(),
                'params': {k: sum(p.nelement() for p in model_of(k).parameters) for k in BUILD},
            }
        m = model_of(cmd['model'])
        t = time.perf_counter()
        cpu = time.process_time()
        if c == 'train':
            loss = 0.0
            for _ in range(cmd['steps']):
                loss = m.train_step(Xtr, Ytr)
            out = {'loss': loss}
        elif c == 'eval':
            out = {'loss': split_loss(m, Xtr, Ytr)}
        elif c == 'sample':
            out = {'chars': sample(m, cmd['count'], sample_gen[cmd['model']])}
        else:
            raise ValueError(f'unknown command {c!r}')
        out['seconds'] = time.perf_counter() - t
        out['cpu_seconds'] = time.process_time() - cpu
        return out

    if '--once' in sys.argv:
        print(json.dumps(handle({'cmd': 'info'})))
        for name in BUILD:
            handle({'cmd': 'train', 'model': name, 'steps': 200})
            r = handle({'cmd': 'train', 'model': name, 'steps': 2000})
            e = handle({'cmd': 'eval', 'model': name})
            s = handle({'cmd': 'sample', 'model': name, 'count': 200})
            print(f"{name}: {2000 / r['seconds']:.0f} steps/s, eval {e['seconds'] * 1000:.0f} ms, "
                  f"{200 / s['seconds']:.0f} samples/s (wall); {2000 / r['cpu_seconds']:.0f} steps/s, "
                  f"eval {e['cpu_seconds'] * 1000:.0f} ms, {200 / s['cpu_seconds']:.0f} samples/s (CPU time)")
        return

    def maxrss(out):
        # peak resident set of this process so far, in bytes (Linux reports KiB)
        out['maxrss'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    serve(handle, maxrss)


if __name__ == '__main__':
    main()
