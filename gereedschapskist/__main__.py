"""``python -m gereedschapskist …``: the operator CLI, as the console script ``gereedschapskist`` runs it."""

from gereedschapskist.cli import main

if __name__ == "__main__":
    main()
