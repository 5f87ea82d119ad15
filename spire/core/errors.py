"""The one exception type that means "the user's input is wrong" (exit code 2)."""


class SpireError(Exception):
    """Bad input: a missing file, a malformed line, an unknown model, a corrupt index.

    The message is one line that names the file, line or field at fault. The CLI
    prints it without a traceback and exits with status 2.
    """


class ArgumentError(SpireError, ValueError):
    """A public API argument of the wrong type or value; the message starts with the
    argument's name. A ValueError too, so callers that catch ValueError still do."""
