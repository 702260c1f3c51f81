"""Bad input, kills and repeats at the engine level (issue #18): each row of the matrix names the input,
the error it must raise, and checks that nothing half-written is left."""
import os
import stat
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from paperkit import atomic, runs
from paperkit.chapters.contract import ChapterSpec, parameter_cell_names, refuse_undeclared_parameters
from paperkit.lock import LockedError, folder_lock
from paperkit.train import Batches, fit

SPEC = ChapterSpec(name="demo", title="Demo", datasets={"synthetic": "s", "real": "r"}, models=["a"],
                   profiles={p: {"models": ["a"], "epochs": 1} for p in ("smoke", "classroom", "paper")})


def _model():
    torch.manual_seed(0)
    return nn.Linear(4, 2)


def _train_fn(model, epochs=2):
    data = TensorDataset(torch.randn(16, 4), torch.randint(0, 2, (16,)))

    def train(run):
        result = fit(model, data, loss=nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                     epochs=epochs, batches=Batches(8), checkpoint=run.checkpoint, device="cpu", progress=False)
        return {"loss": result.history[-1]["train_loss"]}, result.history
    return train


def _corrupt_checkpoint(tmp_path):
    run = runs.start_run("demo", {"x": 1}, tmp_path)
    run.checkpoint.write_bytes(b"PK\x03\x04 truncated")
    model = _model()
    runs.reuse_or_train("demo", {"x": 1}, model, _train_fn(model), name="m", out_dir=tmp_path, device="cpu")


def _corrupt_weights(tmp_path):
    model = _model()
    first = runs.reuse_or_train("demo", {"x": 2}, model, _train_fn(model), name="m", out_dir=tmp_path, device="cpu")
    first.run.path("model.pt").write_bytes(b"not a state dict")
    runs.reuse_or_train("demo", {"x": 2}, _model(), _train_fn(model), name="m", out_dir=tmp_path, device="cpu")


def _locked_record(tmp_path):
    run = runs.start_run("demo", {"x": 3}, tmp_path)
    with folder_lock(run.dir):  # another trainer of the same record, as held by a second process
        model = _model()
        runs.reuse_or_train("demo", {"x": 3}, model, _train_fn(model), name="m", out_dir=tmp_path, device="cpu")


def _synthetic_with_data_dir(tmp_path):
    SPEC.resolve(dataset="synthetic", data_dir=str(tmp_path / "my data"))


def _undeclared_parameter(tmp_path):
    cells = ['dataset = "synthetic"\ndata_dir = None  # real data', '# Parameters\ndatset = "adni"\n',
             "import os\nfrom paperkit.chapters.video4mri.experiment import PAPER_AUGMENTATION_ROWS\nstart()"]
    refuse_undeclared_parameters(parameter_cell_names(cells), {"dataset": "synthetic", "data_dir": None})


@pytest.mark.parametrize("case, error, message", [
    (_corrupt_checkpoint, RuntimeError, r"checkpoint\.pt: the training checkpoint cannot be read.*delete this file"),
    (_corrupt_weights, RuntimeError, r"model\.pt: the stored weights cannot be read.*force=True"),
    (_locked_record, LockedError, r"run record demo/\w+ is being written by another process \(pid \d+ on "),
    (_synthetic_with_data_dir, ValueError, r"dataset='synthetic' with data_dir=.*my data"),
    (_undeclared_parameter, ValueError, r"'datset' \(did you mean 'dataset'\?\) are not declared"),
], ids=["corrupt checkpoint", "corrupt weights", "record locked", "synthetic + data_dir", "undeclared parameter"])
def test_bad_input_matrix(tmp_path, case, error, message):
    with pytest.raises(error, match=message):
        case(tmp_path)
    assert not list(tmp_path.rglob("*.tmp")), "a temporary file was left behind"
    assert not (tmp_path / "my data").exists(), "nothing is written into a user's folder"


def test_stale_temporaries_of_a_killed_save_are_removed_when_the_record_trains(tmp_path):
    run = runs.start_run("demo", {"x": 4}, tmp_path)
    stale = run.dir / ".model.pt.abc123.tmp"
    stale.write_bytes(b"half a file")
    model = _model()
    runs.reuse_or_train("demo", {"x": 4}, model, _train_fn(model), name="m", out_dir=tmp_path, device="cpu")
    assert not stale.exists() and run.path("model.pt").exists()


def test_a_lock_is_released_when_its_holder_dies(tmp_path):
    script = textwrap.dedent(f"""
        import os
        from paperkit.lock import folder_lock
        with folder_lock({str(tmp_path)!r}):
            os._exit(0)  # killed while holding it
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=os.getcwd())
    with folder_lock(tmp_path):  # the OS released it: no stale lock
        pass


def test_files_follow_the_users_umask(tmp_path):
    old = os.umask(0o002)  # a shared group folder
    try:
        path = atomic.write_text(tmp_path / "a.txt", "x")
        folder = atomic.build_folder(tmp_path, "gen", {"v": 1}, lambda tmp: (tmp / "f").write_text("y") and {})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o664
    assert stat.S_IMODE(folder.stat().st_mode) == 0o775


def test_only_the_literal_assignment_cells_count_as_parameters():
    refuse_undeclared_parameters(parameter_cell_names(None), {"dataset": 1})  # not in a notebook
    cells = ['dataset = "x"\nmodels = ["a", "b"]\nepochs = None', "LIMIT = 3\nimport numpy as np",
             "%matplotlib inline", "chapter = chapters.get('x')", "K = len(models)"]
    assert parameter_cell_names(cells) == {"dataset", "models", "epochs"}
    refuse_undeclared_parameters(parameter_cell_names(cells), {"dataset": 1, "models": 2, "epochs": 3})
