"""Writing files whole or not at all."""
import os
import tempfile
from pathlib import Path


def check_output_path(path, who="write"):
    """A path we can write a file to: its folder exists, and it is not itself a folder."""
    if not isinstance(path, (str, os.PathLike)) or not str(path) or "\0" in str(path):
        raise TypeError(f"{who}: the path must be a non-empty file name; got {path!r}")
    path = Path(path)
    try:
        is_dir, parent_exists, parent_is_dir = path.is_dir(), path.parent.exists(), path.parent.is_dir()
    except OSError as e:                       # e.g. a name too long for the file system
        raise type(e)(e.errno, f"{who}: cannot write {str(path)!r}: {e.strerror}") from None
    if is_dir:
        raise IsADirectoryError(f"{who}: {str(path)!r} is a folder; give a file name inside it")
    if parent_exists and not parent_is_dir:
        raise NotADirectoryError(f"{who}: {str(path.parent)!r} is a file, not a folder")
    if not parent_is_dir:
        raise FileNotFoundError(f"{who}: the folder {str(path.parent)!r} does not exist")
    return path


def write_atomically(path, data):
    """Write `data` (bytes or str) to a temporary file beside `path`, then move it into place:
    a failure never leaves a half-written file, nor destroys one that was there."""
    path = check_output_path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:100]}.", suffix=".tmp")
    except OSError as e:
        raise type(e)(e.errno, f"cannot write {str(path)!r}: {e.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)      # mkstemp makes it private; an output file is not
        os.replace(temporary, path)
    except BaseException as e:
        if os.path.exists(temporary):
            os.unlink(temporary)
        if isinstance(e, OSError) and e.errno is not None:       # say it of the file the user named
            raise type(e)(e.errno, f"cannot write {str(path)!r}: {e.strerror}") from None
        raise
    return path
