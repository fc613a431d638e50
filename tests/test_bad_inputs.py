"""Every row of docs/errors.md stays true: each bad input of `benchmarks/bad_inputs.py` is
refused with exit status 2 and one `error:` line (command lines) or a one-line `ConfigError`
(the Python API), never a traceback or another exception."""

import importlib.util
from pathlib import Path

import pytest

from rljax.config import ConfigError

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bad_inputs.py"
spec = importlib.util.spec_from_file_location("bad_inputs", SCRIPT)
bad_inputs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bad_inputs)


def test_every_bad_command_line_is_one_error_line(tmp_path):
    cases = bad_inputs.cli_cases(tmp_path)
    assert len(cases) + len(bad_inputs.api_cases()) >= 40
    for module, argv in cases:
        status, err = bad_inputs.run_cli(module, argv)
        assert status == "2", (module, argv, status, err)
        assert err.startswith("error: ") and len(err.splitlines()) == 1, (module, argv, err)
        assert "Traceback" not in err


API_CASES = bad_inputs.api_cases()


@pytest.mark.parametrize(("text", "build"), API_CASES, ids=[text for text, _ in API_CASES])
def test_every_bad_api_call_is_one_config_error(text, build):
    with pytest.raises(ConfigError) as error:
        build()
    assert "\n" not in str(error.value), text
