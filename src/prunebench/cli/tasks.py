"""``tasks list``: the registered tasks, the per-example outputs each records and its evaluation metric."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    parser = subparsers.add_parser("tasks", help="list the registered tasks (prunebench.tasks)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="one line per task: name, outputs, evaluation metric and direction")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=run_list)


def run_list(args) -> int:
    from prunebench.tasks import get_task, list_tasks

    for name in list_tasks():
        info = get_task(name).describe()
        if args.json:
            print(json.dumps(info, sort_keys=True))
            continue
        direction = "higher is better" if info["higher_is_better"] else "lower is better"
        print(f"{name}: {info['summary']} | eval {info['eval_metric']} ({direction}) | "
              f"outputs {', '.join(info['outputs'])}")
    return 0
