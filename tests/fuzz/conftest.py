"""Bounded fuzzing (issue 12 item 7): every harness here gives each parser random and hostile input and
accepts only two outcomes, a result or a KdumplabError whose message is one line. Anything else (a
traceback, a hang, a MemoryError) fails. Small example counts keep the whole directory to a few seconds of
the default run; ``KDUMPLAB_FUZZ_EXAMPLES=5000 pytest tests/fuzz`` digs deeper."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("fuzz", max_examples=int(os.environ.get("KDUMPLAB_FUZZ_EXAMPLES", "40")), deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                 HealthCheck.data_too_large])
