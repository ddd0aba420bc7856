"""User-facing errors: one line saying what is wrong and how to fix it."""


class PrunebenchError(Exception):
    """A problem with the user's input (config, data, score file, name).

    The CLI prints ``error: <message>`` and exits with status 2, without a traceback,
    so the message must name the fix.
    """
