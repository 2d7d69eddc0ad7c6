"""`python -m talkinghead_studio` behaves like the `talkinghead-studio` command."""
import sys

from talkinghead_studio.cli import main

if __name__ == "__main__":
    sys.exit(main())
