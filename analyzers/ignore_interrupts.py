"""The report fork server's first import (``analyzers.render_pool``): Ctrl-C in a terminal
reaches every process of the command's group, and the server and its workers printed a
traceback of whatever they were importing. The command itself handles the interrupt (it
says ``interrupted``, exits 130 and its pool ends the workers), so they ignore it. Nothing
else imports this module."""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
