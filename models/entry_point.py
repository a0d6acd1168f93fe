"""The ``rnn-forecast`` console script.

``main`` imports the command line only inside its ``try``. Python takes 0.3
to 0.5 s on a 2-core machine to import the command's modules, pydantic and
numpy among them. A Ctrl-C in that time ends the command as a later Ctrl-C
does: one line on stderr and status 130, not a traceback. A SIGTERM or
SIGHUP there ends it the same way with status 143 or 129, because ``main``
installs their handlers (``models.interrupts``) before those imports.

The handler covers everything after the console script has imported this
module: on that machine, from 25 to 30 ms after the exec, measured by
sending SIGINT at fixed delays. A Ctrl-C before that, while the interpreter
starts, still prints a fatal error or ends the process by the signal.
"""

from __future__ import annotations

import sys

from models.interrupts import install_stop_handlers, stop_status, stop_word


def main() -> int:
    """Run ``rnn-forecast`` with the arguments of ``sys.argv``; return its
    exit status."""
    install_stop_handlers()
    try:
        from models import cli

        return cli.main()
    except KeyboardInterrupt as stop:
        print(f"error: {stop_word(stop)}", file=sys.stderr)
        return stop_status(stop)
