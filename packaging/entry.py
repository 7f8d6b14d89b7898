"""Entry point of the frozen application (PyInstaller runs this as ``__main__``)."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # worker processes re-enter the executable
    from ultrasound_reader.cli import main

    sys.exit(main())
