"""Writing files whole or not at all."""
import os
import tempfile
from pathlib import Path


def check_output_path(path, who="write"):
    """A path we can write a file to: its folder exists, and it is not itself a folder."""
    if not isinstance(path, (str, os.PathLike)) or not str(path) or "\0" in str(path):
        raise TypeError(f"{who}: the path must be a non-empty file name; got {path!r}")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{who}: {str(path)!r} is a folder; give a file name inside it")
    if path.parent.exists() and not path.parent.is_dir():
        raise NotADirectoryError(f"{who}: {str(path.parent)!r} is a file, not a folder")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{who}: the folder {str(path.parent)!r} does not exist")
    return path


def write_atomically(path, data):
    """Write `data` (bytes or str) to a temporary file beside `path`, then move it into place:
    a failure never leaves a half-written file, nor destroys one that was there."""
    path = check_output_path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)      # mkstemp makes it private; an output file is not
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path
