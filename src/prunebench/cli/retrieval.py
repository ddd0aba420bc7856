"""``retrieval``: the dense-retrieval task's commands (``gate``: the zero-shot MTEB reproduction gate;
``finetune``: one fine-tuning run of all-MiniLM-L6-v2 on SciFact train, NDCG@10 before and after;
``arms``: the arms table and quality-versus-steps figure of a retrieval sweep)."""

from __future__ import annotations

import json

from prunebench.provenance import REPO_ROOT

GATE_PATH = REPO_ROOT / "results" / "retrieval" / "zero_shot_gate.json"


def register(subparsers) -> None:
    parser = subparsers.add_parser("retrieval", help="dense-retrieval task (OPERA): zero-shot gate, fine-tuning runs")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    gate = actions.add_parser("gate", help="zero-shot all-MiniLM-L6-v2 on SciFact test vs the published MTEB values")
    gate.add_argument("--out", default=str(GATE_PATH), help="where to write the gate JSON")
    gate.add_argument("--data-path", default=None, help="scifact.zip (default: $PRUNEBENCH_DATA/scifact/scifact.zip)")
    gate.add_argument("--model-dir", default=None, help="encoder folder (default: $PRUNEBENCH_MINILM_DIR or the wheel)")
    gate.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    gate.add_argument("--batch-size", type=int, default=32)
    gate.add_argument("--device", default="cpu")
    gate.add_argument("--save-embeddings", default=None, help="also save the embeddings (.npz) here")
    gate.set_defaults(func=run_gate_cmd)

    tune = actions.add_parser("finetune", help="fine-tune on SciFact train and report NDCG@10 before/after "
                                               "(a smoke measurement at CPU scale)")
    tune.add_argument("--steps", type=int, default=50)
    tune.add_argument("--batch-size", type=int, default=16)
    tune.add_argument("--lr", type=float, default=2e-5)
    tune.add_argument("--temperature", type=float, default=0.05)
    tune.add_argument("--sampler", default="basic", help="basic | rs2 | opera")
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--max-seq-length", type=int, default=256)
    tune.add_argument("--corpus-docs", type=int, default=0,
                      help="restrict the corpus to the judged documents plus random others up to this many (0 = full)")
    tune.add_argument("--no-hard-negatives", action="store_true")
    tune.add_argument("--threads", type=int, default=None)
    tune.add_argument("--out", default=None, help="write the record as JSON here")
    tune.set_defaults(func=run_finetune_cmd)

    from prunebench.tasks.retrieval.budgets import add_budget_parsers

    add_budget_parsers(actions, prefix="budgets-")  # sweep.step_budgets: budgets-point / -aggregate / -compare

    arms = actions.add_parser("arms", help="the arms table and the NDCG@10-vs-steps figure of a retrieval sweep "
                                           "(prunebench.figures.retrieval)")
    arms.add_argument("--sweep", required=True, help="sweep table (results/<name>/sweep.parquet)")
    arms.add_argument("--name", default="", help="scale name (titles)")
    arms.add_argument("--csv", required=True, help="output arms table (CSV)")
    arms.add_argument("--json", required=True, help="output arms table (JSON records)")
    arms.add_argument("--figure", required=True, help="output PNG (NDCG@10 versus steps)")
    arms.set_defaults(func=run_arms_cmd)


def run_arms_cmd(args) -> int:
    from prunebench.figures.retrieval import write_arms

    table = write_arms(args.sweep, args.csv, args.json, args.figure, name=args.name)
    with __import__("pandas").option_context("display.width", 200, "display.max_columns", 20):
        print(table[["arm", "n_seeds", "ndcg_at_10", "ndcg_at_10_se", "recall_at_20", "query_coverage",
                     "train_wall_time_s", "steps_to_match_no_pruning"]].to_string(index=False))
    return 0


def run_gate_cmd(args) -> int:
    from prunebench.tasks.retrieval.gate import run_gate, write_gate

    data_cfg = {"path": args.data_path} if args.data_path else {}
    train_cfg = {"model_dir": args.model_dir} if args.model_dir else {}
    record = run_gate(data_cfg, train_cfg, threads=args.threads, batch_size=args.batch_size, device=args.device,
                      save_embeddings=args.save_embeddings)
    path = write_gate(record, args.out)
    for name, check in record["checks"].items():
        print(f"{name}: measured {check['measured']:.4f} ± {check['se']:.4f} (published {check['published']:.3f}) "
              f"{'pass' if check['pass'] else 'FAIL'}")
    print(f"gate {'passed' if record['pass'] else 'FAILED'} in {record['seconds']['total']:.0f} s; wrote {path}")
    return 0 if record["pass"] else 1


def run_finetune_cmd(args) -> int:
    from prunebench.tasks.retrieval.smoke import finetune_smoke

    record = finetune_smoke(steps=args.steps, batch_size=args.batch_size, lr=args.lr, temperature=args.temperature,
                            sampler=args.sampler, seed=args.seed, max_seq_length=args.max_seq_length,
                            corpus_docs=args.corpus_docs, hard_negatives=not args.no_hard_negatives,
                            threads=args.threads)
    text = json.dumps(record, indent=1, sort_keys=True)
    if args.out:
        from pathlib import Path

        Path(args.out).write_text(text + "\n")
    print(text)
    return 0
