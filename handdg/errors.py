"""The one exception type for user mistakes: the CLI prints its message on one line and exits 2."""


class HanddgError(Exception):
    """A user mistake (missing file, wrong layout, bad option, mismatched store).

    The message names the thing and says what to do; library callers may catch it,
    the CLI turns it into one line on stderr and exit status 2. Bugs raise anything else.
    """
