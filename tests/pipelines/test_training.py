"""`cadet train`: MLflow runs, a registered model, the champion alias, and gates that can refuse."""

import datetime as dt

import numpy as np
import pytest

from features.daily import rep_day_features
from features.windows import rep_window_features
from models.promotion import TrainingSettings
from pipelines.config import CadetConfig
from pipelines.failures import ServiceUnavailable
from pipelines.tracking import CHAMPION, MODEL_NAME, MlflowStore, tracking_uri
from pipelines.training import train_and_register
from simulator import SimulationConfig, simulate
from tests.models.test_detection import lake_tables


def window_features(seed, n_reps=60, n_days=14):
    config = CadetConfig()
    center = simulate(SimulationConfig(), n_reps=n_reps, n_days=n_days, seed=seed, workers=1)
    tables = lake_tables(center)
    start = dt.date.fromisoformat(center.truth["start_date"])
    end = start + dt.timedelta(days=n_days - 1)
    daily = rep_day_features(tables, config.features, "UTC", 60, start, end)
    return rep_window_features(daily.sums, tables["reps"], daily.rep_queues, daily.observable, config.features, start, end)


@pytest.fixture(scope="module")
def store(tmp_path_factory, monkeypatch_module):
    home = tmp_path_factory.mktemp("train") / "home"
    monkeypatch_module.delenv("MLFLOW_TRACKING_URI", raising=False)
    return home


@pytest.fixture(scope="module")
def first(store):
    """The home's first model, trained once for the module whichever of its tests runs first (or alone, under -n)."""
    return train(store, window_features(seed=21))


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def train(home, windows):
    rng = (windows.period_start.min(), windows.period_start.max())
    return train_and_register(home, windows, TrainingSettings(n_estimators=100), rng)


def test_a_first_model_is_tracked_registered_and_promoted(store, first):
    import mlflow

    assert first["promoted"] and first["version"] == "1" and first["champion"] == "1"
    assert (store / "mlflow" / "mlflow.db").exists()
    client = MlflowStore(store).client
    run = client.get_run(first["run_id"])
    assert run.data.params["n_estimators"] == "100" and "rep_windows" in run.data.metrics
    assert run.data.tags["data_start"] == "2026-01-05" and run.data.tags["promoted"] == "true"
    with MlflowStore(store).active():
        features = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/features.json")
        promotion = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/promotion.json")
    assert "z_miss_rate" in features["features"] and features["feature_medians"]
    assert promotion["promoted"] and promotion["gates"][0]["name"] == "first model"
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == "1"
    windows = window_features(seed=21)
    with MlflowStore(store).active():
        model = mlflow.sklearn.load_model(f"models:/{MODEL_NAME}@{CHAMPION}")
        served = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{CHAMPION}")  # what `mlflow models serve` runs
        served_scores = served.predict(windows[model.features_in_])
    scores = model.anomaly_score(windows)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert np.allclose(np.asarray(served_scores), scores), "the served model answers scores, not +1/-1 labels"


def test_retraining_on_similar_data_is_promoted_and_on_drifted_data_refused(store, first):

    similar = train(store, window_features(seed=22))
    assert similar["promoted"], similar["gates"]
    assert similar["champion"] == similar["version"] == "2"
    drifted = window_features(seed=23)
    for column in ("z_miss_rate", "z_talk_ratio", "z_wrapup_seconds_per_call"):
        drifted[column] = drifted[column] + 3.0  # e.g. a lake filled with another site's logs
    refused = train(store, drifted)
    assert not refused["promoted"] and refused["version"] == "3"
    failed = [g for g in refused["gates"] if not g["passed"]]
    assert [g["name"] for g in failed] == ["feature drift"] and "median z" in failed[0]["reason"]
    client = MlflowStore(store).client
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == "2", "the champion stays"
    assert client.get_model_version(MODEL_NAME, "3").tags["role"] == "challenger"
    assert np.isfinite([g["value"] for g in refused["gates"] if g["value"] is not None]).all()


