"""pytest configuration shared by the test modules.

Hypothesis profiles, chosen once for the whole run:

- ``ci`` (when the environment variable ``CI`` is set, as .ci/run does): fixed
  seed (``derandomize=True``), no example database, no deadline, so that a CI
  run is reproducible on a loaded 2-core machine;
- ``dev`` (otherwise): random seeds and the local example database (failures
  replay on the next run), no deadline.

Tests that pass ``@settings(...)`` override single fields of the active profile.
tests/test_fuzz.py chooses its own profile (``SIGPROP_FUZZ_PROFILE``) when it is
imported; that choice applies to its own tests only: the profile below is
restored after each module is collected.
"""

from __future__ import annotations

import os

import pytest

try:
    from hypothesis import settings
except ImportError:  # hypothesis is a test extra; the modules that need it skip
    settings = None

HYPOTHESIS_PROFILE = "ci" if os.environ.get("CI") else "dev"
PROFILES = {
    "ci": {"derandomize": True, "database": None, "deadline": None, "print_blob": True},
    "dev": {"deadline": None, "print_blob": True},
}


def use_hypothesis_profile() -> None:
    """Register (again: test_fuzz.py registers a "ci" of its own) and load the run's profile.

    The profiles derive from hypothesis' "default" profile, not from whatever
    profile is loaded at the time.
    """
    if settings is not None:
        for name, kwargs in PROFILES.items():
            settings.register_profile(name, parent=settings.get_profile("default"), **kwargs)
        settings.load_profile(HYPOTHESIS_PROFILE)


use_hypothesis_profile()


def pytest_report_header(config):
    return f"hypothesis profile: {HYPOTHESIS_PROFILE}" if settings is not None else None


@pytest.hookimpl(trylast=True)
def pytest_collectreport(report):
    # A module that loads a profile at import (test_fuzz.py) has applied it to its
    # own tests by now (hypothesis resolves settings when it decorates a test);
    # the next modules get the run's profile again.
    use_hypothesis_profile()
