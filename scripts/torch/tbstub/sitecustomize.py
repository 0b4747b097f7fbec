"""Stub torch.utils.tensorboard (not installed with Debian's PyTorch) so makemore.py runs unmodified.

Put this directory on PYTHONPATH: Python imports sitecustomize at start-up, which registers a
SummaryWriter that accepts add_scalar/flush/close and writes nothing.
"""
import sys
import types


class SummaryWriter:
    def __init__(self, *args, **kwargs):
        pass

    def add_scalar(self, *args, **kwargs):
        pass

    def flush(self):
        pass

    def close(self):
        pass


_tb = types.ModuleType("torch.utils.tensorboard")
_tb.SummaryWriter = SummaryWriter
sys.modules["torch.utils.tensorboard"] = _tb
