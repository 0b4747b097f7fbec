#!/usr/bin/python3
"""Check that PyTorch can read makemore's safetensors files, and write the layout fixture.

Debian's python here has torch 1.13 but not the `safetensors` package (and PyPI is out of reach),
so this script reads and writes the format by hand with struct + json + torch.frombuffer,
following the format's README and the reference Rust implementation:

  * 8-byte little-endian u64 header length N, then N bytes of UTF-8 JSON, then the data;
  * the JSON is compact, "__metadata__" (str -> str) first, then the tensors sorted by name
    (the reference sorts by dtype, then name; we only write F32), each as
    {"dtype", "shape", "data_offsets": [begin, end]} with offsets relative to the data section;
  * the header is padded with spaces to a multiple of 8 bytes;
  * the data section is exactly covered by the tensors, in order, without holes.

If the `safetensors` package is importable, `check` also loads the file with
`safetensors.torch.load_file` and compares.

Usage:

    /usr/bin/python3 scripts/torch/check_safetensors.py write-fixture fixtures/safetensors-tiny.safetensors
    /usr/bin/python3 scripts/torch/check_safetensors.py check FILE.safetensors [EXPECTED.json]

`check` prints {"metadata": {...}, "tensors": {name: {"shape": [...], "values": [...]}}} as JSON;
with EXPECTED.json (same form, e.g. written by the TypeScript side; values may be the strings
"nan", "inf", "-inf", "-0") it compares bit patterns and exits 1 on any mismatch.
"""

import json
import struct
import sys

import torch

DTYPES = {"F32": (torch.float32, 4)}


def encode(tensors, metadata=None):
    """The reference layout for float32 tensors: {name: torch.Tensor}."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = {k: metadata[k] for k in sorted(metadata)}
    offset = 0
    chunks = []
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        raw = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        chunks.append(raw)
    hb = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    return struct.pack("<Q", len(hb)) + hb + b"".join(chunks)


def decode(data):
    """Parse and validate; returns (metadata, {name: tensor})."""
    assert len(data) >= 8, "shorter than 8 bytes"
    (n,) = struct.unpack("<Q", data[:8])
    assert 8 + n <= len(data), "header length past end of file"
    text = data[8 : 8 + n].decode("utf-8")
    assert text.startswith("{"), "header must start with '{'"
    assert n % 8 == 0, "header not padded to 8 bytes"
    header = json.loads(text)
    metadata = header.pop("__metadata__", {})
    body = data[8 + n :]
    spans = sorted((info["data_offsets"][0], info["data_offsets"][1], name) for name, info in header.items())
    pos = 0
    for begin, end, name in spans:
        assert begin == pos, f"{name}: data not contiguous ({begin} != {pos})"
        pos = end
    assert pos == len(body), "data section not fully covered"
    tensors = {}
    for name, info in header.items():
        dtype, size = DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        numel = 1
        for d in info["shape"]:
            numel *= d
        assert end - begin == numel * size, f"{name}: size mismatch"
        chunk = bytearray(body[begin:end])  # frombuffer wants a writable buffer; empty is special
        t = torch.frombuffer(chunk, dtype=dtype) if numel > 0 else torch.zeros(0, dtype=dtype)
        tensors[name] = t.reshape(info["shape"]).clone()
    return metadata, tensors


def as_json(metadata, tensors):
    return {
        "metadata": metadata,
        "tensors": {k: {"shape": list(v.shape), "values": v.flatten().tolist()} for k, v in sorted(tensors.items())},
    }


def to_float(x):
    """JSON value -> float; non-finite values and -0 are spelled "nan", "inf", "-inf", "-0"."""
    return float(x) if isinstance(x, str) else x


def bits(t):
    return t.contiguous().view(torch.int32)


def tiny_example():
    """The fixture's tensors: a matrix, a vector, an empty tensor, a scalar and a non-ASCII name."""
    return (
        {
            "W": torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.25 - 0.5,
            "b": torch.tensor([1.5, -2.0, 3.0e-8], dtype=torch.float32),
            "empty": torch.zeros(0, 3, dtype=torch.float32),
            "scalar": torch.tensor(-7.0, dtype=torch.float32),
            "zo\u00eb": torch.tensor([[1.0 / 3.0]], dtype=torch.float32),
        },
        {"format": "pt", "note": "makemore.ts layout fixture"},
    )


def main(argv):
    if len(argv) == 3 and argv[1] == "write-fixture":
        tensors, metadata = tiny_example()
        data = encode(tensors, metadata)
        meta2, back = decode(data)
        assert meta2 == metadata and all(torch.equal(back[k], v) for k, v in tensors.items())
        with open(argv[2], "wb") as f:
            f.write(data)
        print(f"wrote {argv[2]} ({len(data)} bytes)")
        return 0
    if len(argv) in (3, 4) and argv[1] == "check":
        with open(argv[2], "rb") as f:
            data = f.read()
        metadata, tensors = decode(data)
        try:
            from safetensors.torch import load_file  # optional; not installed on this machine

            ref = load_file(argv[2])
            assert sorted(ref) == sorted(tensors)
            assert all(torch.equal(ref[k], tensors[k]) for k in ref)
            print("safetensors.torch.load_file agrees", file=sys.stderr)
        except ImportError:
            print("(safetensors package not installed; checked with the manual reader only)", file=sys.stderr)
        out = as_json(metadata, tensors)
        print(json.dumps(out))
        if len(argv) == 4:
            with open(argv[3]) as f:
                expected = json.load(f)
            ok = expected["metadata"] == out["metadata"] and sorted(expected["tensors"]) == sorted(out["tensors"])
            for k, e in expected["tensors"].items():
                got = tensors.get(k)
                want = torch.tensor([to_float(x) for x in e["values"]], dtype=torch.float32).reshape(e["shape"])
                # compare bit patterns, so NaN, infinities and -0 must match exactly
                if got is None or list(got.shape) != e["shape"] or not torch.equal(bits(got), bits(want)):
                    print(f"MISMATCH in tensor {k!r}", file=sys.stderr)
                    ok = False
            print("match" if ok else "MISMATCH", file=sys.stderr)
            return 0 if ok else 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
