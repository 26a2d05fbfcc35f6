"""Progress bars for long spectral computations (tqdm on stderr, only on a terminal)."""

import sys


class _NoBar:
    def update(self, n=1):
        pass

    def set_postfix_str(self, s):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def progress_bar(total, desc, progress=True):
    """A tqdm bar on stderr, or a no-op when ``progress`` is false or stderr is not a TTY."""
    if not progress or not getattr(sys.stderr, "isatty", lambda: False)():
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is optional
        return _NoBar()
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True)
