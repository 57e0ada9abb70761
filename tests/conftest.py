"""What every test area shares: the pytester fixture (the plugin and command tests run pytest inside pytest).
The hallsim fixtures (`hall_emulator`, `run_workflow`, ...) come from hallsim's own pytest plugin."""

from __future__ import annotations

pytest_plugins = ["pytester"]
