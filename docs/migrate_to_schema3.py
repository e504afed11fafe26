"""Bring run records of schema 2 to schema 3, in place: `python docs/migrate_to_schema3.py [FOLDER ...]`
(default: figures/runs, every record under it; your own: runs).

Schema 3 names what a record measures by what it is: the accuracy and loss of each epoch on the
split the record was evaluated on (`evaluated_on`: test or validation) are `eval_acc` and
`eval_loss`, no longer `test_acc` and `test_loss` (which held validation accuracy in validation
runs); the headline and the best epoch are `final_acc` and `best_acc`, in the record and in each
teacher member it names. Nothing else changes: same keys in the same order, same numbers, written as
mnistlib writes records. Files of another schema are left as they are.
"""
import json
import sys
from pathlib import Path

RENAMED = {"test_loss": "eval_loss", "test_acc": "eval_acc", "final_test_acc": "final_acc", "best_test_acc": "best_acc"}


def renamed(d: dict) -> dict:
    return {RENAMED.get(k, k): v for k, v in d.items()}


def migrate(path: Path) -> bool:
    record = json.loads(path.read_text())
    if not isinstance(record, dict) or record.get("schema") != 2:
        return False
    record = {**renamed(record), "schema": 3}
    record["history"] = [renamed(h) for h in record["history"]]
    if "teacher" in record:
        record["teacher"] = [renamed(m) for m in record["teacher"]]
    path.write_text(json.dumps(record, indent=1, allow_nan=False) + "\n")
    return True


if __name__ == "__main__":
    folders = [Path(f) for f in sys.argv[1:]] or [Path(__file__).resolve().parent.parent / "figures" / "runs"]
    paths = sorted(p for folder in folders for pattern in ("*.json", "*.partial") for p in folder.rglob(pattern))
    done = [p for p in paths if migrate(p)]
    print(f"{len(done)} of {len(paths)} files brought to schema 3")
