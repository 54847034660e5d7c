"""Linux parsers on real captures (tests/data/SOURCES.md says where each came from)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.hardware import linux


def read(data: Path, name: str) -> str:
    return (data / name).read_text()


def test_cpuinfo_x86_reference_machine(data):
    info = linux.parse_cpuinfo(read(data, "linux/proc-cpuinfo.amd-epyc-reference-machine.txt"))
    assert info.name == "AMD EPYC"
    assert {"avx2", "fma", "f16c", "avx512f"} <= set(info.features)
    assert "sse4a" not in info.features  # only the flags that pick kernels are kept


def test_cpuinfo_raspberry_pi_5_names_the_core_from_its_part_number(data):
    info = linux.parse_cpuinfo(read(data, "raspberry-pi/proc-cpuinfo.pi5-model-b-rev1.0.arm-socs-table.txt"))
    assert info.name == "Arm Cortex-A76"
    assert info.logical_cpus == 4
    assert {"asimddp", "neon"} <= set(info.features)


def test_cpuinfo_raspberry_pi_4_has_no_dot_product(data):
    info = linux.parse_cpuinfo(read(data, "raspberry-pi/proc-cpuinfo.pi4-model-b-rev1.5.aarch64.fastfetch-issue1529.txt"))
    assert info.logical_cpus == 4
    assert "asimddp" not in info.features and "neon" in info.features


def test_cpuinfo_jetson_agx_xavier_carmel(data):
    info = linux.parse_cpuinfo(read(data, "jetson/proc-cpuinfo.agx-xavier.arm-socs-table.txt"))
    assert info.name == "NVIDIA Carmel"
    assert info.logical_cpus == 8


def test_meminfo_reference_machine(data):
    total, available = linux.parse_meminfo(read(data, "linux/proc-meminfo.reference-machine.txt"))
    assert 20 * 2**30 < total < 26 * 2**30
    assert available is not None and 0 < available <= total


def test_meminfo_without_total_is_an_error():
    with pytest.raises(ValueError):
        linux.parse_meminfo("MemFree: 1 kB\n")


@pytest.mark.parametrize("name, cpus", [
    ("cgroup/v2.cpu.max.limited-250000-100000.no-newline.automaxprocs-testdata.txt", 2.5),
    ("cgroup/v2.cpu.max.unlimited-max-100000.no-newline.automaxprocs-testdata.txt", None),
])
def test_cgroup_v2_cpu_max(data, name, cpus):
    assert linux.parse_cgroup_v2_cpu_max(read(data, name)) == cpus


def test_cgroup_v2_cpu_max_docker_cpus_flags(data):
    # The capture shows `docker run --cpus 2` and `--cpus 0.5` one after the other.
    values = [line for line in read(data, "cgroup/v2.cpu.max.docker-cpus-2-and-0.5.runtime-spec-pr1139.txt").splitlines()
              if line and line[0].isdigit()]
    assert [linux.parse_cgroup_v2_cpu_max(v) for v in values] == [2.0, 0.5]


def test_cgroup_v2_podman_runc_modes(data):
    lines = read(data, "cgroup/v2.cpu.max-and-memory.max.podman-cpus0.42-memory42m.runc-issue2243.txt").splitlines()
    cpu_values = [lines[i + 1] for i, l in enumerate(lines) if l.endswith("cat /sys/fs/cgroup/cpu.max")]
    mem_values = [lines[i + 1] for i, l in enumerate(lines) if l.endswith("cat /sys/fs/cgroup/memory.max")]
    assert [linux.parse_cgroup_v2_cpu_max(v) for v in cpu_values] == [None, 0.42]
    assert [linux.parse_cgroup_memory_limit(v) for v in mem_values] == [44040192, 44040192]


def test_cgroup_v1_cpu_quota(data):
    period = read(data, "cgroup/v1.cpu.cfs_period_us.100000.automaxprocs-testdata.txt")
    assert linux.parse_cgroup_v1_cpu_quota(read(data, "cgroup/v1.cpu.cfs_quota_us.600000.automaxprocs-testdata.txt"), period) == 6.0
    assert linux.parse_cgroup_v1_cpu_quota(read(data, "cgroup/v1.cpu.cfs_quota_us.unlimited-minus1.automaxprocs-testdata.txt"), period) is None


def _last_number(text: str) -> str:
    return [line.strip() for line in text.splitlines() if line.strip().isdigit()][-1]


def test_cgroup_v1_memory_limits(data):
    docker = read(data, "cgroup/v1.memory.limit_in_bytes.docker-m-4g.moby-issue12394.txt")
    assert linux.parse_cgroup_memory_limit(_last_number(docker)) == 4 * 2**30
    unlimited = read(data, "cgroup/v1.memory.limit_in_bytes.unlimited-u64max.pcp-issue85.txt")
    assert "18446744073709551615" in unlimited
    assert linux.parse_cgroup_memory_limit("18446744073709551615") is None
    centos = read(data, "cgroup/v1.memory.limit_in_bytes.centos7-kernel3.10-u64max-clamped-and-minus1.systemd-pr3673.txt")
    assert "9223372036854775807" in centos
    assert linux.parse_cgroup_memory_limit("9223372036854775807") is None
    nomad = read(data, "cgroup/v1.memory.limit_in_bytes-and-memsw.nomad-limit.run-java-sh-issue32.txt")
    assert linux.parse_cgroup_memory_limit(_last_number(nomad)) == 14881390592


def test_cgroup_v2_memory_max_unlimited_inside_container(data):
    text = read(data, "cgroup/v2.memory.max.inside-container-unlimited.enroot-issue169.txt")
    assert text.strip().splitlines()[-1].strip() == "max"
    assert linux.parse_cgroup_memory_limit("max") is None


def test_mountinfo_finds_the_cgroup2_mount_and_skips_the_decoy(data):
    mounts = linux.parse_mountinfo(read(data, "cgroup/v2.proc-self-mountinfo.automaxprocs-testdata.txt"))
    assert [(m.version, m.mount_point) for m in mounts] == [(2, "/sys/fs/cgroup")]


def test_proc_self_cgroup_v2_root(data):
    assert linux.parse_proc_self_cgroup(read(data, "cgroup/v2.proc-self-cgroup.root.no-newline.automaxprocs-testdata.txt")) == {"": "/"}


def test_limits_on_a_parent_cgroup_are_found(tmp_path, data):
    """The Slurm/enroot case: the job's own cgroup says "max", its parent step holds the limit.
    The values are the ones captured on that host; the folder layout is built here."""
    host = read(data, "cgroup/v2.memory.max.slurm-host-limited-and-unlimited.enroot-issue169.txt")
    assert "4194304000" in host
    root = tmp_path / "cgroup"
    task = root / "slurm" / "job_1" / "step_0" / "task_0"
    task.mkdir(parents=True)
    (root / "slurm" / "job_1" / "step_0" / "memory.max").write_text("4194304000\n")
    (task / "memory.max").write_text("max\n")
    (task / "cpu.max").write_text("max 100000")
    (root / "slurm" / "job_1" / "cpu.max").write_text("250000 100000")
    proc = tmp_path / "proc" / "self"
    proc.mkdir(parents=True)
    (proc / "mountinfo").write_text(f"34 33 0:29 / {root} rw,nosuid - cgroup2 cgroup rw,nsdelegate\n")
    (proc / "cgroup").write_text("0::/slurm/job_1/step_0/task_0\n")
    limits = linux.read_cgroup_limits(tmp_path / "proc")
    assert limits.cpus == 2.5
    assert limits.memory_bytes == 4194304000


@pytest.mark.parametrize("logical, affinity, quota, expected", [
    (16, None, None, 16), (16, 4, None, 4), (16, None, 2.5, 2), (16, 8, 0.42, 1), (2, 2, 6.0, 2),
])
def test_usable_cores(logical, affinity, quota, expected):
    assert linux.usable_cores(logical, affinity, quota) == expected
