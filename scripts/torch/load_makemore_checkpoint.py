#!/usr/bin/python3
"""Load a makemore.ts run of a makemore.py type into makemore.py's own model and sample from it.

    /usr/bin/python3 scripts/torch/load_makemore_checkpoint.py RUN_DIR [path/to/makemore.py]

Reads RUN_DIR/config.json (the model spec) and RUN_DIR/checkpoint.safetensors (decoded by hand as
check_safetensors.py does: Debian has no `safetensors` package), builds makemore.py's model with
the same ModelConfig, calls model.load_state_dict(tensors) (strict: every name and shape must
match makemore.py's state_dict), prints the parameter count, the loss of the first 100 words of the
data file and 10 samples from makemore.py's generate(). Exits 1 on any mismatch.
"""

import importlib.util
import json
import os
import sys
import types

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_safetensors import decode  # noqa: E402

run = sys.argv[1]
mm_path = sys.argv[2] if len(sys.argv) > 2 else "/work/shared/references/makemore.py"
tb = types.ModuleType("torch.utils.tensorboard")
tb.SummaryWriter = object
sys.modules["torch.utils.tensorboard"] = tb
spec = importlib.util.spec_from_file_location("makemore", mm_path)
mm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mm)

config = json.load(open(os.path.join(run, "config.json")))
m = config["model"]
kind = {"makemore-bigram": "bigram"}.get(m["type"], m["type"])
mc = mm.ModelConfig(vocab_size=m["vocabSize"], block_size=m["blockSize"], n_layer=m["nLayer"], n_head=m["nHead"], n_embd=m["nEmbd"], n_embd2=m["nEmbd2"])
model = {"transformer": lambda: mm.Transformer(mc), "bigram": lambda: mm.Bigram(mc), "mlp": lambda: mm.MLP(mc),
         "rnn": lambda: mm.RNN(mc, cell_type="rnn"), "gru": lambda: mm.RNN(mc, cell_type="gru"), "bow": lambda: mm.BoW(mc)}[kind]()
_, tensors = decode(open(os.path.join(run, "checkpoint.safetensors"), "rb").read())
result = model.load_state_dict({k: v.clone() for k, v in tensors.items()}, strict=True)
print(f"load_state_dict: {result}; {sum(p.numel() for p in model.parameters())} parameters")

vocab = config["data"]["vocab"]  # boundary first, then the characters: makemore.py's itos
words = [w.strip() for w in open(config["data"]["inputFile"]).read().splitlines() if w.strip()][:100]
stoi = {c: i for i, c in enumerate(vocab) if i > 0}
T = m["blockSize"]
X = torch.zeros(len(words), T, dtype=torch.long)
Y = torch.full((len(words), T), -1, dtype=torch.long)
for r, w in enumerate(words):
    ix = [stoi[c] for c in w]
    X[r, 1:1 + len(ix)] = torch.tensor(ix)
    Y[r, :len(ix)] = torch.tensor(ix)
    Y[r, len(ix)] = 0
model.eval()
with torch.no_grad():
    _, loss = model(X, Y)
print(f"loss on the first {len(words)} words: {loss.item():.4f}")
torch.manual_seed(0)
out = mm.generate(model, torch.zeros(10, 1, dtype=torch.long), T - 1, do_sample=True)
for row in out[:, 1:].tolist():
    row = row[:row.index(0)] if 0 in row else row
    print("".join(vocab[i] for i in row))
