"""Children that die with the process that started them (Linux ``PR_SET_PDEATHSIG``).

A supervisor that is SIGKILLed (OOM killer, ``kill -9`` of a Celery worker, a lost pod) runs no
cleanup, so its child would train on, unsupervised, until its next write to the closed pipe, and a
resumed run could start a second child on the same output folder. With the parent-death signal the
kernel sends the child SIGTERM the moment its parent dies; the child's SIGTERM handler ends it
resumable, as for any other stop.

Use: ``subprocess.Popen(..., env=child_env(), preexec_fn=die_with_parent())``. Elsewhere than Linux it returns None
(no preexec) and the old behaviour stays: the child notices at its next write.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

from django.conf import settings

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# The ml children must not inherit the web stack's configuration: database URLs and secrets stay here.
WITHHELD_ENV_PREFIXES = ("DJANGO_", "DATABASE_", "CELERY_", "REDIS_", "LOOP_")


def child_env() -> dict[str, str]:
    """The environment of an ``ml`` child: ours without our configuration, offline, unbuffered."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(WITHHELD_ENV_PREFIXES)}
    commit = str(getattr(settings, "GIT_COMMIT", "") or "")
    if commit:
        env["LOOP_CODE_VERSION"] = commit  # read by ml.manifest.code_version
    env.update(PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    return env


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel send ``sig`` to the child when this process dies.

    Everything is looked up here, in the parent: between fork and exec the child may only call what
    is already loaded (no imports, no locks another thread could hold).

    Two subtleties, both handled or documented:
    - the signal fires when the *thread* that forked exits, not the process. Call Popen from the
      thread that waits for the child (the supervisor does: it forks and waits in one call);
    - a parent that dies between fork and prctl never triggers it, so the child compares its parent
      id with the one captured here and stops itself if it has already been orphaned.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def preexec() -> None:
        if prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return preexec
