import sys

from ultrasound_reader.cli import main

sys.exit(main())
