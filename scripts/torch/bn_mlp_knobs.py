#!/usr/bin/python3
"""PyTorch references for two knobs of the lecture's BatchNorm MLP (the `batchnorm` preset,
issue 16 point 10), written to fixtures/torch-bn-mlp-knobs.json:

    /usr/bin/python3 scripts/torch/bn_mlp_knobs.py

The notebook's code (makemore part 3), seed 2147483647, batch 32, lr 0.1, 300 steps:

    C  = torch.randn((vocab_size, n_embd),            generator=g)
    W1 = torch.randn((n_embd * block_size, n_hidden), generator=g) * (5/3)/((n_embd * block_size)**0.5)
    #b1 = torch.randn(n_hidden,                        generator=g) * 0.01
    W2 = torch.randn((n_hidden, vocab_size),          generator=g) * 0.01
    b2 = torch.randn(vocab_size,                      generator=g) * 0
    ...
    hpreact = embcat @ W1 #+ b1
    bnmeani = hpreact.mean(0, keepdim=True)
    bnstdi = hpreact.std(0, keepdim=True)
    hpreact = bngain * (hpreact - bnmeani) / bnstdi + bnbias
    bnmean_running = 0.999 * bnmean_running + 0.001 * bnmeani
    bnstd_running = 0.999 * bnstd_running + 0.001 * bnstdi

  bias   (makemore --type batchnorm --bias): the two commented-out pieces uncommented, b1 drawn
         right after W1 and added to the pre-activation; 12,297 parameters.
  eps    (makemore --type batchnorm --bn-eps 1e-3): eps added where a PyTorch user expects it,
         inside the square root: bnstdi = (hpreact.var(0, keepdim=True) + eps).sqrt() (the
         unbiased var, as .std() uses), so eps = 0 is the notebook's .std() exactly; the running
         std tracks that bnstdi, and evaluation divides by the running std as the notebook does.
  zero   the eps net on a batch whose first column has no spread (every row the same context):
         without eps the notebook's net gives NaN; with eps 1e-3 a finite loss.

Recorded: parameter count, the 300 minibatch losses, split losses with the running statistics.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lecture_mlp as L  # noqa: E402

STEPS = 300
OUT = os.path.join(L.ROOT, 'fixtures', 'torch-bn-mlp-knobs.json')
V = 27


def build(bias):
    g = torch.Generator().manual_seed(L.SEED)
    C = torch.randn((V, L.N_EMBD), generator=g)
    W1 = torch.randn((L.N_EMBD * L.BLOCK_SIZE, L.N_HIDDEN), generator=g) * (5 / 3) / ((L.N_EMBD * L.BLOCK_SIZE) ** 0.5)
    b1 = torch.randn(L.N_HIDDEN, generator=g) * 0.01 if bias else None
    W2 = torch.randn((L.N_HIDDEN, V), generator=g) * 0.01
    b2 = torch.randn(V, generator=g) * 0
    bngain = torch.ones((1, L.N_HIDDEN))
    bnbias = torch.zeros((1, L.N_HIDDEN))
    net = dict(g=g, C=C, W1=W1, b1=b1, W2=W2, b2=b2, bngain=bngain, bnbias=bnbias,
               bnmean_running=torch.zeros((1, L.N_HIDDEN)), bnstd_running=torch.ones((1, L.N_HIDDEN)))
    net['parameters'] = [p for p in [C, W1, b1, W2, b2, bngain, bnbias] if p is not None]
    for p in net['parameters']:
        p.requires_grad = True
    return net


def forward(net, X, Y, eps, training):
    emb = net['C'][X]
    embcat = emb.view(emb.shape[0], -1)
    hpreact = embcat @ net['W1']
    if net['b1'] is not None:
        hpreact = hpreact + net['b1']
    if training:
        bnmeani = hpreact.mean(0, keepdim=True)
        bnstdi = hpreact.std(0, keepdim=True) if eps == 0 else (hpreact.var(0, keepdim=True) + eps).sqrt()
        hpreact = net['bngain'] * (hpreact - bnmeani) / bnstdi + net['bnbias']
        with torch.no_grad():
            net['bnmean_running'] = 0.999 * net['bnmean_running'] + 0.001 * bnmeani
            net['bnstd_running'] = 0.999 * net['bnstd_running'] + 0.001 * bnstdi
    else:
        hpreact = net['bngain'] * (hpreact - net['bnmean_running']) / net['bnstd_running'] + net['bnbias']
    h = torch.tanh(hpreact)
    logits = h @ net['W2'] + net['b2']
    return F.cross_entropy(logits, Y)


def run(data, bias, eps):
    net = build(bias)
    Xtr, Ytr = data['splits']['train']
    losses = []
    for i in range(STEPS):
        ix = torch.randint(0, Xtr.shape[0], (L.BATCH,), generator=net['g'])
        loss = forward(net, Xtr[ix], Ytr[ix], eps, True)
        for p in net['parameters']:
            p.grad = None
        loss.backward()
        lr = 0.1
        for p in net['parameters']:
            p.data += -lr * p.grad
        losses.append(loss.item())
    with torch.no_grad():
        split = {n: forward(net, x, y, eps, False).item() for n, (x, y) in data['splits'].items()}
    return {
        'bias': bias,
        'eps': eps,
        'param_count': sum(p.nelement() for p in net['parameters']),
        'loss_per_step': losses,
        'split_loss_running_stats': split,
        'bnstd_running_first5': L.flat(net['bnstd_running'].reshape(-1)[:5]),
    }


def zero_spread(eps):
    """One training-mode forward of the initial net on 32 copies of the context (0, 0, 0) -> 'a'."""
    net = build(False)
    X = torch.zeros((L.BATCH, L.BLOCK_SIZE), dtype=torch.long)
    Y = torch.ones(L.BATCH, dtype=torch.long)
    return forward(net, X, Y, eps, True).item()


def main():
    torch.set_num_threads(1)
    data = L.load_data()
    res = {
        'description': __doc__,
        'generated_by': 'scripts/torch/bn_mlp_knobs.py',
        'meta': L.meta(),
        'steps': STEPS,
        'runs': {
            'bias': run(data, True, 0.0),
            'eps': run(data, False, 1e-3),
        },
        # JSON has no NaN: a non-finite loss is written as null
        'zero_spread_loss': {k: (v if math.isfinite(v) else None)
                             for k, v in {'eps0': zero_spread(0.0), 'eps1e-3': zero_spread(1e-3)}.items()},
    }
    with open(OUT, 'w') as f:
        json.dump(res, f)
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != 'loss_per_step'} for k, v in res['runs'].items()},
                     indent=1), file=sys.stderr)
    print(json.dumps(res['zero_spread_loss']), file=sys.stderr)


if __name__ == '__main__':
    main()
