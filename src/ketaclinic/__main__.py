"""Allow `python -m ketaclinic`."""

from ketaclinic.cli import main

main()
