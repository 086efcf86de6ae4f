import sys


def main(argv=None):
    print("metflow: CLI under construction", file=sys.stderr)
    return 1
