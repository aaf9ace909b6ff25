"""The espeak-ng render script and the shipped clips: trimming, levels, lengths, manifest."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import pytest

from stridecore.audio.clips import (
    CLIP_DIR,
    PEAK_DBFS,
    RATE_HZ,
    MissingClipError,
    check_clips,
    clip,
    first_above,
    last_above,
    peak_dbfs,
    read_wav,
    rms_dbfs,
)
from stridecore.coaching.phrases import PHRASES
from stridecore.schema import Cue

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng not installed (apt-get install espeak-ng)")
RENDERED = (Cue.SOFTEN_KNEES, Cue.QUICKER_STEPS)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("cues")
    cmd = [sys.executable, "-m", "stridecore.audio.render", "--out", str(out)]
    for c in RENDERED:
        cmd += ["--cue", c.value]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    return out


@needs_espeak
def test_render_trims_normalises_and_fades(rendered):
    manifest = json.loads((rendered / "manifest.json").read_text())
    assert [e["cue"] for e in manifest["clips"]] == [c.value for c in RENDERED]
    assert manifest["rate_hz"] == RATE_HZ and manifest["peak_target_dbfs"] == PEAK_DBFS
    for c in RENDERED:
        samples, rate = read_wav(rendered / f"{c.value}.wav")
        assert rate == RATE_HZ
        onset, end = first_above(samples), last_above(samples)
        assert onset is not None and end is not None
        assert 1000 * onset / rate <= 15.0  # trimmed: speech within 15 ms of the file start
        assert 1000 * (len(samples) - 1 - end) / rate <= 15.0  # ... and of its end
        assert abs(peak_dbfs(samples) - PEAK_DBFS) <= 0.5
        assert -30.0 < rms_dbfs(samples) < -10.0
        assert 0.3 <= len(samples) / rate <= 2.0
        assert samples[0] == 0 and samples[-1] == 0  # faded in and out: no click


@needs_espeak
def test_render_is_reproducible_against_the_shipped_clips(rendered):
    shipped = json.loads((CLIP_DIR / "manifest.json").read_text())
    ours = json.loads((rendered / "manifest.json").read_text())
    if ours["espeak_ng_version"] != shipped["espeak_ng_version"]:
        pytest.skip(f"espeak-ng {ours['espeak_ng_version']} here, clips made with "
                    f"{shipped['espeak_ng_version']}")
    for c in RENDERED:
        name = f"{c.value}.wav"
        assert (rendered / name).read_bytes() == (CLIP_DIR / name).read_bytes()


def test_shipped_clips_match_the_manifest():
    check_clips()
    manifest = json.loads((CLIP_DIR / "manifest.json").read_text())
    assert {e["cue"] for e in manifest["clips"]} == {c.value for c in Cue}
    for e in manifest["clips"]:
        path = CLIP_DIR / e["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == e["sha256"], path
        c = clip(e["cue"])
        assert c.text == e["text"] == PHRASES[Cue(e["cue"])]
        assert len(c.samples) == e["n_samples"]
        assert 1000 * c.duration_s == pytest.approx(e["duration_ms"], abs=0.01)
        assert peak_dbfs(c.samples) == pytest.approx(e["peak_dbfs"], abs=0.01)
        assert abs(peak_dbfs(c.samples) - PEAK_DBFS) <= 0.5
        assert 0.3 <= c.duration_s <= 2.5


def test_missing_clip_names_the_file_and_the_command(tmp_path):
    with pytest.raises(MissingClipError) as err:
        check_clips(tmp_path)
    assert str(tmp_path / "soften_knees.wav") in str(err.value)
    assert "python -m stridecore.audio.render" in str(err.value)
