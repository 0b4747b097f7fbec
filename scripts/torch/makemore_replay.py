#!/usr/bin/python3
"""Generate fixtures/torch-makemore-replay.json from karpathy/makemore's makemore.py itself
(PyTorch 1.13), checked by test/makemore.test.ts.

    /usr/bin/python3 scripts/torch/makemore_replay.py [path/to/makemore.py]

(default /work/shared/references/makemore.py; torch.utils.tensorboard is stubbed, it is not
installed here). For each --type, exactly as makemore.py's main does at its defaults:
torch.manual_seed(3407), create_datasets("data/names.txt") (its torch.randperm split moves the
generator), ModelConfig(vocab 27, block 16, n_layer 4, n_head 4, n_embd 64, n_embd2 64), the model.
Recorded: every state_dict tensor's name, shape and the sha256 of its float32 bytes (row-major,
little-endian) plus its first 4 values; the parameter count. Then a replay: AdamW exactly as
makemore.py builds it, 200 steps on minibatches of BATCH training words whose indices are
torch.randint(0, len(train), (200, BATCH), generator=torch.Generator().manual_seed(1)) (the TS side
draws the same indices with its exact randint; their sha256 is recorded to prove it), and the
loss at every step.
"""

import hashlib
import importlib.util
import json
import os
import sys
import types

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "fixtures", "torch-makemore-replay.json")
MAKEMORE = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/references/makemore.py"
STEPS = 200
BATCH = 8

# makemore.py imports SummaryWriter at module level; nothing here writes tensorboard logs
tb = types.ModuleType("torch.utils.tensorboard")
tb.SummaryWriter = object
sys.modules["torch.utils.tensorboard"] = tb
spec = importlib.util.spec_from_file_location("makemore", MAKEMORE)
mm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mm)


def digest(t):
    return hashlib.sha256(t.detach().contiguous().to(torch.float32).numpy().tobytes()).hexdigest()


def build(kind, config):
    return {"transformer": lambda: mm.Transformer(config), "bigram": lambda: mm.Bigram(config), "mlp": lambda: mm.MLP(config),
            "rnn": lambda: mm.RNN(config, cell_type="rnn"), "gru": lambda: mm.RNN(config, cell_type="gru"), "bow": lambda: mm.BoW(config)}[kind]()


out = {"meta": {"torch_version": torch.__version__, "steps": STEPS, "batch": BATCH, "seed": 3407, "batch_seed": 1}, "types": {}}
for kind in ["transformer", "bigram", "mlp", "rnn", "gru", "bow"]:
    torch.manual_seed(3407)
    train, test = mm.create_datasets(os.path.join(ROOT, "data", "names.txt"))
    config = mm.ModelConfig(vocab_size=train.get_vocab_size(), block_size=train.get_output_length(), n_layer=4, n_head=4, n_embd=64, n_embd2=64)
    model = build(kind, config)
    state = [{"name": k, "shape": list(v.shape), "sha256": digest(v), "first": v.reshape(-1)[:4].tolist()} for k, v in model.state_dict().items()]
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01, betas=(0.9, 0.99), eps=1e-8)
    ix = torch.randint(0, len(train), (STEPS, BATCH), generator=torch.Generator().manual_seed(1))
    losses = []
    for step in range(STEPS):
        batch = [train[i] for i in ix[step].tolist()]
        X = torch.stack([b[0] for b in batch])
        Y = torch.stack([b[1] for b in batch])
        logits, loss = model(X, Y)
        model.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    out["types"][kind] = {"params": n_params, "state": state, "losses": losses,
                          "test_words_first": test.words[:3], "train_words_first": train.words[:3],
                          "batch_ix_sha256": hashlib.sha256(ix.to(torch.int64).numpy().tobytes()).hexdigest(),
                          "final_sha256": {k: digest(v) for k, v in model.state_dict().items() if k.endswith("weight")}}
    print(kind, n_params, losses[0], losses[-1], flush=True)

with open(OUT, "w") as f:
    json.dump(out, f)
    f.write("\n")
print("wrote", OUT)
