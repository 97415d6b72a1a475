"""The playground in a real browser (Debian's chromium, driven by selenium through
chromium-driver; nothing downloaded) against `mmserve serve` with real models: a photo
gets a caption and labels, a WAV a transcript, a search shows thumbnails, an oversized
file shows the server's 413. Screenshots go to the test's tmp dir (printed)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import requests
from PIL import Image

from tests.audio_models import speech_wav
from tests.e2e.test_serve import running_server
from tests.vision_models import photo

pytestmark = [pytest.mark.e2e, pytest.mark.real_weights]
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

MODELS = "efficientnet-lite0,rapidocr,whisper-tiny.en,yamnet,bridge"
MAX_IMAGE_BYTES = 400_000
WAIT_S = 60
PHOTOS = ("coffee", "chelsea", "astronaut", "rocket")
SPOKEN = "The quick brown fox jumps over the lazy dog."


def chromium_paths() -> tuple[str, str]:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.fail("chromium and chromium-driver are not installed: `make install-test`")
    return browser, driver


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("playground")
    pics = folder / "media" / "pics"
    pics.mkdir(parents=True)
    for name in PHOTOS:
        photo(name).save(pics / f"{name}.jpg", quality=85)
    config = folder / "mmserve.toml"
    config.write_text(
        f'[media]\nmedia_root = "{folder / "media"}"\nmax_image_bytes = {MAX_IMAGE_BYTES}\n'
    )
    with running_server(folder, "--config", str(config), "--models", MODELS) as (base, _, _):
        job = requests.post(
            f"{base}/v1/jobs",
            json={"type": "index", "params": {"path": "pics", "collection": "pics"}},
            timeout=10,
        ).json()
        for _ in range(WAIT_S * 5):
            job = requests.get(f"{base}/v1/jobs/{job['id']}", timeout=10).json()
            if job["state"] in ("succeeded", "failed"):
                break
            __import__("time").sleep(0.2)
        assert job["state"] == "succeeded" and job["result"]["indexed"] == len(PHOTOS), job
        yield base, folder


@pytest.fixture(scope="module")
def browser(server):
    binary, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,2200",
        "--use-fake-ui-for-media-stream",  # MediaRecorder records a synthetic tone
        "--use-fake-device-for-media-stream",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=driver_path)
    driver = webdriver.Chrome(options=options, service=service)
    driver.get(server[0] + "/")
    yield driver
    driver.quit()


def wait_for(driver, condition, what):
    return WebDriverWait(driver, WAIT_S).until(lambda d: condition(d), message=what)


def text_of(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def shot(driver, server, name):
    path = server[1] / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")


def test_the_root_opens_the_playground_with_the_models(browser, server):
    assert browser.current_url.endswith("/playground/")
    rows = wait_for(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, "#models-table tbody tr"),
        "model rows",
    )
    assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == [
        *MODELS.split(","),
        "grounded",  # always served by /v1/chat/completions, so listed
    ]


def test_the_chat_panel_shows_and_grounded_answers(browser, server):
    wait_for(browser, lambda d: d.find_element(By.ID, "chat").is_displayed(), "the chat panel")
    message = browser.find_element(By.ID, "chat-input")
    message.send_keys("What is in the picture?", Keys.ENTER)
    lines = wait_for(
        browser,
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, "#chat-log li")) == 2
            and d.find_elements(By.CSS_SELECTOR, "#chat-log li")
        ),
        "the reply",
    )
    assert lines[1].text.startswith("grounded: ") and "cannot answer" in lines[1].text


def test_an_api_key_is_kept_for_the_tab_and_sent(browser, server):
    key = browser.find_element(By.ID, "api-key")
    key.send_keys("mm-test-key", Keys.ENTER)  # the keyboard alone
    wait_for(browser, lambda d: "Key set" in text_of(d, "api-key-state"), "the key's state")
    stored = browser.execute_script("return sessionStorage.getItem('mmserve-api-key')")
    sent = browser.execute_script("return authHeaders()")
    assert stored == "mm-test-key" and sent == {"Authorization": "Bearer mm-test-key"}
    key.clear()
    key.send_keys(Keys.ENTER)
    wait_for(browser, lambda d: "No key" in text_of(d, "api-key-state"), "the key cleared")
    assert browser.execute_script("return authHeaders()") == {}


def test_a_photo_gets_a_caption_and_labels(browser, server, tmp_path):
    path = tmp_path / "coffee.jpg"
    photo("coffee").save(path, quality=85)
    browser.find_element(By.ID, "image-file").send_keys(str(path))
    wait_for(browser, lambda d: d.find_element(By.ID, "caption-btn").is_enabled(), "enabled")
    browser.find_element(By.ID, "caption-btn").click()
    caption = wait_for(
        browser,
        lambda d: "efficientnet" in text_of(d, "caption") and text_of(d, "caption"),
        "caption",
    )
    labels = browser.find_elements(By.CSS_SELECTOR, "#image-labels li")
    assert "cup" in caption.lower() or "espresso" in caption.lower(), caption
    assert labels and "%" in labels[0].text
    assert text_of(browser, "image-error") == ""
    shot(browser, server, "image")


def test_zero_shot_labels_typed_by_the_user(browser, server):
    labels = browser.find_element(By.ID, "zeroshot-labels")
    labels.clear()
    labels.send_keys("a rocket launch, a cup of coffee, a sleeping cat")
    browser.find_element(By.ID, "zeroshot-btn").click()
    wait_for(
        browser,
        lambda d: "coffee" in d.find_element(By.CSS_SELECTOR, "#image-labels li").text,
        "the zero-shot labels, coffee first",
    )
    assert len(browser.find_elements(By.CSS_SELECTOR, "#image-labels li")) == 3


def test_ocr_boxes_are_drawn_over_the_page(browser, server, tmp_path):
    path = tmp_path / "page.png"
    photo("page").save(path)
    browser.find_element(By.ID, "image-file").send_keys(str(path))
    wait_for(browser, lambda d: d.find_element(By.ID, "ocr-btn").is_enabled(), "enabled")
    browser.find_element(By.ID, "ocr-btn").click()
    boxes = wait_for(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#ocr-boxes polygon"), "OCR boxes"
    )
    assert len(boxes) >= 3 and text_of(browser, "ocr-text")
    shot(browser, server, "ocr")


def test_a_wav_gets_its_transcript(browser, server, tmp_path):
    path = tmp_path / "speech.wav"
    path.write_bytes(speech_wav(SPOKEN))
    browser.find_element(By.ID, "audio-file").send_keys(str(path))
    wait_for(browser, lambda d: d.find_element(By.ID, "transcribe-btn").is_enabled(), "enabled")
    browser.find_element(By.ID, "transcribe-btn").click()
    transcript = wait_for(
        browser, lambda d: "fox" in text_of(d, "transcript").lower() and text_of(d, "transcript"),
        "transcript",
    )  # fmt: skip
    assert "lazy dog" in transcript.lower()
    assert browser.find_elements(By.CSS_SELECTOR, "#segments tbody tr")
    browser.find_element(By.ID, "tags-btn").click()
    legend = wait_for(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#tags-chart text"), "the tag chart"
    )
    assert any(t.text.startswith("Speech (") for t in legend), [t.text for t in legend]
    assert browser.find_elements(By.CSS_SELECTOR, "#tags-chart polyline")
    shot(browser, server, "audio")


def test_sentence_similarity_matrix(browser, server):
    browser.find_element(By.CSS_SELECTOR, "#text-form button").click()
    cells = wait_for(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#similarity td"), "the matrix"
    )
    values = [float(c.text) for c in cells]
    assert len(values) == 16 and values[0] == values[5] == 1.0
    assert values[1] > values[2]  # the two dog sentences are closer than dog and invoice


def test_recording_in_the_browser_gives_a_clip_to_send(browser, server):
    browser.find_element(By.ID, "record-btn").click()
    wait_for(browser, lambda d: text_of(d, "record-btn") == "Stop recording", "recording")
    __import__("time").sleep(1.0)
    browser.find_element(By.ID, "record-btn").click()
    wait_for(browser, lambda d: text_of(d, "record-btn") == "Record", "stopped")
    src = browser.find_element(By.ID, "audio-player").get_attribute("src")
    assert src.startswith("blob:")


def test_search_shows_thumbnails(browser, server):
    browser.refresh()  # the collection list is read when the page loads
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#search-collection option"), "c")
    browser.find_element(By.ID, "search-text").send_keys("a cup of coffee")
    browser.find_element(By.CSS_SELECTOR, "#search-form button").click()
    images = wait_for(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#hits img"), "thumbnails"
    )
    assert len(images) == len(PHOTOS)
    browser.execute_script("document.getElementById('hits').scrollIntoView()")  # lazy images
    widths = "return Array.from(document.querySelectorAll('#hits img')).map(i => i.naturalWidth)"
    loaded = wait_for(
        browser, lambda d: all(d.execute_script(widths)) and d.execute_script(widths), "loaded"
    )
    assert all(0 < width <= 160 for width in loaded), loaded
    assert "coffee" in browser.find_element(By.CSS_SELECTOR, "#hits li").text
    shot(browser, server, "search")


def test_an_oversized_file_shows_the_servers_413(browser, server, tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (700, 700, 3), dtype=np.uint8)
    path = tmp_path / "big.png"
    Image.fromarray(noise).save(path)
    assert path.stat().st_size > MAX_IMAGE_BYTES
    browser.find_element(By.ID, "image-file").send_keys(str(path))
    browser.find_element(By.ID, "caption-btn").click()
    error = wait_for(browser, lambda d: text_of(d, "image-error"), "an error")
    assert error.startswith("413") and f"limit is {MAX_IMAGE_BYTES:,} bytes" in error, error
    shot(browser, server, "too-large")


def test_it_fits_a_phone(browser, server):
    browser.set_window_size(390, 1600)
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px screen"
    shot(browser, server, "phone")
