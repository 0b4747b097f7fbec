"""The bench workers' protocol (scripts/torch/bench_torch*.py, driven by src/bench/*.ts): one JSON
command per line on stdin, one JSON answer per line on stdout, until {"cmd": "quit"} or EOF. An
exception becomes {"error": "..."} and the worker keeps serving; `extra(out)` may add fields.
"""
import json
import sys


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
