import pytest

from formats.version import check_version
from foundation.errors import PipelineError

SUPPORTED = ("linkbert-graph/1", "linkbert-graph/2")


def test_supported_versions_pass() -> None:
    assert check_version("linkbert-graph/2", SUPPORTED, "g/manifest.json") == "linkbert-graph/2"


def test_newer_version_names_file_versions_and_what_to_do() -> None:
    with pytest.raises(PipelineError) as e:
        check_version("linkbert-graph/3", SUPPORTED, "g/manifest.json")
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith("g/manifest.json: version 'linkbert-graph/3'")
    assert "linkbert-graph/1, linkbert-graph/2" in message
    assert "make corpus" in message and "upgrade" in message


def test_unknown_format_is_told_apart_from_a_newer_version() -> None:
    with pytest.raises(PipelineError, match=r"format 'linkbert-segments/1' \(expected linkbert-graph\)"):
        check_version("linkbert-segments/1", SUPPORTED, "g/manifest.json")
    with pytest.raises(PipelineError, match=r"format 7 \(expected linkbert-graph\)"):
        check_version(7, SUPPORTED, "g/manifest.json")
