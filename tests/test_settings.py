from pathlib import Path

import pytest

from iacdemo.errors import ConfigError
from iacdemo.settings import EMBEDDED_DEFAULT_MODEL, SPACE_DEFAULT_MODEL, settings_from_env


def test_defaults_point_at_shared_data():
    s = settings_from_env({})
    assert s.default_model == EMBEDDED_DEFAULT_MODEL
    assert s.iac_eval_csv.name == "iac-eval-dev.csv"
    assert not s.on_space


def test_env_overrides_and_space_defaults(tmp_path):
    s = settings_from_env({"IACDEMO_DATA_DIR": str(tmp_path), "SPACE_ID": "me/iacdemo",
                           "GRADIO_SERVER_PORT": "9999"})
    assert s.data_dir == Path(tmp_path) and s.corpus_dir == Path(tmp_path) / "corpus"
    assert s.on_space and s.default_model == SPACE_DEFAULT_MODEL
    assert s.port == 9999 and s.host == "0.0.0.0"
    assert settings_from_env({"IACDEMO_MODEL": "x/y", "SPACE_ID": "a/b"}).default_model == "x/y"


@pytest.mark.parametrize("variable, field, default, good, value, bad", [
    ("IACDEMO_PERPLEXITY_TOKENS", "perplexity_tokens", 1024, "256", 256, ("lots", "1", "2.5", "-4")),
    ("IACDEMO_QUEUE_POLL_S", "queue_poll_s", 0.05, "0.2", 0.2, ("fast", "0", "-1", "nan")),
])
def test_numeric_settings_come_from_the_environment_and_nonsense_is_refused(variable, field, default, good, value,
                                                                            bad):
    assert getattr(settings_from_env({}), field) == default
    assert getattr(settings_from_env({variable: good}), field) == value
    for text in bad:
        with pytest.raises(ConfigError, match=variable):
            settings_from_env({variable: text})
