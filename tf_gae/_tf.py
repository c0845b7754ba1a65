"""Import TensorFlow once, without its start-up log noise on the console.

TensorFlow 2.21 writes several lines to the C-level stderr when it is first imported (oneDNN notices,
"could not find cuda drivers", absl's pre-initialisation warning). They are not errors and they bury
what the command and the chapters print for the reader, so the first import of TensorFlow through this
module sends file descriptor 2 to /dev/null for the duration of the import only. Python exceptions
are raised after stderr is restored, so a broken install still reports itself.

Set ``TF_GAE_TF_LOGS=1`` to see TensorFlow's own start-up messages.
"""

from __future__ import annotations

import os
import sys

__all__ = ["tf"]


def _import_tensorflow_quietly():
    if "tensorflow" in sys.modules or os.environ.get("TF_GAE_TF_LOGS") == "1":
        import tensorflow

        return tensorflow
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # also oneDNN's run-time "falling back" notices
    try:
        sys.stderr.flush()
        saved_fd = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded interpreters): import normally
        import tensorflow

        return tensorflow
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow

        tensorflow.config.list_physical_devices()  # device discovery logs its CUDA probing here, too
    finally:
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        os.close(devnull)
    return tensorflow


tf = _import_tensorflow_quietly()
