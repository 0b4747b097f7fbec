#!/usr/bin/python3
"""Reference numbers for makemore part 4 ("becoming a backprop ninja"), running the notebook's
code (lectures/makemore/makemore_part4_backprop.ipynb) with Debian's PyTorch 1.13, written to
fixtures/torch-backprop.json.

    /usr/bin/python3 scripts/torch/backprop.py

In a fresh process, as the notebook runs it: C, W1, b1, W2, b2 from
torch.Generator().manual_seed(2147483647), bngain and bnbias from torch's default generator
(the notebook draws them without generator=g; seeded here with torch's documented default
67280421310721, which this Debian build does not apply by itself), a minibatch ix = torch.randint(.., generator=g);
the "chunkated" forward; loss.backward() with every intermediate's grad retained; then the
notebook's exercise 1 (manual backward, cmp of all 26 tensors), exercise 2 (the fused
cross-entropy backward) and exercise 3 (the fused BatchNorm backward) with their cmp results;
and exercise 4's first --steps training steps (n_hidden 200, manual backward) with their losses.
Recorded per tensor: shape, sha256 of autograd's gradient and its first 8 values.
"""
import argparse
import hashlib
import json
import os
import random
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lecture_mlp as L  # noqa: E402

OUT = os.path.join(L.ROOT, 'fixtures', 'torch-backprop.json')


def sha(t):
    return hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()


