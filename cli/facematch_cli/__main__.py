"""``python -m facematch_cli``: the same as the ``facematch`` command."""

from facematch_cli.main import main

main()
