#!/usr/bin/python3
"""The idiomatic-PyTorch side of the scaling rows of `npm run bench` (src/bench/bench.ts): each
model as torch.nn modules in one nn.Sequential (nn.Embedding, nn.Flatten, nn.Linear,
nn.BatchNorm1d, nn.Tanh), trained with torch.optim.SGD and optimizer.zero_grad(set_to_none=True),
the way a PyTorch user writes it (scripts/torch/bench_torch.py keeps the lecture's own style).

    /usr/bin/python3 scripts/torch/bench_torch_nn.py --threads 2     # a worker (JSON lines on stdin)
    /usr/bin/python3 scripts/torch/bench_torch_nn.py --threads 1 --once

--threads N: torch.set_num_threads(N); the bench also sets OMP_NUM_THREADS/OPENBLAS_NUM_THREADS to N.

Commands: {"cmd": "info"} | {"cmd": "train", "row": name, "spec": {...}, "steps": n[, "max_seconds": s]}
          | {"cmd": "quit"}   (train stops early, after at least 2 steps, once max_seconds have passed)
spec: vocab, block, n_embd, n_hidden, depth, batchnorm (bool: BatchNorm1d after every Linear,
the output one included, Linears without bias), bias_free_tanh (deep-tanh: Linears with bias),
batch. One step: ix = torch.randint(0, len(Xtr), (batch,), generator=g); logits = model(Xtr[ix]);
loss = F.cross_entropy(logits, Ytr[ix]); opt.zero_grad(set_to_none=True); loss.backward();
opt.step(); loss.item(). Answers carry "steps" (done), "seconds" (time.perf_counter),
"cpu_seconds" (time.process_time, all threads) and the last loss.
"""
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lecture_mlp as L  # noqa: E402  (the lecture's data pipeline: names.txt, seed-42 split)
from bench_worker import blas_info, serve  # noqa: E402

SEED = 2147483647
LR = 0.1


def threads_arg():
    if '--threads' in sys.argv:
        return int(sys.argv[sys.argv.index('--threads') + 1])
    return 1


def build(spec):
    """nn.Sequential of the spec's layers (the lecture's architectures, in torch.nn modules)."""
    torch.manual_seed(SEED)
    V, T, E, H = spec['vocab'], spec['block'], spec['n_embd'], spec['n_hidden']
    bn = spec['batchnorm']
    layers = [nn.Embedding(V, E), nn.Flatten()]
    fan_in = T * E
    for _ in range(spec['depth']):
        layers.append(nn.Linear(fan_in, H, bias=not bn))
        if bn:
            layers.append(nn.BatchNorm1d(H))
        layers.append(nn.Tanh())
        fan_in = H
    layers.append(nn.Linear(fan_in, V, bias=not bn or not spec.get('output_batchnorm', True)))
    if bn and spec.get('output_batchnorm', True):
        layers.append(nn.BatchNorm1d(V))
    return nn.Sequential(*layers)


def main():
    torch.set_num_threads(threads_arg())
    data = {}

    def data_for(block):
        if block not in data:
            L.BLOCK_SIZE = block
            data[block] = L.load_data()['splits']['train']
        return data[block]

    rows = {}

    def row(name, spec):
        if name not in rows:
            model = build(spec)
            rows[name] = dict(model=model, opt=torch.optim.SGD(model.parameters(), lr=LR),
                              g=torch.Generator().manual_seed(SEED), spec=spec)
        return rows[name]

    def handle(cmd):
        c = cmd['cmd']
        if c == 'info':
            return {'torch': torch.__version__, 'threads': torch.get_num_threads(), **blas_info()}
        if c != 'train':
            raise ValueError(f'unknown command {c!r}')
        r = row(cmd['row'], cmd['spec'])
        model, opt, g, spec = r['model'], r['opt'], r['g'], r['spec']
        Xtr, Ytr = data_for(spec['block'])
        B = spec['batch']
        t = time.perf_counter()
        cpu = time.process_time()
        loss = None
        # at most max_seconds of work (at least 2 steps): a loaded machine cannot stretch the bench
        budget = cmd.get('max_seconds', float('inf'))
        done = 0
        for _ in range(cmd['steps']):
            ix = torch.randint(0, Xtr.shape[0], (B,), generator=g)
            logits = model(Xtr[ix])
            loss = F.cross_entropy(logits, Ytr[ix])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss = loss.item()
            done += 1
            if done >= 2 and time.perf_counter() - t > budget:
                break
        return {'loss': loss, 'steps': done, 'seconds': time.perf_counter() - t,
                'cpu_seconds': time.process_time() - cpu}

    if '--once' in sys.argv:
        print(json.dumps(handle({'cmd': 'info'})))
        for H, B in [(200, 32), (512, 128), (1024, 256)]:
            spec = dict(vocab=27, block=8, n_embd=24, n_hidden=H, depth=2, batchnorm=True, batch=B)
            handle({'cmd': 'train', 'row': f'{H}', 'spec': spec, 'steps': 5})
            a = handle({'cmd': 'train', 'row': f'{H}', 'spec': spec, 'steps': 50})
            print(f"depth 2, H {H}, B {B}: {50 / a['seconds']:.1f} steps/s")
        return

    serve(handle)


if __name__ == '__main__':
    main()
