"""Writing a file through a temporary file and a rename, so that a failure or a stopped
run never leaves half a file where the old one (or none) was."""

import os
import tempfile


def write_atomically(path, content):
    """Writes `content` (str, as UTF-8, or bytes) to `path`: a temporary file beside it,
    then a rename. The file gets the permissions `open()` would give it (0666 less the
    umask; mkstemp's 0600 would hide a model or a result from other users)."""
    if not isinstance(content, (str, bytes)):
        raise TypeError(f"write_atomically writes str or bytes, got {type(content).__name__}")
    path = os.fspath(path)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                                         prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(content.encode("utf8") if isinstance(content, str) else content)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
