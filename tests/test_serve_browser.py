"""The ``rlfn serve`` page in a real browser: headless Chromium (Debian's ``chromium`` + ``chromium-driver``)
driven by Selenium. Upload a Set5 image, wait for the result, check it is 4× the input, move the comparison
slider, download the result and check its pixels against ``rlfn upscale`` of the same file.

Set RLFN_SERVE_SCREENSHOTS=DIR to keep the screenshots of the page before and after (docs/ has them)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _serve_helpers import start_server

from conftest import BENCHMARKS, need

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

webdriver = pytest.importorskip("selenium.webdriver", reason="the browser tests need selenium (pip install selenium)")
if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip("the browser tests need Chromium and its driver (apt-get install chromium chromium-driver)",
                allow_module_level=True)

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

SET5_IMAGE = "butterfly.png"  # Set5's smallest, 256×256


@pytest.fixture(scope="module")
def server():
    with start_server("--quiet") as s:
        yield s


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(tmp_path_factory, downloads):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,860",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    os.environ.setdefault("SE_AVOID_STATS", "true")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def wait(driver, cond, timeout=60):
    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: cond(d))


def wait_for_file(folder: Path, name: str, timeout: float = 30) -> Path:
    end = time.monotonic() + timeout
    path = folder / name
    while time.monotonic() < end:
        if path.exists() and not list(folder.glob("*.crdownload")) and path.stat().st_size > 0:
            return path
        time.sleep(0.2)
    raise AssertionError(f"{name} was not downloaded; the folder has {sorted(p.name for p in folder.iterdir())}")


def shot(driver, tmp_path, name: str) -> Path:
    folder = Path(os.environ.get("RLFN_SERVE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    driver.save_screenshot(str(path))
    assert Image.open(path).size[0] > 0
    return path


def test_upscale_compare_and_download_in_chromium(server, browser, downloads, tmp_path):
    src = need(BENCHMARKS / "Set5" / SET5_IMAGE)
    d = browser
    d.get(server.url + "/")
    wait(d, lambda d: d.find_element(By.ID, "server-status").text.startswith("ready"))
    assert d.find_element(By.ID, "model").get_attribute("value") == "rlfn_s"
    assert d.find_element(By.ID, "scale").get_attribute("value") == "4"
    d.find_element(By.ID, "files").send_keys(str(src))
    wait(d, lambda d: "256×256" in d.find_element(By.CSS_SELECTOR, "#items .item .state").text)
    assert not d.find_element(By.ID, "token").is_displayed()  # this server has no token
    shot(d, tmp_path, "serve_before.png")

    d.find_element(By.ID, "upscale").click()
    item = d.find_element(By.CSS_SELECTOR, "#items .item")
    wait(d, lambda d: item.get_attribute("data-state") in ("done", "error"), timeout=300)
    assert item.get_attribute("data-state") == "done", item.text
    # 4× the input, as the page reports it and as the browser decoded it
    assert (item.get_attribute("data-out-width"), item.get_attribute("data-out-height")) == ("1024", "1024")
    after, before = d.find_element(By.ID, "after"), d.find_element(By.ID, "before")
    wait(d, lambda d: after.get_property("naturalWidth") == 1024)
    assert before.get_property("naturalWidth") == 256 and after.get_property("naturalHeight") == 1024
    assert d.find_element(By.ID, "progress").get_property("value") == 100

    # the comparison: both images at the same zoom, the slider moves the split
    def rect(el):
        return d.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.x, r.y, r.width, r.height];", el)

    assert rect(before) == rect(after) and rect(after)[2] > 100
    slider = d.find_element(By.ID, "slider")
    assert after.value_of_css_property("clip-path") == "inset(0px 0px 0px 50%)"
    slider.send_keys(Keys.HOME)
    assert after.value_of_css_property("clip-path") == "inset(0px 0px 0px 0%)"
    for _ in range(30):
        slider.send_keys(Keys.ARROW_RIGHT)
    assert slider.get_attribute("value") == "30"
    assert after.value_of_css_property("clip-path") == "inset(0px 0px 0px 30%)"
    divider = d.find_element(By.ID, "divider")
    x = rect(divider)[0] + 1 - rect(after)[0]  # the divider sits at 30% of the width
    assert abs(x - 0.3 * rect(after)[2]) <= 2
    zoom = Select(d.find_element(By.ID, "zoom"))
    zoom.select_by_value("2")
    wait(d, lambda d: rect(after)[2] == 2048)
    assert rect(before) == rect(after)
    zoom.select_by_value("fit")
    wait(d, lambda d: rect(after)[2] < 1024)  # fitted into the box, which is narrower than the image
    assert rect(before) == rect(after)
    assert d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")  # no page overflow
    shot(d, tmp_path, "serve_after.png")

    # download the result and compare it with `rlfn upscale` of the same file
    item.find_element(By.CSS_SELECTOR, "a.download").click()
    got = wait_for_file(downloads, "butterfly_x4.png")
    cli_out = tmp_path / "cli"
    r = subprocess.run([sys.executable, "-m", "rlfn", "upscale", str(src), "-o", str(cli_out), "-q"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    want = np.asarray(Image.open(cli_out / "butterfly_x4.png").convert("RGB"), dtype=np.int16)
    have = np.asarray(Image.open(got).convert("RGB"), dtype=np.int16)
    assert have.shape == want.shape == (1024, 1024, 3)
    np.testing.assert_array_equal(have, want)

    # download all: one ZIP holding the same file
    d.find_element(By.ID, "download-all").click()
    zpath = wait_for_file(downloads, "rlfn-upscaled.zip")
    with zipfile.ZipFile(zpath) as z:
        assert z.testzip() is None and z.namelist() == ["butterfly_x4.png"]
        assert z.read("butterfly_x4.png") == got.read_bytes()

    # offline: everything the page loaded came from this server
    urls = d.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert urls and all(u.startswith(server.url) or u.startswith("blob:") for u in urls), urls
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_dropped_files_and_server_errors_show_in_the_list(server, browser):
    d = browser
    d.get(server.url + "/")
    wait(d, lambda d: d.find_element(By.ID, "server-status").text.startswith("ready"))
    # drop two files: a small image and a text file renamed .png (the server answers 400)
    d.execute_script("""
        const c = document.createElement('canvas'); c.width = 24; c.height = 20;
        c.getContext('2d').fillRect(4, 4, 8, 8);
        return new Promise(done => c.toBlob(blob => {
          const dt = new DataTransfer();
          dt.items.add(new File([blob], 'small.png', {type: 'image/png'}));
          dt.items.add(new File(['not an image'], 'fake.png', {type: 'image/png'}));
          document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true}));
          done();
        }, 'image/png'));""")
    items = wait(d, lambda d: (els := d.find_elements(By.CSS_SELECTOR, "#items .item")) and len(els) == 2 and els)
    Select(d.find_element(By.ID, "scale")).select_by_value("2")
    Select(d.find_element(By.ID, "format")).select_by_value("webp")
    d.find_element(By.ID, "upscale").click()
    wait(d, lambda d: all(i.get_attribute("data-state") in ("done", "error") for i in items), timeout=120)
    good, bad = items
    assert good.get_attribute("data-state") == "done"
    assert (good.get_attribute("data-out-width"), good.get_attribute("data-out-height")) == ("48", "40")
    assert good.find_element(By.CSS_SELECTOR, "a.download").get_attribute("download") == "small_x2.webp"
    assert bad.get_attribute("data-state") == "error" and "error 400" in bad.text and "not an image" in bad.text
