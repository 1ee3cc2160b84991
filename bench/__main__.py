"""``python -m bench``: the whole benchmark run."""

from bench.run import main

if __name__ == "__main__":
    main()
