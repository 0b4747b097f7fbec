"""The bench workers' protocol (scripts/torch/bench_torch*.py, driven by src/bench/*.ts): one JSON
command per line on stdin, one JSON answer per line on stdout, until {"cmd": "quit"} or EOF. An
exception becomes {"error": "..."} and the worker keeps serving; `extra(out)` may add fields.
`blas_info()` is every worker's answer to {"cmd": "info"}'s BLAS part: the bench refuses to judge
its ratios against the reference BLAS (src/bench/machine.ts blasWarning).
"""
import json
import sys
import time


def blas_library():
    """The BLAS shared objects this process mapped (OpenBLAS or the reference libblas)."""
    try:
        with open('/proc/self/maps') as f:
            libs = sorted({line.split()[-1] for line in f if 'blas' in line.split()[-1]})
    except OSError:
        return 'unknown'
    return ', '.join(libs) if libs else 'none mapped'


def matmul_gflops():
    """GFLOP/s of one 256x256 @ 256x256 float32 matmul on this thread (tells the BLAS apart)."""
    import torch
    a = torch.randn(256, 256)
    b = torch.randn(256, 256)
    for _ in range(3):
        a @ b
    n = 20
    t = time.perf_counter()
    for _ in range(n):
        a @ b
    return 2 * 256 ** 3 * n / (time.perf_counter() - t) / 1e9


def blas_info():
    """The BLAS part of an info answer (a matmul first, so the BLAS library is mapped)."""
    g = matmul_gflops()
    return {'blas': blas_library(), 'matmul_gflops': g}


def serve(handle, extra=None):
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        if cmd.get('cmd') == 'quit':
            break
        try:
            out = handle(cmd)
        except Exception as e:  # report, keep serving
            out = {'error': f'{type(e).__name__}: {e}'}
        if extra:
            extra(out)
        sys.stdout.write(json.dumps(out) + '\n')
        sys.stdout.flush()
