#!/usr/bin/python3
"""Reference numbers for makemore part 1 (bigrams), running the notebook's code
(lectures/makemore/makemore_part1_bigrams.ipynb) with Debian's PyTorch 1.13, written to
fixtures/torch-bigrams.json.

    /usr/bin/python3 scripts/torch/bigrams.py [--steps 100]

Counting model: N[ix1, ix2] += 1 over all of names.txt, P = (N+1).float(), P /= P.sum(1,
keepdims=True); the log-likelihood summed as the notebook does (a float32 tensor accumulating
one log(prob) per bigram, in order), and 5 samples with Generator().manual_seed(2147483647)
(torch.multinomial(p, num_samples=1, replacement=True)).

Neural model: W = torch.randn((27, 27), generator=Generator().manual_seed(2147483647)); the
5-bigram walk-through on "emma"; then the full-batch loop on all 228,146 bigrams,
    loss = -probs[torch.arange(num), ys].log().mean() + 0.01*(W**2).mean();  W.data += -50 * W.grad
for --steps iterations (the lecture video runs 100); every iteration's loss, W's sha256 after
them and 5 samples from the trained net with a fresh Generator().manual_seed(2147483647).
All floats are exact float32 values as float64.
"""
import argparse
import hashlib
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lecture_mlp as L  # noqa: E402

OUT = os.path.join(L.ROOT, 'fixtures', 'torch-bigrams.json')


