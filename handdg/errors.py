"""The one exception type for user mistakes: the CLI prints its message on one line and exits 2."""


class HanddgError(Exception):
    """A user mistake (missing file, wrong layout, bad option, mismatched store).

    The message names the thing and says what to do; library callers may catch it,
    the CLI turns it into one line on stderr and exit status 2. Bugs raise anything else.
    """


def one_line(exc: HanddgError) -> str:
    """The message of `exc` on one line.

    A DataLoader worker re-raises a HanddgError with the worker's traceback in its message; the
    original message is that traceback's last line, after the exception's name.
    """
    text = str(exc).strip()
    if "\n" not in text:
        return text
    last = text.splitlines()[-1]
    name, sep, message = last.partition(": ")
    return message if sep and name.rsplit(".", 1)[-1] in {type(exc).__name__, "HanddgError"} else last


def describe_os_error(exc: OSError) -> str:
    """One line for a failed read or write: what the system said, on which path, and what to check."""
    import errno

    path = exc.filename if exc.filename is not None else "a file"
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        advice = "free some space and run the command again (finished parts are kept)"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "choose a folder you may write to"
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        advice = "a file or folder is in the way; choose another path"
    else:
        advice = "check the path and the disk"
    return f"cannot use {path}: {reason} ({advice})"