def cmp(s, dt, t):
    ex = torch.all(dt == t.grad).item()
    app = torch.allclose(dt, t.grad)
    maxdiff = (dt - t.grad).abs().max().item()
    line = f'{s:15s} | exact: {str(ex):5s} | approximate: {str(app):5s} | maxdiff: {maxdiff}'
    return {'name': s, 'exact': ex, 'approximate': app, 'maxdiff': maxdiff, 'line': line}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--out', default=OUT)
    ap.add_argument('--default-seed', type=int, default=67280421310721,
                    help="torch's documented default seed; this Debian build seeds the default generator "
                         'randomly per process, so it is set explicitly for reproducible bngain/bnbias')
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.default_seed)
    words = open(L.NAMES, 'r').read().splitlines()
    chars = sorted(list(set(''.join(words))))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi['.'] = 0
    vocab_size = 27
    block_size = 3

    def build_dataset(words):
        X, Y = [], []
        for w in words:
            context = [0] * block_size
            for ch in w + '.':
                ix = stoi[ch]
                X.append(context)
                Y.append(ix)
                context = context[1:] + [ix]
        return torch.tensor(X), torch.tensor(Y)

    random.seed(42)
    random.shuffle(words)
    n1 = int(0.8 * len(words))
    Xtr, Ytr = build_dataset(words[:n1])

    n_embd = 10
    n_hidden = 64
    g = torch.Generator().manual_seed(2147483647)
    C = torch.randn((vocab_size, n_embd), generator=g)
    W1 = torch.randn((n_embd * block_size, n_hidden), generator=g) * (5 / 3) / ((n_embd * block_size) ** 0.5)
    b1 = torch.randn(n_hidden, generator=g) * 0.1
    W2 = torch.randn((n_hidden, vocab_size), generator=g) * 0.1
    b2 = torch.randn(vocab_size, generator=g) * 0.1
    bngain = torch.randn((1, n_hidden)) * 0.1 + 1.0
    bnbias = torch.randn((1, n_hidden)) * 0.1
    parameters = [C, W1, b1, W2, b2, bngain, bnbias]
    nparams = sum(p.nelement() for p in parameters)
    init = {n: {'sha256': sha(p), 'first8': L.flat(p.reshape(-1)[:8])}
            for n, p in zip(['C', 'W1', 'b1', 'W2', 'b2', 'bngain', 'bnbias'], parameters)}
    for p in parameters:
        p.requires_grad = True
    batch_size = 32
    n = batch_size
    ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)
    Xb, Yb = Xtr[ix], Ytr[ix]

    emb = C[Xb]
    embcat = emb.view(emb.shape[0], -1)
    hprebn = embcat @ W1 + b1
    bnmeani = 1 / n * hprebn.sum(0, keepdim=True)
    bndiff = hprebn - bnmeani
    bndiff2 = bndiff**2
    bnvar = 1 / (n - 1) * (bndiff2).sum(0, keepdim=True)
    bnvar_inv = (bnvar + 1e-5)**-0.5
    bnraw = bndiff * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    h = torch.tanh(hpreact)
    logits = h @ W2 + b2
    logit_maxes = logits.max(1, keepdim=True).values
    norm_logits = logits - logit_maxes
    counts = norm_logits.exp()
    counts_sum = counts.sum(1, keepdims=True)
    counts_sum_inv = counts_sum**-1
    probs = counts * counts_sum_inv
    logprobs = probs.log()
    loss = -logprobs[range(n), Yb].mean()
    for p in parameters:
        p.grad = None
    named = dict(logprobs=logprobs, probs=probs, counts=counts, counts_sum=counts_sum,
                 counts_sum_inv=counts_sum_inv, norm_logits=norm_logits, logit_maxes=logit_maxes,
                 logits=logits, h=h, hpreact=hpreact, bnraw=bnraw, bnvar_inv=bnvar_inv, bnvar=bnvar,
                 bndiff2=bndiff2, bndiff=bndiff, hprebn=hprebn, bnmeani=bnmeani, embcat=embcat, emb=emb)
    for t in named.values():
        t.retain_grad()
    loss.backward()
    named.update(C=C, W1=W1, b1=b1, W2=W2, b2=b2, bngain=bngain, bnbias=bnbias)

    # exercise 1, the notebook's manual backward
    dlogprobs = torch.zeros_like(logprobs)
    dlogprobs[range(n), Yb] = -1.0 / n
    dprobs = (1.0 / probs) * dlogprobs
    dcounts_sum_inv = (counts * dprobs).sum(1, keepdim=True)
    dcounts = counts_sum_inv * dprobs
    dcounts_sum = (-counts_sum**-2) * dcounts_sum_inv
    dcounts += torch.ones_like(counts) * dcounts_sum
    dnorm_logits = counts * dcounts
    dlogits = dnorm_logits.clone()
    dlogit_maxes = (-dnorm_logits).sum(1, keepdim=True)
    dlogits += F.one_hot(logits.max(1).indices, num_classes=logits.shape[1]) * dlogit_maxes
    dh = dlogits @ W2.T
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(0)
    dhpreact = (1.0 - h**2) * dh
    dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
    dbnraw = bngain * dhpreact
    dbnbias = dhpreact.sum(0, keepdim=True)
    dbndiff = bnvar_inv * dbnraw
    dbnvar_inv = (bndiff * dbnraw).sum(0, keepdim=True)
    dbnvar = (-0.5 * (bnvar + 1e-5)**-1.5) * dbnvar_inv
    dbndiff2 = (1.0 / (n - 1)) * torch.ones_like(bndiff2) * dbnvar
    dbndiff += (2 * bndiff) * dbndiff2
    dhprebn = dbndiff.clone()
    dbnmeani = (-dbndiff).sum(0)
    dhprebn += 1.0 / n * (torch.ones_like(hprebn) * dbnmeani)
    dembcat = dhprebn @ W1.T
    dW1 = embcat.T @ dhprebn
    db1 = dhprebn.sum(0)
    demb = dembcat.view(emb.shape)
    dC = torch.zeros_like(C)
    for k in range(Xb.shape[0]):
        for j in range(Xb.shape[1]):
            dC[Xb[k, j]] += demb[k, j]
    manual = [('logprobs', dlogprobs), ('probs', dprobs), ('counts_sum_inv', dcounts_sum_inv),
              ('counts_sum', dcounts_sum), ('counts', dcounts), ('norm_logits', dnorm_logits),
              ('logit_maxes', dlogit_maxes), ('logits', dlogits), ('h', dh), ('W2', dW2), ('b2', db2),
              ('hpreact', dhpreact), ('bngain', dbngain), ('bnbias', dbnbias), ('bnraw', dbnraw),
              ('bnvar_inv', dbnvar_inv), ('bnvar', dbnvar), ('bndiff2', dbndiff2), ('bndiff', dbndiff),
              ('bnmeani', dbnmeani), ('hprebn', dhprebn), ('embcat', dembcat), ('W1', dW1), ('b1', db1),
              ('emb', demb), ('C', dC)]
    exercise1 = [cmp(s, d, named[s]) for s, d in manual]
    grads = {s: {'shape': list(named[s].shape), 'sha256': sha(named[s].grad),
                 'first8': L.flat(named[s].grad.reshape(-1)[:8])} for s, _ in manual}

    # exercise 2: fused cross-entropy
    loss_fast = F.cross_entropy(logits, Yb)
    dlogits = F.softmax(logits, 1)
    dlogits[range(n), Yb] -= 1
    dlogits /= n
    exercise2 = {'loss_fast': loss_fast.item(), 'diff': (loss_fast - loss).item(),
                 'cmp': cmp('logits', dlogits, logits)}
    # exercise 3: fused batchnorm
    hpreact_fast = bngain * (hprebn - hprebn.mean(0, keepdim=True)) / torch.sqrt(
        hprebn.var(0, keepdim=True, unbiased=True) + 1e-5) + bnbias
    dhprebn = bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0) - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))
    exercise3 = {'max_diff_forward': (hpreact_fast - hpreact).abs().max().item(),
                 'cmp': cmp('hprebn', dhprebn, hprebn)}

    # exercise 4: the first steps of training with the manual backward (n_hidden 200)
    n_hidden = 200
    g = torch.Generator().manual_seed(2147483647)
    C = torch.randn((vocab_size, n_embd), generator=g)
    W1 = torch.randn((n_embd * block_size, n_hidden), generator=g) * (5 / 3) / ((n_embd * block_size) ** 0.5)
    b1 = torch.randn(n_hidden, generator=g) * 0.1
    W2 = torch.randn((n_hidden, vocab_size), generator=g) * 0.1
    b2 = torch.randn(vocab_size, generator=g) * 0.1
    bngain = torch.randn((1, n_hidden)) * 0.1 + 1.0
    bnbias = torch.randn((1, n_hidden)) * 0.1
    parameters = [C, W1, b1, W2, b2, bngain, bnbias]
    nparams4 = sum(p.nelement() for p in parameters)
    losses4 = []
    with torch.no_grad():
        for i in range(args.steps):
            ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)
            Xb, Yb = Xtr[ix], Ytr[ix]
            emb = C[Xb]
            embcat = emb.view(emb.shape[0], -1)
            hprebn = embcat @ W1 + b1
            bnmean = hprebn.mean(0, keepdim=True)
            bnvar = hprebn.var(0, keepdim=True, unbiased=True)
            bnvar_inv = (bnvar + 1e-5)**-0.5
            bnraw = (hprebn - bnmean) * bnvar_inv
            hpreact = bngain * bnraw + bnbias
            h = torch.tanh(hpreact)
            logits = h @ W2 + b2
            loss4 = F.cross_entropy(logits, Yb)
            losses4.append(loss4.item())
            dlogits = F.softmax(logits, 1)
            dlogits[range(n), Yb] -= 1
            dlogits /= n
            dh = dlogits @ W2.T
            dW2 = h.T @ dlogits
            db2 = dlogits.sum(0)
            dhpreact = (1.0 - h**2) * dh
            dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
            dbnbias = dhpreact.sum(0, keepdim=True)
            dhprebn = bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0) - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))
            dembcat = dhprebn @ W1.T
            dW1 = embcat.T @ dhprebn
            db1 = dhprebn.sum(0)
            demb = dembcat.view(emb.shape)
            dC = torch.zeros_like(C)
            for k in range(Xb.shape[0]):
                for j in range(Xb.shape[1]):
                    dC[Xb[k, j]] += demb[k, j]
            grads4 = [dC, dW1, db1, dW2, db2, dbngain, dbnbias]
            lr = 0.1 if i < 100000 else 0.01
            for p, grad in zip(parameters, grads4):
                p.data += -lr * grad

    res = {'description': "makemore part 4 (backprop ninja), the notebook's code; see scripts/torch/backprop.py",
           'generated_by': 'scripts/torch/backprop.py', 'meta': L.meta(), 'param_count': nparams, 'init': init,
           'loss': loss.item(), 'grads': grads,
           'exercise1': exercise1, 'exercise2': exercise2, 'exercise3': exercise3,
           'exercise4': {'param_count': nparams4, 'steps': args.steps, 'losses': losses4}}
    with open(args.out, 'w') as f:
        json.dump(res, f, indent=1)
    print(f'wrote {args.out}: loss {loss.item()} params {nparams}', file=sys.stderr)
    for r in exercise1 + [exercise2['cmp'], exercise3['cmp']]:
        print(r['line'], file=sys.stderr)
    print(losses4[:3], file=sys.stderr)


if __name__ == '__main__':
    main()
