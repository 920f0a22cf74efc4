"""`python -m sim`: the command line, with Ctrl-C during start-up one line, not a traceback
(the entry point `baclofen-sim` does the same)."""

from sim.entry import main

main()
