"""``python -m bench.chaos``: the chaos run (see ``bench/chaos/run.py``)."""

from bench.chaos.run import main

if __name__ == "__main__":
    main()
