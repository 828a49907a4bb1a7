"""`python -m thresher.cli`: the `thresher` command."""

from thresher.cli import main

main(prog_name="thresher")
