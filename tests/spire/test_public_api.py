"""The lazy public API resolves every name it advertises, without importing torch early."""

from __future__ import annotations

import subprocess
import sys


def test_every_export_resolves():
    import spire

    for name in spire.__all__:
        assert getattr(spire, name) is not None


def test_import_spire_does_not_import_torch():
    code = "import sys, spire; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
