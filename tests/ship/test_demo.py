"""The demo page in a real browser: headless Chromium (Debian's chromium and chromium-driver) drives ser-demo
through selenium. A RAVDESS clip gets ser-predict's label on the page; bad files get a readable error and the app
goes on serving; a screenshot is kept in outputs/demo/ of the checkout (a CI artifact)."""

import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers.commands import run_command

from ser_utils.config import EMOTIONS, PROJECT_ROOT
from ser_utils.data.sources import BUNDLED_SAMPLE
from ser_utils.model.folder import MODEL_DIR
from ser_utils.ship.demo import classify
from ser_utils.ship.predict import Predictor
from ser_utils.ship.segments import SpeechDetector

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SCREENSHOT = PROJECT_ROOT / "outputs" / "demo" / "screenshot.png"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        message = "no chromium/chromedriver: install them with apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(message)  # in CI the browser test runs, never skips
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1500"):
        options.add_argument(argument)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(trained_run, tmp_path_factory):
    """ser-demo serving the trained model; yields its address and model folder. Its uploads go to a folder of its
    own under a temporary GRADIO_TEMP_DIR, which must be gone once the server has stopped."""
    model, port, temp = trained_run.run_dir / MODEL_DIR, _free_port(), tmp_path_factory.mktemp("gradio")
    server = subprocess.Popen(
        [sys.executable, "-m", "ser_utils", "demo", "--model", str(model), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "GRADIO_TEMP_DIR": str(temp)},
    )
    address = f"http://127.0.0.1:{port}/"
    for _ in range(240):
        try:
            urllib.request.urlopen(address, timeout=1)
            break
        except OSError:
            assert server.poll() is None, server.stdout.read()
            time.sleep(0.5)
    yield address, model, temp
    server.terminate()
    server.wait(timeout=30)
    assert not list(temp.glob("ser-demo-uploads-*")), "the uploads folder was left behind at shutdown"


def _upload(driver, path):
    from selenium.webdriver.common.by import By

    for clear in driver.find_elements(By.CSS_SELECTOR, "#upload button[aria-label='Clear']"):
        clear.click()
    _wait(driver, lambda: driver.find_elements(By.CSS_SELECTOR, "#upload input[type=file]"))
    driver.find_element(By.CSS_SELECTOR, "#upload input[type=file]").send_keys(str(path))


def _wait(driver, condition, seconds: float = 60):
    end = time.time() + seconds
    while time.time() < end:
        found = condition()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"the page did not show it within {seconds} s:\n{driver.page_source[-2000:]}")


def _emotion(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, "#emotion textarea").get_attribute("value")


def _message(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, "#message").text


def test_the_page_classifies_a_clip_as_ser_predict_does_and_survives_bad_files(browser, page, ravdess_16k, tmp_path):
    address, model, temp = page
    clip = sorted((ravdess_16k / "Actor_05").iterdir())[17]
    done = run_command("ser_utils", "predict", "--model", str(model), str(clip), timeout=300)
    expected = done.stdout.splitlines()[1].split(",")[1]
    browser.get(address)
    _upload(browser, clip)
    assert _wait(browser, lambda: _emotion(browser)) == expected
    bars = browser.find_element("css selector", "#bars").text
    assert all(label in bars for label in ("Anger", "Calm", "Surprise")) and "%" in bars
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000

    text = tmp_path / "notes.wav"
    text.write_text("this is not audio")
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(clip.read_bytes()[:30])
    for bad in (text, truncated):
        _upload(browser, bad)
        assert "Cannot classify this file" in _wait(
            browser, lambda: "Cannot" in _message(browser) and _message(browser)
        )
        assert _emotion(browser) == ""
    browser.save_screenshot(str(SCREENSHOT.with_name("bad-file.png")))
    _upload(browser, clip)  # still serving
    assert _wait(browser, lambda: _emotion(browser)) == expected
    uploaded = [p for p in temp.rglob("*") if p.is_file() and p.suffix == ".wav"]
    assert not uploaded, f"uploads kept after classification: {uploaded}"


def test_classify_gives_a_timeline_for_long_recordings(trained_run, ravdess_16k, tmp_path):
    """Without a speech detector (silero-vad missing), a table of windows; with one, the speech segments, which
    are ser-predict --segments' rows, drawn on the waveform."""
    import numpy as np
    import soundfile as sf

    predictor = Predictor(trained_run.run_dir / MODEL_DIR, device="cpu")
    clips = sorted((ravdess_16k / "Actor_02").iterdir())[:3]
    long = tmp_path / "long.wav"
    sf.write(long, np.concatenate([sf.read(clip)[0] for clip in clips]), 16_000)
    label, probabilities, timeline, message, figure = classify(str(long), predictor)
    assert label in probabilities and abs(sum(probabilities.values()) - 1) < 1e-4
    assert len(timeline) == math.ceil((sf.info(long).duration - 2.5) / 1.25) + 1 and message == ""  # last one padded
    assert figure.axes[0].get_xlabel() == "time (s)" and not figure.axes[0].patches
    segments = classify(str(long), predictor, detector=SpeechDetector())[2]
    rows = predictor.segments(long)
    assert list(segments["start (s)"]) == list(rows["start_s"]) and list(segments["emotion"]) == list(rows["label"])
    assert classify(None, predictor)[3].startswith("Upload a recording")


def test_the_page_shows_the_speech_segments_of_a_recording_under_its_waveform(browser, page, tmp_path):
    """A recording of 5 clips with noise between them: 5 segments in the table and 5 shaded spans on the plot."""
    from selenium.webdriver.common.by import By
    from speech_recordings import clip_paths, write_recording

    address, _, _ = page
    recording = tmp_path / "five-clips.wav"
    write_recording(recording, clip_paths(Path(BUNDLED_SAMPLE), statement="02", repetition="02")[:5], 8_000)
    browser.get(address)
    _upload(browser, recording)
    table = _wait(
        browser,
        lambda: (
            browser.find_element(By.CSS_SELECTOR, "#timeline").text.count("\n") > 20
            and browser.find_element(By.CSS_SELECTOR, "#timeline").text
        ),
    )
    cells = table.split("\n")  # its label, the 4 headers, then 4 cells a row, as the virtual table shows them
    assert cells[1:5] == ["start (s)", "end (s)", "emotion", "probability"] and len(cells) == 5 + 5 * 4
    assert all(emotion in EMOTIONS for emotion in cells[7::4])
    starts = [float(start) for start in cells[5::4]]
    assert starts == sorted(starts) and all(b - a > 2 for a, b in zip(starts, starts[1:], strict=False))
    image = _wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#waveform img"))[0]
    assert image.size["width"] > 300 and image.get_attribute("src").startswith("data:image")
    browser.save_screenshot(str(SCREENSHOT.with_name("segments.png")))
