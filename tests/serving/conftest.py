"""Registers server_fixtures.py as the module `spire_server_fixtures`, once, so the server
tests (run with --import-mode=importlib, where test folders are not packages) share one
encoded index per session: `import spire_server_fixtures as fx`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if "spire_server_fixtures" not in sys.modules:
    _spec = importlib.util.spec_from_file_location(
        "spire_server_fixtures", Path(__file__).with_name("server_fixtures.py")
    )
    sys.modules["spire_server_fixtures"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["spire_server_fixtures"])
