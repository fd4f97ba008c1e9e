"""The experiment, end to end: corpus slice -> CPT -> measurements of every system -> a report folder.

    python -m train.experiment experiments/smollm2-dynamodb-smoke.toml [--out DIR]

Writes `report.md`, `report.json` and PNG plots to the report folder (default
runs/experiments/<name>). Every finished step is cached there, so running the same command again
skips what is done and an interrupted run continues. Progress bars go to stderr; the last line on
stdout is one JSON object (report folder, steps run and skipped, the headline table).
"""
from __future__ import annotations

import argparse
import json
import sys

from iacdemo.errors import IacdemoError
from iacdemo.experiment.config import load_config
from iacdemo.experiment.pipeline import run_experiment


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train.experiment", description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="experiment TOML file (see experiments/)")
    parser.add_argument("--out", default=None, metavar="DIR", help="report folder (overrides the config's)")
    return parser.parse_args(argv)


class Bars:
    """One tqdm bar per progress label (training, each generation step, perplexity, ...)."""

    def __init__(self):
        self.bars: dict = {}

    def __call__(self, label: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self.bars.get(label)
        if bar is None:
            bar = self.bars[label] = tqdm(total=max(total, 1), desc=label, file=sys.stderr, dynamic_ncols=True,
                                          leave=True)
        done = min(done, total or bar.total)
        if bar.n == done and (not total or bar.total == total):
            return  # nothing new: a redraw per poll would fill a log file with identical lines
        if total:
            bar.total = total
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bars = Bars()
    try:
        config = load_config(args.config)
        if args.out:
            config.out = args.out
        result = run_experiment(config, progress=bars, log=lambda m: print(m, file=sys.stderr, flush=True))
    except IacdemoError as exc:
        bars.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        bars.close()
        print("Interrupted: finished steps and answers are cached; run the same command to continue.",
              file=sys.stderr)
        return 130
    bars.close()
    print(json.dumps({"report_dir": str(result.report_dir), "ran": result.ran, "skipped": result.skipped,
                      "table": result.report["table"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
