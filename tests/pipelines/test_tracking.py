"""The MLflow adapter: each home's store through its own client, the process-wide URI left as it was."""

import os

from pipelines.tracking import MlflowStore


def test_a_store_points_mlflow_at_its_home_only_while_in_use(tmp_path, monkeypatch):
    """One process serving two homes (`cadet serve`, the tests) must write each home's runs to its own store."""
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first, second = MlflowStore(tmp_path / "a"), MlflowStore(tmp_path / "b")
    assert first.uri != second.uri and first.client.tracking_uri == first.uri
    with first.active():
        assert mlflow.get_tracking_uri() == first.uri
        with second.active():
            assert mlflow.get_tracking_uri() == second.uri
        assert mlflow.get_tracking_uri() == first.uri, "an inner store gives the outer one back"
    assert "MLFLOW_TRACKING_URI" not in os.environ, "nothing is left pointing at a home's store"
    for store, name in ((first, "a"), (second, "b")):
        experiment = store.client.get_experiment(store.experiment_id())
        assert experiment.artifact_location == (tmp_path / name).resolve().joinpath("mlflow", "artifacts").as_uri()


def test_the_users_tracking_server_is_used_and_kept_after_use(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example.org:5000")
    store = MlflowStore(tmp_path)
    assert store.uri == "http://mlflow.example.org:5000"
    with store.active():
        assert mlflow.get_tracking_uri() == store.uri
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://mlflow.example.org:5000"
