"""``python -m fastgrad info`` and ``python -m fastgrad demo``."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastgrad")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="version, build flags, BLAS and threads")
    demo = sub.add_parser("demo", help="the lecture graph, gradcheck, and a training run")
    demo.add_argument("--epochs", type=int, default=None, help="training epochs")
    args = parser.parse_args(argv)
    if args.command == "info":
        from fastgrad.info import print_info
        print_info()
    else:
        from fastgrad.demo import run
        run(epochs=args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
