"""Train KServe's iris example model and save it as model.joblib.

    python examples/iris/train.py [OUT]      # OUT: a folder or a .joblib path
                                             # (default: examples/iris/model/model.joblib)

Same as KServe's sample (sklearn.svm.SVC with gamma="scale" on the iris data set that ships with
scikit-learn), so the seed's request `iris-input.json` answers `{"predictions":[1,1]}`.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "model" / "model.joblib"


def train(out: Path) -> Path:
    import joblib
    from sklearn import datasets, svm

    if out.suffix != ".joblib":
        out = out / "model.joblib"
    iris = datasets.load_iris()
    model = svm.SVC(gamma="scale", random_state=0)
    model.fit(iris.data, iris.target)
    out.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out)
    return out


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        print("usage: train.py [OUT]  (a folder or a .joblib file)", file=sys.stderr)
        return 2
    out = train(Path(argv[0]) if argv else DEFAULT_OUT)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
