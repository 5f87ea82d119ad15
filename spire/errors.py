"""The one exception type that means "the user's input is wrong" (exit code 2)."""


class SpireError(Exception):
    """Bad input: a missing file, a malformed line, an unknown model, a corrupt index.

    The message is one line that names the file, line or field at fault. The CLI
    prints it without a traceback and exits with status 2.
    """
