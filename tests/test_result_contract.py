"""The JSON that scripts read is a contract: `--json` job objects and the metadata sidecar.

Their JSON schemas are pinned in tests/snapshots/; a change to either shows in review. After a
deliberate change: GROKVID_UPDATE_SNAPSHOTS=1 pytest tests/test_result_contract.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grokvid.api.metadata import ClipMetadata
from grokvid.api.results import JobView
from grokvid.cli.main import app
from grokvid.sandbox import SandboxServer

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("GROKVID_UPDATE_SNAPSHOTS") == "1"
FOX = "a red fox trotting through fresh snow"


@pytest.mark.parametrize(
    ("name", "model"), [("schema-job.json", JobView), ("schema-sidecar.json", ClipMetadata)]
)
def test_schema_matches_snapshot(name: str, model: type[JobView | ClipMetadata]) -> None:
    schema = json.dumps(model.model_json_schema(by_alias=True), indent=2, sort_keys=True) + "\n"
    golden = SNAPSHOTS / name
    if UPDATE:
        golden.write_text(schema)
    assert schema == golden.read_text(), f"{name} changed: review it, then update the snapshot"


def test_real_output_validates_against_the_contract(env: Path, server: SandboxServer) -> None:
    result = CliRunner().invoke(app, ["generate", "--json", "-d", "1", FOX])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema"] == "grokvid.job/1"
    view = JobView.model_validate(data)
    assert view.state == "downloaded" and view.path and Path(view.path).is_absolute()
    sidecar = json.loads(Path(view.metadata_path or "").read_text())
    meta = ClipMetadata.model_validate(sidecar)
    assert meta.local_id == view.id and meta.file.sha256 == view.sha256
    assert meta.render_seconds is not None and not meta.render_seconds_approximate
