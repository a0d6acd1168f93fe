"""Exit statuses of the ``rnn-forecast`` command that a signal ends.

This module imports nothing, so the console script can use it before the
command's modules have imported.
"""

# exit status after the reader of stdout closed the pipe, as a shell
# reports a process that SIGPIPE ended (128 + 13)
SIGPIPE_STATUS = 141
# exit status after Ctrl-C (128 + SIGINT), as a shell reports it
SIGINT_STATUS = 130
# exit status after a SIGTERM that stopped the server before it had started,
# as a shell reports it (128 + SIGTERM)
SIGTERM_STATUS = 143
# exit status after a SIGHUP, such as from a closed terminal (128 + SIGHUP).
# A server that SIGHUP shut down exits with it too, even after it served.
SIGHUP_STATUS = 129
