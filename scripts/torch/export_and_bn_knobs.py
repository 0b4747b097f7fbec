#!/usr/bin/python3
"""PyTorch references for two makemore.ts features (issue 16, points 9 and 10).
Written to fixtures/torch-export-bn-knobs.json.

    /usr/bin/python3 scripts/torch/export_and_bn_knobs.py      (needs node and this checkout)

1. BatchNorm knobs, with the lecture's own classes (scripts/torch/lecture_deep.py): the 6-layer
   net of a learner's notebook that kept the Linear biases before each BatchNorm (the lecture's
   Linear(bias=True) default: biases start at zero and draw nothing from the generator), 47,551
   parameters, trained 300 steps at batch 32, lr 0.1, from torch.Generator().manual_seed(2147483647):
     deep-bn-bias        BatchNorm1d(eps=1e-5, momentum=0.1)  (makemore: --type deep-bn --bias)
     deep-bn-bias-knobs  BatchNorm1d(eps=1e-3, momentum=0.001) (... --bn-eps 1e-3 --bn-momentum 0.001)
   Recorded: parameter count, the 300 minibatch losses, eval-mode split losses (running stats).

2. Export: for each run below, this script trains it once with makemore.ts's command line and
   commits it under fixtures/export-runs, one folder per run (config.json + checkpoint.safetensors; delete one to
   train it again), exports a copy with `makemore export RUN --format torch`, loads the file with torch.load(weights_only=True)
   into an idiomatic nn.Sequential (nn.Embedding / nn.Flatten / nn.Linear / nn.BatchNorm1d /
   nn.Tanh) with load_state_dict(strict=True), and records torch's eval-mode logits for 64 fixed
   contexts, the state_dict's names and shapes, and the sha256 of the exported file (so the test
   knows torch saw exactly the bytes it exports again).
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lecture_deep as D  # noqa: E402
import lecture_mlp as L  # noqa: E402

OUT = os.path.join(L.ROOT, 'fixtures', 'torch-export-bn-knobs.json')
EXPORT_DIR = os.path.join(L.ROOT, 'fixtures', 'export-runs')
STEPS = 300
CONTEXTS = [[i % 27, (i * 7) % 27, (i * 13 + 5) % 27] for i in range(64)]

EXPORT_RUNS = {
    'batchnorm': ['--max-steps', '200'],
    'deep-bn-bias': ['--type', 'deep-bn', '--bias', '--bn-momentum', '0.01', '--max-steps', '200'],
    'custom-torch-bn': ['--type', 'custom', '--depth', '2', '--n-hidden', '64', '--batchnorm', 'torch',
                        '--max-steps', '200'],
    'deep-tanh': ['--type', 'deep-tanh', '--max-steps', '100'],
}


def build_bias_net(eps, momentum):
    g = torch.Generator().manual_seed(L.SEED)
    C = torch.randn((D.VOCAB, D.N_EMBD), generator=g)
    layers = [D.Linear(D.N_EMBD * L.BLOCK_SIZE, D.N_HIDDEN, g), D.BatchNorm1d(D.N_HIDDEN, eps, momentum), D.Tanh()]
    for _ in range(4):
        layers += [D.Linear(D.N_HIDDEN, D.N_HIDDEN, g), D.BatchNorm1d(D.N_HIDDEN, eps, momentum), D.Tanh()]
    layers += [D.Linear(D.N_HIDDEN, D.VOCAB, g), D.BatchNorm1d(D.VOCAB, eps, momentum)]
    with torch.no_grad():
        layers[-1].gamma *= 0.1
        for layer in layers[:-1]:
            if isinstance(layer, D.Linear):
                layer.weight *= 5 / 3
    parameters = [C] + [p for layer in layers for p in layer.parameters()]
    for p in parameters:
        p.requires_grad = True
    return g, C, layers, parameters


def knobs(data, eps, momentum):
    g, C, layers, parameters = build_bias_net(eps, momentum)
    Xtr, Ytr = data['splits']['train']
    losses = []
    for _ in range(STEPS):
        ix = torch.randint(0, Xtr.shape[0], (D.BATCH,), generator=g)
        emb = C[Xtr[ix]]
        x = emb.view(emb.shape[0], -1)
        for layer in layers:
            x = layer(x)
        loss = F.cross_entropy(x, Ytr[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        for p in parameters:
            p.data += -D.LR * p.grad
        losses.append(loss.item())
    for layer in layers:
        layer.training = False
    return {
        'eps': eps,
        'momentum': momentum,
        'param_count': sum(p.nelement() for p in parameters),
        'loss_per_step': losses,
        'split_loss_eval': {n: D.split_loss(C, layers, x, y) for n, (x, y) in data['splits'].items()},
    }


def torch_module(text):
    return eval(text, {'nn': nn})  # the nn.Sequential expression makemore export prints


def export_check(name, flags, tmp):
    # The run is trained once and committed (a folder under fixtures/export-runs: config.json and
    # checkpoint.safetensors), so the test exports the very weights torch loaded here: the
    # exported bytes then do not depend on the training kernels' rounding (FMA or not).
    run = os.path.join(EXPORT_DIR, name)
    node = ['node', '--import', 'tsx', 'src/cli/main.ts']
    if not os.path.exists(os.path.join(run, 'checkpoint.safetensors')):
        fresh = os.path.join(tmp, name + '-train')
        subprocess.run(node + ['train', '-o', fresh, '--num-samples', '0', '--quiet'] + flags, cwd=L.ROOT,
                       check=True)
        os.makedirs(run, exist_ok=True)
        with open(os.path.join(fresh, 'config.json')) as f:
            config = json.load(f)
        config['data']['inputFile'] = 'data/names.txt'  # the bundled file, not this machine's path
        with open(os.path.join(run, 'config.json'), 'w') as f:
            json.dump(config, f, indent=2)
        shutil.copy(os.path.join(fresh, 'checkpoint.safetensors'), run)
    work = os.path.join(tmp, name)
    shutil.copytree(run, work)
    out = subprocess.run(node + ['export', work, '--format', 'torch'], cwd=L.ROOT, check=True,
                         capture_output=True, text=True).stdout
    python = out[out.index('nn.Sequential('):out.index('\n)') + 2]
    path = os.path.join(work, 'state_dict.pt')
    state = torch.load(path, weights_only=True)
    model = torch_module(python)
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor(CONTEXTS))
    with open(path, 'rb') as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    print(f'[export {name}] {len(state)} tensors, sha256 {sha[:12]}', file=sys.stderr)
    return {
        'flags': flags,
        'run': os.path.relpath(run, L.ROOT),
        'sequential': python,
        'state_dict': [[k, list(v.shape), str(v.dtype)] for k, v in state.items()],
        'sha256': sha,
        'logits': logits.tolist(),
    }


def main():
    torch.set_num_threads(1)
    data = L.load_data()
    res = {
        'description': __doc__,
        'generated_by': 'scripts/torch/export_and_bn_knobs.py',
        'meta': L.meta(),
        'steps': STEPS,
        'knobs': {
            'deep-bn-bias': knobs(data, 1e-5, 0.1),
            'deep-bn-bias-knobs': knobs(data, 1e-3, 0.001),
        },
        'contexts': CONTEXTS,
    }
    with tempfile.TemporaryDirectory() as tmp:
        res['export'] = {name: export_check(name, flags, tmp) for name, flags in EXPORT_RUNS.items()}
    with open(OUT, 'w') as f:
        json.dump(res, f)
    print(f'wrote {OUT} ({os.path.getsize(OUT)} bytes)', file=sys.stderr)


if __name__ == '__main__':
    main()