def sha(t):
    return hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=100)
    ap.add_argument('--out', default=OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)
    words = open(L.NAMES, 'r').read().splitlines()
    chars = sorted(list(set(''.join(words))))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi['.'] = 0
    itos = {i: s for s, i in stoi.items()}
    res = {'description': "makemore part 1 (bigrams), the notebook's code; see scripts/torch/bigrams.py",
           'generated_by': 'scripts/torch/bigrams.py', 'meta': L.meta()}

    # ---- counting
    N = torch.zeros((27, 27), dtype=torch.int32)
    for w in words:
        chs = ['.'] + list(w) + ['.']
        for ch1, ch2 in zip(chs, chs[1:]):
            N[stoi[ch1], stoi[ch2]] += 1
    top = sorted(((N[i, j].item(), itos[i] + itos[j]) for i in range(27) for j in range(27)), key=lambda t: -t[0])
    p = N[0].float()
    p = p / p.sum()
    g = torch.Generator().manual_seed(2147483647)
    first_char = itos[torch.multinomial(p, num_samples=1, replacement=True, generator=g).item()]
    g = torch.Generator().manual_seed(2147483647)
    p3 = torch.rand(3, generator=g)
    p3 = p3 / p3.sum()
    draws100 = torch.multinomial(p3, num_samples=100, replacement=True, generator=g).tolist()
    P = (N + 1).float()
    P /= P.sum(1, keepdims=True)
    g = torch.Generator().manual_seed(2147483647)
    count_samples = []
    for i in range(5):
        out = []
        ix = 0
        while True:
            ix = torch.multinomial(P[ix], num_samples=1, replacement=True, generator=g).item()
            out.append(itos[ix])
            if ix == 0:
                break
        count_samples.append(''.join(out))
    log_likelihood = 0.0
    n = 0
    for w in words:
        chs = ['.'] + list(w) + ['.']
        for ch1, ch2 in zip(chs, chs[1:]):
            log_likelihood += torch.log(P[stoi[ch1], stoi[ch2]])
            n += 1
    nll = -log_likelihood
    res['counts'] = {'total': int(N.sum().item()), 'sha256_int32': sha(N), 'row0': N[0].tolist(),
                     'top10': [[c, s] for c, s in top[:10]], 'first_char': first_char,
                     'rand3_normalised': L.flat(p3), 'multinomial100': draws100,
                     'P_sha256': sha(P), 'P_row0': L.flat(P[0]),
                     'log_likelihood': log_likelihood.item(), 'nll': nll.item(), 'n': n,
                     'nll_per_bigram': (nll / n).item(), 'samples': count_samples}

    # ---- neural: the walk-through on "emma"
    xs, ys = [], []
    for w in words[:1]:
        chs = ['.'] + list(w) + ['.']
        for ch1, ch2 in zip(chs, chs[1:]):
            xs.append(stoi[ch1])
            ys.append(stoi[ch2])
    xs = torch.tensor(xs)
    ys = torch.tensor(ys)
    g = torch.Generator().manual_seed(2147483647)
    W = torch.randn((27, 27), generator=g)
    xenc = F.one_hot(xs, num_classes=27).float()
    logits = xenc @ W
    counts = logits.exp()
    probs = counts / counts.sum(1, keepdims=True)
    nlls = torch.zeros(5)
    for i in range(5):
        nlls[i] = -torch.log(probs[i, ys[i].item()])
    res['neural_emma'] = {'W_sha256': sha(W), 'W_first8': L.flat(W.reshape(-1)[:8]),
                          'probs0': L.flat(probs[0]), 'nlls': L.flat(nlls), 'loss': nlls.mean().item()}
    g = torch.Generator().manual_seed(2147483647)
    W = torch.randn((27, 27), generator=g, requires_grad=True)
    logits = F.one_hot(xs, num_classes=27).float() @ W
    counts = logits.exp()
    probs = counts / counts.sum(1, keepdims=True)
    loss = -probs[torch.arange(5), ys].log().mean()
    W.grad = None
    loss.backward()
    res['neural_emma']['loss_requires_grad'] = loss.item()
    res['neural_emma']['grad_first8'] = L.flat(W.grad.reshape(-1)[:8])
    res['neural_emma']['grad_sha256'] = sha(W.grad)

    # ---- neural: full-batch gradient descent on all bigrams
    xs, ys = [], []
    for w in words:
        chs = ['.'] + list(w) + ['.']
        for ch1, ch2 in zip(chs, chs[1:]):
            xs.append(stoi[ch1])
            ys.append(stoi[ch2])
    xs = torch.tensor(xs)
    ys = torch.tensor(ys)
    num = xs.nelement()
    g = torch.Generator().manual_seed(2147483647)
    W = torch.randn((27, 27), generator=g, requires_grad=True)
    losses = []
    for k in range(args.steps):
        xenc = F.one_hot(xs, num_classes=27).float()
        logits = xenc @ W
        counts = logits.exp()
        probs = counts / counts.sum(1, keepdims=True)
        loss = -probs[torch.arange(num), ys].log().mean() + 0.01 * (W**2).mean()
        losses.append(loss.item())
        W.grad = None
        loss.backward()
        W.data += -50 * W.grad
        if k == 0:
            grad0 = {'first8': L.flat(W.grad.reshape(-1)[:8]), 'sha256': sha(W.grad)}
    g = torch.Generator().manual_seed(2147483647)
    neural_samples = []
    for i in range(5):
        out = []
        ix = 0
        while True:
            xenc = F.one_hot(torch.tensor([ix]), num_classes=27).float()
            logits = xenc @ W
            counts = logits.exp()
            p = counts / counts.sum(1, keepdims=True)
            ix = torch.multinomial(p, num_samples=1, replacement=True, generator=g).item()
            out.append(itos[ix])
            if ix == 0:
                break
        neural_samples.append(''.join(out))
    res['neural'] = {'num': num, 'steps': args.steps, 'lr': 50, 'reg': 0.01, 'losses': losses,
                     'grad0': grad0, 'W_sha256': sha(W), 'W_first8': L.flat(W.reshape(-1)[:8]),
                     'samples': neural_samples}
    with open(args.out, 'w') as f:
        json.dump(res, f, indent=1)
    print(f'wrote {args.out}: ll {res["counts"]["log_likelihood"]} nll/n {res["counts"]["nll_per_bigram"]} '
          f'counts samples {count_samples}; neural loss {losses[0]} -> {losses[-1]}; samples {neural_samples}',
          file=sys.stderr)


if __name__ == '__main__':
    main()
