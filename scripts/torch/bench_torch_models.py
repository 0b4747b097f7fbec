#!/usr/bin/python3
"""The PyTorch side of the model rows of `npm run bench` (src/bench/models.ts): each model trained
by its reference's own code, one JSON command per line on stdin.

    /usr/bin/python3 scripts/torch/bench_torch_models.py --threads 1          # a worker
    /usr/bin/python3 scripts/torch/bench_torch_models.py --threads 1 --once   # one pass, printed

Rows:
  wavenet          makemore part 5's notebook code (scripts/torch/wavenet.py: its Linear,
                   BatchNorm1d, Tanh, Embedding, FlattenConsecutive and Sequential classes,
                   torch.manual_seed(42), block 8, n_embd 24, n_hidden 128); each step
                   ix = torch.randint(0, len(Xtr), (32,)), forward, F.cross_entropy,
                   p.grad = None, backward, p.data += -lr * p.grad, lossi.append(loss.log10().item())
  makemore-bigram, mlp, rnn, gru, bow, transformer
                   karpathy/makemore's makemore.py itself (/work/shared/references/makemore.py,
                   torch.utils.tensorboard stubbed: not installed here), at its defaults:
                   torch.manual_seed(3407), create_datasets(names.txt), ModelConfig(n_layer 4,
                   n_head 4, n_embd 64, n_embd2 64), AdamW(lr 5e-4, weight_decay 0.01,
                   betas (0.9, 0.99), eps 1e-8), InfiniteDataLoader(batch 32, pin_memory=True,
                   num_workers=0: batches drawn in this process, as one thread must), and its
                   loop body: batch_loader.next(), model(X, Y), model.zero_grad(set_to_none=True),
                   loss.backward(), optimizer.step(), loss.item() every 10th step.

--threads N: torch.set_num_threads(N); the bench also sets OMP_NUM_THREADS/OPENBLAS_NUM_THREADS.
Commands: {"cmd": "info"} | {"cmd": "train", "row": name, "steps": n[, "max_seconds": s]}
          | {"cmd": "quit"}   (train stops early, after at least 2 steps, once max_seconds passed)
Answers carry "steps" (done), "seconds" (time.perf_counter), "cpu_seconds" (time.process_time,
all threads), "params" and the last loss.
"""
import contextlib
import importlib.util
import json
import os
import sys
import time
import types

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..', '..')
MAKEMORE = os.environ.get('MAKEMORE_PY', '/work/shared/references/makemore.py')
sys.path.insert(0, HERE)
import wavenet as W  # noqa: E402  (the notebook's classes and data pipeline)
from bench_worker import blas_info, serve  # noqa: E402

MAKEMORE_ROWS = {'makemore-bigram': 'bigram', 'mlp': 'mlp', 'rnn': 'rnn', 'gru': 'gru', 'bow': 'bow',
                 'transformer': 'transformer'}


def threads_arg():
    if '--threads' in sys.argv:
        return int(sys.argv[sys.argv.index('--threads') + 1])
    return 1


_mm = None


def makemore():
    """makemore.py as a module (its main is guarded by __name__)."""
    global _mm
    if _mm is None:
        tb = types.ModuleType('torch.utils.tensorboard')
        tb.SummaryWriter = object
        sys.modules['torch.utils.tensorboard'] = tb
        spec = importlib.util.spec_from_file_location('makemore', MAKEMORE)
        _mm = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_mm)
    return _mm


class WaveNetRow:
    def __init__(self):
        _, splits = W.load_data()
        self.Xtr, self.Ytr = splits['train']
        self.model, self.parameters = W.build()
        self.lossi = []
        self.i = 0

    def params(self):
        return sum(p.nelement() for p in self.parameters)

    def step(self):
        # the notebook's loop body (lr 0.1, then 0.01 from step 150,000)
        ix = torch.randint(0, self.Xtr.shape[0], (32,))
        Xb, Yb = self.Xtr[ix], self.Ytr[ix]
        logits = self.model(Xb)
        loss = F.cross_entropy(logits, Yb)
        for p in self.parameters:
            p.grad = None
        loss.backward()
        lr = 0.1 if self.i < 150000 else 0.01
        for p in self.parameters:
            p.data += -lr * p.grad
        self.lossi.append(loss.log10().item())
        self.i += 1
        return self.lossi[-1]


class MakemoreRow:
    def __init__(self, kind):
        mm = makemore()
        torch.manual_seed(3407)
        train, _ = mm.create_datasets(os.path.join(ROOT, 'data', 'names.txt'))
        config = mm.ModelConfig(vocab_size=train.get_vocab_size(), block_size=train.get_output_length(),
                                n_layer=4, n_head=4, n_embd=64, n_embd2=64)
        self.model = {'transformer': lambda: mm.Transformer(config), 'bigram': lambda: mm.Bigram(config),
                      'mlp': lambda: mm.MLP(config), 'rnn': lambda: mm.RNN(config, cell_type='rnn'),
                      'gru': lambda: mm.RNN(config, cell_type='gru'), 'bow': lambda: mm.BoW(config)}[kind]()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=5e-4, weight_decay=0.01,
                                           betas=(0.9, 0.99), eps=1e-8)
        self.loader = mm.InfiniteDataLoader(train, batch_size=32, pin_memory=True, num_workers=0)
        self.i = 0

    def params(self):
        return sum(p.numel() for p in self.model.parameters())

    def step(self):
        batch = self.loader.next()
        batch = [t.to('cpu') for t in batch]
        X, Y = batch
        logits, loss = self.model(X, Y)
        self.model.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        out = loss.item() if self.i % 10 == 0 else None
        self.i += 1
        return out


def main():
    torch.set_num_threads(threads_arg())
    rows = {}

    def row(name):
        if name not in rows:
            if name == 'wavenet':
                rows[name] = WaveNetRow()
            elif name in MAKEMORE_ROWS:
                # makemore.py prints its dataset facts: keep stdout for the answers
                with contextlib.redirect_stdout(sys.stderr):
                    rows[name] = MakemoreRow(MAKEMORE_ROWS[name])
            else:
                raise ValueError(f'unknown row {name!r}')
        return rows[name]

    def handle(cmd):
        c = cmd['cmd']
        if c == 'info':
            return {'torch': torch.__version__, 'threads': torch.get_num_threads(), **blas_info()}
        if c != 'train':
            raise ValueError(f'unknown command {c!r}')
        r = row(cmd['row'])
        budget = cmd.get('max_seconds', float('inf'))
        t = time.perf_counter()
        cpu = time.process_time()
        done = 0
        loss = None
        for _ in range(cmd['steps']):
            loss = r.step() or loss
            done += 1
            if done >= 2 and time.perf_counter() - t > budget:
                break
        return {'steps': done, 'seconds': time.perf_counter() - t, 'cpu_seconds': time.process_time() - cpu,
                'params': r.params(), 'loss': loss}

    if '--once' in sys.argv:
        print(json.dumps(handle({'cmd': 'info'})))
        for name in ['wavenet', *MAKEMORE_ROWS]:
            handle({'cmd': 'train', 'row': name, 'steps': 5})
            a = handle({'cmd': 'train', 'row': name, 'steps': 100, 'max_seconds': 2})
            print(f"{name}: {a['params']} params, {a['steps'] / a['seconds']:.1f} steps/s")
        return

    serve(handle)


if __name__ == '__main__':
    main()
