"""The detectors: decoding and suppression (pure), each detector on real photos, and the sentence
the stage writes for text-only models."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.vision.bridge import ImageReport, VisionStack, counted, what_it_looks_like
from assistant.vision.detect import Detection, Letterbox, decode_yolo, letterbox, nms, select
from assistant.vision.faces import anchors, decode_faces
from assistant.vision.label import Label, group_of
from assistant.vision.ocr import TextLine, keep_line


def test_yolo_decoding_puts_a_box_in_its_cell():
    raw = np.full((1, 3 * 7, 2, 2), -20.0, np.float32)  # 3 anchors, 2 classes, 2x2 grid
    anchor, y, x = 1, 1, 0
    raw[0, anchor * 7 + 0, y, x] = 0.0  # sigmoid 0.5: the centre of the cell
    raw[0, anchor * 7 + 1, y, x] = 0.0
    raw[0, anchor * 7 + 2, y, x] = np.log(2.0)  # twice the anchor's width
    raw[0, anchor * 7 + 3, y, x] = 0.0
    raw[0, anchor * 7 + 4, y, x] = 20.0  # objectness ~1
    raw[0, anchor * 7 + 6, y, x] = 20.0  # class 1
    boxes, scores = decode_yolo(raw, [(10, 10), (20, 30), (40, 40)], side=100)
    best = scores.max(axis=1).argmax()
    assert scores[best].argmax() == 1 and scores[best, 1] > 0.99
    np.testing.assert_allclose(boxes[best], [25 - 20, 75 - 15, 25 + 20, 75 + 15], atol=1e-4)


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.6, 0.9, 0.5], np.float32)
    assert nms(boxes, scores, 0.45) == [1, 2]
    found = select(boxes, np.stack([scores, np.zeros(3)], axis=1), ["cat", "dog"], score_threshold=0.3, iou_threshold=0.45)
    assert [(label, round(score, 2)) for label, score, _ in found] == [("cat", 0.9), ("cat", 0.5)]


def test_letterbox_boxes_map_back_to_the_image():
    from PIL import Image

    pixels, box = letterbox(Image.new("RGB", (400, 200), "red"), 100)
    assert pixels.shape == (100, 100, 3) and box == Letterbox(0.25, 0, 25)
    assert tuple(pixels[10, 50]) == (127, 127, 127) and tuple(pixels[50, 50]) == (255, 0, 0)
    np.testing.assert_allclose(box.to_image(np.array([[0, 25, 50, 75.0]]), (400, 200)), [[0, 0, 200, 200]])


def test_face_decoding_follows_mediapipe_anchors():
    centres = anchors()
    assert centres.shape == (48 * 48, 2) and tuple(centres[0]) == (0.5 / 48, 0.5 / 48)
    raw_boxes = np.zeros((1, 48 * 48, 16), np.float32)
    raw_scores = np.full((1, 48 * 48, 1), -50.0, np.float32)
    cell = 10 * 48 + 20  # row 10, column 20
    raw_boxes[0, cell, :4] = [0, 0, 19.2, 38.4]  # a 0.1 x 0.2 face centred on the anchor
    raw_scores[0, cell, 0] = 5.0
    boxes, scores = decode_faces(raw_boxes, raw_scores, centres)
    assert len(boxes) == 1 and scores[0] > 0.99
    cx, cy = (20.5 / 48) * 192, (10.5 / 48) * 192
    np.testing.assert_allclose(boxes[0], [cx - 9.6, cy - 19.2, cx + 9.6, cy + 19.2], atol=1e-3)


def test_providers_prefer_tensorrt_then_cuda(tmp_path):
    from assistant.vision.detect import providers_for

    # onnxruntime-gpu on a Jetson lists TensorRT, CUDA and CPU (onnxruntime's execution-provider docs)
    providers, device = providers_for(["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
                                      tmp_path)
    assert device == "tensorrt" and providers[0][0] == "TensorrtExecutionProvider"
    assert providers[0][1]["trt_engine_cache_path"] == str(tmp_path) and providers[1:] == ["CUDAExecutionProvider",
                                                                                          "CPUExecutionProvider"]
    assert providers_for(["CUDAExecutionProvider", "CPUExecutionProvider"], tmp_path)[1] == "cuda"
    assert providers_for(["AzureExecutionProvider", "CPUExecutionProvider"], tmp_path) == (["CPUExecutionProvider"], "cpu")


def test_words_for_labels_and_counts():
    assert group_of(281) == "cat" and group_of(967) is None
    assert counted("person", 2) == "two people" and counted("cup", 1) == "one cup" and counted("car", 12) == "12 cars"
    cats = (Label("Egyptian Mau", 0.2, "cat"), Label("tabby cat", 0.15, "cat"), Label("bobsleigh", 0.25))
    assert what_it_looks_like(cats) == "a cat (Egyptian Mau or tabby cat)"  # 35 % together
    assert what_it_looks_like((Label("bobsleigh", 0.33),)) == "a bobsleigh"
    assert what_it_looks_like((Label("bobsleigh", 0.33),), people=True) is None  # people are not ImageNet classes
    assert what_it_looks_like((Label("espresso", 0.9),)) == "an espresso"


def test_sentence_says_what_was_found_and_what_was_not():
    face = Detection("face", 0.9, (0, 0, 10, 10))
    report = ImageReport(objects=(Detection("cup", 0.6, (0, 0, 5, 5)), Detection("cup", 0.5, (5, 5, 9, 9))),
                         faces=(face,), labels=(Label("espresso", 0.5),),
                         text=(TextLine("OPEN", 0.95, ((0, 0),) * 4),))
    assert report.sentence() == ('[The attached image shows two cups and one person, has one face in view and has the '
                                 'words "OPEN" written in it.]')  # the label is held back: a person is in view
    cat = ImageReport(labels=(Label("tabby cat", 0.8, "cat"),), seconds={"labels": 0.01, "faces": 0.01})
    assert cat.sentence(2, 3) == "[Attached image 2 looks like a cat (tabby cat) and has no people in it.]"
    unchecked = ImageReport(labels=(Label("tabby cat", 0.8, "cat"),), seconds={"labels": 0.01})
    assert unchecked.sentence() == "[The attached image looks like a cat (tabby cat).]"  # nobody looked for people
    assert ImageReport().sentence() == "[The attached image has nothing in it that the vision stage recognises.]"


def test_short_ocr_reads_need_confidence():
    assert keep_line("EXIT", 0.6, 0.5) and keep_line("No", 0.95, 0.5) and not keep_line("C", 0.85, 0.5)
    assert not keep_line("O", 0.6, 0.5) and not keep_line("EXIT", 0.4, 0.5)


@pytest.fixture(scope="module")
def stack(vision_models):
    return VisionStack(ocr=False)


def test_each_photo_is_described_by_what_is_in_it(stack, photos):
    cat = stack.report(photos["chelsea"])
    assert "a cat" in cat.sentence() and not cat.faces
    coffee = stack.report(photos["coffee"])
    assert [d.label for d in coffee.objects] == ["cup"] and coffee.labels[0].name == "espresso"
    x0, y0, x1, y1 = coffee.objects[0].box  # the cup sits in the middle of the photo
    assert x0 < 300 < x1 and y0 < 200 < y1
    astronaut = stack.report(photos["astronaut"])
    assert len(astronaut.faces) == 1 and "one person" in astronaut.sentence()
    fx0, fy0, fx1, fy1 = astronaut.faces[0].box  # Eileen Collins' face, upper middle of the 512x512 photo
    assert 150 < fx0 < fx1 < 300 and 40 < fy0 < fy1 < 200
    assert set(astronaut.seconds) == {"labels", "objects", "faces"} and not astronaut.missing


def test_a_missing_detector_is_skipped_and_named(tmp_path, monkeypatch, photos):
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path))  # nothing installed there
    report = VisionStack(ocr=False).report(photos["coffee"])
    assert report.missing == ("labels", "objects", "faces") and report.objects == ()
