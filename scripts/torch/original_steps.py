# Per-step losses of the lecture's unscaled 'original' MLP (its dynamics amplify float rounding,
# so tests compare the early steps exactly). Run: /usr/bin/python3 scripts/torch/original_steps.py
import torch, random, torch.nn.functional as F, json
torch.set_num_threads(1)
words = open('data/names.txt').read().splitlines()
chars = sorted(set(''.join(words))); stoi = {s:i+1 for i,s in enumerate(chars)}; stoi['.']=0
def build(ws):
    X,Y=[],[]
    for w in ws:
        c=[0]*3
        for ch in w+'.':
            ix=stoi[ch]; X.append(c); Y.append(ix); c=c[1:]+[ix]
    return torch.tensor(X), torch.tensor(Y)
random.seed(42); random.shuffle(words); n1=int(0.8*len(words))
Xtr,Ytr=build(words[:n1])
g=torch.Generator().manual_seed(2147483647)
C=torch.randn((27,10),generator=g); W1=torch.randn((30,200),generator=g); b1=torch.randn(200,generator=g); W2=torch.randn((200,27),generator=g); b2=torch.randn(27,generator=g)
P=[C,W1,b1,W2,b2]
for p in P: p.requires_grad=True
out=[]
for i in range(1001):
    ix=torch.randint(0,Xtr.shape[0],(32,),generator=g)
    emb=C[Xtr[ix]]; h=torch.tanh(emb.view(32,-1)@W1+b1); logits=h@W2+b2; loss=F.cross_entropy(logits,Ytr[ix])
    for p in P: p.grad=None
    loss.backward()
    for p in P: p.data += -0.1*p.grad
    out.append(loss.item())
json.dump({'description': 'lecture original preset (unscaled randn init), per-step minibatch loss of the first 1001 steps, torch ' + torch.__version__, 'loss_per_step': out}, open('fixtures/torch-original-first1001.json','w'))
