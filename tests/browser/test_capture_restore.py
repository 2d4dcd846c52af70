"""Capture page: a sample deleted in the review grid, and a class deleted from the class list, come back with the
"Restore deleted" control (files back in the class folder, listed by the server again). No camera needed: review
works without one."""

from __future__ import annotations

import io
import urllib.request
import uuid

import numpy as np
from PIL import Image


def _post_sample(server, ds: str, label: str, seed: int) -> dict:
    import json

    buf = io.BytesIO()
    arr = np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(arr).save(buf, "JPEG")
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"label\"\r\n\r\n{label}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"b.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + buf.getvalue() + f"\r\n--{boundary}--\r\n".encode()
    with urllib.request.urlopen(urllib.request.Request(
            f"{server.url}/api/datasets/{ds}/samples", data=body, method="POST",
            headers={"content-type": f"multipart/form-data; boundary={boundary}"})) as r:
        return json.loads(r.read())


def _wait_grid_images_loaded(page) -> None:
    """Delete only once the thumbnails are drawn: a thumbnail still loading when its file moves to the trash is a
    404 in the console (the server answers it cleanly; the page drops the figure anyway), which would fail the
    test for a race the test itself started."""
    page.wait_for_function("Array.from(document.querySelectorAll('#grid figure canvas.thumb'))"
                           ".every(c => c.dataset.rendered === '1')")


def test_restore_deleted_sample_from_the_capture_page(studio_server, page, out_dir):
    ds = "e2e-restore"
    urllib.request.urlopen(urllib.request.Request(f"{studio_server.url}/api/datasets", method="POST",
                           data=b'{"name": "e2e-restore"}', headers={"content-type": "application/json"}))
    a = _post_sample(studio_server, ds, "wave", 1)
    b = _post_sample(studio_server, ds, "wave", 2)
    root = studio_server.data_dir / "datasets" / ds
    original = (root / "wave" / f"{a['id']}.jpg").read_bytes()

    page.add_init_script("navigator.mediaDevices.getUserMedia = () => "
                         "Promise.reject(new DOMException('Permission denied', 'NotAllowedError'))")
    page.goto(f"{studio_server.url}/capture.html?dataset={ds}")
    page.wait_for_function("window.__huia && window.__huia.ready")
    page.wait_for_selector(f'#grid figure[data-id="{a["id"]}"]')
    assert page.is_disabled("#restore-deleted")
    _wait_grid_images_loaded(page)
    page.click(f'#grid figure[data-id="{a["id"]}"] button.del')
    page.wait_for_function("document.querySelectorAll('#grid figure').length === 1")
    page.wait_for_function("!document.getElementById('restore-deleted').disabled")
    assert page.inner_text("#restore-deleted") == "Restore deleted (1)"
    assert not (root / "wave" / f"{a['id']}.jpg").exists()
    assert studio_server.get_json(f"/api/datasets/{ds}/samples")["total"] == 1

    page.click("#restore-deleted")
    page.wait_for_selector(f'#trash-grid figure[data-id="{a["id"]}"]')
    # the deleted frame is shown (served from the trash) before it is restored
    page.wait_for_function(f"""document.querySelector('#trash-grid figure[data-id="{a["id"]}"] img').naturalWidth
                               === 64""")
    page.screenshot(path=str(out_dir / "capture_trash.png"))
    page.click(f'#trash-grid figure[data-id="{a["id"]}"] button')
    page.wait_for_function("document.querySelectorAll('#grid figure').length === 2")
    page.wait_for_function("document.getElementById('restore-deleted').disabled")
    assert page.inner_text("#restore-deleted") == "Restore deleted (0)"
    assert page.is_hidden("#trash")
    assert page.inner_text("#errors") == "" or "camera" in page.inner_text("#errors")
    assert (root / "wave" / f"{a['id']}.jpg").read_bytes() == original
    listed = studio_server.get_json(f"/api/datasets/{ds}/samples")
    assert listed["total"] == 2 and {s["id"] for s in listed["samples"]} == {a["id"], b["id"]}
    assert page.evaluate("window.__huia.trash") == []
    page.screenshot(path=str(out_dir / "capture_restored.png"))

    # a whole class deleted from the class list comes back with its samples
    page.on("dialog", lambda d: d.accept())
    _wait_grid_images_loaded(page)
    page.click('#classes li[data-class="wave"] button[aria-label="delete wave"]')
    page.wait_for_function("document.querySelectorAll('#grid figure').length === 0")
    assert not (root / "wave").exists()
    page.wait_for_function("document.getElementById('restore-deleted').textContent === 'Restore deleted (1)'")
    page.click("#restore-deleted")
    page.wait_for_selector('#trash-grid figure.trashed-class[data-label="wave"]')
    assert "2 samples" in page.inner_text('#trash-grid figure.trashed-class')
    page.click('#trash-grid figure.trashed-class button')
    page.wait_for_function("document.querySelectorAll('#grid figure').length === 2")
    page.wait_for_selector('#classes li[data-class="wave"]')
    assert page.inner_text('#classes li[data-class="wave"] .count') == "2"
    assert (root / "wave" / f"{a['id']}.jpg").read_bytes() == original
    assert studio_server.get_json(f"/api/datasets/{ds}/samples")["total"] == 2
