#!/usr/bin/python3
"""Exact short fixture for the makemore part 3 BatchNorm MLP: the lecture's batchnorm preset
trained exactly 1000 steps (same init, minibatches and update as the 200k run in
scripts/torch/lecture_mlp.py), then the full float32 weights, the split losses with the
running BN stats, and 20 samples from torch.Generator().manual_seed(2147483657).
Sampled names after 200k steps depend on float rounding; this fixture lets a
reimplementation test its sampler on weights it loads, independently of training drift.

It also checks the run against the PyTorch replay fixture
/work/shared/data/torch-replay/bn_mlp_first1000.json (if present): init values, b1 draw,
minibatch indices, per-step losses; the comparison is stored under "replay_check".

    /usr/bin/python3 scripts/torch/bn_mlp_1000.py   ->  fixtures/torch-bn-mlp-1000.json
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lecture_mlp as L  # noqa: E402

STEPS = 1000
REPLAY = '/work/shared/data/torch-replay/bn_mlp_first1000.json'
OUT = os.path.join(L.ROOT, 'fixtures', 'torch-bn-mlp-1000.json')


def train(data, draw_b1=False, steps=STEPS):
    model = L.MLP('batchnorm', draw_b1_for_bn=draw_b1)
    Xtr, Ytr = data['splits']['train']
    losses, batches = [], []
    for i in range(steps):
        ix, loss = model.train_step(Xtr, Ytr, 0.1)
        losses.append(loss.item())
        batches.append(ix.tolist())
    return model, losses, batches


def replay_check(model, losses, batches, data):
    if not os.path.exists(REPLAY):
        return None
    with open(REPLAY) as f:
        r = json.load(f)
    out = {'replay_file': REPLAY}
    # b1: does the lecture's BN model draw b1 (200 normals) between W1 and W2?
    alt = L.MLP('batchnorm', draw_b1_for_bn=True)
    out['init_equal_without_b1_draw'] = {n: r['init'][n] == L.flat(model.init[n]) for n in ('C', 'W1', 'W2')}
    out['init_equal_with_b1_draw'] = {n: r['init'][n] == L.flat(alt.init[n]) for n in ('C', 'W1', 'W2')}
    out['b1_drawn_in_replay'] = (not out['init_equal_without_b1_draw']['W2']) and out['init_equal_with_b1_draw']['W2']
    out['batch_indices_equal'] = r['batch_indices_into_Xtr'] == batches
    dev = [abs(a - b) for a, b in zip(losses, r['loss_per_step'])]
    out['loss_steps_compared'] = len(dev)
    out['loss_exact_equal_steps'] = sum(1 for d in dev if d == 0.0)
    out['loss_max_abs_dev'] = max(dev)
    out['loss_max_abs_dev_step'] = dev.index(max(dev))
    out['loss_first_diff_step'] = next((i for i, d in enumerate(dev) if d != 0.0), None)
    a = r['after_steps']
    out['after_steps'] = {
        'train_loss_running_stats': [a['train_loss_running_stats'], data['train_loss']],
        'val_loss_running_stats': [a['val_loss_running_stats'], data['val_loss']],
        'W1_sum': [a['W1_sum'], model.W1.detach().sum().item()],
        'W2_sum': [a['W2_sum'], model.W2.detach().sum().item()],
        'C_sum': [a['C_sum'], model.C.detach().sum().item()],
        'bnmean_running_first5': [a['bnmean_running_first5'], L.flat(model.bnmean_running.reshape(-1)[:5])],
        'bnstd_running_first5': [a['bnstd_running_first5'], L.flat(model.bnstd_running.reshape(-1)[:5])],
    }
    out['after_steps_note'] = 'pairs are [replay, this run]'
    return out


def main():
    torch.set_num_threads(1)
    data = L.load_data()
    model, losses, batches = train(data)
    sl = L.split_losses(model, data['splits'])
    data['train_loss'], data['val_loss'] = sl['train'], sl['val']
    check = replay_check(model, losses, batches, data)
    res = {
        'description': ('makemore part 3 BatchNorm MLP (lecture batchnorm preset; n_embd=10, n_hidden=200, '
                        'block_size=3, batch 32, lr 0.1, b1 neither drawn nor used) after exactly 1000 '
                        'training steps from torch.Generator().manual_seed(2147483647). Weights are '
                        'row-major float32 values as exact float64. Split losses and samples use the '
                        'running BN stats (bnmean_running/bnstd_running). Samples: lecture sampling loop '
                        'with torch.Generator().manual_seed(2147483657).'),
        'generated_by': 'scripts/torch/bn_mlp_1000.py',
        'meta': L.meta(),
        'steps': STEPS,
        'shapes': {n: list(t.shape) for n, t in [('C', model.C), ('W1', model.W1), ('W2', model.W2),
                                                 ('b2', model.b2), ('bngain', model.bngain),
                                                 ('bnbias', model.bnbias),
                                                 ('bnmean_running', model.bnmean_running),
                                                 ('bnstd_running', model.bnstd_running)]},
        'weights': {n: L.flat(t) for n, t in [('C', model.C), ('W1', model.W1), ('W2', model.W2),
                                              ('b2', model.b2), ('bngain', model.bngain),
                                              ('bnbias', model.bnbias),
                                              ('bnmean_running', model.bnmean_running),
                                              ('bnstd_running', model.bnstd_running)]},
        'loss_per_step': losses,
        'split_loss_running_stats': sl,
        'sample_seed': L.SAMPLE_SEED,
        'samples': model.sample(data['itos']),
        'replay_check': check,
    }
    # sanity: sampling from the dumped (float32 -> float64 -> float32) weights gives the same names
    fresh = L.MLP('batchnorm')
    for n, t in res['weights'].items():
        setattr(fresh, n, torch.tensor(t, dtype=torch.float32).view(*res['shapes'][n]))
    assert fresh.sample(data['itos']) == res['samples']
    assert L.split_losses(fresh, data['splits']) == sl
    with open(OUT, 'w') as f:
        json.dump(res, f, indent=1)
    print(json.dumps({k: res[k] for k in ('split_loss_running_stats', 'samples', 'replay_check')}, indent=1))


if __name__ == '__main__':
    main()
