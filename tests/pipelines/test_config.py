from pathlib import Path

import pytest

from pipelines.config import CadetConfig, ConfigError, config_as_yaml, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_no_file_means_working_defaults():
    config = load_config(None)
    assert config == CadetConfig()
    assert config.site.timezone == "UTC"


def test_shipped_settings_file_spells_out_exactly_the_defaults():
    assert load_config(ROOT / "configs" / "cadet.yaml") == CadetConfig()


def test_partial_file_overrides_only_what_it_names(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("site:\n  timezone: Europe/Paris\nfeatures:\n  min_peers: 5\n")
    config = load_config(path)
    assert config.site.timezone == "Europe/Paris"
    assert config.features.min_peers == 5
    assert config.features.window_days == CadetConfig().features.window_days
    assert config.site.allotted_wrapup_seconds == CadetConfig().site.allotted_wrapup_seconds


def test_a_simulated_centre_in_the_site_settings_is_sent_to_its_own_file(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("site:\n  timezone: Europe/Paris\nsimulation:\n  avoidance:\n    intensity: 0.5\n")
    message = str(pytest.raises(ConfigError, load_config, path).value)
    assert "simulation:" in message and "--world" in message and "configs/simulation.yaml" in message


def test_round_trip_through_yaml(tmp_path):
    path = tmp_path / "all.yaml"
    path.write_text(config_as_yaml(CadetConfig()))
    assert load_config(path) == CadetConfig()


@pytest.mark.parametrize(
    "text, key, reason",
    [
        ("site:\n  timezone: Mars/Olympus\n", "site.timezone", "unknown time zone"),
        ("features:\n  min_peers: 0\n", "features.min_peers", "greater than or equal to 3"),
        ("site:\n  time_zone: UTC\n", "site.time_zone", "unknown key"),
    ],
)
def test_invalid_file_names_the_key_and_the_reason(tmp_path, text, key, reason):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and key in message and reason in message


def test_every_error_is_reported_at_once(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("site:\n  timezone: Nowhere/Else\nfeatures:\n  peak_share: 2\n")
    message = str(pytest.raises(ConfigError, load_config, path).value)
    assert "site.timezone" in message and "features.peak_share" in message


def test_unreadable_and_non_yaml_files_are_explained(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "broken.yaml"
    bad.write_text("site: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(listed)


def test_settings_are_read_once_with_their_rules_and_cannot_be_changed_by_a_stage(tmp_path):
    from pydantic import ValidationError

    from pipelines.config import Settings, load_settings, settings_of

    (tmp_path / "my_rules.yaml").write_text((ROOT / "configs" / "rules.yaml").read_text().replace("id: ", "id: site_", 1))
    path = tmp_path / "site.yaml"
    path.write_text("site:\n  timezone: Europe/Paris\nrules_file: my_rules.yaml\n")
    settings = load_settings(path)
    assert settings.config.site.timezone == "Europe/Paris" and settings.file == str(path)
    assert settings.rules.rules[0].id.startswith("site_"), "a relative rules file is read next to the settings file"
    assert settings_of(settings) is settings, "settings a parent flow loaded are passed down, not read again"
    assert isinstance(settings_of(None), Settings) and settings_of(None).file is None
    with pytest.raises(ValidationError):
        settings.config.site.timezone = "UTC"
    with pytest.raises(ValidationError):
        settings.rules = settings_of(None).rules
