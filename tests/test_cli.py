"""python -m fastgrad info / demo."""
import subprocess
import sys

from fastgrad import demo


def test_lecture_table_values():
    rows = {r["node"]: r for r in demo.lecture_table()}
    assert rows["f = q * m"]["value"] == 6 and rows["y"]["upstream"] == 5
    assert rows["x"]["upstream"] == 2 and rows["z"]["upstream"] == 0


def test_core_mlp_loss_falls():
    losses = demo.train_core_mlp(epochs=8, verbose=False)
    assert losses[-1] < 0.8 * losses[0]


def test_info_command():
    out = subprocess.run([sys.executable, "-m", "fastgrad", "info"], capture_output=True, text=True, check=True)
    assert "scipy-openblas32" in out.stdout and "blas threads" in out.stdout


def test_window_classifier_learns_the_synthetic_windows():
    history = demo.train_window_classifier(epochs=3, progress=False)
    assert history["val_accuracy"][-1] > 0.6            # chance is 0.2
    assert history["train_loss"][-1] < history["train_loss"][0]
