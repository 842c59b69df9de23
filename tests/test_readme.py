"""The README's Python examples run as written (with fewer epochs)."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if README.exists() else []


@pytest.mark.skipif(not BLOCKS, reason="README.md not next to the tests (installed elsewhere)")
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(BLOCKS[index].replace("epochs=10", "epochs=1"), namespace)
    if "history" in namespace:
        assert namespace["history"]["val_accuracy"][-1] > 0.4     # chance is 0.2
        assert (tmp_path / "checkpoint.npz").exists()
