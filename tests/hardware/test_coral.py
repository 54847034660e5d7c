"""Coral Edge TPU detection from lsusb/lspci captures and a sysfs tree built from their ids."""

from __future__ import annotations

from pathlib import Path

from assistant.hardware import coral


def text(data: Path, name: str) -> str:
    return (data / "coral" / name).read_text()


def test_usb_accelerator_before_and_after_firmware(data: Path):
    before = coral.parse_lsusb(text(data, "lsusb.usb-accelerator.before-firmware-load.frigate-issue1807.txt"))
    after = coral.parse_lsusb(text(data, "lsusb.usb-accelerator.after-firmware-load.frigate-issue1807.txt"))
    assert before == [("1a6e", "089a")] and after == [("18d1", "9302")]
    assert coral.coral_accelerators(before, [], [])[0].name == "Coral USB Accelerator (uninitialised)"
    [ready] = coral.coral_accelerators(after, [], [])
    assert (ready.kind, ready.interface, ready.tops) == ("edgetpu", "usb", 4.0)


def test_home_assistant_ids_only_listing(data: Path):
    ids = coral.parse_lsusb(text(data, "lsusb.home-assistant-os-ids-only.frigate-hass-addons-issue1.txt"))
    assert len(ids) == 9
    assert [a.name for a in coral.coral_accelerators(ids, [], [])] == ["Coral USB Accelerator (ready)"]


def test_other_usb_devices_are_not_corals(data: Path):
    ids = coral.parse_lsusb(text(data, "lsusb.xcp-ng-host.usb-accelerator-uninitialised.edgetpu-issue807.txt"))
    assert len(coral.coral_accelerators(ids, [], [])) == 1
    assert len(ids) == 4


def test_dual_pcie_with_and_without_pci_names(data: Path):
    named = coral.parse_lspci_ids(text(data, "lspci.x86_64-with-names.dual-edge-tpu-adapter-issue1.txt"))
    bare = coral.parse_lspci_ids(text(data, "lspci.raspberry-pi-no-pci-ids-names.dual-edge-tpu-adapter-issue1.txt"))
    assert bare == [("1ac1", "089a"), ("1ac1", "089a")]
    assert len(coral.coral_accelerators([], bare, ["/dev/apex_0", "/dev/apex_1"])) == 2
    assert named == bare


def test_pcie_with_apex_node_is_ready(data: Path):
    capture = text(data, "pcie-dual-adapter.dmesg-apex0-lspci.dual-edge-tpu-adapter-issue68.txt")
    ids = coral.parse_lspci_ids(capture)
    assert ids == [("1ac1", "089a")]  # the Subsystem line is not a second TPU
    nodes = [line.strip() for line in capture.splitlines() if line.strip().startswith("/dev/apex_")]
    [acc] = coral.coral_accelerators([], ids, nodes)
    assert acc.name == "Coral PCIe Edge TPU (/dev/apex_0)" and acc.interface == "pci"


def test_m2_without_apex_nodes_says_the_driver_is_missing(data: Path):
    capture = text(data, "m2-dual-edge.lspci-lsmod-no-apex-dev.edgetpu-issue729.txt")
    ids = coral.parse_lspci_ids(capture)
    accs = coral.coral_accelerators([], ids, [])
    assert len(accs) == 2
    assert all("driver not loaded" in a.name for a in accs)


def test_sysfs_reader(tmp_path: Path, data: Path):
    """A sysfs tree holding the ids of the captures above."""
    [(vendor, product)] = coral.parse_lsusb(text(data, "lsusb.usb-accelerator.after-firmware-load.frigate-issue1807.txt"))
    usb = tmp_path / "sys/bus/usb/devices/2-1"
    usb.mkdir(parents=True)
    (usb / "idVendor").write_text(vendor + "\n")
    (usb / "idProduct").write_text(product + "\n")
    pci = tmp_path / "sys/bus/pci/devices/0000:09:00.0"
    pci.mkdir(parents=True)
    (pci / "vendor").write_text("0x1ac1\n")
    (pci / "device").write_text("0x089a\n")
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "apex_0").write_text("")
    accs = coral.read_corals(tmp_path / "sys", dev)
    assert [a.interface for a in accs] == ["usb", "pci"]
    assert accs[1].name == "Coral PCIe Edge TPU (/dev/apex_0)"
