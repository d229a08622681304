"""``python -m nuclassify`` runs the command-line interface."""

from nuclassify.cli.main import main

if __name__ == "__main__":
    main()