def test_each_home_keeps_its_own_store_unless_the_user_names_one(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = tracking_uri(tmp_path / "a")
    mlflow.set_tracking_uri(first)  # MLflow copies this into MLFLOW_TRACKING_URI
    assert tracking_uri(tmp_path / "b") == f"sqlite:///{(tmp_path / 'b').resolve()}/mlflow/mlflow.db", \
        "a second home in the same process gets its own store"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example.org:5000")
    assert tracking_uri(tmp_path / "c") == "http://mlflow.example.org:5000", "the user's server wins"


def test_an_mlflow_server_that_does_not_answer_is_never_taken_for_no_champion(tmp_path, monkeypatch):
    """Otherwise the next model would be promoted as the first one, past every gate."""
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(ServiceUnavailable) as refused:
        MlflowStore(tmp_path).champion_version()
    assert f"MLflow at http://127.0.0.1:{port}" in str(refused.value) and "reachable" in str(refused.value)
    assert refused.value.exit_code == 5


def test_a_store_without_a_promoted_model_has_no_champion(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert MlflowStore(tmp_path).champion_version() is None


def test_an_emptied_or_damaged_mlflow_store_is_refused_never_recreated(tmp_path, monkeypatch):
    import shutil

    from pipelines.failures import StoreDamaged

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    trained = tmp_path / "trained"
    train(trained, window_features(seed=22, n_reps=30, n_days=7))
    assert MlflowStore(trained).champion_version() == "1"
    for damage, expected in (("emptied", "the registry was emptied"), ("overwritten", "is damaged")):
        home = tmp_path / damage
        shutil.copytree(trained / "mlflow", home / "mlflow")
        database = home / "mlflow" / "mlflow.db"
        if damage == "emptied":
            database.write_bytes(b"")
        else:
            with open(database, "r+b") as handle:
                handle.write(b"not a database, whatever MLflow thinks" * 4)
        damaged = database.read_bytes()
        with pytest.raises(StoreDamaged, match=expected) as refused:
            MlflowStore(home).champion_version()
        assert "restore" in str(refused.value).lower() and "aside" in str(refused.value)
        assert database.read_bytes() == damaged, "left as it was for the user to restore, not recreated"


def test_a_store_whose_creation_was_cut_short_is_created_again_whole(tmp_path, monkeypatch):
    """A run killed while MLflow built its database used to leave one that no later run could open."""
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    database = tmp_path / "mlflow" / "mlflow.db"

    def cut_short(self, *args, **kwargs):
        raise KeyboardInterrupt  # stands for the kill: MLflow's tracking tables are built, the registry's not yet

    with monkeypatch.context() as patch:
        patch.setattr(mlflow.MlflowClient, "search_registered_models", cut_short)
        with pytest.raises(KeyboardInterrupt):
            MlflowStore(tmp_path).champion_version()
    assert not database.exists() and not list(database.parent.glob(".*.tmp")), "nothing half-built left in place"
    assert MlflowStore(tmp_path).champion_version() is None and database.stat().st_size > 0


def test_an_unreadable_registry_record_is_refused_with_what_to_do(tmp_path, monkeypatch):
    from pipelines.failures import StoreDamaged

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "mlflow").mkdir()
    (tmp_path / "mlflow" / "registry.json").write_text("{half a record")
    with pytest.raises(StoreDamaged, match="registry.json.*cannot be read.*restore it") as refused:
        MlflowStore(tmp_path).champion_version()
    assert refused.value.exit_code == 1


def test_a_tampered_champion_never_runs_code_and_a_changed_model_file_is_refused(tmp_path, monkeypatch):
    """Whoever can write the artifact store must not get code run as the cadet user, nor swap the model."""
    import pickle

    from pipelines.failures import StoreDamaged

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    home = tmp_path / "home"
    windows = window_features(seed=22, n_reps=30, n_days=7)
    train(home, windows)
    (artifacts,) = {p.parent for p in (home / "mlflow" / "artifacts").rglob("MLmodel")}
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (artifacts / "model.pkl").write_bytes(pickle.dumps(Payload()))
    mlmodel = (artifacts / "MLmodel").read_text()
    (artifacts / "MLmodel").write_text(mlmodel.replace("pickled_model: model.skops", "pickled_model: model.pkl")
                                       .replace("serialization_format: skops", "serialization_format: cloudpickle"))
    model, version = MlflowStore(home).champion_model()
    assert not marker.exists(), "the artifact's MLmodel chose pickle, and cadet did not follow it"
    scores = model.anomaly_score(windows)
    assert version == "1" and ((scores >= 0) & (scores <= 1)).all()

    with open(artifacts / "model.skops", "ab") as changed:
        changed.write(b"\0")
    with pytest.raises(StoreDamaged, match="is not the one registered"):
        MlflowStore(home).champion_model()
    assert not marker.exists()


def test_a_store_another_program_holds_is_waited_for_then_refused_never_called_damaged(tmp_path, monkeypatch):
    import sqlite3

    from pipelines import tracking

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert MlflowStore(tmp_path).champion_version() is None  # builds the home's store
    monkeypatch.setattr(tracking, "BUSY_WAIT_S", 1)
    holder = sqlite3.connect(tmp_path / "mlflow" / "mlflow.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # as a backup tool or a long write elsewhere would
    try:
        with pytest.raises(ServiceUnavailable, match="locked by another program.*run this again") as refused:
            MlflowStore(tmp_path).champion_version()
        assert "damaged" not in str(refused.value) and refused.value.exit_code == 5
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert MlflowStore(tmp_path).champion_version() is None, "usable again once released"


def test_a_copied_or_moved_home_keeps_its_models_under_itself(tmp_path, monkeypatch):
    """MLflow records absolute artifact paths: a copy of a home must not write into, or read from, the original."""
    import shutil

    from pipelines.failures import StoreDamaged

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    original, copy, moved = tmp_path / "original", tmp_path / "copy", tmp_path / "moved"
    windows = window_features(seed=23, n_reps=30, n_days=7)
    train(original, windows)
    before = sorted(p.relative_to(original) for p in (original / "mlflow" / "artifacts").rglob("*"))
    shutil.copytree(original, copy)
    second = train(copy, windows)
    assert sorted(p.relative_to(original) for p in (original / "mlflow" / "artifacts").rglob("*")) == before
    assert any((copy / "mlflow" / "artifacts").rglob("*")) and second["version"] == "2"

    shutil.move(original, moved)  # the original's artifacts are gone from where its store said they were
    model, version = MlflowStore(moved).champion_model()
    assert version == "1" and len(model.anomaly_score(windows)) == len(windows)

    bare = tmp_path / "only-the-database"
    (bare / "mlflow").mkdir(parents=True)
    shutil.copy(copy / "mlflow" / "mlflow.db", bare / "mlflow" / "mlflow.db")
    shutil.copy(copy / "mlflow" / "registry.json", bare / "mlflow" / "registry.json")
    with pytest.raises(StoreDamaged, match="copied without its artifacts"):
        MlflowStore(bare).champion_model()
