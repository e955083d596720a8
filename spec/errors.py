"""The errors a user can cause, as distinct from bugs.

A :class:`TritforgeError` is a *domain* error: a bad parameter, a missing or malformed file,
a tool that is not installed or that failed. The command line prints its message as one
line (``error: ...``) and exits with status 2; any other exception is a bug and keeps its
traceback. The parameter errors are also ``ValueError`` / ``TypeError``, so code that
catches those keeps working.
"""

__all__ = ["TritforgeError", "ParameterError", "ParameterTypeError", "check_integer"]


class TritforgeError(Exception):
    """Bad input or a failed tool: reported to the user as one line, never as a traceback."""


class ParameterError(TritforgeError, ValueError):
    """A parameter out of range; the message names it, the rule and the value."""


class ParameterTypeError(TritforgeError, TypeError):
    """A parameter of the wrong kind; the message names it and the value."""


def check_integer(name, value, minimum, maximum=None):
    """``value`` if it is an integer in range, else a parameter error naming ``name``.

    Raises
    ------
    ParameterTypeError
        If ``value`` is not an :class:`int` (a :class:`bool` is not accepted).
    ParameterError
        If ``value`` is below ``minimum`` or above ``maximum``.
    """
    rule = f"an integer >= {minimum}" if maximum is None else f"an integer in {minimum}..{maximum}"
    if not isinstance(value, int) or isinstance(value, bool):
        raise ParameterTypeError(f"{name} must be {rule}, not {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ParameterError(f"{name} must be {rule}, not {value!r}")
    return value
