"""pytest plugin for hallsim (entry point `pytest11: hallsim`): collects scenario files and provides fixtures.

Kept import-light: pytest loads it in every run of the project's venv."""

from __future__ import annotations
