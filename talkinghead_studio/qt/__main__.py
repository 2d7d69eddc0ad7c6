"""``python -m talkinghead_studio.qt [PORTRAIT [DRIVER]] [--model M]`` opens the studio."""
import sys

from talkinghead_studio.qt.app import main

sys.exit(main())
