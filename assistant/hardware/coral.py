"""Google Coral Edge TPU: USB accelerators (by USB id in sysfs) and PCIe/M.2 modules (PCI id,
``/dev/apex_N``)."""

from __future__ import annotations

import re
from pathlib import Path

from .spec import Accelerator

# The USB Accelerator enumerates as 1a6e:089a (Global Unichip) until the runtime loads its
# firmware, then as 18d1:9302 (Google).
CORAL_USB_IDS = {("1a6e", "089a"): "uninitialised", ("18d1", "9302"): "ready"}
CORAL_PCI_ID = ("1ac1", "089a")
EDGETPU_TOPS = 4.0


def parse_lsusb(text: str) -> list[tuple[str, str]]:
    """(vendor, product) ids from ``lsusb`` lines ('Bus 002 Device 003: ID 18d1:9302 Google Inc.')."""
    return [(m.group(1).lower(), m.group(2).lower())
            for m in re.finditer(r"\bID\s+([0-9a-fA-F]{4}):([0-9a-fA-F]{4})", text)]


def parse_lspci_ids(text: str) -> list[tuple[str, str]]:
    """(vendor, device) ids from ``lspci -nn`` lines ('[1ac1:089a]') or bare 'Device 1ac1:089a'.
    Subsystem lines repeat the id of the function above them and are skipped."""
    ids = []
    for line in text.splitlines():
        if line.strip().lower().startswith("subsystem"):
            continue
        m = re.search(r"\[([0-9a-f]{4}):([0-9a-f]{4})\]|Device ([0-9a-f]{4}):([0-9a-f]{4})", line, re.IGNORECASE)
        if not m and "Coral Edge TPU" in line and re.match(r"^\s*[0-9a-f]{2,4}:", line):
            ids.append(CORAL_PCI_ID)  # lspci without -nn prints the name from pci.ids only
        if m:
            vendor, device = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
            ids.append((vendor.lower(), device.lower()))
    return ids


def coral_accelerators(usb_ids: list[tuple[str, str]], pci_ids: list[tuple[str, str]],
                       apex_nodes: list[str]) -> list[Accelerator]:
    """One accelerator per Edge TPU. A PCIe TPU without its /dev/apex_N node is present but has
    no driver (gasket/apex modules); it is reported, with that in its name, so `doctor` can say so."""
    out = []
    for ids in usb_ids:
        state = CORAL_USB_IDS.get(ids)
        if state:
            out.append(Accelerator(kind="edgetpu", name=f"Coral USB Accelerator ({state})",
                                   interface="usb", tops=EDGETPU_TOPS))
    n_pci = sum(1 for ids in pci_ids if ids == CORAL_PCI_ID)
    for i in range(n_pci):
        node = f"/dev/apex_{i}"
        ready = node in apex_nodes
        out.append(Accelerator(kind="edgetpu",
                               name=f"Coral PCIe Edge TPU ({node})" if ready else "Coral PCIe Edge TPU (no /dev/apex node: driver not loaded)",
                               interface="pci", tops=EDGETPU_TOPS))
    return out


def read_corals(sys_root: Path = Path("/sys"), dev_root: Path = Path("/dev")) -> list[Accelerator]:
    usb_ids = []
    for dev in sorted((sys_root / "bus/usb/devices").glob("*")):
        try:
            usb_ids.append(((dev / "idVendor").read_text().strip().lower(), (dev / "idProduct").read_text().strip().lower()))
        except OSError:
            continue
    pci_ids = []
    for dev in sorted((sys_root / "bus/pci/devices").glob("*")):
        try:
            vendor = (dev / "vendor").read_text().strip().lower().removeprefix("0x")
            device = (dev / "device").read_text().strip().lower().removeprefix("0x")
        except OSError:
            continue
        pci_ids.append((vendor, device))
    apex = [str(dev_root / p.name).replace(str(dev_root), "/dev") for p in sorted(dev_root.glob("apex_*"))]
    return coral_accelerators(usb_ids, pci_ids, apex)
