"""The listening page: its structure, and an end-to-end check in headless Chromium."""
from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from common.listening import build_page

RATE = 16000
REPO = Path(__file__).resolve().parents[1]


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _parse(path: Path) -> list[tuple[str, dict]]:
    collector = _Collector()
    collector.feed(path.read_text(encoding="utf-8"))
    return collector.tags


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    """Two MIR-1K-layout tracks and two systems' outputs (one with a source the other lacks)."""
    base = tmp_path_factory.mktemp("listening")
    rng = np.random.default_rng(0)
    t = np.arange(2 * RATE) / RATE
    (base / "data" / "test").mkdir(parents=True)
    for k, name in enumerate(["Ani_1_01", "bug_2_03"]):
        voice = 0.3 * np.sin(2 * np.pi * (220 + 50 * k) * t) * (1 + np.sin(2 * np.pi * 2 * t)) / 2
        music = 0.1 * rng.standard_normal(t.size)
        sf.write(base / "data" / "test" / f"{name}.wav", np.stack([music, voice], 1), RATE)
        for system, leak in (("good", 0.05), ("poor", 0.5)):
            folder = base / system / name
            folder.mkdir(parents=True)
            sf.write(folder / "vocals.wav", voice + leak * music, RATE, subtype="FLOAT")
            if system == "good":
                sf.write(folder / "accompaniment.wav", music + leak * voice, RATE, subtype="FLOAT")
    systems = {"good": base / "good", "poor": base / "poor"}
    return build_page("mir1k", base / "data", "test", systems, base / "page",
                      paper_metric={"poor": "si"}, progress=False)


def test_page_structure(page: Path):
    root = page.parent
    index = _parse(page)
    links = [a["href"] for tag, a in index if tag == "a"]
    assert links == ["tracks/Ani_1_01/index.html", "tracks/bug_2_03/index.html"]
    text = page.read_text()
    assert "page weight" in text and "class='sortable'" in text
    # aggregated rows: good x {vocals, accompaniment}, poor x {vocals}
    assert len(re.findall(r"<tr><td class='l'>", text)) == 3

    for link in links:
        track_page = root / link
        tags = _parse(track_page)
        audio = [a["src"] for tag, a in tags if tag == "audio"]
        images = [a["src"] for tag, a in tags if tag == "img"]
        # mixture + 2 references + good (2) + poor (1)
        assert len(audio) == 6 and len(images) == 6
        for src in audio + images:
            assert not src.startswith(("/", "http")) and (track_page.parent / src).is_file()
        data, rate = sf.read(track_page.parent / "mixture.flac")
        assert rate == RATE and data.shape == (2 * RATE,)  # MIR-1K mixtures are mono (L + R)
        assert sf.info(str(track_page.parent / "good__vocals.flac")).subtype == "PCM_16"


def test_scores_on_the_page_order_the_systems(page: Path):
    import json

    scores = json.loads((page.parent / "scores.json").read_text())["summary"]
    assert scores["good"]["vocals"]["SI-SDR"] > scores["poor"]["vocals"]["SI-SDR"] + 10
    assert scores["good"]["vocals"]["tracks"] == 2


def test_spectrograms_share_one_colour_range(page: Path):
    import matplotlib.image as mpimg

    folder = page.parent / "tracks" / "Ani_1_01"
    mixture = mpimg.imread(folder / "mixture.png")
    vocals = mpimg.imread(folder / "reference__vocals.png")
    assert mixture.shape == vocals.shape
    # the (quieter) voice reference is darker on average than the mixture in the same scale
    assert vocals[..., :3].mean() < mixture[..., :3].mean()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                    reason="chromium and chromedriver not installed (apt-get install chromium chromium-driver; "
                           "`make test` installs them when it may)")
def test_page_in_headless_chromium(page: Path, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", "--allow-file-access-from-files",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(30)
        driver.get(page.as_uri())
        assert "Listening page" in driver.title
        driver.find_element("css selector", "a[href$='index.html']").click()
        driver.implicitly_wait(0)
        state = None
        for _ in range(50):
            state = driver.execute_script(
                "const a = Array.from(document.querySelectorAll('audio'));"
                "const i = Array.from(document.querySelectorAll('img'));"
                "return {audio: a.map(x => x.readyState), images: i.map(x => x.complete ? x.naturalWidth : -1)};")
            if all(r >= 1 for r in state["audio"]) and all(w > 0 for w in state["images"]):
                break
            driver.execute_script("return new Promise(r => setTimeout(r, 100));")
        assert len(state["audio"]) == 6 and all(r >= 1 for r in state["audio"]), state
        assert len(state["images"]) == 6 and all(w > 0 for w in state["images"]), state
        shot = tmp_path / "listening.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], errors
    finally:
        driver.quit()


def test_missing_scores_are_explained_notes():
    from common.listening import _fmt, _summary_note, _why_undefined

    ref = np.ones((1, 100), np.float32)
    silent = np.zeros((1, 100), np.float32)
    assert _fmt(1.234) == "1.23" and _fmt(-0.5) == "-0.50"
    assert _why_undefined(ref, silent) == "silent estimate"
    assert _why_undefined(silent, ref) == "silent reference"
    cell = _fmt(float("nan"), _why_undefined(ref, silent))
    assert "n/a: silent estimate" in cell and "–" not in cell
    assert _summary_note("SDR", {"SDR": float("nan")}, {"silent estimate"}) == "undefined on every track (silent estimate)"
    assert _summary_note("SDRv4", {"SDR": 1.0}, None).startswith("not computed for this system")
