#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Build small but real Python wheels standing in for the Ascend Python stack.

Each wheel installs a tiny importable package plus a proper .dist-info
(METADATA, WHEEL, top_level.txt, RECORD with sha256 hashes), so
`pip install --no-index --no-deps FILE.whl` accepts it.  The torch stand-in
has just enough tensor code for the usual verification one-liner
(`torch.randn(3, 4).npu()` after `import torch_npu`); torch_npu reports the
simulated NPUs of the node (control directory FLEET_SIM_CTL, default
/var/lib/fleet-sim) and refuses to import without the CANN environment
(ASCEND_TOOLKIT_HOME from set_env.sh, checked under FLEET_SIM_ROOT).

Usage: mkwheel.py --out DIR [--py cp311] SPEC...
  SPEC is NAME:VERSION[:ARCH], ARCH x86_64 or aarch64 (default: pure wheel).
  Names with special content: torch, torch_npu, apex, te, hccl; any other
  name gives a package with just __version__.
The path of every wheel built is printed, one per line.  Output is
byte-for-byte reproducible (fixed timestamps).
"""

import argparse
import base64
import hashlib
import io
import os
import sys
import zipfile

TORCH_INIT = '''"""Simulated torch (ascend-fleet test rack)."""
import random as _random

__version__ = "{version}"


class Tensor:
    def __init__(self, rows, device="cpu"):
        self._rows = rows
        self.device = device

    @property
    def shape(self):
        return (len(self._rows), len(self._rows[0]) if self._rows else 0)

    def size(self):
        return self.shape

    def cpu(self):
        return Tensor([list(r) for r in self._rows], "cpu")

    def __add__(self, other):
        if isinstance(other, Tensor):
            if other.device != self.device:
                raise RuntimeError("Expected all tensors to be on the same device")
            rows = [[a + b for a, b in zip(r, s)]
                    for r, s in zip(self._rows, other._rows)]
        else:
            rows = [[a + other for a in r] for r in self._rows]
        return Tensor(rows, self.device)

    def __repr__(self):
        body = ",\\n        ".join(
            "[" + ", ".join("%.4f" % v for v in r) + "]" for r in self._rows)
        if self.device == "cpu":
            return "tensor([%s])" % body
        return "tensor([%s], device='%s')" % (body, self.device)


def randn(*shape):
    if len(shape) == 1:
        shape = (1, shape[0])
    rows, cols = shape
    return Tensor([[_random.gauss(0.0, 1.0) for _ in range(cols)]
                   for _ in range(rows)])


def zeros(*shape):
    if len(shape) == 1:
        shape = (1, shape[0])
    rows, cols = shape
    return Tensor([[0.0] * cols for _ in range(rows)])
'''

TORCH_NPU_INIT = '''"""Simulated torch_npu (ascend-fleet test rack)."""
import os as _os

import torch as _torch

__version__ = "{version}"

_ROOT = _os.environ.get("FLEET_SIM_ROOT", "")
_CTL = _os.environ.get("FLEET_SIM_CTL", "/var/lib/fleet-sim")


def _base(v):
    v = v.split("+")[0]
    return v.split(".post")[0]


if _base(_torch.__version__) != _base(__version__):
    raise ImportError("torch_npu %s requires torch %s, found torch %s"
                      % (__version__, _base(__version__), _torch.__version__))

_home = _os.environ.get("ASCEND_TOOLKIT_HOME", "")
if not _home or not _os.path.isdir(_ROOT + _home):
    raise ImportError("libhccl.so: cannot open shared object file: No such "
                      "file or directory (source the CANN set_env.sh first)")


def _ctl(name, default):
    try:
        with open(_os.path.join(_CTL, name)) as f:
            v = f.readline().strip()
    except OSError:
        return default
    return v or default


class _Npu:
    @staticmethod
    def is_available():
        return _ctl("loaded-driver", "") != ""

    @staticmethod
    def device_count():
        if not _Npu.is_available():
            return 0
        try:
            return int(_ctl("npu-count", "8"))
        except ValueError:
            return 8


npu = _Npu()
_torch.npu = npu


def _to_npu(self, device=0):
    if not npu.is_available():
        raise RuntimeError("npu driver is not loaded (dcmi error -8005)")
    return _torch.Tensor([list(r) for r in self._rows], "npu:%d" % device)


_torch.Tensor.npu = _to_npu
'''

APEX_INIT = '''"""Simulated apex (ascend-fleet test rack)."""
__version__ = "{version}"
from . import amp  # noqa: E402,F401
'''

APEX_AMP = '''"""Simulated apex.amp (ascend-fleet test rack)."""


def initialize(model, optimizer=None, opt_level="O1", **kwargs):
    return (model, optimizer) if optimizer is not None else model
'''

PLAIN_INIT = '''"""Simulated {name} (ascend-fleet test rack)."""
__version__ = "{version}"
'''

FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def tags_for(name, version, arch, py):
    """Return (wheel version, list of tags, pure flag)."""
    if not arch:
        return version, ["py3-none-any"], True
    if name == "torch" and arch == "x86_64" and "+" not in version:
        version += "+cpu"
    if arch == "x86_64" and name in ("torch", "apex"):
        plats = ["linux_x86_64"]
    elif name == "apex":
        plats = ["linux_" + arch]
    else:
        plats = ["manylinux_2_17_" + arch, "manylinux2014_" + arch]
    return version, ["%s-%s-%s" % (py, py, p) for p in plats], False


def files_for(name, version):
    if name == "torch":
        return {"torch/__init__.py": TORCH_INIT.format(version=version)}
    if name == "torch_npu":
        return {"torch_npu/__init__.py": TORCH_NPU_INIT.format(version=version)}
    if name == "apex":
        return {"apex/__init__.py": APEX_INIT.format(version=version),
                "apex/amp.py": APEX_AMP}
    return {name + "/__init__.py": PLAIN_INIT.format(name=name, version=version)}


def record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def build(out, name, version, arch, py):
    if arch not in (None, "x86_64", "aarch64"):
        raise ValueError("unknown arch %r" % arch)
    wversion, tags, pure = tags_for(name, version, arch, py)
    # A tag set like a.b-c.d compresses to one filename tag per position.
    parts = [t.split("-") for t in tags]
    ftag = "-".join(".".join(dict.fromkeys(p[i] for p in parts))
                    for i in range(3))
    fname = "%s-%s-%s.whl" % (name, wversion, ftag)
    distinfo = "%s-%s.dist-info" % (name, wversion)
    files = files_for(name, wversion)
    files[distinfo + "/METADATA"] = (
        "Metadata-Version: 2.1\n"
        "Name: %s\n"
        "Version: %s\n"
        "Summary: Simulated %s for the ascend-fleet test rack\n"
        "License: MIT\n" % (name, wversion, name))
    files[distinfo + "/WHEEL"] = (
        "Wheel-Version: 1.0\n"
        "Generator: fleet-sim-mkwheel (1.0)\n"
        "Root-Is-Purelib: %s\n" % ("true" if pure else "false")
        + "".join("Tag: %s\n" % t for t in tags))
    files[distinfo + "/top_level.txt"] = name + "\n"
    record = io.StringIO()
    path = os.path.join(out, fname)
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for arc, text in files.items():
            data = text.encode()
            info = zipfile.ZipInfo(arc, FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
            record.write("%s,%s,%d\n" % (arc, record_hash(data), len(data)))
        record.write("%s/RECORD,,\n" % distinfo)
        info = zipfile.ZipInfo(distinfo + "/RECORD", FIXED_TIME)
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, record.getvalue().encode())
    os.replace(tmp, path)
    return path


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--py", default="cp311", help="CPython tag (cp311)")
    ap.add_argument("specs", nargs="+", metavar="NAME:VERSION[:ARCH]")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for spec in args.specs:
        f = spec.split(":")
        if len(f) not in (2, 3) or not f[0] or not f[1]:
            ap.error("bad spec %r (want NAME:VERSION[:ARCH])" % spec)
        try:
            print(build(args.out, f[0], f[1], f[2] if len(f) == 3 else None,
                        args.py))
        except ValueError as exc:
            ap.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
