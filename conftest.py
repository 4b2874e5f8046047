"""Repository-level pytest configuration.

The trtperf plugin itself is registered through the ``pytest11`` entry point (pyproject.toml), so
``pytest suites`` needs nothing here. pytester must be enabled at the root (pytest refuses
``pytest_plugins`` in nested conftest files); it only adds the fixture used by tests/plugin.
"""

from __future__ import annotations

pytest_plugins = ("pytester",)
